"""Receipt files of manual top-ups: PDF/JPEG/PNG by their first bytes, size-limited, stored outside the web root."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from flask import current_app

from app.services import InvalidInput

# type -> (magic bytes, extension); the client's filename and Content-Type are not trusted
KINDS = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
}


@dataclass
class CheckedReceipt:
    filename: str
    content: bytes
    content_type: str
    extension: str


def receipts_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "receipts"


def check_receipt(filename: Optional[str], content: bytes) -> CheckedReceipt:
    limit = int(current_app.config["TOPUP_RECEIPT_MAX_BYTES"])
    name = (filename or "receipt").rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]
    if not content:
        raise InvalidInput(f"receipt file '{name}' is empty")
    if len(content) > limit:
        raise InvalidInput(f"receipt file '{name}' is {len(content)} bytes; the limit is {limit} bytes")
    for content_type, (magic, extension) in KINDS.items():
        if content.startswith(magic):
            return CheckedReceipt(name, content, content_type, extension)
    raise InvalidInput(f"receipt file '{name}' must be a PDF, JPEG or PNG")


def store_receipt(receipt: CheckedReceipt) -> str:
    """Write under a generated name; returns that name (the uploaded name is never used as a path)."""
    directory = receipts_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stored = f"{uuid.uuid4().hex}{receipt.extension}"
    (directory / stored).write_bytes(receipt.content)
    return stored


def discard_receipt(stored: Optional[str]) -> None:
    if stored:
        (receipts_dir() / stored).unlink(missing_ok=True)


def receipt_path(stored: str) -> Path:
    path = (receipts_dir() / stored).resolve()
    if path.parent != receipts_dir().resolve():
        raise InvalidInput("bad receipt name")
    return path
