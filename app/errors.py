"""Forbidden and Not found as pages in the app's own layout that say what to do next.

The /api/ keeps answering JSON {"message": ...} (its contract); everything else gets a page."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_login import current_user
from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from app.extensions import appbuilder

PAGES = {
    403: ("You do not have access to this page",
          "Your role does not include this screen or this record. If you need it for your work, ask a manager "
          "or an administrator to give your role access; otherwise go back to your home page."),
    404: ("This page or record does not exist",
          "The link may be old or mistyped, or the record was removed or belongs to another organisation. "
          "Search for it from the menu, or go back to your home page."),
}


def _page(error: HTTPException):
    code = error.code or 500
    if request.path.startswith("/api/"):
        return jsonify(message=error.description), code

    title, advice = PAGES[code]
    return render_template(
        "chargeops/error.html", appbuilder=appbuilder, base_template=appbuilder.base_template, code=code,
        title=title, advice=advice, signed_in=current_user.is_authenticated,
        back=request.referrer if (request.referrer or "").startswith(request.host_url) else None,
    ), code


def init_app(app: Flask) -> None:
    app.register_error_handler(Forbidden, _page)
    app.register_error_handler(NotFound, _page)
