"""The home page: who you are, what you can open; for support roles, the support dashboard."""
from __future__ import annotations

from flask import g
from flask_appbuilder import IndexView, expose

from app.extensions import db
from app.security import ADMIN, SUPPORT_ROLES
from app.services.notifications import unread_count
from app.services.people import member_for_user

DASHBOARD_ROLES = set(SUPPORT_ROLES) | {ADMIN}


class HomeView(IndexView):
    index_template = "chargeops/home.html"

    @expose("/")
    def index(self):
        user = g.user if getattr(g, "user", None) and g.user.is_authenticated else None
        context = {}
        if user is not None:
            roles = [r.name for r in user.roles]
            context = {
                "member": member_for_user(db.session, user.id),
                "unread": unread_count(db.session, user.id),
                "roles": roles,
            }
            if DASHBOARD_ROLES & set(roles):
                from app.services.support_dashboard import dashboard_data, format_minutes

                context["dashboard"] = dashboard_data(db.session)
                context["format_minutes"] = format_minutes
        return self.render_template(self.index_template, appbuilder=self.appbuilder, user=user, **context)
