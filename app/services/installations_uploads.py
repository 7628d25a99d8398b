"""Installations: uploaded files (customer documents through a signed, expiring link; team media).

A file is checked by size and by its magic bytes (never by its name or declared type) and stored
under UPLOAD_DIR/installations with a generated name; anything refused leaves nothing behind.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Optional

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.installations import InstallationJob, JobFile
from app.services import Forbidden, InvalidInput, NotFound
from app.services.installations import CANCELLED, PAID
from app.services.installations_notices import notify_customer

UPLOAD_SALT = "installations-customer-upload"

# kind -> accepted detected types
KIND_TYPES = {
    "electricity_bill": ("application/pdf", "image/jpeg", "image/png"),
    "survey_photo": ("image/jpeg", "image/png", "image/webp"),
    "survey_video": ("video/mp4", "video/quicktime"),
    "installation_photo": ("image/jpeg", "image/png", "image/webp"),
    "installation_video": ("video/mp4", "video/quicktime"),
    "vendor_qr": ("image/jpeg", "image/png"),
    "payment_proof": ("application/pdf", "image/jpeg", "image/png"),
    "signoff": ("application/pdf", "image/jpeg", "image/png"),
    "site_photo": ("image/jpeg", "image/png", "image/webp"),
}
CUSTOMER_KINDS = ("electricity_bill", "site_photo")
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
              "video/mp4": "mp4", "video/quicktime": "mov"}


def sniff_type(data: bytes) -> Optional[str]:
    """The content type from the file's first bytes."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    return None


def max_bytes(kind: str) -> int:
    key = "INSTALLATIONS_MAX_VIDEO_BYTES" if kind.endswith("video") else "INSTALLATIONS_MAX_UPLOAD_BYTES"
    return int(current_app.config.get(key, 8 * 1024 * 1024))


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "installations"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_file(session: Session, job: InstallationJob, kind: str, filename: str, data: bytes, actor=None) -> JobFile:
    """Check and store one file; InvalidInput (nothing written) when it is empty, too large or the wrong type."""
    detected = check_file(kind, data)
    stored = f"job{job.id}-{kind}-{secrets.token_hex(12)}.{EXTENSIONS[detected]}"
    path = upload_dir() / stored
    record = JobFile(job_id=job.id, kind=kind, stored_name=stored, original_name=(filename or stored)[:200],
                     content_type=detected, size=len(data), uploaded_by_id=actor.id if actor is not None else None,
                     created_at=utcnow())
    session.add(record)
    session.flush()
    path.write_bytes(data)
    return record


def check_file(kind: str, data: bytes) -> str:
    """The detected type, or InvalidInput when empty, too large or not a type accepted for this kind."""
    if kind not in KIND_TYPES:
        raise InvalidInput(f"kind: one of {', '.join(KIND_TYPES)}")
    if not data:
        raise InvalidInput("The file is empty")
    limit = max_bytes(kind)
    if len(data) > limit:
        raise InvalidInput(f"The file is too large ({len(data) // 1024} KB); the limit is {limit // 1024} KB")
    detected = sniff_type(data)
    if detected not in KIND_TYPES[kind]:
        allowed = ", ".join(EXTENSIONS[t].upper() for t in KIND_TYPES[kind])
        raise InvalidInput(f"This file is not an accepted type for {kind.replace('_', ' ')} (accepted: {allowed})")
    return detected


def file_path(record: JobFile) -> Path:
    return upload_dir() / record.stored_name


def files_of(session: Session, job: InstallationJob, kinds=None) -> list[JobFile]:
    query = select(JobFile).where(JobFile.job_id == job.id)
    if kinds:
        query = query.where(JobFile.kind.in_(kinds))
    return list(session.scalars(query.order_by(JobFile.id)))


# --- the customer's signed link ---------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=UPLOAD_SALT)


def upload_token(job: InstallationJob) -> str:
    return _serializer().dumps({"job": job.id})


def upload_link(job: InstallationJob) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    return f"{base}/installations/upload/{upload_token(job)}"


def link_hours() -> int:
    return int(current_app.config.get("INSTALLATIONS_UPLOAD_LINK_HOURS", 72))


def job_for_token(session: Session, token: str) -> InstallationJob:
    """The job a customer link is for; Forbidden with a clear message when expired or tampered."""
    try:
        data = _serializer().loads(token, max_age=link_hours() * 3600)
    except SignatureExpired:
        raise Forbidden("This upload link has expired; ask Central Ops for a new one")
    except BadSignature:
        raise Forbidden("This upload link is not valid")
    job = session.get(InstallationJob, int(data.get("job", 0))) if isinstance(data, dict) else None
    if job is None:
        raise NotFound("This upload link is for a job that no longer exists")
    if job.stage in (CANCELLED, PAID):
        raise Forbidden("This installation is closed; the link no longer accepts documents")
    return job


def send_upload_link(session: Session, job: InstallationJob, actor=None):
    """Send the customer the link for their documents (the Messaging module delivers it on WhatsApp)."""
    return notify_customer(session, job, "upload_link", link=upload_link(job), hours=link_hours())


def read_uploads(files) -> dict:
    """A request's uploaded files (werkzeug's MultiDict) as {kind: [(filename, bytes), ...]}; empty inputs skipped."""
    uploads: dict = {}
    for kind in files:
        for storage in files.getlist(kind):
            if storage and storage.filename:
                uploads.setdefault(kind, []).append((storage.filename, storage.read()))
    return uploads
