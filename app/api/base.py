"""REST API bases: read/write permissions, JSON errors from service exceptions."""
from __future__ import annotations

from functools import wraps

from flask_appbuilder.api import BaseApi, ModelRestApi

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

    return wrapper
