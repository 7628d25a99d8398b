"""Side effects through the transactional outbox: the one way a service queues a Celery task.

    from app.services.outbox import enqueue_after_commit
    enqueue_after_commit(session, "messaging.send_message", message.id)
    enqueue_after_commit(session, "chargers.command_timeout", command_id, delay=30)

`enqueue_after_commit` writes an `outbox_message` row in the caller's transaction and nothing else:
a rollback drops it with the change, a commit makes it the relay's job. The task is named, not
imported, so services never import task modules, and no request ever talks to Redis.

The relay (`OutboxRelay`: `flask outbox-relay`, the `relay` process of the Procfile) hands due rows to
Celery within a fraction of a second (a commit in the same process wakes it at once; other processes'
rows are found by a short poll), marks them sent, retries a failed hand-over with backoff (Redis down)
and prunes sent rows after OUTBOX_KEEP_HOURS. Several relays may run: a row is claimed before it is
published. A row can still be published twice (a relay dies between publishing and marking it sent),
so every task it queues must be idempotent: each one loads by id and checks state or a unique key.
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import delete, event, or_, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.outbox import OutboxMessage
from sqlalchemy import func
from app.extensions import db

log = logging.getLogger(__name__)

_wake = threading.Event()  # set after a commit that wrote rows: a relay in this process goes at once


def enqueue_after_commit(session: Session, task: str, *args: Any, delay: Optional[float] = None) -> OutboxMessage:
    """Queue Celery task `task` (its registered name) with JSON-serialisable positional `args` once the
    caller's transaction commits; `delay` seconds later if given. Never touches the broker."""
    now = utcnow()
    row = OutboxMessage(
        task=task, args=json.dumps(list(args)), created_at=now,
        due_at=now + timedelta(seconds=max(float(delay or 0), 0.0)), attempts=0,
    )
    session.add(row)
    session.info["outbox_wrote"] = True
    return row


@event.listens_for(Session, "after_commit")
def _wake_relay(session: Session) -> None:
    if session.info.pop("outbox_wrote", False):
        _wake.set()


@event.listens_for(Session, "after_rollback")
def _forget_rows(session: Session) -> None:
    session.info.pop("outbox_wrote", None)


def _backoff(attempts: int, cap: float) -> timedelta:
    return timedelta(seconds=min(cap, 0.5 * 2 ** max(attempts - 1, 0)))


def relay_due(session: Session, celery_app, *, limit: int = 200, claim_seconds: float = 60.0,
              retry_max_seconds: float = 5.0, now: Optional[datetime] = None) -> dict:
    """Hand every due, unsent row to the broker once: claim, publish, mark sent. A failed publish
    (broker away) puts the row back with a backoff and stops the round. Commits."""
    now = now or utcnow()
    not_claimed = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)
    ids = list(session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None), OutboxMessage.due_at <= now, not_claimed)
        .order_by(OutboxMessage.due_at, OutboxMessage.id).limit(limit)
    ))
    if not ids:
        session.rollback()
        return {"sent": 0, "failed": 0}
    claimed = session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None), not_claimed)
        .values(claimed_until=now + timedelta(seconds=claim_seconds))
        .returning(OutboxMessage.id, OutboxMessage.task, OutboxMessage.args, OutboxMessage.attempts)
    ).all()
    session.commit()
    sent: list[int] = []
    failed = None
    for row in sorted(claimed, key=lambda r: ids.index(r.id)):
        try:
            celery_app.send_task(row.task, args=json.loads(row.args), retry=False, ignore_result=True)
        except Exception as exc:  # the broker is away: this row waits, the others stay unclaimed
            failed = (row, f"{type(exc).__name__}: {exc}")
            break
        sent.append(row.id)
    done = utcnow()
    if sent:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(sent)).values(sent_at=done, claimed_until=None))
    if failed is not None:
        row, error = failed
        log.warning("outbox: could not hand %s (row %s) to the broker: %s", row.task, row.id, error)
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
            attempts=OutboxMessage.attempts + 1, last_error=error[:1000], claimed_until=None,
            due_at=done + _backoff(row.attempts + 1, retry_max_seconds),
        ))
        rest = [r.id for r in claimed if r.id not in sent and r.id != row.id]
        if rest:
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(rest)).values(claimed_until=None))
    session.commit()
    return {"sent": len(sent), "failed": 0 if failed is None else 1}


def prune_sent(session: Session, keep_hours: float, now: Optional[datetime] = None) -> int:
    """Delete rows handed over more than keep_hours ago. Commits."""
    cutoff = (now or utcnow()) - timedelta(hours=keep_hours)
    removed = session.execute(delete(OutboxMessage).where(OutboxMessage.sent_at < cutoff)).rowcount
    session.commit()
    return removed


def pending_count(session: Session, now: Optional[datetime] = None) -> int:
    """Rows due and not yet handed over (the backlog a relay has still to do)."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.sent_at.is_(None), OutboxMessage.due_at <= (now or utcnow())
    ))


class OutboxRelay:
    """The relay loop, in a thread of its own: `OutboxRelay(app).start()`, `.stop()`.

    Polls every OUTBOX_POLL_SECONDS, and at once after a commit in this process wrote rows."""

    def __init__(self, app, celery_app=None):
        self.app = app
        self.celery = celery_app or app.extensions["celery"]  # another broker: a test's private Redis
        self.poll = float(app.config["OUTBOX_POLL_SECONDS"])
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pruned_at: Optional[datetime] = None
        self.paused = threading.Event()  # set: hands nothing over (tests of a private broker)
        self.round_lock = threading.Lock()  # held during a round: pausing waits for the current one

    def run_once(self) -> dict:
        config = self.app.config
        with self.app.app_context():
            try:
                result = relay_due(db.session, self.celery, limit=config["OUTBOX_BATCH"],
                                   retry_max_seconds=config["OUTBOX_RETRY_MAX_SECONDS"])
                now = utcnow()
                if self._pruned_at is None or now - self._pruned_at > timedelta(minutes=10):
                    self._pruned_at = now
                    prune_sent(db.session, config["OUTBOX_KEEP_HOURS"])
                return result
            except Exception:  # the database is busy or away: the next round tries again
                log.exception("outbox: relay round failed")
                db.session.rollback()
                return {"sent": 0, "failed": 1}
            finally:
                db.session.remove()

    def run(self) -> None:
        while not self._stop.is_set():
            result = {"sent": 0, "failed": 0}
            with self.round_lock:
                if not self.paused.is_set():
                    result = self.run_once()
            if result["sent"] >= self.app.config["OUTBOX_BATCH"]:
                continue  # a backlog: go on without waiting
            _wake.wait(self.poll)
            _wake.clear()

    def start(self) -> "OutboxRelay":
        self._thread = threading.Thread(target=self.run, name="outbox-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        _wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
