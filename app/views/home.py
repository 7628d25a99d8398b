"""The home page: who you are, what you can open. Domains add their panels to it."""
from __future__ import annotations

from flask import g
from flask_appbuilder import IndexView, expose

from app.extensions import db
from app.services.notifications import unread_count
from app.services.people import member_for_user


class HomeView(IndexView):
    index_template = "chargeops/home.html"

    @expose("/")
    def index(self):
        user = g.user if getattr(g, "user", None) and g.user.is_authenticated else None
        context = {}
        if user is not None:
            context = {
                "member": member_for_user(db.session, user.id),
                "unread": unread_count(db.session, user.id),
                "roles": [r.name for r in user.roles],
            }
        return self.render_template(self.index_template, appbuilder=self.appbuilder, user=user, **context)
