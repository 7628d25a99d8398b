"""Diagnostics: GetDiagnostics with an upload URL of ours, the files chargers upload, and the error log.

Each request gets its own signed, expiring URL (`DIAGNOSTICS_LINK_MINUTES`); the charger PUTs or
POSTs the file there once, up to `DIAGNOSTICS_MAX_BYTES`; it is stored under UPLOAD_DIR/diagnostics
and downloaded from the charger page.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import ChargerCommand, ChargerFault
from app.models.fleet import DiagnosticsFile
from app.services import Conflict, Forbidden, InvalidInput, NotFound
from app.services import chargers_commands
from app.services import chargers

UPLOAD_SALT = "diagnostics-upload"


def _cfg(name: str):
    return current_app.config[name]


def diagnostics_dir() -> Path:
    path = Path(_cfg("UPLOAD_DIR")) / "diagnostics"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_cfg("SECRET_KEY"), salt=UPLOAD_SALT)


def upload_url(record: DiagnosticsFile) -> str:
    token = _serializer().dumps({"d": record.id})
    return f"{_cfg('PUBLIC_BASE_URL').rstrip('/')}/fleet/diagnostics/{token}"


def request_diagnostics(session: Session, cid: str, user_id: Optional[int]) -> tuple[DiagnosticsFile, ChargerCommand]:
    """A GetDiagnostics whose location is this request's own upload URL (caller commits, then publishes)."""
    charger = chargers.get_charger(session, cid)
    record = DiagnosticsFile(charger_id=charger.id, status="Requested", requested_by_id=user_id, created_at=utcnow())
    session.add(record)
    session.flush()
    command = chargers_commands.create_command(session, cid, "GetDiagnostics", {"location": upload_url(record)}, user_id)
    record.command_id = command.command_id
    return record, command


def record_for_token(session: Session, token: str) -> DiagnosticsFile:
    try:
        data = _serializer().loads(token, max_age=_cfg("DIAGNOSTICS_LINK_MINUTES") * 60)
    except SignatureExpired:
        raise Forbidden("this upload link has expired")
    except BadSignature:
        raise Forbidden("this upload link is not valid")
    record = session.get(DiagnosticsFile, int(data.get("d", 0))) if isinstance(data, dict) else None
    if record is None:
        raise NotFound("no such diagnostics request")
    return record


def store_upload(session: Session, token: str, filename: Optional[str], data: bytes) -> DiagnosticsFile:
    """The charger's upload through the signed URL: once per request, size-limited (caller commits)."""
    record = record_for_token(session, token)
    if record.status == "Uploaded":
        raise Conflict("this request's file was uploaded already")
    if not data:
        raise InvalidInput("the upload is empty")
    if len(data) > _cfg("DIAGNOSTICS_MAX_BYTES"):
        raise InvalidInput(f"the upload is larger than {_cfg('DIAGNOSTICS_MAX_BYTES')} bytes")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", filename or "")[:120] or f"diagnostics-{record.id}.bin"
    stored = f"charger{record.charger_id}-{record.id}-{secrets.token_hex(8)}-{name}"
    (diagnostics_dir() / stored).write_bytes(data)
    record.stored_name, record.original_name, record.size = stored, name, len(data)
    record.sha256 = hashlib.sha256(data).hexdigest()
    record.status, record.uploaded_at = "Uploaded", utcnow()
    return record


def files_of_charger(session: Session, charger_id: int, limit: int = 20) -> list[DiagnosticsFile]:
    return list(session.scalars(select(DiagnosticsFile).where(DiagnosticsFile.charger_id == charger_id)
                                .order_by(DiagnosticsFile.id.desc()).limit(limit)))


def file_for_download(session: Session, cid: str, file_id: int) -> tuple[DiagnosticsFile, Path]:
    charger = chargers.get_charger(session, cid)
    record = session.get(DiagnosticsFile, file_id)
    if record is None or record.charger_id != charger.id or record.status != "Uploaded":
        raise NotFound("no such diagnostics file")
    return record, diagnostics_dir() / record.stored_name


# --- the error log ---------------------------------------------------------------------------------

def fault_log(session: Session, cid: str, error_code: Optional[str] = None, since: Optional[datetime] = None,
              until: Optional[datetime] = None, open_only: bool = False, limit: int = 5000) -> list[ChargerFault]:
    """The charger's fault episodes, newest first: by error code, first seen in [since, until], or still open."""
    charger = chargers.get_charger(session, cid)
    query = select(ChargerFault).where(ChargerFault.charger_id == charger.id)
    if error_code:
        query = query.where(ChargerFault.error_code == error_code)
    if since:
        query = query.where(ChargerFault.first_seen >= since)
    if until:
        query = query.where(ChargerFault.first_seen < until + timedelta(days=1) if until.time() == datetime.min.time()
                            else ChargerFault.first_seen <= until)
    if open_only:
        query = query.where(ChargerFault.cleared_at.is_(None))
    return list(session.scalars(query.order_by(ChargerFault.first_seen.desc(), ChargerFault.id.desc()).limit(limit)))


FAULT_COLUMNS = ("connector_id", "error_code", "vendor_error_code", "info", "nonstandard", "occurrences",
                 "first_seen", "last_seen", "cleared_at")


def fault_log_csv(cid: str, faults: list[ChargerFault]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("charger",) + FAULT_COLUMNS)
    for f in faults:
        writer.writerow((cid,) + tuple(
            v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else ("" if v is None else v)
            for v in (getattr(f, c) for c in FAULT_COLUMNS)))
    return out.getvalue()


def parse_day(value: Optional[str], field: str) -> Optional[datetime]:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(f"{field} must be a date YYYY-MM-DD")
