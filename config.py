"""ChargeOps settings: typed defaults, each overridable from the environment (or `.env`).

`create_app(overrides)` applies a dict on top, which is how tests configure the app.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv
from flask_appbuilder.const import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
load_dotenv(BASE_DIR / ".env")

DEFAULT_SECRET_KEY = "chargeops-dev-secret-change-me"


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").lower() in ("1", "true", "yes", "on")


VAR_DIR = Path(env("CHARGEOPS_VAR_DIR", str(BASE_DIR / "var")))

# --- runtime mode ------------------------------------------------------------
CHARGEOPS_ENV = env("CHARGEOPS_ENV", "development")  # development | production
PRODUCTION = CHARGEOPS_ENV == "production"
SECRET_KEY = env("SECRET_KEY")  # unset in development: a random key kept in VAR_DIR/secret_key

# --- real parts ----------------------------------------------------------------
SQLALCHEMY_DATABASE_URI = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'chargeops.db'}")
SQLALCHEMY_TRACK_MODIFICATIONS = False
SQLITE_BUSY_TIMEOUT_MS = env_int("SQLITE_BUSY_TIMEOUT_MS", 15000)
# page cache per connection; SQLite's own default (2 MB) makes index inserts read from disk once the
# charger message stream outgrows it
SQLITE_CACHE_MB = env_int("SQLITE_CACHE_MB", 64)
# WAL pages before a commit checkpoints them into the database file; SQLite's 1000 made the ingest's
# commits copy the same index pages over and over once the message stream had grown
SQLITE_WAL_AUTOCHECKPOINT = env_int("SQLITE_WAL_AUTOCHECKPOINT", 10000)
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
MQTT_URL = env("MQTT_URL", "mqtt://127.0.0.1:1883")
MQTT_TOPIC_PREFIX = env("MQTT_TOPIC_PREFIX", "chargeops")
SMTP_URL = env("SMTP_URL", "smtp://127.0.0.1:8025")
MAIL_FROM = env("MAIL_FROM", "ChargeOps <noreply@chargeops.local>")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", "http://127.0.0.1:8080")
UPLOAD_DIR = Path(env("UPLOAD_DIR", str(VAR_DIR / "uploads")))  # outside the web root

# --- providers -----------------------------------------------------------------
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL")  # None: the SDK's default
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN")
TWILIO_WHATSAPP_FROM = env("TWILIO_WHATSAPP_FROM")
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL")  # None: the SDK's default

# --- locale --------------------------------------------------------------------
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", "LK")
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", "LKR")
# ISO 4217 codes wallets may be kept in (comma-separated); a wallet in any other currency is refused
ENABLED_CURRENCIES = [c.strip().upper() for c in env("ENABLED_CURRENCIES", DEFAULT_CURRENCY).split(",") if c.strip()]
# local time of every page, export and report (storage and the JSON API stay UTC)
TIMEZONE = env("TIMEZONE", env("APP_TIMEZONE", "Asia/Colombo"))
APP_TIMEZONE = TIMEZONE  # the older name
LOCALE = env("LOCALE", "en_GB")  # date order and number separators (babel locale)

# --- Flask-AppBuilder --------------------------------------------------------------
APP_NAME = "ChargeOps"
AUTH_TYPE = AUTH_DB
AUTH_ROLE_ADMIN = "Admin"
AUTH_ROLE_PUBLIC = "Public"
FAB_SECURITY_MANAGER_CLASS = "app.security.ChargeOpsSecurityManager"
FAB_INDEX_VIEW = "app.views.home.HomeView"
FAB_ADD_SECURITY_API = True
FAB_API_KEY_ENABLED = True
FAB_API_KEY_PREFIXES = ["sst_"]
FAB_API_SWAGGER_UI = True
FAB_CREATE_DB = False  # tables come from migrations (`flask db upgrade`), never create_all
FAB_UPDATE_PERMS = False  # permissions are the declared matrix in app/security.py
FAB_API_MAX_PAGE_SIZE = 100
AUTH_RATE_LIMITED = env_bool("AUTH_RATE_LIMITED", True)
AUTH_RATE_LIMIT = env("AUTH_RATE_LIMIT", "10 per 20 second")
RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
# the login limit is counted in Redis, shared by every worker; each worker counts in memory while Redis is away
RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", REDIS_URL)
RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
RATELIMIT_KEY_PREFIX = env("RATELIMIT_KEY_PREFIX", "chargeops")
# Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed (werkzeug's ProxyFix).
# 0: none, the client address is the socket's, so a forged X-Forwarded-For changes nothing. Behind one
# nginx/load balancer set 1 (production's https redirect reads X-Forwarded-Proto through it).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)
# FAB's password-complexity hook, on every form and API that sets a password (app.security.password_policy)
FAB_PASSWORD_COMPLEXITY_ENABLED = env_bool("FAB_PASSWORD_COMPLEXITY_ENABLED", True)
FAB_PASSWORD_COMPLEXITY_VALIDATOR = None  # None: app.security.password_policy
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 10)
JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 60))
JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=env_int("JWT_REFRESH_DAYS", 7))
PERMANENT_SESSION_LIFETIME = timedelta(hours=env_int("SESSION_HOURS", 12))
WTF_CSRF_ENABLED = True
MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 20 * 1024 * 1024)

# --- production hardening ------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
REMEMBER_COOKIE_SECURE = PRODUCTION
PREFERRED_URL_SCHEME = "https" if PRODUCTION else "http"
ENFORCE_HTTPS = env_bool("ENFORCE_HTTPS", False) if env("ENFORCE_HTTPS") else None  # None: on in production

# --- demo ----------------------------------------------------------------------------
DEMO_PASSWORD = env("DEMO_PASSWORD", "chargeops-demo")

# --- Celery (broker and result backend on Redis, JSON only) ------------------------
CELERY = {
    "broker_url": env("CELERY_BROKER_URL", REDIS_URL),
    "result_backend": env("CELERY_RESULT_BACKEND", REDIS_URL),
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_default_queue": env("CELERY_QUEUE", "chargeops"),
    "result_expires": 3600,
    # acks_late is set task by task (on only where the task is idempotent, see app/tasks/)
    "task_acks_late": False,
    # Redis redelivers a task a dead worker held after this long; longer than any task runs (delays are
    # the outbox's due_at, never a countdown/eta, so nothing waits in Redis for longer)
    "broker_transport_options": {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_connect_timeout": 3, "socket_timeout": 10,
    },
    "broker_connection_timeout": 3,
    "redis_socket_connect_timeout": 3,
    "redis_socket_timeout": 10,
    "timezone": "UTC",
    "beat_schedule": {},
}

# --- outbox (every side effect goes through it: app/services/outbox.py) ------------------
OUTBOX_POLL_SECONDS = float(env("OUTBOX_POLL_SECONDS", "0.25"))  # the relay looks for rows this often
OUTBOX_BATCH = env_int("OUTBOX_BATCH", 200)  # rows per relay round
OUTBOX_RETRY_MAX_SECONDS = float(env("OUTBOX_RETRY_MAX_SECONDS", "5"))  # backoff cap while the broker is away
OUTBOX_KEEP_HOURS = float(env("OUTBOX_KEEP_HOURS", "24"))  # sent rows are pruned after this

# === Each module's settings, in its own section (SLA targets, thresholds, beat entries...) ===
# Beat entries go in <DOMAIN>_BEAT; they are merged into CELERY["beat_schedule"] at the end.

# --- customers (contacts, wallet, payments) ---------------------------------------
CUSTOMERS_BEAT: dict = {
    "customers.check_wallets": {"task": "customers.check_wallets", "schedule": timedelta(hours=24)},
}
# Manual top-ups above this amount wait for a second person's approval (maker-checker).
TOPUP_APPROVAL_THRESHOLD = env("TOPUP_APPROVAL_THRESHOLD", "50000.00")
TOPUP_MAX_AMOUNT = env("TOPUP_MAX_AMOUNT", "10000000.00")
TOPUP_RECEIPT_MAX_BYTES = env_int("TOPUP_RECEIPT_MAX_BYTES", 5 * 1024 * 1024)
SETTLEMENT_CSV_MAX_BYTES = env_int("SETTLEMENT_CSV_MAX_BYTES", 10 * 1024 * 1024)
CUSTOMER_LOOKUP_LIMIT = env_int("CUSTOMER_LOOKUP_LIMIT", 20)
# (end of customers)

# --- support (calls, tickets, requests, dashboard) --------------------------------
# Claude classifier (used only when ANTHROPIC_API_KEY is set; the rule-based one answers otherwise)
SUPPORT_CLAUDE_MODEL = env("SUPPORT_CLAUDE_MODEL", "claude-3-5-haiku-latest")
SUPPORT_CLAUDE_TIMEOUT_S = float(env("SUPPORT_CLAUDE_TIMEOUT_S", "15"))
SUPPORT_CLAUDE_MAX_RETRIES = env_int("SUPPORT_CLAUDE_MAX_RETRIES", 2)
SUPPORT_CLAUDE_MAX_TOKENS = env_int("SUPPORT_CLAUDE_MAX_TOKENS", 400)
SUPPORT_CLASSIFIER_PROMPT = env(
    "SUPPORT_CLASSIFIER_PROMPT",
    "You triage customer messages for an electric-vehicle charging network operator in Sri Lanka. "
    "Classify the message with the classify_request tool. Categories: Payment Issues (wallet, "
    "top-ups, double charges, refunds), Charger Faults (a charger that does not start, stops, shows "
    "an error or is damaged), Complaints (dissatisfaction with service or staff), General Inquiry "
    "(anything else). Urgency: Critical when someone is stranded or there is a safety risk, High when "
    "a customer cannot charge or lost money now, Medium for problems that can wait a few hours, Low "
    "for questions. Department: Hotline (payments, general questions), Service (complaints, follow-up), "
    "Maintenance (physical repairs), Technical (remote diagnostics, firmware, offline chargers). "
    "The summary is one short English line.",
)
# SLA targets per priority, in minutes: (first response, resolution)
SUPPORT_SLA_MINUTES = {
    "Critical": (env_int("SLA_CRITICAL_RESPONSE_MIN", 15), env_int("SLA_CRITICAL_RESOLUTION_MIN", 240)),
    "High": (env_int("SLA_HIGH_RESPONSE_MIN", 60), env_int("SLA_HIGH_RESOLUTION_MIN", 480)),
    "Medium": (env_int("SLA_MEDIUM_RESPONSE_MIN", 240), env_int("SLA_MEDIUM_RESOLUTION_MIN", 1440)),
    "Low": (env_int("SLA_LOW_RESPONSE_MIN", 480), env_int("SLA_LOW_RESOLUTION_MIN", 4320)),
}
SUPPORT_SLA_WARN_PERCENT = env_int("SUPPORT_SLA_WARN_PERCENT", 80)  # warn when this share of the target has elapsed
SUPPORT_REMINDER_AGE_MIN = env_int("SUPPORT_REMINDER_AGE_MIN", 240)  # untouched this long -> remind the assignee
SUPPORT_REMINDER_INTERVAL_MIN = env_int("SUPPORT_REMINDER_INTERVAL_MIN", 240)  # at most one reminder per item per interval
SUPPORT_DASHBOARD_DAYS = env_int("SUPPORT_DASHBOARD_DAYS", 14)
SUPPORT_BEAT: dict = {
    "support-sla-check": {"task": "support.check_sla", "schedule": 60.0},
    "support-reminders": {"task": "support.send_reminders", "schedule": 900.0},
}
# (end of support)

# --- chargers (registry, status, sessions, commands) ------------------------------
CHARGER_OFFLINE_AFTER = env_int("CHARGER_OFFLINE_AFTER", 0)  # seconds; 0: 3 x the heartbeat interval
CHARGER_OFFLINE_HEARTBEATS = env_int("CHARGER_OFFLINE_HEARTBEATS", 3)
CHARGER_DEFAULT_HEARTBEAT_INTERVAL = env_int("CHARGER_DEFAULT_HEARTBEAT_INTERVAL", 100)  # 3 x 100 = 300 s
CHARGER_WEAK_RSSI_DBM = env_int("CHARGER_WEAK_RSSI_DBM", -85)
# the network list counts exactly up to this many matches; above it (PostgreSQL) it says the planner's estimate
NETWORK_EXACT_COUNT_MAX = env_int("NETWORK_EXACT_COUNT_MAX", 20000)
NETWORK_SNAPSHOT_MINUTES = env_int("NETWORK_SNAPSHOT_MINUTES", 15)  # the buckets-over-time chart's resolution
NETWORK_SNAPSHOT_KEEP_DAYS = env_int("NETWORK_SNAPSHOT_KEEP_DAYS", 400)
CHARGER_LATE_HEARTBEAT_FACTOR = float(env("CHARGER_LATE_HEARTBEAT_FACTOR", "1.5"))
CHARGER_COMMAND_TIMEOUT = env_int("CHARGER_COMMAND_TIMEOUT", 30)  # seconds
CHARGER_PUBLISH_WAIT_IN_REQUEST = float(env("CHARGER_PUBLISH_WAIT_IN_REQUEST", "1.0"))  # seconds a request waits for the broker's PUBACK; then a worker retries
CHARGER_ALERT_ROLES = ("CPO", "Manager")
CHARGER_MESSAGE_RETENTION_HOURS = env_int("CHARGER_MESSAGE_RETENTION_HOURS", 48)
CHARGER_MESSAGE_MAX_PER_CHARGER = env_int("CHARGER_MESSAGE_MAX_PER_CHARGER", 2000)
INGEST_CLIENT_ID = env("INGEST_CLIENT_ID", "chargeops-ingest-1")
INGEST_SESSION_EXPIRY = env_int("INGEST_SESSION_EXPIRY", 24 * 3600)  # seconds the broker keeps our queue
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 1000)
INGEST_BATCH_MS = env_int("INGEST_BATCH_MS", 5)  # linger for more before writing; load fills batches anyway
INGEST_SHARED_SUBSCRIPTION = env_bool("INGEST_SHARED_SUBSCRIPTION", True)  # $share/ingest/... (contract)
INGEST_RECEIVE_MAXIMUM = env_int("INGEST_RECEIVE_MAXIMUM", 5000)  # unacked messages in flight to us
# the database writer in a process of its own beside the MQTT receiver (two cores' worth); off: a thread
INGEST_WRITER_PROCESS = env_bool("INGEST_WRITER_PROCESS", True)
CHARGERS_BEAT: dict = {
    "chargers-sweep": {"task": "chargers.sweep", "schedule": float(env_int("CHARGER_SWEEP_SECONDS", 15))},
    "chargers-bucket-snapshot": {"task": "chargers.snapshot_buckets",
                                 "schedule": 60.0 * env_int("NETWORK_SNAPSHOT_MINUTES", 15)},
    "chargers-prune": {"task": "chargers.prune_messages", "schedule": 600.0},
}
# fleet operations: firmware campaigns, diagnostics uploads, SSH reboot
FIRMWARE_LINK_HOURS = env_int("FIRMWARE_LINK_HOURS", 24)  # a signed firmware download URL expires after
FIRMWARE_MAX_BYTES = env_int("FIRMWARE_MAX_BYTES", 256 * 1024 * 1024)
FIRMWARE_ATTEMPT_TIMEOUT_S = env_int("FIRMWARE_ATTEMPT_TIMEOUT_S", 3600)  # no progress for this long: attempt failed
DIAGNOSTICS_LINK_MINUTES = env_int("DIAGNOSTICS_LINK_MINUTES", 60)  # the signed upload URL of one request
DIAGNOSTICS_MAX_BYTES = env_int("DIAGNOSTICS_MAX_BYTES", 50 * 1024 * 1024)
SSH_CONNECT_TIMEOUT_S = env_int("SSH_CONNECT_TIMEOUT_S", 15)
FLEET_BEAT: dict = {
    "firmware-campaigns": {"task": "firmware.advance_campaigns", "schedule": float(env_int("FIRMWARE_BEAT_SECONDS", 15))},
}
# (end of chargers)

# --- OCPP 1.6J gateway (`flask ocpp-gateway`) -------------------------------------------
# ws://OCPP_HOST:OCPP_PORT{OCPP_PATH_PREFIX}<cid>, subprotocol ocpp1.6, HTTP Basic <cid>:<password>;
# wss:// (security profile 2) when OCPP_TLS_CERT and OCPP_TLS_KEY are set.
OCPP_HOST = env("OCPP_HOST", "127.0.0.1")
OCPP_PORT = env_int("OCPP_PORT", 9000)
OCPP_PATH_PREFIX = env("OCPP_PATH_PREFIX", "/ocpp/")
OCPP_TLS_CERT = env("OCPP_TLS_CERT")
OCPP_TLS_KEY = env("OCPP_TLS_KEY")
OCPP_AUTO_REGISTER = env_bool("OCPP_AUTO_REGISTER", False)  # unknown identities: registered as pending, not refused
OCPP_HEARTBEAT_INTERVAL = env_int("OCPP_HEARTBEAT_INTERVAL", 60)  # BootNotification's answer when the registry has none
OCPP_PENDING_RETRY_SECONDS = env_int("OCPP_PENDING_RETRY_SECONDS", 300)  # a Pending charger boots again after this
OCPP_OPERATOR_TAGS = tuple(t.strip() for t in (env("OCPP_OPERATOR_TAGS", "") or "").split(",") if t.strip())
OCPP_DATA_TRANSFER_VENDORS = tuple(
    v.strip() for v in (env("OCPP_DATA_TRANSFER_VENDORS", "") or "").split(",") if v.strip()
)  # DataTransfer from these vendorIds is Accepted; from others UnknownVendorId (it is recorded either way)
OCPP_AUTH_CACHE_SECONDS = env_int("OCPP_AUTH_CACHE_SECONDS", 30)  # an id tag's answer is reused this long
OCPP_NODE_ID = env("OCPP_NODE_ID")  # default <hostname>:<OCPP_PORT>; stable, so a restart clears its own links
OCPP_NODE_HEARTBEAT_SECONDS = env_int("OCPP_NODE_HEARTBEAT_SECONDS", 10)
OCPP_NODE_STALE_SECONDS = env_int("OCPP_NODE_STALE_SECONDS", 45)  # a gateway silent this long holds nothing
# charger passwords are long machine secrets checked at every (re)connect: a strong but quick hash
OCPP_PASSWORD_HASH_METHOD = env("OCPP_PASSWORD_HASH_METHOD", "pbkdf2:sha256:50000")
OCPP_PASSWORD_MIN_LENGTH = 16
OCPP_URL = env("OCPP_URL", "ws://127.0.0.1:9000/ocpp/")  # where `flask simulate --ocpp` connects
OCPP_DEMO_PASSWORD = env("OCPP_DEMO_PASSWORD", "chargeops-demo-ocpp-key")  # the seeded chargers' (and the simulator's)
# (end of OCPP gateway)

# --- installations (leads to payouts, OEM reporting) -------------------------------
INSTALLATIONS_UPLOAD_LINK_HOURS = env_int("INSTALLATIONS_UPLOAD_LINK_HOURS", 72)
INSTALLATIONS_MAX_UPLOAD_BYTES = env_int("INSTALLATIONS_MAX_UPLOAD_BYTES", 8 * 1024 * 1024)
INSTALLATIONS_MAX_VIDEO_BYTES = env_int("INSTALLATIONS_MAX_VIDEO_BYTES", 19 * 1024 * 1024)
INSTALLATIONS_REPORT_FROM = env("INSTALLATIONS_REPORT_FROM", MAIL_FROM)
OPERATOR_NAME = env("OPERATOR_NAME", "ChargeOps")  # the network operator, as named in report titles
INSTALLATIONS_BEAT: dict = {
    "installations-overdue-reminders": {"task": "installations.remind_overdue", "schedule": 3600.0},
}
# (end of installations)

# --- messaging (WhatsApp, notifications, alerts) -----------------------------------
# Twilio signs webhooks against PUBLIC_BASE_URL + path; status callbacks are asked for on every send.
MESSAGING_STATUS_CALLBACK = env_bool("MESSAGING_STATUS_CALLBACK", True)
MESSAGING_WINDOW_HOURS = env_int("MESSAGING_WINDOW_HOURS", 24)  # WhatsApp customer-care window
MESSAGING_SEND_MAX_RETRIES = env_int("MESSAGING_SEND_MAX_RETRIES", 6)  # then the message is failed
MESSAGING_HTTP_TIMEOUT_S = float(env("MESSAGING_HTTP_TIMEOUT_S", "15"))
MESSAGING_MEDIA_MAX_BYTES = env_int("MESSAGING_MEDIA_MAX_BYTES", 10 * 1024 * 1024)
MESSAGING_MEDIA_TYPES = tuple(
    t.strip() for t in env(
        "MESSAGING_MEDIA_TYPES",
        "image/jpeg,image/png,image/webp,image/gif,application/pdf,audio/ogg,audio/mpeg,audio/amr,audio/mp4,"
        "audio/aac,video/mp4",
    ).split(",") if t.strip()
)
MESSAGING_MEDIA_DIR = env("MESSAGING_MEDIA_DIR", "whatsapp")  # under UPLOAD_DIR
MESSAGING_ALERT_DEDUPE_MINUTES = env_int("MESSAGING_ALERT_DEDUPE_MINUTES", 30)  # a flapping charger alerts once per window
MESSAGING_CHARGER_ALERT_GROUP = env("MESSAGING_CHARGER_ALERT_GROUP", "cpo_technical")  # Faulted/Offline chargers
MESSAGING_TEAM_ALERT_TEMPLATE = env("MESSAGING_TEAM_ALERT_TEMPLATE", "team_alert")
# in-app notification kinds that also go to the person's WhatsApp (TeamMember.whatsapp), as team_alert
MESSAGING_WHATSAPP_KINDS = tuple(
    k.strip() for k in env("MESSAGING_WHATSAPP_KINDS", "sla_breach,sla_warning,support_reminder").split(",") if k.strip()
)
MESSAGING_BEAT: dict = {
    "messaging-sweep": {"task": "messaging.sweep", "schedule": 300.0},
}
# (end of messaging)

# --- field operations (issues, maintenance, force charge, alerts) -------------------
# Reminders to an unresolved issue's assignee, and escalation to the CPO group, once per interval (minutes).
FIELD_ISSUE_REMINDER_MIN = {
    "Critical": env_int("ISSUE_CRITICAL_REMINDER_MIN", 30), "High": env_int("ISSUE_HIGH_REMINDER_MIN", 120),
    "Medium": env_int("ISSUE_MEDIUM_REMINDER_MIN", 480), "Low": env_int("ISSUE_LOW_REMINDER_MIN", 1440),
}
FIELD_ISSUE_ESCALATION_MIN = {
    "Critical": env_int("ISSUE_CRITICAL_ESCALATION_MIN", 60), "High": env_int("ISSUE_HIGH_ESCALATION_MIN", 240),
    "Medium": env_int("ISSUE_MEDIUM_ESCALATION_MIN", 1440), "Low": env_int("ISSUE_LOW_ESCALATION_MIN", 4320),
}
FIELD_ISSUE_ESCALATION_GROUP = env("FIELD_ISSUE_ESCALATION_GROUP", "cpo_technical")
FIELD_ISSUE_FAULT_PRIORITY = env("FIELD_ISSUE_FAULT_PRIORITY", "High")
FIELD_ISSUE_OFFLINE_PRIORITY = env("FIELD_ISSUE_OFFLINE_PRIORITY", "Medium")
# this many chargers offline within the window are one "mass offline" alert, not one each
CHARGER_MASS_OFFLINE_MIN = env_int("CHARGER_MASS_OFFLINE_MIN", 5)
CHARGER_MASS_OFFLINE_WINDOW_S = env_int("CHARGER_MASS_OFFLINE_WINDOW_S", 120)
FORCE_CHARGE_TARIFF_PER_KWH = env("FORCE_CHARGE_TARIFF_PER_KWH", "70.00")  # money per kWh, Decimal
FORCE_CHARGE_MIN_BALANCE = env("FORCE_CHARGE_MIN_BALANCE", "500.00")  # held for a timed force charge
FORCE_CHARGE_MAX_MINUTES = env_int("FORCE_CHARGE_MAX_MINUTES", 720)
FORCE_CHARGE_START_TIMEOUT = env_int("FORCE_CHARGE_START_TIMEOUT", 120)  # seconds from request to a session
FIELD_BEAT: dict = {
    "field-force-charges": {"task": "field.check_force_charges", "schedule": 15.0},
    "field-issue-reminders": {"task": "field.send_issue_reminders", "schedule": 300.0},
    "field-maintenance-overdue": {"task": "field.remind_overdue_maintenance", "schedule": 3600.0},
    "field-push": {"task": "field.send_push", "schedule": 300.0},
    "field-app-idempotency-keys": {"task": "field.prune_idempotency_keys", "schedule": 3600.0},
}
# (end of field operations)

# --- signed webhooks (POST /api/v1/webhooks/<source>) --------------------------------
WEBHOOK_WINDOW_SECONDS = env_int("WEBHOOK_WINDOW_SECONDS", 300)  # a signature this far from now is refused

CELERY["beat_schedule"] = {**CUSTOMERS_BEAT, **SUPPORT_BEAT, **CHARGERS_BEAT, **FLEET_BEAT, **INSTALLATIONS_BEAT, **MESSAGING_BEAT, **FIELD_BEAT}

# --- the field app (PWA at /app/): live stream, Web Push, map ------------------------------
LIVE_STREAM_SECONDS = env_int("LIVE_STREAM_SECONDS", 300)  # a stream ends after this; the app reconnects
LIVE_MAX_STREAMS = env_int("LIVE_MAX_STREAMS", 24)  # per web process: gunicorn threads beyond stay for requests
PUSH_VAPID_SUBJECT = env("PUSH_VAPID_SUBJECT", "mailto:ops@chargeops.local")
PUSH_TTL_SECONDS = env_int("PUSH_TTL_SECONDS", 24 * 3600)
PUSH_TIMEOUT_SECONDS = env_int("PUSH_TIMEOUT_SECONDS", 10)
# e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; empty: the shipped Natural Earth outline only
MAP_TILE_URL = env("MAP_TILE_URL", "")
MAP_TILE_ATTRIBUTION = env("MAP_TILE_ATTRIBUTION", "")
IDEMPOTENCY_KEEP_DAYS = env_int("IDEMPOTENCY_KEEP_DAYS", 14)
