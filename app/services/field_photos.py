"""Photos on issue notes and maintenance reports: checked by their first bytes, stored under UPLOAD_DIR/field
(outside the web root), served only through a permission-checked view."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Optional

from flask import current_app
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.field import FieldPhoto
from app.services import InvalidInput
from app.services.installations_uploads import EXTENSIONS, sniff_type

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


def photo_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "field"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_photo(session: Session, data: bytes, filename: Optional[str], user_id: Optional[int], *,
                note_id: Optional[int] = None, task_id: Optional[int] = None) -> FieldPhoto:
    """One photo for a note or a task; InvalidInput (nothing written) when empty, too large or not an image."""
    if not data:
        raise InvalidInput("the photo is empty")
    limit = int(current_app.config.get("INSTALLATIONS_MAX_UPLOAD_BYTES", 8 * 1024 * 1024))
    if len(data) > limit:
        raise InvalidInput(f"the photo is too large ({len(data) // 1024} KB); the limit is {limit // 1024} KB")
    detected = sniff_type(data)
    if detected not in PHOTO_TYPES:
        raise InvalidInput("a photo must be a JPEG, PNG or WebP image")
    stored = f"{'note' if note_id else 'task'}{note_id or task_id}-{secrets.token_hex(12)}.{EXTENSIONS[detected]}"
    photo = FieldPhoto(note_id=note_id, task_id=task_id, stored_name=stored, original_name=(filename or stored)[:200],
                       content_type=detected, size=len(data), uploaded_by_id=user_id, created_at=utcnow())
    session.add(photo)
    session.flush()
    (photo_dir() / stored).write_bytes(data)
    return photo


def photo_path(photo: FieldPhoto) -> Path:
    return photo_dir() / photo.stored_name
