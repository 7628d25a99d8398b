"""Base classes that collapse every view's permissions to can_read / can_write on one resource."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from flask import abort, flash, redirect, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.actions import action
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from app.models.installations import Oem
from flask import g
from app.extensions import db
from app.services.installations_access import visible_oem_id
from app.formatting import local_date, local_datetime
from app.services import ServiceError

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
    "archive": "write",
    "restore": "write",
}


class CallerOemRows(BaseFilter):
    """OEM users pick only their own OEM (or its rows) in a form's or search's related list."""

    name = "Visible to the caller"
    arg_name = "calleroem"

    def apply(self, query, value):
        oem_id = visible_oem_id(db.session, getattr(g, "user", None))
        if oem_id is None:
            return query
        return query.filter((self.model.id if value == "self" else self.model.oem_id) == oem_id)


def oem_scoped_relations(datamodel, columns) -> dict:
    """{relation: [filter]} for every relation of `columns` to an OEM or to rows that belong to one."""
    scoped = {}
    for column in columns or []:
        if not datamodel.is_relation(column):
            continue
        model = datamodel.get_related_model(column)
        if model is Oem:
            scoped[column] = [["id", CallerOemRows, "self"]]
        elif "oem_id" in model.__table__.c:
            scoped[column] = [["oem_id", CallerOemRows, "rows"]]
    return scoped


class ResourceModelView(ModelView):
    """A ModelView whose permissions are can_read/can_write on `class_permission_name`."""

    method_permission_name = VIEW_METHOD_PERMISSIONS
    page_size = 25

    def _init_properties(self):
        super()._init_properties()

        # stored UTC, read in local time (TIMEZONE) and the locale's date order on every list and record
        for column in {*self.list_columns, *(self.show_columns or [])}:
            if column in self.formatters_columns or "." in column or not hasattr(self.datamodel.obj, column):
                continue
            if self.datamodel.is_datetime(column):
                self.formatters_columns[column] = local_datetime
            elif self.datamodel.is_date(column):
                self.formatters_columns[column] = local_date

    def _init_forms(self):
        for attr, columns in (("search_form_query_rel_fields", self.search_columns),
                              ("add_form_query_rel_fields", self.add_columns),
                              ("edit_form_query_rel_fields", self.edit_columns)):
            setattr(self, attr, {**oem_scoped_relations(self.datamodel, columns), **(getattr(self, attr) or {})})
        super()._init_forms()

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename):
        # no model of ours has a FAB file column; FAB's route would serve UPLOAD_FOLDER by any name
        abort(404)


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


# --- archive instead of delete: the daily list shows active rows, an "Archived" list brings them back ---
ACTIVE_ONLY = [["active", FilterEqual, True]]
ARCHIVED_ONLY = [["active", FilterEqual, False]]


def _set_active(view, items, active: bool, done: str):

    items = items if isinstance(items, list) else [items]
    for item in items:
        item.active = active
    db.session.commit()
    flash(f"{len(items)} {done}", "success")
    return redirect(view.get_redirect())


class ArchiveAction:
    """Mix into a daily list (with base_filters = ACTIVE_ONLY): its rows keep their history when archived."""

    @action("archive", "Archive", "Archive the selected? Their history is kept; the Archived list restores them.", "fa-archive")
    def archive(self, items):
        return _set_active(self, items, False, "archived")


class RestoreAction:
    """Mix into the Archived list (base_filters = ARCHIVED_ONLY)."""

    @action("restore", "Restore", "Bring the selected back to the daily list?", "fa-undo")
    def restore(self, items):
        return _set_active(self, items, True, "restored")


# --- a form post: run the rule, commit, say what happened, go back ---------------------------------
@dataclass(frozen=True)
class Done:
    """What a form post did: the message to flash (None: nothing to say) and where to go instead of `back`."""

    message: str | None = None
    to: str | None = None
    category: str = "success"


def form_action(back: str | Callable[..., str], *, missing_is_404: bool = False):
    """The try/commit/flash/redirect block of a form post, written once.

    The decorated view runs the service calls and returns what to say: a message (flashed as "success"),
    a `Done`, or None. The session is then committed and the browser sent to `back` (or `Done.to`).
    A ServiceError rolls everything back, flashes its message as "danger" and goes to `back`; with
    `missing_is_404`, a record that is missing or out of the person's scope (status 404) is a 404 page.
    `back` is an endpoint filled in with the view's URL arguments, or a function of those arguments
    returning a URL."""

    def back_url(kwargs) -> str:
        return back(**kwargs) if callable(back) else url_for(back, **kwargs)

    def decorate(view):
        @functools.wraps(view)
        def run(self, *args, **kwargs):
            try:
                said = view(self, *args, **kwargs)
                db.session.commit()
            except ServiceError as exc:
                db.session.rollback()
                if missing_is_404 and exc.status == 404:
                    abort(404)
                flash(exc.message, "danger")
                return redirect(back_url(kwargs))
            done = said if isinstance(said, Done) else Done(said)
            if done.message is not None:
                flash(done.message, done.category)
            return redirect(done.to or back_url(kwargs))

        return run

    return decorate
