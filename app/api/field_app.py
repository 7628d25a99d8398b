"""The field app's own API: who am I (and what may I use), the live stream (Server-Sent Events), the map's
points, the Web Push key and unsubscribing. Everything else the app does goes through the v1 API."""
from __future__ import annotations

import threading

import redis
from flask import Response, current_app, g, request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.security.decorators import permission_name
from marshmallow import Schema, ValidationError, fields, validate

from app.api.base import ActionApi, describe_errors, service_errors
from app.extensions import db
from app.services import InvalidInput
from app.services import field_app, field_push, live


class _Slots:
    """Open live streams in this process, at most LIVE_MAX_STREAMS: each holds a server thread."""

    def __init__(self):
        self.lock, self.open = threading.Lock(), 0

    def take(self, limit: int) -> bool:
        with self.lock:
            if self.open >= limit:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self.lock:
            self.open -= 1


STREAMS = _Slots()


class UnsubscribeIn(Schema):
    endpoint = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class FieldAppApi(ActionApi):
    """`GET /api/v1/app/me`: the signed-in person, the tabs and actions open to them, the app's settings."""

    resource_name = "app"
    class_permission_name = "FieldApp"
    method_permission_name = {"me": "read"}

    @expose("/me", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def me(self):
        user = g.user
        may = current_app.appbuilder.sm.has_access
        return self.response(200, user={
            "id": user.id, "username": user.username, "name": f"{user.first_name} {user.last_name}".strip(),
            "roles": [r.name for r in user.roles],
        }, can=field_app.capabilities(may), config={
            "map_tile_url": current_app.config["MAP_TILE_URL"] or None,
            "map_tile_attribution": current_app.config["MAP_TILE_ATTRIBUTION"] or None,
            "vapid_public_key": field_push.vapid_public_key(),
        })


class CustomerSessionsApi(ActionApi):
    """`GET /api/v1/app/customers/<id>/sessions`: the customer's latest sessions (the Debug tab's lookup)."""

    resource_name = "app"
    class_permission_name = "ChargingSession"
    method_permission_name = {"sessions": "read"}

    @expose("/customers/<int:pk>/sessions", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def sessions(self, pk: int):
        return self.response(200, result=field_app.customer_sessions(db.session, pk))


class LiveApi(ActionApi):
    """`GET /api/v1/live/stream`: Server-Sent Events, a `change` note per committed ingest batch."""

    resource_name = "live"
    class_permission_name = "LiveStream"
    method_permission_name = {"stream": "read"}

    @expose("/stream", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def stream(self):
        config = current_app.config
        if not STREAMS.take(config["LIVE_MAX_STREAMS"]):
            return self._unavailable("too many live streams on this server right now")
        try:
            pubsub = live.open_subscription(config["MQTT_TOPIC_PREFIX"], config["REDIS_URL"])
        except redis.RedisError:
            STREAMS.give_back()
            return self._unavailable("live updates are unavailable right now")

        def events():
            try:
                yield from live.stream_notes(pubsub, config["LIVE_STREAM_SECONDS"])
            finally:
                STREAMS.give_back()

        return Response(events(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def _unavailable(self, message: str):
        response = self.response(503, message=message)
        response.headers["Retry-After"] = "15"
        return response


class NetworkMapApi(ActionApi):
    """`GET /api/v1/network/map`: every charger with a position (the field app's and the back office's map);
    `GET /api/v1/network/sessions/connectors`: active sessions with their connector's status."""

    resource_name = "network"
    class_permission_name = "ChargerNetwork"
    method_permission_name = {"points": "read", "sessions": "read"}

    @expose("/map", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def points(self):
        rows = field_app.map_points(db.session)
        return self.response(200, count=len(rows), result=rows, tile_url=current_app.config["MAP_TILE_URL"] or None,
                             tile_attribution=current_app.config["MAP_TILE_ATTRIBUTION"] or None)


    @expose("/sessions/connectors", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def sessions(self):
        """The active sessions with their connector's live status (the field app's Sessions tab)."""
        return self.response(200, result=field_app.sessions_with_connectors(db.session))


class PushKeyApi(ActionApi):
    """`GET /api/v1/push/vapid-public-key`, `DELETE /api/v1/push/subscriptions` `{"endpoint"}` (the caller's own)."""

    resource_name = "push"
    class_permission_name = "Notification"
    method_permission_name = {"public_key": "read", "unsubscribe": "write"}

    @expose("/vapid-public-key", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def public_key(self):
        return self.response(200, public_key=field_push.vapid_public_key())

    @expose("/subscriptions", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("delete")
    @service_errors
    def unsubscribe(self):
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise InvalidInput("send a JSON object with endpoint")
        try:
            endpoint = UnsubscribeIn().load(data)["endpoint"]
        except ValidationError as exc:
            raise InvalidInput(describe_errors(exc.messages)) from None
        found = field_push.unsubscribe(db.session, g.user.id, endpoint)
        db.session.commit()
        if not found:
            return self.response(404, message="no active subscription of yours with that endpoint")
        return self.response(200, message="unsubscribed")


def register(appbuilder) -> None:
    for api in (FieldAppApi, CustomerSessionsApi, LiveApi, NetworkMapApi, PushKeyApi):
        appbuilder.add_api(api)
