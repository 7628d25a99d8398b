"""Per-person screens: my notifications and my API keys (admins see and revoke everyone's)."""
from __future__ import annotations

from datetime import timedelta

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, action, expose, has_access
from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import ApiKey

from app.extensions import db
from app.models.base import utcnow
from app.models.messaging import Notification
from app.security import ADMIN
from app.services.notifications import mark_read
from app.views.base import ResourceModelView


def current_user_id():
    return g.user.id


class NotificationView(ResourceModelView):
    datamodel = SQLAInterface(Notification)
    class_permission_name = "Notification"
    base_permissions = ["can_read", "can_write"]
    base_filters = [["user_id", FilterEqualFunction, current_user_id]]
    base_order = ("created_at", "desc")
    list_columns = ["created_at", "kind", "title", "body", "is_read"]
    show_columns = ["created_at", "kind", "title", "body", "link", "read_at"]
    search_columns = ["kind", "title", "created_at", "read_at"]
    label_columns = {"is_read": "Read"}

    @action("mark_read", "Mark read", single=False)
    def mark_read_action(self, items):
        items = items if isinstance(items, list) else [items]
        mark_read(db.session, g.user.id, [n.id for n in items])
        db.session.commit()
        return redirect(self.get_redirect())


class MyApiKeysView(BaseView):
    """Create and revoke Flask-AppBuilder API keys (`Authorization: Bearer sst_...`)."""

    route_base = "/apikeys"
    class_permission_name = "MyApiKeys"
    default_view = "list"

    def _is_admin(self) -> bool:
        return any(r.name == ADMIN for r in g.user.roles)

    @expose("/")
    @has_access
    def list(self):
        query = db.session.query(ApiKey).order_by(ApiKey.created_on.desc())
        if not self._is_admin():
            query = query.filter(ApiKey.user_id == g.user.id)
        return self.render_template("chargeops/apikeys.html", keys=query.all(), is_admin=self._is_admin(), new_key=None)

    @expose("/create", methods=["POST"])
    @has_access
    def create(self):
        name = (request.form.get("name") or "").strip()
        days = (request.form.get("expires_in_days") or "").strip()
        if not name:
            flash("Give the key a name, e.g. the system that will use it.", "danger")
            return redirect(url_for("MyApiKeysView.list"))
        if days and (not days.isdigit() or int(days) < 1):
            flash("Expiry must be a whole number of days (or blank for none).", "danger")
            return redirect(url_for("MyApiKeysView.list"))
        expires_on = utcnow() + timedelta(days=int(days)) if days else None
        created = self.appbuilder.sm.create_api_key(g.user, name, expires_on=expires_on)
        keys = db.session.query(ApiKey).filter(ApiKey.user_id == g.user.id).order_by(ApiKey.created_on.desc()).all()
        return self.render_template("chargeops/apikeys.html", keys=keys, is_admin=self._is_admin(), new_key=created)

    @expose("/revoke/<uuid>", methods=["POST"])
    @has_access
    def revoke(self, uuid):
        key = self.appbuilder.sm.get_api_key_by_uuid(uuid)
        if key is None or (key.user_id != g.user.id and not self._is_admin()):
            flash("No such key.", "danger")
        else:
            self.appbuilder.sm.revoke_api_key(uuid)
            flash(f"Key '{key.name}' revoked.", "success")
        return redirect(url_for("MyApiKeysView.list"))


def register(appbuilder) -> None:
    appbuilder.add_view(NotificationView, "Notification", label="My notifications", icon="fa-bell", category="Me")
    appbuilder.add_view(MyApiKeysView, "MyApiKeys", label="My API keys", icon="fa-key", category="Me")
