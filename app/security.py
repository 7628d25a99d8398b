"""Roles and the permission matrix: the single source of truth for who may do what.

Every view and API collapses its permissions to `can_read` / `can_write` on one resource
name (its `class_permission_name`, which is also its menu item name). The matrix below
says, per resource, which role may read or write it; `fab_roles()` turns it into
Flask-AppBuilder's builtin roles (`FAB_ROLES`), which FAB evaluates on every request.
Admin may do everything. Menu categories are granted to a role when it can open at
least one item inside them (see `grant_categories`).
"""
from __future__ import annotations

import re
from typing import Iterable

from flask import current_app, request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.schemas import login_post
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_jwt_extended import create_access_token, create_refresh_token
from marshmallow import ValidationError
from flask import jsonify
from app.services.activity import record_activity

ADMIN = "Admin"
MANAGER = "Manager"
DISPATCHER = "Dispatcher"
OPS_AGENT = "Ops Agent"
INSTALLER = "Installer"
CPO = "CPO"
CENTRAL_OPS = "Central Ops"
FIELD_TEAM = "Field Team"
PROCUREMENT = "Procurement"
FINANCE = "Finance"
OEM_REPORTING = "OEM Reporting"
OEM = "OEM"

OPERATIONS_ROLES = (ADMIN, MANAGER, DISPATCHER, OPS_AGENT, INSTALLER, CPO)
INSTALLATION_ROLES = (CENTRAL_OPS, FIELD_TEAM, PROCUREMENT, FINANCE, OEM_REPORTING, OEM)
ROLES = OPERATIONS_ROLES + INSTALLATION_ROLES

READ, WRITE = "read", "write"
SUPPORT_ROLES = (MANAGER, DISPATCHER, OPS_AGENT)
CHARGER_ROLES = (MANAGER, DISPATCHER, OPS_AGENT, INSTALLER, CPO)
INSTALLATION_STAFF = (CENTRAL_OPS, FIELD_TEAM, PROCUREMENT, FINANCE, OEM_REPORTING)


def grant(access: str, roles: Iterable[str]) -> dict[str, str]:
    return {role: access for role in roles}


# resource -> {role: READ | WRITE}. Admin is implicit everywhere.
PERMISSION_MATRIX: dict[str, dict[str, str]] = {
    # --- people ----------------------------------------------------------------
    "Department": {MANAGER: WRITE, **grant(READ, (DISPATCHER, OPS_AGENT, CENTRAL_OPS))},
    "TeamMember": {MANAGER: WRITE, **grant(READ, (DISPATCHER, CENTRAL_OPS))},
    "FieldTeam": {
        **grant(WRITE, (MANAGER, CENTRAL_OPS)),
        **grant(READ, (DISPATCHER, FIELD_TEAM, PROCUREMENT, FINANCE)),
    },
    "ActivityLog": {MANAGER: READ},
    # --- customers (contacts, wallet, payments) ---------------------------------
    "Customer": {
        **grant(WRITE, (MANAGER, DISPATCHER, OPS_AGENT)),
        **grant(READ, (INSTALLER, CPO, FINANCE, CENTRAL_OPS)),
    },
    "CustomerSearch": grant(READ, (MANAGER, DISPATCHER, OPS_AGENT, INSTALLER, CPO, FINANCE, CENTRAL_OPS)),
    "Wallet": grant(READ, (MANAGER, DISPATCHER, OPS_AGENT, FINANCE)),
    "WalletEntry": grant(WRITE, (MANAGER, FINANCE)),
    "TopUp": {**grant(WRITE, (MANAGER, FINANCE)), **grant(READ, (DISPATCHER, OPS_AGENT))},
    "Payment": {**grant(WRITE, (MANAGER, FINANCE)), **grant(READ, (DISPATCHER, OPS_AGENT))},
    "SettlementImport": grant(WRITE, (MANAGER, FINANCE)),
    # (end of customers)
    # --- support (calls, tickets, requests, dashboard) --------------------------
    "Call": {**grant(WRITE, SUPPORT_ROLES), CPO: READ},
    # the tickets API and the ticket desk pages (/support/tickets/), scoped to the person's department
    "Ticket": {**grant(WRITE, SUPPORT_ROLES + (INSTALLER, FIELD_TEAM)), CPO: READ},
    "CustomerRequest": grant(WRITE, SUPPORT_ROLES),
    "SupportDesk": grant(WRITE, SUPPORT_ROLES),  # call logging, history, queue and ticket pages
    "SupportAudit": grant(READ, (MANAGER, DISPATCHER)),
    # (end of support)
    # --- chargers (registry, status, sessions, commands, firmware) --------------
    "Charger": {**grant(READ, CHARGER_ROLES), **grant(WRITE, (MANAGER, CPO))},  # the registry
    "ChargerNetwork": grant(READ, CHARGER_ROLES),  # live status screens and /api/v1/network/*
    "ChargingSession": grant(READ, CHARGER_ROLES),
    "ChargerFault": grant(READ, CHARGER_ROLES),
    "ChargerCommand": grant(WRITE, (MANAGER, CPO, DISPATCHER, INSTALLER)),  # remote commands
    "ChargerOcppPassword": {CPO: WRITE},  # a charger's OCPP gateway password (Admin too, as everywhere)
    # --- fleet operations (firmware, diagnostics, SSH reboot) ---
    "Firmware": {CPO: WRITE},  # the firmware catalogue
    "FirmwareCampaign": {CPO: WRITE, MANAGER: READ},
    "FirmwareStatusEvent": grant(READ, (CPO, MANAGER)),  # every charger's firmware history
    "DiagnosticsFile": {**grant(WRITE, (MANAGER, CPO, DISPATCHER, INSTALLER)), OPS_AGENT: READ},
    "SshHost": {CPO: WRITE},  # the registry of hosts that may be rebooted over SSH
    "SshReboot": {CPO: WRITE},  # SSH reboot jobs
    # (end of chargers)
    # --- installations (leads to payouts) ----------------------------------------
    # Fine-grained who-moves-what is the transition table in app/services/installations.py.
    "Lead": {
        **grant(WRITE, (OEM, CENTRAL_OPS, DISPATCHER, MANAGER)),
        OEM_REPORTING: READ,
    },
    "InstallationJob": {
        **grant(WRITE, (CENTRAL_OPS, DISPATCHER, MANAGER, FIELD_TEAM, PROCUREMENT, FINANCE, OEM_REPORTING)),
        OEM: READ,
    },
    "InstallationBoard": {**grant(WRITE, (CENTRAL_OPS, DISPATCHER, MANAGER)), **grant(READ, (OEM_REPORTING, PROCUREMENT, FINANCE))},
    "MyFieldJobs": {FIELD_TEAM: WRITE},
    "ProcurementQueue": {**grant(WRITE, (PROCUREMENT, MANAGER)), **grant(READ, (CENTRAL_OPS,))},
    "FinanceQueue": {**grant(WRITE, (FINANCE, MANAGER)), **grant(READ, (CENTRAL_OPS,))},
    "OemPortal": {**grant(WRITE, (OEM, OEM_REPORTING)), **grant(READ, (CENTRAL_OPS, MANAGER))},
    "Oem": {**grant(WRITE, (CENTRAL_OPS, MANAGER)), **grant(READ, (DISPATCHER, OEM_REPORTING, FINANCE))},
    "OemUser": {**grant(WRITE, (CENTRAL_OPS, MANAGER))},
    "JobEvent": grant(READ, (CENTRAL_OPS, DISPATCHER, MANAGER, OEM_REPORTING)),
    "Material": {**grant(WRITE, (PROCUREMENT, MANAGER)), **grant(READ, (CENTRAL_OPS, DISPATCHER, FIELD_TEAM, FINANCE))},
    "StockLocation": {**grant(WRITE, (PROCUREMENT, MANAGER)), **grant(READ, (CENTRAL_OPS, DISPATCHER))},
    "StockLevel": grant(READ, (PROCUREMENT, MANAGER, CENTRAL_OPS, DISPATCHER)),
    "StockMove": grant(READ, (PROCUREMENT, MANAGER, FINANCE)),
    "VendorPurchase": grant(READ, (PROCUREMENT, FINANCE, CENTRAL_OPS, MANAGER, FIELD_TEAM)),
    "Payout": {**grant(WRITE, (FINANCE, MANAGER)), CENTRAL_OPS: READ},
    "OemReport": {**grant(WRITE, (OEM_REPORTING, MANAGER)), **grant(READ, (CENTRAL_OPS,))},
    # (end of installations)
    # --- messaging (WhatsApp, notifications, alerts) ------------------------------
    "WhatsAppInbox": grant(WRITE, SUPPORT_ROLES),  # conversations: read, reply, assign, resolve
    "Message": {**grant(WRITE, SUPPORT_ROLES), CPO: READ},  # message log and the send API
    "MessageTemplate": {MANAGER: WRITE, **grant(READ, (DISPATCHER, OPS_AGENT))},
    "NotificationGroup": {MANAGER: WRITE, **grant(READ, (DISPATCHER, CPO, CENTRAL_OPS))},
    "Alert": {**grant(WRITE, (MANAGER, DISPATCHER, OPS_AGENT, CPO, INSTALLER, CENTRAL_OPS)), FIELD_TEAM: READ},
    # (end of messaging)
    # --- field operations (issue tracker, maintenance, force charge, broadcasts) -------
    "ChargerIssue": grant(WRITE, (CPO, INSTALLER, DISPATCHER, MANAGER)),
    "MaintenanceTask": grant(WRITE, (CPO, INSTALLER, DISPATCHER, MANAGER)),
    "ForceCharge": grant(WRITE, (MANAGER, CPO, DISPATCHER, OPS_AGENT, INSTALLER)),
    "Broadcast": grant(WRITE, (MANAGER, CPO, DISPATCHER, CENTRAL_OPS)),
    # (end of field operations)
    # --- reports and charts (FAB chart views, report files, sent report mail) -----
    "CallChart": grant(READ, SUPPORT_ROLES),
    "TicketChart": grant(READ, SUPPORT_ROLES),
    "ChargerChart": grant(READ, CHARGER_ROLES),
    "ChargerFaultChart": grant(READ, CHARGER_ROLES),
    "PaymentChart": grant(READ, (MANAGER, FINANCE)),
    "TopUpChart": grant(READ, (MANAGER, FINANCE)),
    "JobChart": grant(READ, (MANAGER, DISPATCHER, CENTRAL_OPS, OEM_REPORTING)),
    "InstallationChart": grant(READ, (MANAGER, DISPATCHER, CENTRAL_OPS, OEM_REPORTING)),
    "PayoutChart": grant(READ, (MANAGER, FINANCE)),
    # the list of reports and datasets; which files a role may download is REPORT_OWNERS in reporting/catalogue.py
    "Report": grant(READ, (MANAGER, OEM_REPORTING, OEM)),
    "ReportMail": grant(READ, (MANAGER, OEM_REPORTING)),  # what was e-mailed, sent or failed and why
    "PayoutLedger": grant(READ, (MANAGER, FINANCE)),  # the payout ledger as .xlsx
    # (end of reports and charts)
}

# Every signed-in person: their own profile, password, API keys and notifications.
COMMON_GRANTS: list[list[str]] = [
    ["^UserDBModelView$", "^(can_userinfo|userinfoedit)$"],
    ["^ResetMyPasswordView$", "^can_this_form_(get|post)$"],
    ["^UserInfoEditView$", "^can_this_form_(get|post)$"],
    ["^ApiKey$", "^can_(list|create|get|revoke)$"],
    ["^MyApiKeys$", ".*"],
    ["^Notification$", ".*"],
    ["^Home$", ".*"],
]

PERMS_FOR = {READ: "^(can_read|menu_access)$", WRITE: ".*"}


def fab_roles() -> dict[str, list[list[str]]]:
    roles: dict[str, list[list[str]]] = {ADMIN: [[".*", ".*"]]}
    for role in ROLES[1:]:
        roles[role] = [list(g) for g in COMMON_GRANTS]
    for resource, grants in PERMISSION_MATRIX.items():
        for role, access in grants.items():
            roles[role].append([f"^{re.escape(resource)}$", PERMS_FOR[access]])
    return roles


def role_allows(role: str, resource: str, permission: str) -> bool:
    """What the matrix declares, evaluated the way FAB evaluates builtin roles."""
    return any(
        re.match(view, resource) and re.match(perm, permission)
        for view, perm in current_app.config["FAB_ROLES"].get(role, [])
    )


def grant_categories(appbuilder) -> None:
    """A role sees a menu category when it may open at least one item in it."""
    roles = appbuilder.sm.builtin_roles
    for item in appbuilder.menu.menu:
        if not item.childs:
            continue
        names = [child.name for child in item.childs if child.name != "-"]
        for role, pvms in roles.items():
            if role == ADMIN:
                continue
            if any(role_allows(role, name, "menu_access") for name in names):
                pvms.append([f"^{re.escape(item.name)}$", "^menu_access$"])


class ChargeOpsSecurityApi(SecurityApi):
    """FAB's login API, answering as the API contract says: both tokens unless `"refresh": false`."""

    class_permission_name = "SecurityApi"

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        if not request.is_json or not isinstance(request.get_json(silent=True), dict):
            return self.response_400(message="Send a JSON object with username, password and provider")
        try:
            payload = login_post.load(request.get_json())
        except ValidationError as error:
            return self.response_400(message=error.messages)
        user = None
        if payload["provider"] == "db":
            user = self.appbuilder.sm.auth_user_db(payload["username"], payload["password"])
        elif payload["provider"] == "ldap":
            user = self.appbuilder.sm.auth_user_ldap(payload["username"], payload["password"])
        if not user:
            return self.response_401()
        tokens = {"access_token": create_access_token(identity=str(user.id), fresh=True)}
        if payload.get("refresh", True) is not False:
            tokens["refresh_token"] = create_refresh_token(identity=str(user.id))
        return self.response(200, **tokens)


class ChargeOpsSecurityManager(SecurityManager):
    security_api = ChargeOpsSecurityApi
    def sync_roles(self) -> None:
        """Create every declared role (idempotent); run by `flask sync-roles` and seeding."""
        for role in list(self.builtin_roles) + [self.auth_role_public]:
            if self.find_role(role) is None:
                self.add_role(role)

    def register_views(self) -> None:
        super().register_views()
        if self.is_auth_limited:
            # FAB limits the login form; the JWT login API gets the same limit from the same limiter.
            api = next(v for v in self.appbuilder.baseviews if isinstance(v, self.security_api))
            self.limiter.limit(self.auth_rate_limit, methods=["POST"])(api.blueprint)

    def create_jwt_manager(self, app):
        """Every token refusal is a 401 {"message"} (flask_jwt_extended answers {"msg"}, 422 when malformed)."""
        manager = super().create_jwt_manager(app)
        refuse = lambda message: (jsonify(message=message), 401)  # noqa: E731
        manager.unauthorized_loader(lambda reason: refuse(f"Not authenticated: {reason}"))
        manager.invalid_token_loader(lambda reason: refuse(f"Invalid token: {reason}"))
        manager.expired_token_loader(lambda _header, _payload: refuse("Token has expired"))
        manager.revoked_token_loader(lambda _header, _payload: refuse("Token has been revoked"))
        manager.needs_fresh_token_loader(lambda _header, _payload: refuse("A fresh token is required"))
        manager.user_lookup_error_loader(lambda _header, _payload: refuse("Unknown or inactive user"))
        return manager

    def revoke_api_key(self, key_uuid: str) -> bool:
        """FAB records revoked_on only; the key's `active` must say so too."""
        key = self.get_api_key_by_uuid(key_uuid)
        if key is not None:
            key.active = False
        return super().revoke_api_key(key_uuid)

    def on_user_login(self, user) -> None:
        record_activity(self.session, user.id, "login", "Signed in")
        self.session.commit()
