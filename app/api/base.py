"""REST API bases: read/write permissions, JSON errors from service exceptions."""
from __future__ import annotations

from functools import wraps

from flask import request
from flask_appbuilder.api import BaseApi, ModelRestApi
from flask_appbuilder.exceptions import DatabaseException

from app.extensions import db
from app.services import ServiceError

API_METHOD_PERMISSIONS = {
    "get_list": "read",
    "get": "read",
    "info": "read",
    "post": "write",
    "put": "write",
    "delete": "write",
}


def describe_errors(message) -> str:
    """Marshmallow's {field: [errors]} as one sentence a client can show."""
    if isinstance(message, dict):
        return "; ".join(
            f"{field}: {describe_errors(errors)}" if field != "_schema" else describe_errors(errors)
            for field, errors in message.items()
        )
    if isinstance(message, (list, tuple)):
        return " ".join(describe_errors(m) for m in message)
    return str(message)


class ResourceApi(ModelRestApi):
    """ModelRestApi with permissions collapsed to can_read/can_write on `class_permission_name`.

    Bad input is a 400 with one readable message (FAB's default is a 422 with a dict).
    """

    method_permission_name = API_METHOD_PERMISSIONS
    allow_browser_login = True
    page_size = 25

    def response_422(self, message=None):
        return self.response_400(message=describe_errors(message))

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
        problem = self.nested_write_problem(request.get_json(silent=True))
        if problem:
            return self.response_400(message=problem)
        return super().post_headless()  # the database's refusal of an add: app/api/guards.py

    def put_headless(self, pk):
        problem = self.nested_write_problem(request.get_json(silent=True))
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


class ActionApi(BaseApi):
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
        except Exception:  # a failed request writes nothing, whatever failed
            db.session.rollback()
            raise

    return wrapper
