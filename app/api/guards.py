"""Input guards for every `/api/v1/` request, in one place, before any view runs.

Bad input is a 4xx `{"message"}`, never a 5xx: ids in the path beyond what an id column holds are a
404; a `q` that is not rison, an absurd page, a body that is not a JSON object, NUL bytes, broken
Unicode, non-finite numbers, integers no column can hold and oversized bodies are a 400 or 413.
Each action's own fields are then checked by its marshmallow schema.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Optional

import prison
from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from app.extensions import db
from sqlalchemy import inspect as sa_inspect
from flask import abort
from flask_appbuilder import ModelView
from flask_appbuilder.api import ModelRestApi

API_PREFIX = "/api/v1/"
ID_MAX = 2**31 - 1  # PostgreSQL `integer`, the type of every id column
INT_MAX = 2**63 - 1  # the widest integer column on either database
STRING_MAX = 100_000  # no field of ours holds more; column lengths are checked by each schema
PAGE_MAX = 100_000
DEPTH_MAX = 20
# FAB's own security endpoints read `request.json` without checking the body is JSON
SECURITY_JSON_PATHS = ("/api/v1/security/login",)
SECURITY_PREFIX = "/api/v1/security/"
BODYLESS_PATHS = ("/api/v1/security/refresh", "/api/v1/security/logout")
RISON_ENDPOINTS = {"get_list", "info", "get", "related", "distinct"}


def api_error(status: int, message: str):
    response = jsonify(message=message)
    response.status_code = status
    return response


def value_problem(value: Any, where: str, depth: int = 0) -> Optional[str]:
    """What is wrong with a decoded JSON/rison value no column of ours could store, or None."""
    if depth > DEPTH_MAX:
        return f"{where}: nested too deep"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if abs(value) > INT_MAX:
            return f"{where}: number out of range"
        if (where == "id" or where.endswith("_id")) and not -ID_MAX <= value <= ID_MAX:
            return f"{where}: no such id"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: numbers must be finite"
    if isinstance(value, str):
        return string_problem(value, where)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = string_problem(str(key), where) or value_problem(item, str(key), depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = value_problem(item, where, depth + 1)
            if problem:
                return problem
    return None


def string_problem(value: str, where: str) -> Optional[str]:
    if "\x00" in value:
        return f"{where}: NUL characters are not allowed"
    if len(value) > STRING_MAX:
        return f"{where}: longer than {STRING_MAX} characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{where}: not valid Unicode"
    return None


def _path_problem() -> Optional[str]:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not 0 <= value <= ID_MAX:
            return name
        if isinstance(value, str):
            digits = value.lstrip("-+")
            if name == "pk" and digits.isdigit() and int(digits) > ID_MAX or string_problem(value, name):
                return name
    return None


def _query_problem() -> Optional[str]:
    for key, value in request.args.items(multi=True):
        problem = string_problem(value, key)
        if problem:
            return problem
    raw = request.args.get("q")
    # `q` is rison on FAB's list/info/show routes; other actions (calls/search, network/chargers) take words
    if raw is None or (request.endpoint or "").rsplit(".", 1)[-1] not in RISON_ENDPOINTS:
        return None
    try:
        q = prison.loads(raw)
    except Exception:  # prison raises several types for a malformed argument
        return "q is not valid rison"
    if not isinstance(q, dict):
        return "q must be a rison object"
    for key in ("page", "page_size"):
        if key in q and (isinstance(q[key], bool) or not isinstance(q[key], int) or not 0 <= q[key] <= PAGE_MAX):
            return f"q.{key} must be a whole number from 0 to {PAGE_MAX}"
    for item in q.get("filters") or []:
        if isinstance(item, dict) and isinstance(item.get("value"), (dict, list)):
            return "q.filters: a filter's value must be a single value"
    return value_problem(q, "q")


def _body_problem() -> Optional[str]:
    if request.method not in ("POST", "PUT", "PATCH") or request.path.startswith(BODYLESS_PATHS):
        return None
    must_be_json = request.path.startswith(SECURITY_PREFIX)
    if not request.is_json:
        return "send a JSON object" if must_be_json else None
    raw = request.get_data(cache=True)
    if not raw.strip() and not must_be_json:
        return None
    data = request.get_json(silent=True)
    if data is None:
        return "the body is not valid JSON"
    if not isinstance(data, dict):
        return "send a JSON object"
    return value_problem(data, "body")


def check_api_input():
    if not request.path.startswith(API_PREFIX):
        return None
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        return api_error(413, f"the body is larger than {limit} bytes")
    if _path_problem():
        return api_error(404, "Not found")
    problem = _query_problem() or _body_problem()
    if problem:
        return api_error(400, problem)
    return None


def _refusing_database_errors(view, post_headless):
    """FAB's add re-raises the database's refusal (a taken name, a wrong type): a 409/400, not a 500."""
    @functools.wraps(post_headless)
    def wrapper(*args, **kwargs):
        try:
            return post_headless(*args, **kwargs)
        except IntegrityError:
            db.session.rollback()
            return view.response(409, message="conflicts with an existing record or names a missing one")
        except SQLAlchemyError:
            db.session.rollback()
            return view.response_400(message="a field has a value of the wrong type")

    return wrapper


def check_list_ordering():
    """A screen's list is ordered only by a column it offers (`_oc_<View>`), asc or desc (`_od_<View>`)."""
    if not any(key.startswith(("_oc_", "_od_")) for key in request.args):
        return None
    views = {type(v).__name__: v for v in current_app.appbuilder.baseviews}
    for key, value in request.args.items(multi=True):
        if key.startswith("_od_") and value not in ("asc", "desc"):
            return "the order direction is asc or desc", 400
        if key.startswith("_oc_"):
            view = views.get(key[4:])
            if view is None or value not in (getattr(view, "order_columns", None) or []) or not _is_column(view, value):
                return "this list cannot be ordered by that column", 400
    return None


def _is_column(view, name: str) -> bool:
    """A stored column of the view's model, or of a many-to-one relation's model ("customer.name")."""
    mapper = sa_inspect(view.datamodel.obj)
    if "." in name:
        relation, _, column = name.partition(".")
        rel = mapper.relationships.get(relation)
        return rel is not None and not rel.uselist and column in rel.mapper.columns
    return name in mapper.column_attrs


def refuse_model_file_downloads():
    """FAB's generic `<list>/download/<name>` serves files of FAB file columns; no model of ours has one."""
    endpoint = request.endpoint or ""
    if endpoint.endswith(".download"):
        view = next((v for v in current_app.appbuilder.baseviews if v.endpoint == endpoint.rsplit(".", 1)[0]), None)
        if isinstance(view, ModelView) and type(view).download is ModelView.download:
            abort(404)
    return None


def install_input_guards(app: Flask) -> None:
    app.before_request(check_api_input)
    app.before_request(check_list_ordering)
    app.before_request(refuse_model_file_downloads)
    for view in app.appbuilder.baseviews:
        if isinstance(view, ModelRestApi):
            view.post_headless = _refusing_database_errors(view, view.post_headless)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        if request.path.startswith(API_PREFIX):
            return api_error(413, "the body is too large")
        return exc
