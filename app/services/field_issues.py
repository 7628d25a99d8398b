"""Charger issues (the issue tracker): one open issue per charger gathers its faults and Offline alerts,
moves along ISSUE_TRANSITIONS, turns into a customer ticket and back, and reminds/escalates until resolved."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.field import ISSUE_PRIORITIES, ISSUE_STATUSES, ChargerIssue, IssueNote, IssueReminder
from app.models.support import Ticket
from app.services import Conflict, InvalidInput, NotFound, get_or_404, iso_utc
from app.services.field_photos import store_photo
from app.services.activity import record_activity
from app.services.support_audit import audit_model
from flask_appbuilder.security.sqla.models import User
from app.services.notifications import notify
from app.services.support_tickets import open_ticket
from app.services.notifications import recipients_for
from app.security import CPO

# (from, to) -> the move; anything else is a 409. Read by the issue page, the API and the tests.
ISSUE_TRANSITIONS: dict[tuple[str, str], str] = {
    ("Open", "In Progress"): "start",
    ("In Progress", "Resolved"): "resolve",
    ("Open", "Resolved"): "resolve",
    ("Resolved", "Closed"): "close",
    ("Resolved", "In Progress"): "reopen",
}
OPEN_STATUSES = ("Open", "In Progress")
EVENT_TEXT = {
    "charger_faulted": ("fault", "Fault: {detail}"),
    "charger_offline": ("offline", "Offline: {detail}"),
    "fault_cleared": ("fault_cleared", "The charger reports the fault cleared. {detail}"),
}

audit_model(ChargerIssue, "issue", ("title", "priority", "status", "assignee_id", "charger_id", "ticket_id"))


def _cfg(name: str):
    return current_app.config[name]


def _text(value: Any, field: str, required: bool = False, max_len: int = 200) -> Optional[str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text")
    if len(value.strip()) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters")
    return value.strip()


def _user_id(session: Session, value: Any) -> Optional[int]:
    if value in (None, ""):
        return None
    try:
        user = session.get(User, int(value))
    except (TypeError, ValueError):
        raise InvalidInput("assignee_id must be a number") from None
    if user is None or not user.active:
        raise InvalidInput(f"assignee_id: no active user {value}")
    return user.id


def charger_by_cid(session: Session, cid: Any) -> Charger:
    cid = _text(cid, "charger_cid", required=True, max_len=48)
    charger = session.scalar(select(Charger).where(Charger.cid == cid))
    if charger is None:
        raise NotFound(f"no charger {cid}")
    return charger


def get_issue(session: Session, issue_id: Any, lock: bool = False) -> ChargerIssue:
    return get_or_404(session, ChargerIssue, issue_id, "issue", lock=lock)


def _notify_assignee(session: Session, issue: ChargerIssue, by_user_id: Optional[int]) -> None:
    if issue.assignee_id and issue.assignee_id != by_user_id:
        notify(session, [issue.assignee_id], "issue_assigned", f"Issue #{issue.id} assigned to you ({issue.priority})",
               body=issue.title, link=f"/field/issues/{issue.id}", ref_type="issue", ref_id=issue.id)


def open_issue(session: Session, *, charger_cid: Any, title: Any, priority: Any = "Medium", assignee_id: Any = None,
               description: Any = None, created_by: Optional[int] = None, source: str = "manual") -> ChargerIssue:
    """A new issue on a charger (caller commits)."""
    charger = charger_by_cid(session, charger_cid)
    priority = priority or "Medium"
    if priority not in ISSUE_PRIORITIES:
        raise InvalidInput(f"priority must be one of {', '.join(ISSUE_PRIORITIES)}")
    now = utcnow()
    issue = ChargerIssue(
        charger_id=charger.id, title=_text(title, "title", required=True), priority=priority, status="Open",
        source=source, occurrences=1, assignee_id=_user_id(session, assignee_id), created_by_id=created_by,
        created_at=now, updated_at=now,
    )
    issue._actor_id = created_by
    session.add(issue)
    session.flush()
    description = _text(description, "description", max_len=10000)
    if description:
        session.add(IssueNote(issue_id=issue.id, author_id=created_by, kind="note", body=description, created_at=now))
    _notify_assignee(session, issue, created_by)
    if created_by is not None:
        record_activity(session, created_by, "issue", f"Issue #{issue.id} opened on {charger.cid}", "issue", issue.id)
    return issue


def open_issue_of(session: Session, charger_id: int) -> Optional[ChargerIssue]:
    return session.scalar(
        select(ChargerIssue).where(ChargerIssue.charger_id == charger_id, ChargerIssue.status.in_(OPEN_STATUSES))
        .order_by(ChargerIssue.id.desc()).limit(1)
    )


def record_charger_event(session: Session, charger_id: int, kind: str, detail: str = "") -> Optional[ChargerIssue]:
    """A fault episode or an Offline alert opens an issue on the charger, or adds to its open one;
    a cleared fault is noted on the open one (it stays open until a person resolves it). Caller commits."""
    if kind not in EVENT_TEXT:
        return None
    charger = session.get(Charger, charger_id)
    if charger is None:
        return None
    note_kind, text = EVENT_TEXT[kind]
    body = text.format(detail=detail or "no detail").strip()
    now = utcnow()
    issue = open_issue_of(session, charger_id)
    if issue is None:
        if kind == "fault_cleared":
            return None
        priority = _cfg("FIELD_ISSUE_FAULT_PRIORITY") if kind == "charger_faulted" else _cfg("FIELD_ISSUE_OFFLINE_PRIORITY")
        what = "faulted" if kind == "charger_faulted" else "offline"
        issue = ChargerIssue(charger_id=charger_id, title=f"Charger {charger.cid} {what}", priority=priority,
                             status="Open", source=note_kind, occurrences=1, created_at=now, updated_at=now)
        session.add(issue)
        session.flush()
    elif kind != "fault_cleared":
        issue.occurrences = (issue.occurrences or 0) + 1
        issue.updated_at = now
    session.add(IssueNote(issue_id=issue.id, kind=note_kind, body=body, created_at=now))
    session.flush()
    return issue


def transition_issue(session: Session, issue_id: Any, to: Any, by_user_id: Optional[int], note: Any = None) -> ChargerIssue:
    """Move an issue along ISSUE_TRANSITIONS; anything else is a Conflict (409). Caller commits."""
    if to not in ISSUE_STATUSES:
        raise InvalidInput(f"to must be one of {', '.join(ISSUE_STATUSES)}")
    issue = get_issue(session, issue_id, lock=True)
    move = ISSUE_TRANSITIONS.get((issue.status, to))
    if move is None:
        allowed = [t for (f, t) in ISSUE_TRANSITIONS if f == issue.status]
        raise Conflict(f"issue {issue.id} is {issue.status} and cannot move to {to}"
                       + (f"; it can move to: {', '.join(allowed)}" if allowed else "; it is closed"))
    now = utcnow()
    issue._actor_id = by_user_id
    if move == "resolve":
        issue.resolved_at = now
    elif move == "close":
        issue.closed_at = now
    elif move == "reopen":
        issue.resolved_at = None
    issue.status = to
    issue.updated_at = now
    text = _text(note, "note", max_len=10000)
    if text:
        session.add(IssueNote(issue_id=issue.id, author_id=by_user_id, body=text, created_at=now))
    if by_user_id is not None:
        record_activity(session, by_user_id, "issue", f"Issue #{issue.id}: {move} ({to})", "issue", issue.id)
    return issue


def assign_issue(session: Session, issue_id: Any, assignee_id: Any, by_user_id: Optional[int]) -> ChargerIssue:
    issue = get_issue(session, issue_id, lock=True)
    issue._actor_id = by_user_id
    issue.assignee_id = _user_id(session, assignee_id)
    issue.updated_at = utcnow()
    _notify_assignee(session, issue, by_user_id)
    return issue


def add_note(session: Session, issue_id: Any, body: Any, by_user_id: Optional[int],
             photos: Iterable[tuple[str, bytes]] = ()) -> IssueNote:
    """A person's note, with photos (JPEG/PNG/WebP). Caller commits."""
    photos = [(name, data) for name, data in photos if data]
    text = _text(body, "body", required=not photos, max_len=10000) or "Photo"
    issue = get_issue(session, issue_id)
    note = IssueNote(issue_id=issue.id, author_id=by_user_id, kind="note", body=text, created_at=utcnow())
    session.add(note)
    session.flush()
    for name, data in photos:
        store_photo(session, data, name, by_user_id, note_id=note.id)
    issue.updated_at = utcnow()
    return note


def issue_to_ticket(session: Session, issue_id: Any, by_user_id: Optional[int]) -> Ticket:
    """One click: the issue becomes a customer ticket on the same charger (or returns the one it already has)."""
    issue = get_issue(session, issue_id, lock=True)
    if issue.ticket_id:
        return session.get(Ticket, issue.ticket_id)
    notes = "\n".join(n.body for n in issue.notes[-5:])
    ticket = open_ticket(
        session, title=issue.title, description=f"From charger issue #{issue.id}.\n{notes}".strip(),
        priority=issue.priority, category="Charger Faults", charger_ref=issue.charger.cid,
        assignee_id=issue.assignee_id, created_by=by_user_id,
    )
    issue._actor_id = by_user_id
    issue.ticket_id = ticket.id
    return ticket


def ticket_to_issue(session: Session, ticket_id: Any, by_user_id: Optional[int]) -> ChargerIssue:
    """One click back: a customer ticket about a charger becomes (or finds) its charger issue."""
    ticket = session.get(Ticket, int(ticket_id)) if str(ticket_id).isdigit() else None
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    existing = session.scalar(select(ChargerIssue).where(ChargerIssue.ticket_id == ticket.id))
    if existing is not None:
        return existing
    if ticket.charger_id is None:
        raise Conflict(f"ticket {ticket.id} names no charger")
    priority = ticket.priority if ticket.priority in ISSUE_PRIORITIES else "Medium"
    issue = open_issue(session, charger_cid=ticket.charger.cid, title=ticket.title, priority=priority,
                       assignee_id=ticket.assignee_id, description=f"From ticket #{ticket.id}.\n{ticket.description}",
                       created_by=by_user_id, source="ticket")
    issue.ticket_id = ticket.id
    return issue


# --- reminders and escalation (beat) --------------------------------------------------------------

def _claim(session: Session, issue_id: int, kind: str, slot: int, now: datetime) -> bool:
    """The (issue, kind, slot) row is the once-per-interval guard; False when it was already sent."""
    if session.scalar(select(IssueReminder.id).where(
            IssueReminder.issue_id == issue_id, IssueReminder.kind == kind, IssueReminder.slot == slot)):
        return False
    try:
        with session.begin_nested():
            session.add(IssueReminder(issue_id=issue_id, kind=kind, slot=slot, at=now))
    except IntegrityError:  # a concurrent run sent it
        return False
    return True


def _escalate(session: Session, issue: ChargerIssue, slot: int) -> None:
    title = f"Issue #{issue.id} on {issue.charger.cid} unresolved ({issue.priority}, {issue.status})"
    group = _cfg("FIELD_ISSUE_ESCALATION_GROUP")
    users = recipients_for(session, group_code=group) or recipients_for(session, role=CPO)
    notify(session, users, "issue_escalation", title, body=issue.title, link=f"/field/issues/{issue.id}",
           ref_type="issue", ref_id=issue.id, channels=("inapp", "whatsapp", "push"))


def send_issue_reminders(session: Session, now: Optional[datetime] = None) -> dict:
    """Every unresolved issue: a reminder to its assignee once per FIELD_ISSUE_REMINDER_MIN[priority],
    and an escalation to the CPO group once per FIELD_ISSUE_ESCALATION_MIN[priority]. Caller commits."""
    now = now or utcnow()
    sent = {"reminders": 0, "escalations": 0}
    issues = session.scalars(select(ChargerIssue).where(ChargerIssue.status.in_(OPEN_STATUSES))).all()
    for issue in issues:
        age = (now - issue.created_at).total_seconds() / 60
        remind_every = _cfg("FIELD_ISSUE_REMINDER_MIN")[issue.priority]
        slot = int(age // remind_every)
        if slot >= 1 and issue.assignee_id and _claim(session, issue.id, "reminder", slot, now):
            notify(session, [issue.assignee_id], "issue_reminder",
                   f"Reminder: issue #{issue.id} on {issue.charger.cid} is {issue.status}",
                   body=issue.title, link=f"/field/issues/{issue.id}", ref_type="issue", ref_id=issue.id,
                   channels=("inapp", "push"))
            sent["reminders"] += 1
        escalate_every = _cfg("FIELD_ISSUE_ESCALATION_MIN")[issue.priority]
        slot = int(age // escalate_every)
        if slot >= 1 and _claim(session, issue.id, "escalation", slot, now):
            _escalate(session, issue, slot)
            sent["escalations"] += 1
    return sent


def issue_json(issue: ChargerIssue) -> dict:
    return {
        "id": issue.id, "charger_cid": issue.charger.cid, "charger_type": issue.charger.type, "title": issue.title,
        "priority": issue.priority, "status": issue.status, "source": issue.source, "occurrences": issue.occurrences,
        "assignee_id": issue.assignee_id, "ticket_id": issue.ticket_id,
        "created_at": iso_utc(issue.created_at), "updated_at": iso_utc(issue.updated_at),
        "resolved_at": iso_utc(issue.resolved_at),
        "notes": [{"id": n.id, "kind": n.kind, "body": n.body, "author_id": n.author_id,
                   "created_at": iso_utc(n.created_at), "photos": [p.id for p in n.photos]} for n in issue.notes],
    }


def list_issues(session: Session, *, status: Optional[str] = None, priority: Optional[str] = None,
                assignee_id: Optional[int] = None, cid: Optional[str] = None, open_only: bool = False,
                limit: int = 200) -> list[ChargerIssue]:
    query = select(ChargerIssue).join(Charger, ChargerIssue.charger_id == Charger.id)
    if status:
        query = query.where(ChargerIssue.status == status)
    if open_only:
        query = query.where(ChargerIssue.status.in_(OPEN_STATUSES))
    if priority:
        query = query.where(ChargerIssue.priority == priority)
    if assignee_id:
        query = query.where(ChargerIssue.assignee_id == assignee_id)
    if cid:
        query = query.where(Charger.cid == cid)
    return list(session.scalars(query.order_by(ChargerIssue.id.desc()).limit(limit)))
