"""Chargers over REST: the registry, sessions, commands, and the live network endpoints."""
from __future__ import annotations

from flask import g, request
from marshmallow import Schema, ValidationError, fields, validate
from flask_appbuilder.api import expose, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name, protect

from app.api.base import API_METHOD_PERMISSIONS, ActionApi, ResourceApi, describe_errors, service_errors
from app.extensions import db
from app.models.chargers import Charger, ChargerCommand, ChargingSession
from app.services import InvalidInput
from app.services import chargers_commands, chargers_health, chargers_registry, chargers_sessions, chargers_status
from app.services import chargers
from app.services import chargers_ocpp

CHARGER_FIELDS = [
    "cid", "name", "type", "power_kw", "vendor", "model", "serial", "firmware_version", "site", "address",
    "latitude", "longitude", "heartbeat_interval",
]


class ChargerApi(ResourceApi):
    """The charger registry: `/api/v1/chargers/`."""

    resource_name = "chargers"
    class_permission_name = "Charger"
    datamodel = SQLAInterface(Charger)
    include_route_methods = {"get_list", "get", "post", "put", "info"}
    list_columns = ["id"] + CHARGER_FIELDS + [
        "unregistered", "last_seen", "last_rssi", "temperature_c", "last_heartbeat_gap",
        "firmware_status", "diagnostics_status", "active",
    ]
    show_columns = list_columns
    add_columns = CHARGER_FIELDS
    edit_columns = CHARGER_FIELDS + ["active"]  # {"active": false} archives (decommissions) the charger
    search_columns = ["cid", "name", "type", "site", "vendor", "unregistered", "active"]
    order_columns = ["cid", "name", "site", "last_seen"]

    def pre_add(self, item: Charger) -> None:
        chargers_registry.check_registry_entry(db.session, item)

    def pre_update(self, item: Charger) -> None:
        chargers_registry.complete_registry_entry(db.session, item)

    @service_errors
    def post_headless(self):
        return super().post_headless()

    @service_errors
    def put_headless(self, pk):
        return super().put_headless(pk)


class ChargingSessionApi(ResourceApi):
    """Charging sessions (read-only: they come from the chargers): `/api/v1/sessions/`."""

    resource_name = "sessions"
    class_permission_name = "ChargingSession"
    datamodel = SQLAInterface(ChargingSession)
    include_route_methods = {"get_list", "get", "info"}
    list_columns = [
        "id", "charger.cid", "transaction_id", "connector_id", "id_tag", "status", "energy_kwh", "power_kw",
        "meter_start", "meter_last", "meter_stop", "started_at", "stopped_at", "stop_reason",
    ]
    show_columns = list_columns
    search_columns = ["status", "id_tag", "transaction_id", "started_at"]
    base_order = ("id", "desc")


class ChargerCommandApi(ResourceApi):
    """Remote commands: `/api/v1/commands/` (list) and `/api/v1/commands/<command_id>` (status, result)."""

    resource_name = "commands"
    class_permission_name = "ChargerCommand"
    datamodel = SQLAInterface(ChargerCommand)
    include_route_methods = {"get_list", "get", "info", "get_by_command_id"}
    method_permission_name = {**API_METHOD_PERMISSIONS, "get_by_command_id": "read"}
    list_columns = [
        "id", "command_id", "charger.cid", "action", "payload", "status", "result", "late",
        "created_by.username", "created_at", "sent_at", "answered_at",
    ]
    show_columns = list_columns
    search_columns = ["status", "action", "command_id", "created_at"]
    base_order = ("id", "desc")

    @expose("/<string:command_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def get_by_command_id(self, command_id: str):
        """The command's state: `{"status": ..., "result": {...}}`."""
        return self.response(200, **chargers_commands.command_json(chargers_commands.get_command(db.session, command_id)))


class ChargerCommandActionApi(ActionApi):
    """`POST /api/v1/chargers/<cid>/commands` `{"action","payload"}` -> 202 `{"command_id"}`."""

    resource_name = "chargers"
    class_permission_name = "ChargerCommand"
    method_permission_name = {"send": "write"}

    @expose("/<cid>/commands", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def send(self, cid: str):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("send a JSON object with action and payload")
        command = chargers_commands.send_command(db.session, cid, body.get("action"), body.get("payload"), g.user.id)
        return self.response(202, command_id=command.command_id, status=command.status)


class OcppPasswordSchema(Schema):
    """`PUT /api/v1/chargers/<cid>/ocpp-password` body."""

    password = fields.String(required=True, validate=validate.Length(min=16, max=128))


class ChargerOcppPasswordApi(ActionApi):
    """`PUT /api/v1/chargers/<cid>/ocpp-password` `{"password"}` -> 204: the charger's OCPP Basic-auth password
    (security profiles 1 and 2), stored hashed and never shown again."""

    resource_name = "chargers"
    class_permission_name = "ChargerOcppPassword"
    method_permission_name = {"set_password": "write"}

    @expose("/<cid>/ocpp-password", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    @service_errors
    def set_password(self, cid: str):
        try:
            body = OcppPasswordSchema().load(request.get_json(silent=True) or {})
        except ValidationError as exc:
            raise InvalidInput(describe_errors(exc.messages))
        chargers_ocpp.set_ocpp_password(db.session, cid, body["password"], g.user.id)
        db.session.commit()
        return self.response(204)


class NetworkApi(ActionApi):
    """Live network status: summary, filtered list, one charger, active sessions, heartbeat health."""

    resource_name = "network"
    class_permission_name = "ChargerNetwork"
    method_permission_name = {m: "read" for m in ("summary", "chargers", "charger", "messages", "sessions", "health")}

    @expose("/summary", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def summary(self):
        return self.response(200, **chargers.network_summary(db.session))

    @expose("/chargers", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def chargers(self):
        try:
            page = int(request.args.get("page", 0) or 0)
            page_size = min(200, int(request.args.get("page_size", 50) or 50))
        except ValueError:
            raise InvalidInput("page and page_size must be integers")
        return self.response(200, **chargers.list_network(
            db.session, bucket=request.args.get("bucket") or None, ctype=request.args.get("type") or None,
            q=request.args.get("q") or None, page=page, page_size=page_size, sort=request.args.get("sort") or None,
        ))

    @expose("/chargers/<cid>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def charger(self, cid: str):
        return self.response(200, **chargers_status.charger_detail(db.session, cid))

    @expose("/chargers/<cid>/messages", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def messages(self, cid: str):
        try:
            after = int(request.args.get("after", 0) or 0)
        except ValueError:
            raise InvalidInput("after must be an integer")
        charger = chargers.get_charger(db.session, cid)
        return self.response(200, result=chargers_status.recent_messages(db.session, charger.id, after_id=after, limit=200))

    @expose("/sessions", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def sessions(self):
        return self.response(200, result=chargers_sessions.active_sessions(db.session))

    @expose("/health", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def health(self):
        return self.response(200, **chargers_health.heartbeat_health(db.session))


def register(appbuilder) -> None:
    for api in (ChargerApi, ChargingSessionApi, ChargerCommandApi, ChargerCommandActionApi, ChargerOcppPasswordApi, NetworkApi):
        appbuilder.add_api(api)
