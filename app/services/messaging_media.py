"""WhatsApp media: downloaded by a task with Twilio auth, type- and size-checked, stored under
UPLOAD_DIR (outside the web root) with generated names. The message row exists before any download."""
from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from typing import Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import MessageMedia
import requests
from app.integrations.twilio_client import MediaRejected, download
from datetime import timedelta
from app.models.messaging import Message

EXTENSIONS = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/amr": ".amr", "image/jpeg": ".jpg"}


class TransientMediaError(Exception):
    """The download failed in a way worth retrying."""


def media_path(media: MessageMedia) -> Optional[Path]:
    if not media.path:
        return None
    return Path(current_app.config["UPLOAD_DIR"]) / media.path


def store_media(session: Session, media_id: int, final_attempt: bool = False) -> Optional[MessageMedia]:
    """Download one attachment. A forbidden type or size is rejected for good (the message stays);
    a network or provider error raises TransientMediaError (the task retries with backoff) until the
    last attempt, which marks it failed. Commits."""
    media = session.get(MessageMedia, int(media_id))
    if media is None or media.status != "pending":
        return media
    config = current_app.config
    media.attempts = (media.attempts or 0) + 1
    try:
        content, content_type = download(
            media.url, allowed_types=tuple(config["MESSAGING_MEDIA_TYPES"]), max_bytes=config["MESSAGING_MEDIA_MAX_BYTES"]
        )
    except MediaRejected as exc:
        media.status, media.error = "rejected", str(exc)[:300]
        session.commit()
        return media
    except (requests.RequestException, OSError) as exc:
        media.error = f"{type(exc).__name__}: {exc}"[:300]
        if final_attempt:
            media.status = "failed"
            session.commit()
            return media
        session.commit()
        raise TransientMediaError(media.error) from exc
    extension = EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"
    now = utcnow()
    relative = Path(config["MESSAGING_MEDIA_DIR"]) / f"{now:%Y}" / f"{now:%m}" / f"{uuid.uuid4().hex}{extension}"
    target = Path(config["UPLOAD_DIR"]) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    media.status, media.size, media.path, media.content_type, media.error = (
        "stored", len(content), str(relative), content_type, None,
    )
    session.commit()
    return media


def pending_media_ids(session: Session, older_than_minutes: int = 10, limit: int = 200) -> list[int]:
    """Downloads still pending well after their message arrived (never queued: broker was down)."""
    cutoff = utcnow() - timedelta(minutes=older_than_minutes)
    return list(session.scalars(
        select(MessageMedia.id).join(Message, Message.id == MessageMedia.message_id)
        .where(MessageMedia.status == "pending", Message.created_at < cutoff).limit(limit)
    ))
