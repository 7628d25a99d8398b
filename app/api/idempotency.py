"""`Idempotency-Key` on writes: the field app's offline queue may send a write twice (the answer was lost
with the connection); the second time it gets the first answer and nothing changes.

The key row is added to the write's own transaction before the view runs, so it commits (or rolls back)
with what the write changed; the answer is stored right after. A key is the caller's own, and reusing it
for a different request is a 409.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import wraps

from flask import g, request
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models.field_app import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,80}$")


def fingerprint() -> str:
    """The request's method, path and content; a multipart body by its fields and files (not its boundary)."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.files or request.form:
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(f"f:{name}={value}\n".encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda pair: (pair[0], pair[1].filename or "")):
            content = upload.read()
            upload.seek(0)
            digest.update(f"u:{name}:{upload.filename}:{hashlib.sha256(content).hexdigest()}\n".encode())
    else:
        body = request.get_json(silent=True)
        digest.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
                      if body is not None else request.get_data())
    return digest.hexdigest()


def _replay(view, row: IdempotencyKey, print_: str):
    if row.fingerprint != print_ or row.method != request.method or row.path != request.path:
        return view.response(409, message=f"{HEADER} {row.key} was already used for a different request")
    if row.status_code is None:
        return view.response(409, message=f"the request with {HEADER} {row.key} is being applied; ask again shortly")
    response = view.response(200 if row.status_code == 201 else row.status_code, **json.loads(row.response or "{}"))
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _find(key: str):
    return db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == g.user.id, IdempotencyKey.key == key))


def idempotent(fn):
    """For an ActionApi write (innermost, under @service_errors): honour an `Idempotency-Key` header when the client sends one."""

    @wraps(fn)
    def wrapper(self, *args, **kwargs):
        key = request.headers.get(HEADER)
        if not key:
            return fn(self, *args, **kwargs)
        if not KEY_PATTERN.match(key):
            return self.response(400, message=f"{HEADER} must be 8 to 80 letters, digits or . _ : -")
        print_ = fingerprint()
        existing = _find(key)
        if existing is not None:
            return _replay(self, existing, print_)
        row = IdempotencyKey(user_id=g.user.id, key=key, method=request.method, path=request.path[:200],
                             fingerprint=print_)
        db.session.add(row)
        try:
            response = fn(self, *args, **kwargs)
        except IntegrityError:  # the same key, sent twice at once: the other request won
            db.session.rollback()
            existing = _find(key)
            if existing is None:
                raise
            return _replay(self, existing, print_)
        if response.status_code < 300 and inspect(row).persistent:  # committed with the write
            row.status_code, row.response = response.status_code, response.get_data(as_text=True)
            db.session.commit()
        else:  # refused: the key was rolled back with the write and may be sent again
            db.session.rollback()
        return response

    return wrapper
