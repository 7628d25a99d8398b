"""Per-person screens: my API keys (admins see and revoke everyone's); the notification feed is app/views/field.py."""
from __future__ import annotations

from datetime import timedelta

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.sqla.models import ApiKey

from app.extensions import db
from app.models.base import utcnow
from app.security import ADMIN


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
    # notifications: the feed in app/views/field.py (FeedView), not a create/edit/delete grid
    appbuilder.add_view(MyApiKeysView, "MyApiKeys", label="My API keys", icon="fa-key", category="Me")
