"""Base classes that collapse every view's permissions to can_read / can_write on one resource."""
from __future__ import annotations

from flask_appbuilder import ModelView
from flask_appbuilder.models.filters import BaseFilter

VIEW_METHOD_PERMISSIONS = {
    "list": "read",
    "show": "read",
    "download": "read",
    "api": "read",
    "api_read": "read",
    "api_get": "read",
    "api_column_add": "write",
    "api_column_edit": "write",
    "api_readvalues": "read",
    "add": "write",
    "edit": "write",
    "delete": "write",
    "api_create": "write",
    "api_update": "write",
    "api_delete": "write",
}


class ResourceModelView(ModelView):
    """A ModelView whose permissions are can_read/can_write on `class_permission_name`."""

    method_permission_name = VIEW_METHOD_PERMISSIONS
    page_size = 25


class ReadOnlyModelView(ResourceModelView):
    """For append-only records (ledgers, audit trails, logs): no add, edit or delete anywhere."""

    base_permissions = ["can_read"]


class InDepartmentScope(BaseFilter):
    """A base filter: only the rows the signed-in person's department scope covers.

    Its value is a function returning the WHERE clause (evaluated per request), e.g.
    `["id", InDepartmentScope, lambda: support.scope_clause(db.session, Ticket, g.user)]`."""

    name = "In the department scope"
    arg_name = "scope"

    def apply(self, query, clause):
        return query.filter(clause())
