"""The home page: who you are; for support roles the support dashboard; for every role its own work (field_home)."""
from __future__ import annotations

from flask import g
from flask_appbuilder import IndexView, expose

from app.extensions import db
from app.security import ADMIN, SUPPORT_ROLES
from app.services.notifications import unread_count
from app.services.people import member_for_user
from app.services.field_home import panels_for
from app.services.support_dashboard import dashboard_data, format_minutes

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
                context["dashboard"] = dashboard_data(db.session)
                context["format_minutes"] = format_minutes

            context["panels"] = panels_for(db.session, user)
        return self.render_template(self.index_template, appbuilder=self.appbuilder, user=user, **context)
