"""REST API bases: read/write permissions, JSON errors from service exceptions."""
from __future__ import annotations

import sys
from functools import wraps

from flask import Response, current_app, jsonify, request
from flask_appbuilder.api import BaseApi, ModelRestApi
from flask_appbuilder.baseviews import BaseModelView
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.const import (
    API_ADD_COLUMNS_RES_KEY, API_ADD_COLUMNS_RIS_KEY, API_EDIT_COLUMNS_RES_KEY, API_EDIT_COLUMNS_RIS_KEY,
)
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.services import ServiceError
from app.api.json_times import ContractSchemaConverter
from app.api.schemas import describe_errors, input_problem  # noqa: F401 (describe_errors: for the APIs)

API_METHOD_PERMISSIONS = {
    "get_list": "read",
    "get": "read",
    "info": "read",
    "post": "write",
    "put": "write",
    "delete": "write",
}


RETRY_AFTER_SECONDS = 2
DATABASE_BUSY = "the database is busy right now: nothing was saved, try again in a moment"


def is_database_busy(exc: BaseException | None) -> bool:
    """SQLite gave up waiting for the write lock (SQLITE_BUSY_TIMEOUT_MS): worth a retry, not a bug."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc).lower()


def database_busy_response() -> Response:
    """503 + Retry-After, the one answer to a write that could not get the lock in time (UI and API)."""
    db.session.rollback()
    response = jsonify(message=DATABASE_BUSY)
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class BusyAware:
    """FAB's @safe turns any exception into a 500; a busy database answers 503 with Retry-After instead."""

    def response_500(self, message=None):
        if is_database_busy(sys.exc_info()[1]):
            return database_busy_response()
        return super().response_500(message=message)


def readable_scope(model) -> list | None:
    """The base filters of a view or API of `model` the caller may read (its rows are theirs to see);
    None when no such view lets the caller read that model at all."""
    appbuilder = current_app.appbuilder
    for view in appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        if datamodel is None or datamodel.obj is not model or not isinstance(view, (ModelRestApi, BaseModelView)):
            continue
        permission = "can_" + (view.method_permission_name or {}).get("get_list" if isinstance(view, ModelRestApi) else "list", "read")
        if appbuilder.sm.has_access(permission, view.class_permission_name):
            return list(view.base_filters or [])
    return None


class ResourceApi(BusyAware, ModelRestApi):
    """ModelRestApi with permissions collapsed to can_read/can_write on `class_permission_name`.

    Bad input is a 400 with one readable message (FAB's default is a 422 with a dict).
    """

    method_permission_name = API_METHOD_PERMISSIONS
    allow_browser_login = True
    page_size = 25
    model2schemaconverter = ContractSchemaConverter  # date-times as the contracts write them (...Z)
    # one marshmallow schema (app/api/schemas.py) per generic write, checked before FAB loads the body
    add_input = None
    edit_input = None

    def _input_problem(self, schema) -> str | None:
        if schema is None:
            return None

        return input_problem(schema)

    def response_422(self, message=None):
        return self.response_400(message=describe_errors(message))

    # --- `_info`: related-value lists only for who may write the field, scoped like the related screens
    def _may_write_through(self, method: str) -> bool:
        if self.include_route_methods is not None and method not in self.include_route_methods:
            return False
        if self.exclude_route_methods and method in self.exclude_route_methods:
            return False
        return current_app.appbuilder.sm.has_access(f"can_{self.get_method_permission(method)}", self.class_permission_name)

    def info_headless(self, **kwargs):
        rison_args = dict(kwargs.get("rison", {}))
        refused = {
            ris: res
            for method, ris, res in (("post", API_ADD_COLUMNS_RIS_KEY, API_ADD_COLUMNS_RES_KEY),
                                     ("put", API_EDIT_COLUMNS_RIS_KEY, API_EDIT_COLUMNS_RES_KEY))
            if not self._may_write_through(method)
        }
        keys = rison_args.get("keys") or list(self.info._response_key_func_mappings)
        rison_args["keys"] = [key for key in keys if key not in refused]
        payload = {}
        if rison_args["keys"]:
            self.set_response_key_mappings(payload, self.info, rison_args, **rison_args)
        payload.update({res: [] for ris, res in refused.items() if ris in keys})
        return self.response(200, **payload)

    def _get_list_related_field(self, field, filter_rel_field, page=None, page_size=None):
        scope = readable_scope(self.datamodel.get_related_model(field.name))
        if scope is None:  # e.g. users or OEMs for a role that may not list them
            return 0, []
        return super()._get_list_related_field(field, list(filter_rel_field or []) + scope, page=page, page_size=page_size)

    def response_400(self, message=None):
        return super().response_400(message=describe_errors(message) if message is not None else None)

    def nested_write_problem(self, data) -> str | None:
        """A related object is named by its id; creating or changing it through this resource is refused
        (a Manager adding a team member must not create a login account on the way)."""
        if not isinstance(data, dict):
            return None
        for name, value in data.items():
            if not self.datamodel.is_relation(name):
                continue
            ids = value if self.datamodel.is_relation_many_to_many(name) or self.datamodel.is_relation_one_to_many(name) else [value]
            if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids if i is not None):
                return f"{name}: give the id of an existing record; nested writes are refused"
            related = self.datamodel.get_related_model(name)
            for pk in ids:
                if pk is not None and db.session.get(related, pk) is None:
                    return f"{name}: no record with id {pk}"
        return None

    def post_headless(self):
        problem = self._input_problem(self.add_input) or self.nested_write_problem(request.get_json(silent=True))
        if problem:
            return self.response_400(message=problem)
        return super().post_headless()  # the database's refusal of an add: app/api/guards.py

    def put_headless(self, pk):
        problem = self._input_problem(self.edit_input) or self.nested_write_problem(request.get_json(silent=True))
        if problem:
            return self.response_400(message=problem)
        return super().put_headless(pk)

    def delete_headless(self, pk):
        """Anything with history is refused by the database (ON DELETE RESTRICT): 409, deactivate it instead."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        self.pre_delete(item)
        try:
            self.datamodel.delete(item)
        except DatabaseException:
            db.session.rollback()
            return self.response(409, message="this record has history and cannot be deleted; deactivate it instead")
        self.post_delete(item)
        return self.response(200, message="OK")


class ActionApi(BusyAware, BaseApi):
    """Non-CRUD actions (`@expose` + `@protect`); permission names map to read/write."""

    allow_browser_login = True
    method_permission_name = API_METHOD_PERMISSIONS


def service_errors(fn):
    """Map a service's refusal to its 4xx JSON response and roll back anything half-written."""

    @wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except ServiceError as exc:
            db.session.rollback()
            return self.response(exc.status, message=exc.message)
        except Exception as exc:  # a failed request writes nothing, whatever failed
            if is_database_busy(exc):
                return database_busy_response()
            db.session.rollback()
            raise

    return wrapper
