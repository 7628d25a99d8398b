"""ChargeOps: the Flask app factory."""
from __future__ import annotations

import importlib
import logging
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any, Optional

from flask import Flask, redirect, request
from flask_appbuilder.menu import Menu
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from app.extensions import appbuilder, celery_init_app, csrf, db, migrate
import config
from flask_appbuilder.api import BaseApi
from sqlalchemy.exc import OperationalError
from flask_login import current_user
from flask import jsonify
from werkzeug.exceptions import HTTPException, InternalServerError
from flask import current_app, has_app_context
from flask import g
from app.security import password_policy
from app.menus import tidy_menus
from app import errors, formatting

BASE_DIR = Path(__file__).resolve().parent.parent
# One module per domain in app/views/ and app/api/, each with register(appbuilder).
DOMAINS = ["people", "customers", "support", "chargers", "fleet", "installations", "messaging", "account", "field", "field_app", "charts", "reports", "webhooks"]


class ConfigurationError(RuntimeError):
    pass


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite as a real server stand-in: WAL for concurrent readers, a busy timeout, FKs on."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        timeout = current_app.config["SQLITE_BUSY_TIMEOUT_MS"] if has_app_context() else 15000
        cache_mb = current_app.config["SQLITE_CACHE_MB"] if has_app_context() else 64
        checkpoint = current_app.config["SQLITE_WAL_AUTOCHECKPOINT"] if has_app_context() else 1000
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout)}")
        cursor.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def development_secret_key(var_dir: Path) -> str:
    """A random key made on first run and kept (mode 0600) under var/, so every local process shares it."""
    path = Path(var_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _apply_mode(app: Flask) -> None:
    if app.config["CHARGEOPS_ENV"] == "production":
        if app.config.get("SECRET_KEY") in (None, "", config.DEFAULT_SECRET_KEY):
            raise ConfigurationError("SECRET_KEY is not set (or is the old development value); set a real one in production")
        app.config.update(
            SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True, PREFERRED_URL_SCHEME="https"
        )
    elif app.config.get("SECRET_KEY") in (None, "", config.DEFAULT_SECRET_KEY):
        app.config["SECRET_KEY"] = development_secret_key(app.config["VAR_DIR"])
    if app.config.get("ENFORCE_HTTPS") is None:
        app.config["ENFORCE_HTTPS"] = app.config["CHARGEOPS_ENV"] == "production"
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops > 0:  # only the configured proxies' forwarding headers are believed
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    if app.config["ENFORCE_HTTPS"]:

        @app.before_request
        def _https_only():
            if not request.is_secure and request.path != "/health":
                return redirect(request.url.replace("http://", "https://", 1), code=301)

        @app.after_request
        def _hsts(response):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
            return response


def _reset_appbuilder() -> None:
    """The AppBuilder object is module-level; a second create_app() must start from scratch."""
    appbuilder.baseviews = []
    appbuilder.menu = Menu()
    appbuilder._addon_managers = []
    appbuilder.addon_managers = {}


def register_views() -> None:
    """Every view and API, in one place: each domain's register(appbuilder)."""
    for domain in DOMAINS:
        for package in ("app.views", "app.api"):
            try:
                module = importlib.import_module(f"{package}.{domain}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{domain}":
                    raise
                continue
            module.register(appbuilder)


def _exempt_apis_from_csrf(app: Flask) -> None:
    """REST APIs authenticate each call with a bearer token (JWT or API key), not a cookie."""
    for view in appbuilder.baseviews:
        if isinstance(view, BaseApi) and view.blueprint is not None:
            csrf.exempt(view.blueprint)


def _answer_busy_database(app: Flask) -> None:
    """A write that could not get SQLite's lock in time answers 503 + Retry-After, on screens and APIs."""
    from app.api.base import DATABASE_BUSY, database_busy_response, is_database_busy  # why: the package's own modules load once create_app runs, not when `app` is imported

    @app.errorhandler(OperationalError)
    def _busy(exc):
        if not is_database_busy(exc):
            raise exc
        response = database_busy_response()
        if not request.path.startswith("/api/"):
            response.set_data(f"<!doctype html><title>Busy</title><p>{DATABASE_BUSY}.</p>")
            response.mimetype = "text/html"
        return response


def _csrf_for_cookie_calls_to_the_api(app: Flask) -> None:
    """An unsafe call to /api/ signed in by the browser's session cookie (no Authorization header)
    must carry the page's CSRF token (X-CSRFToken); bearer tokens (JWT, API key) are not cookies."""
    @app.before_request
    def _check_api_csrf():
        if (
            request.path.startswith("/api/")
            and request.method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            and not request.headers.get("Authorization")
            and app.config.get("WTF_CSRF_ENABLED", True)
            and current_user.is_authenticated
        ):
            csrf.protect()


# No framing, no plugins, no foreign form targets, and scripts only from our own files, in every mode.
# Our templates carry no inline script (data travels in data- attributes or JSON blocks); Flask-AppBuilder's
# own templates mark their few inline scripts with a nonce (baselib.get_nonce() -> csp_nonce()), which is
# allowed on the page that carries them and nowhere else.
CSP_DIRECTIVES = ("script-src 'self'", "object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'")
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def content_security_policy(nonce: Optional[str] = None) -> str:
    directives = list(CSP_DIRECTIVES)
    if nonce:
        directives[0] += f" 'nonce-{nonce}'"
    return "; ".join(directives)


def csp_nonce() -> str:
    """This response's nonce, made the first time a template asks for one."""

    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def _security_headers(app: Flask) -> None:

    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _add_security_headers(response):
        response.headers.setdefault("Content-Security-Policy", content_security_policy(g.get("csp_nonce")))
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _json_errors_on_the_api(app: Flask) -> None:
    """On /api/ every error is JSON {"message"} (the contract), never Flask's HTML page."""
    def answer(error):
        if not request.path.startswith("/api/"):
            return error
        code = error.code if isinstance(error, HTTPException) else 500
        message = error.description if isinstance(error, HTTPException) and code != 500 else "Internal error"
        return jsonify(message=message), code

    app.register_error_handler(HTTPException, answer)
    app.register_error_handler(InternalServerError, answer)


def create_app(overrides: Optional[dict[str, Any]] = None) -> Flask:
    from app.security import fab_roles, grant_categories  # why: the package's own modules load once create_app runs, not when `app` is imported

    app = Flask(__name__, template_folder="templates")
    app.config.from_object("config")
    if overrides:
        app.config.update(overrides)
    app.config["FAB_ROLES"] = app.config.get("FAB_ROLES") or fab_roles()
    if app.config.get("FAB_PASSWORD_COMPLEXITY_VALIDATOR") is None:

        app.config["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = password_policy
    _apply_mode(app)
    Path(app.config["VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    Path(app.config["UPLOAD_DIR"]).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    _reset_appbuilder()
    with app.app_context():
        importlib.import_module("app.models")  # every table on the metadata
        appbuilder.init_app(app, db.session)
        register_views()

        tidy_menus(appbuilder)  # each screen once in the daily menus; raw tables under "Records"
        grant_categories(appbuilder)
    csrf.init_app(app)
    _exempt_apis_from_csrf(app)
    from app.api.guards import install_input_guards  # why: the package's own modules load once create_app runs, not when `app` is imported

    install_input_guards(app)  # bad input on /api/v1/ is a 4xx before any view runs
    _json_errors_on_the_api(app)

    errors.init_app(app)  # Forbidden / Not found pages in the app's layout (JSON on /api/)
    formatting.init_app(app)  # local time, dates and money in every template
    _csrf_for_cookie_calls_to_the_api(app)
    _security_headers(app)

    from app.health import bp as health_bp  # why: the package's own modules load once create_app runs, not when `app` is imported

    app.register_blueprint(health_bp)
    csrf.exempt(health_bp)

    from app.vendor import bp as vendor_bp  # why: the package's own modules load once create_app runs, not when `app` is imported

    app.register_blueprint(vendor_bp)  # npm libraries (chart.js) from node_modules/
    celery_init_app(app)
    _answer_busy_database(app)

    from app.cli import register_cli  # why: the package's own modules load once create_app runs, not when `app` is imported

    register_cli(app)
    return app
