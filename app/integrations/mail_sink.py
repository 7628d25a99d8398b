"""A local SMTP server that keeps every message it accepts as an .eml file under var/mail/.

`make run` starts it (`flask mail-sink`, the Procfile's `mail` process) on SMTP_URL's port, so report
e-mails arrive somewhere a person can open; the Sent mail page lists what it holds.
"""
from __future__ import annotations

import email
import email.policy
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from aiosmtpd.controller import Controller


class KeepEveryMessage:
    """aiosmtpd handler: write each message, envelope recipients first, to its own file."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        tmp = path.with_suffix(".part")
        content = envelope.original_content or envelope.content
        tmp.write_bytes(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n" + content)
        tmp.rename(path)  # a reader never sees half a message
        return "250 Message accepted for delivery"


def start_sink(directory: Path, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    controller = Controller(KeepEveryMessage(directory), hostname=host, port=port)
    controller.start()
    return controller


def serve_forever(directory: Path, host: str, port: int) -> None:
    controller = start_sink(directory, host, port)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


@dataclass
class KeptMessage:
    name: str
    received: datetime
    to: str
    subject: str
    attachments: list[str]


def kept_messages(directory: Path, limit: int = 200) -> list[KeptMessage]:
    """The newest messages the sink holds (headers and attachment names only)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    result = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:limit]:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        result.append(KeptMessage(
            name=path.name, received=datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None),
            to=message.get("X-Envelope-To") or message.get("To", ""), subject=message.get("Subject", ""),
            attachments=[part.get_filename() for part in message.iter_attachments() if part.get_filename()],
        ))
    return result


def mail_dir(var_dir) -> Path:
    return Path(var_dir) / "mail"


def message_path(directory: Path, name: str) -> Optional[Path]:
    path = Path(directory) / name
    return path if path.suffix == ".eml" and path.parent == Path(directory) and path.is_file() else None
