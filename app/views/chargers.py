"""Chargers screens: the registry (CRUD) and the live pages that poll /api/v1/network/* every 1.5 s."""
from __future__ import annotations

from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.formatting import local_datetime
from app.extensions import appbuilder, db
from app.models.chargers import Charger, ChargerCommand, ChargerFault, ChargingSession
from app.services import ServiceError
from app.services import chargers_registry, chargers_sessions
from app.services import chargers
from app.views.base import ACTIVE_ONLY, ARCHIVED_ONLY, ArchiveAction, ReadOnlyModelView, ResourceModelView, RestoreAction
from app.views.customers import register_customer_panel
from flask import g
from app.security import role_allows
from app.services.people import has_capability
from markupsafe import Markup
from app.views.fleet import charger_page_panels

CATEGORY = "Chargers"


class ChargerView(ArchiveAction, ResourceModelView):
    datamodel = SQLAInterface(Charger)
    class_permission_name = "Charger"
    base_filters = ACTIVE_ONLY  # archived (decommissioned) chargers: ArchivedChargerView
    list_columns = ["cid", "name", "type", "power_kw", "site", "vendor", "model", "firmware_version", "unregistered", "last_seen"]
    add_columns = edit_columns = [
        "cid", "name", "type", "power_kw", "vendor", "model", "serial", "firmware_version", "site", "address",
        "latitude", "longitude", "heartbeat_interval",
    ]
    show_columns = add_columns + ["unregistered", "last_seen", "last_rssi", "temperature_c", "firmware_status", "diagnostics_status"]
    search_columns = ["cid", "name", "type", "site", "vendor", "unregistered"]
    label_columns = {"cid": "OCPP identity", "power_kw": "Power (kW)", "unregistered": "Auto-registered",
                     "heartbeat_interval": "Heartbeat interval (s)"}
    description_columns = {"type": "L2 (AC) or L3 (DC)", "cid": "chargeBoxIdentity, A-Z a-z 0-9 . _ -"}
    base_order = ("cid", "asc")

    def pre_add(self, item):
        _refusal_as_form_error(chargers_registry.check_registry_entry, item)

    def pre_update(self, item):
        _refusal_as_form_error(chargers_registry.complete_registry_entry, item)

    def pre_delete(self, item):
        _refusal_as_form_error(chargers_registry.ensure_charger_can_be_deleted, item)


def _refusal_as_form_error(rule, item) -> None:
    """Flask-AppBuilder shows a ValueError from pre_add/pre_update/pre_delete on the page and writes nothing."""
    try:
        rule(db.session, item)
    except ServiceError as exc:
        raise ValueError(exc.message) from exc


class ArchivedChargerView(RestoreAction, ResourceModelView):
    datamodel = SQLAInterface(Charger)
    class_permission_name = "Charger"
    include_route_methods = {"list", "show", "download", "action", "action_post"}
    base_filters = ARCHIVED_ONLY
    list_title = "Archived chargers"
    list_columns = ["cid", "name", "type", "site", "last_seen"]
    show_columns = ChargerView.show_columns
    search_columns = ["cid", "name", "type", "site"]


class ChargingSessionView(ReadOnlyModelView):
    datamodel = SQLAInterface(ChargingSession)
    class_permission_name = "ChargingSession"
    list_columns = ["charger", "transaction_id", "connector_id", "id_tag", "status", "energy_kwh", "power_kw", "started_at", "stopped_at"]
    show_columns = list_columns + ["meter_start", "meter_last", "meter_stop", "stop_reason"]
    search_columns = ["charger", "status", "id_tag", "started_at"]
    base_order = ("id", "desc")


class ChargerCommandView(ReadOnlyModelView):
    datamodel = SQLAInterface(ChargerCommand)
    class_permission_name = "ChargerCommand"
    list_columns = ["created_at", "charger", "action", "status", "created_by", "sent_at", "answered_at", "late"]
    show_columns = ["command_id", "charger", "action", "payload", "status", "result", "late", "created_by",
                    "created_at", "sent_at", "answered_at", "timed_out_at"]
    search_columns = ["charger", "action", "status", "created_by", "created_at"]
    base_order = ("id", "desc")


class ChargerFaultView(ReadOnlyModelView):
    datamodel = SQLAInterface(ChargerFault)
    class_permission_name = "ChargerFault"
    list_columns = ["charger", "connector_id", "error_code", "vendor_error_code", "nonstandard", "occurrences", "first_seen", "last_seen", "cleared_at"]
    show_columns = list_columns + ["info"]
    search_columns = ["charger", "error_code", "nonstandard", "cleared_at", "first_seen"]
    label_columns = {"nonstandard": "Not OCPP 1.6"}
    base_order = ("id", "desc")


def _may_command() -> bool:
    """The command buttons show for those who may send: the role's write on ChargerCommand and the
    department's charger_commands capability (the API refuses the same people)."""
    allowed = any(role_allows(role.name, "ChargerCommand", "can_write") for role in g.user.roles)
    return allowed and has_capability(db.session, g.user, "charger_commands")


class NetworkView(BaseView):
    """The live pages: network status, charger page, active sessions, heartbeat health, OCPP console, map."""

    route_base = "/chargers/network"
    class_permission_name = "ChargerNetwork"
    method_permission_name = {name: "read" for name in ("status", "charger", "sessions", "health", "console", "map")}
    default_view = "status"

    @expose("/")
    @has_access
    def status(self):
        return self.render_template("chargers/network.html", summary=chargers.network_summary(db.session), buckets=chargers.BUCKETS)

    @expose("/<cid>")
    @has_access
    def charger(self, cid):
        charger = db.session.query(Charger).filter_by(cid=cid).first()
        if charger is None:
            return self.render_template("chargers/missing.html", cid=cid), 404

        panels = charger_page_panels(db.session, charger)
        panels["can"]["command"] = _may_command()
        return self.render_template("chargers/charger.html", charger=charger, **panels)

    @expose("/sessions/")
    @has_access
    def sessions(self):
        return self.render_template("chargers/sessions.html")

    @expose("/health/")
    @has_access
    def health(self):
        return self.render_template("chargers/health.html")

    @expose("/console/")
    @has_access
    def console(self):
        cids = [c for (c,) in db.session.query(Charger.cid).order_by(Charger.cid).limit(1000)]
        can = {"command": _may_command(), "diagnostics": appbuilder.sm.has_access("can_write", "DiagnosticsFile")}
        return self.render_template("chargers/console.html", cids=cids, can=can)

    @expose("/map/")
    @has_access
    def map(self):
        return self.render_template("chargers/map.html")


def register(appbuilder) -> None:
    appbuilder.add_view(NetworkView, "ChargerNetwork", label="Network status", icon="fa-bolt", category=CATEGORY)
    for label, endpoint, icon in (
        ("Active sessions", "sessions", "fa-plug"),
        ("Heartbeat health", "health", "fa-heartbeat"),
        ("OCPP console", "console", "fa-terminal"),
        ("Map", "map", "fa-map-marker"),
    ):
        appbuilder.add_link("ChargerNetwork", href=f"NetworkView.{endpoint}", label=label, icon=icon, category=CATEGORY)
    appbuilder.add_view(ChargerView, "Charger", label="Charger registry", icon="fa-list", category=CATEGORY)
    appbuilder.add_view_no_menu(ArchivedChargerView)
    appbuilder.add_link("Charger", href="ArchivedChargerView.list", label="Archived chargers", icon="fa-archive", category=CATEGORY)
    appbuilder.add_view(ChargingSessionView, "ChargingSession", label="Sessions", icon="fa-battery-half", category=CATEGORY)
    appbuilder.add_view(ChargerCommandView, "ChargerCommand", label="Commands", icon="fa-paper-plane", category=CATEGORY)
    appbuilder.add_view(ChargerFaultView, "ChargerFault", label="Error log", icon="fa-exclamation-triangle", category=CATEGORY)


@register_customer_panel
def sessions_panel(session, customer):
    """The customer page's charging sessions (Contacts' panel registry)."""
    rows = chargers_sessions.sessions_of_customer(session, customer.id)
    return {
        "title": "Charging sessions", "order": 30, "empty": "No charging sessions yet.",
        "columns": ["Started", "Charger", "Connector", "Energy (kWh)", "Status", "Stopped"],
        "rows": [
            [local_datetime(s.started_at),
             Markup('<a href="/chargers/network/{0}">{0}</a>').format(cid), s.connector_id,
             f"{s.energy_kwh:.2f}", s.status, local_datetime(s.stopped_at)]
            for s, cid in rows
        ],
    }
