"""GET /health (no auth): is each real part reachable?"""
from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import db
from app.integrations.mqtt import broker_reachable

bp = Blueprint("health", __name__)


def _check(fn) -> str:
    try:
        return "ok" if fn() else "down"
    except Exception as exc:  # a health check reports, it never raises
        current_app.logger.warning("health check failed: %s", exc)
        return "down"


@bp.get("/health")
def health():
    config = current_app.config
    parts = {
        "db": _check(lambda: db.session.execute(text("SELECT 1")).scalar() == 1),
        "redis": _check(lambda: redis.Redis.from_url(config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2).ping()),
        "mqtt": _check(lambda: broker_reachable(config["MQTT_URL"], timeout=2)),
    }
    db.session.rollback()
    status = "ok" if all(v == "ok" for v in parts.values()) else "degraded"
    # 200 either way: the body says what is degraded (a 5xx here would mean a bug in us)
    return jsonify(status=status, **parts)
