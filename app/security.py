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

from flask import current_app, g, has_request_context, request, session as cookie_session
from flask_appbuilder.api import expose, safe
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.schemas import login_post
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt_identity, jwt_required
from flask_login import current_user, user_logged_in
from marshmallow import ValidationError
from flask import jsonify
from app.services.activity import record_activity

from app.services import sign_in

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
    # --- the field app (PWA at /app/): its own API; each tab also needs the resource it reads ---
    "FieldApp": grant(READ, CHARGER_ROLES + (FIELD_TEAM,)),  # sign in to the app: /api/v1/app/me
    "LiveStream": grant(READ, CHARGER_ROLES),  # /api/v1/live/stream (Server-Sent Events)
    # (end of the field app)
    # --- integrations (signed webhooks) ---------------------------------------------
    "WebhookSource": {},  # sources, their secrets and deliveries: Admin only
    "WebhookDelivery": {},
    "Webhook": {},  # POST /api/v1/webhooks/<source>: no role, each body is signed with its source's secret
    # (end of integrations)
    # --- reports and charts (FAB chart views, report files, sent report mail) -----
    "CallChart": grant(READ, SUPPORT_ROLES),
    "TicketChart": grant(READ, SUPPORT_ROLES),
    "ChargerChart": grant(READ, CHARGER_ROLES),
    "ChargerFaultChart": grant(READ, CHARGER_ROLES),
    "BucketHistoryChart": grant(READ, CHARGER_ROLES),
    "ChargerIssueChart": grant(READ, (CPO, INSTALLER, DISPATCHER, MANAGER)),  # who works the issue tracker
    "MaintenanceChart": grant(READ, (CPO, INSTALLER, DISPATCHER, MANAGER)),
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
        for role, access in grants.items():  # an empty row: Admin only (or, for Webhook, no login at all)
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


def password_policy(password: str) -> None:
    """FAB's password-complexity hook (FAB_PASSWORD_COMPLEXITY_VALIDATOR): long enough, not only letters
    or only digits, not one repeated character."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    password = password or ""
    if (
        len(password) < minimum
        or not any(c.isalpha() for c in password)
        or all(c.isalpha() for c in password)
        or len(set(password)) < 4
    ):
        raise PasswordComplexityValidationError(
            f"Use at least {minimum} characters, mixing letters with digits or symbols."
        )


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

    @expose("/logout", methods=["POST"])
    @jwt_required()
    @safe
    def logout(self):
        """Ends every session and token of the caller (this token, its refresh token, other devices)."""
        sign_in.revoke_sign_ins(self.appbuilder.sm.session, get_jwt_identity())
        self.appbuilder.sm.session.commit()
        return self.response(200, message="Signed out")


class ChargeOpsSecurityManager(SecurityManager):
    security_api = ChargeOpsSecurityApi
    userstatschartview = None  # FAB's login-count chart loads Google Charts from gstatic.com: no page of ours loads another host
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

        manager.additional_claims_loader(lambda identity: {sign_in.CLAIM: sign_in.current_version(self.session, identity)})
        manager.token_in_blocklist_loader(self._token_revoked)
        return manager

    def _token_revoked(self, _header, payload) -> bool:
        """A JWT issued before the person's last logout or password change (access and refresh alike)."""
        try:
            return payload.get(sign_in.CLAIM, 0) != sign_in.current_version(self.session, payload["sub"])
        except (KeyError, TypeError, ValueError):
            return True

    def load_user(self, pk):
        """The session cookie's person, unless they logged out or changed password since it was issued."""
        user = super().load_user(pk)
        if user is not None and cookie_session.get(sign_in.SESSION_KEY, 0) != sign_in.current_version(self.session, user.id):
            return None
        return user

    def load_user_jwt(self, _header, jwt_data):
        """A token's person while active (the token's version is checked by the blocklist loader)."""
        user = self.get_user_by_id(int(jwt_data["sub"]))
        if user is not None and user.is_active:
            g.user = user
            return user
        return None

    def create_login_manager(self, app):
        manager = super().create_login_manager(app)
        user_logged_in.connect(self._stamp_session, app)
        return manager

    def _stamp_session(self, _app, user, **_kw) -> None:
        cookie_session[sign_in.SESSION_KEY] = sign_in.current_version(self.session, user.id)

    def on_user_logout(self, user) -> None:
        sign_in.revoke_sign_ins(self.session, user.id)
        self.session.commit()

    def reset_password(self, userid, password) -> None:
        """Older sign-ins end with the change (app/services/sign_in.py); the person's own browser stays in."""
        super().reset_password(userid, password)
        own = has_request_context() and current_user.is_authenticated and current_user.id == int(userid)
        if own and not request.path.startswith("/api/"):
            cookie_session[sign_in.SESSION_KEY] = sign_in.current_version(self.session, userid)

    def revoke_api_key(self, key_uuid: str) -> bool:
        """FAB records revoked_on only; the key's `active` must say so too."""
        key = self.get_api_key_by_uuid(key_uuid)
        if key is not None:
            key.active = False
        return super().revoke_api_key(key_uuid)

    def on_user_login(self, user) -> None:
        record_activity(self.session, user.id, "login", "Signed in")
        self.session.commit()
