"""Live change notes: after each committed ingest batch, a small note of what changed reaches open screens.

The ingest calls `publish_changes(prefix, batch)` once a batch is committed. The note goes onto a bounded
in-memory queue that a daemon thread publishes on Redis (channel `<prefix>:live`), so the ingest never waits
on Redis: with Redis away, notes are dropped and screens catch up when their stream reconnects (each
(re)connect starts with a `hello` that makes the screen refetch). The web side is `stream_notes`, read by the
Server-Sent Events endpoint of the field app (app/api/field_app.py).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from typing import Iterable, Iterator, Optional

import redis
from flask import current_app, has_app_context

log = logging.getLogger(__name__)

MAX_CHARGERS_PER_NOTE = 500  # a bigger batch says "everything changed": screens refetch what they show
_notes: "queue.Queue[tuple[str, str]]" = queue.Queue(maxsize=1000)
_publisher: Optional[threading.Thread] = None
_publisher_pid: Optional[int] = None
_lock = threading.Lock()


def channel(prefix: str) -> str:
    return f"{prefix}:live"


def change_note(prefix: str, topics: Iterable[str], at: Optional[float] = None) -> Optional[dict]:
    """{"at": unix time, "chargers": {cid: [what changed: OCPP action, "telemetry", "result"]}} or None."""
    head = f"{prefix}/chargers/"
    chargers: dict[str, set[str]] = {}
    for topic in topics:
        if not topic.startswith(head):
            continue
        parts = topic[len(head):].split("/")
        if len(parts) == 3 and parts[1] == "ocpp":
            kind = parts[2]
        elif len(parts) == 2 and parts[1] == "telemetry":
            kind = "telemetry"
        elif len(parts) == 4 and parts[1] == "cmd" and parts[3] == "result":
            kind = "result"
        else:
            continue
        chargers.setdefault(parts[0], set()).add(kind)
    if not chargers:
        return None
    at = time.time() if at is None else at
    if len(chargers) > MAX_CHARGERS_PER_NOTE:
        return {"at": at, "all": True, "chargers": {}}
    return {"at": at, "chargers": {cid: sorted(kinds) for cid, kinds in chargers.items()}}


def publish_changes(prefix: str, batch, redis_url: Optional[str] = None) -> bool:
    """Best effort, never blocking: queue the note of a committed batch (items with a `.topic`) for Redis."""
    try:
        note = change_note(prefix, (item.topic for item in batch))
        if note is None:
            return False
        _ensure_publisher(redis_url)
        _notes.put_nowait((channel(prefix), json.dumps(note, separators=(",", ":"))))
        return True
    except queue.Full:
        return False
    except Exception:  # a live note must never fail the ingest
        log.exception("live: could not queue a change note")
        return False


def _redis_url(redis_url: Optional[str]) -> str:
    if redis_url:
        return redis_url

    if has_app_context():
        return current_app.config["REDIS_URL"]
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _ensure_publisher(redis_url: Optional[str]) -> None:
    """One publisher thread per process (the ingest's writer may be a forked process of its own)."""
    global _publisher, _publisher_pid
    if _publisher is not None and _publisher_pid == os.getpid() and _publisher.is_alive():
        return
    with _lock:
        if _publisher is not None and _publisher_pid == os.getpid() and _publisher.is_alive():
            return
        url = _redis_url(redis_url)
        _publisher = threading.Thread(target=_publish_loop, args=(url,), name="live-notes", daemon=True)
        _publisher_pid = os.getpid()
        _publisher.start()


def _publish_loop(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    while True:
        name, body = _notes.get()
        try:
            client.publish(name, body)
        except redis.RedisError as exc:  # Redis away: this note is lost, the screens' reconnect catches up
            log.warning("live: change note dropped (%s)", exc)


def open_subscription(prefix: str, redis_url: str):
    """A Redis subscription to the notes (raises redis.RedisError when Redis cannot be reached)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=None, socket_connect_timeout=2)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel(prefix))
    return pubsub


def stream_notes(pubsub, lifetime_s: float, keepalive_s: float = 15.0) -> Iterator[str]:
    """Server-Sent Events: `hello` first, a `change` per note, a comment as keep-alive; ends after lifetime_s
    (the client reconnects, presenting a fresh token)."""
    deadline = time.monotonic() + lifetime_s
    try:
        yield f"retry: 2000\nevent: hello\ndata: {json.dumps({'at': time.time()})}\n\n"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            message = pubsub.get_message(timeout=min(keepalive_s, left))
            if message is None:
                yield ": keep-alive\n\n"
                continue
            data = message.get("data")
            if isinstance(data, bytes):
                data = data.decode("utf-8", "replace")
            yield f"event: change\ndata: {data}\n\n"
    except redis.RedisError as exc:
        log.warning("live: stream ended (%s)", exc)
    finally:
        try:
            pubsub.close()
        except Exception:
            pass
