"""Maintenance planning: Routine, Repair, Emergency and Inspection tasks per charger or per site, with a
checklist, a completion report (photos, readings), repeats counted from completion, overdue reminders,
the filtered list and the month calendar."""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import CHARGER_TYPES, Charger
from app.models.field import MAINTENANCE_KINDS, MAINTENANCE_STATUSES, MaintenanceTask
from app.models.people import FieldTeam
from app.services import Conflict, InvalidInput, get_or_404, iso_utc
from app.services.field_issues import _user_id, charger_by_cid
from app.services.field_photos import store_photo
from app.services.activity import record_activity
from app.services.support_audit import audit_model
from app.services.notifications import notify

OPEN_STATUSES = ("Planned", "In Progress")

audit_model(MaintenanceTask, "maintenance", ("status", "due_date", "assignee_id", "field_team_id", "kind", "title",
                                             "report", "repeat_days"))


def _date(value: Any, field: str = "due_date") -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise InvalidInput(f"{field} must be a date, YYYY-MM-DD, not '{value}'") from None


def _checklist(value: Any) -> list[dict]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [line for line in value.splitlines()]
    if not isinstance(value, list):
        raise InvalidInput("checklist must be a list of items")
    items = []
    for entry in value:
        text = entry.get("item") if isinstance(entry, dict) else entry
        if isinstance(text, str) and text.strip():
            items.append({"item": text.strip()[:200], "done": bool(entry.get("done")) if isinstance(entry, dict) else False})
    return items


def get_task(session: Session, task_id: Any, lock: bool = False) -> MaintenanceTask:
    return get_or_404(session, MaintenanceTask, task_id, "maintenance task", lock=lock)


def plan_task(session: Session, data: dict, created_by: Optional[int]) -> MaintenanceTask:
    """A new task on a charger (charger_cid) or a whole site (site). Caller commits."""
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object")
    kind = data.get("kind")
    if kind not in MAINTENANCE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(MAINTENANCE_KINDS)}")
    charger = charger_by_cid(session, data["charger_cid"]) if data.get("charger_cid") else None
    site = (data.get("site") or "").strip()[:120] or (charger.site if charger else None)
    if charger is None and not site:
        raise InvalidInput("give a charger_cid or a site")
    repeat = data.get("repeat_days")
    if repeat in (None, ""):
        repeat = None
    else:
        try:
            repeat = int(str(repeat))
        except ValueError:
            raise InvalidInput("repeat_days must be a whole number of days") from None
        if not 1 <= repeat <= 3650:
            raise InvalidInput("repeat_days must be between 1 and 3650")
    team_id = data.get("field_team_id") or None
    if team_id is not None and session.get(FieldTeam, int(team_id)) is None:
        raise InvalidInput(f"field_team_id: no field team {team_id}")
    title = (data.get("title") or "").strip()[:200] or f"{kind} {'of ' + charger.cid if charger else 'at ' + site}"
    task = MaintenanceTask(
        charger_id=charger.id if charger else None, site=site, kind=kind, title=title, due_date=_date(data.get("due_date")),
        status="Planned", assignee_id=_user_id(session, data.get("assignee_id")),
        field_team_id=int(team_id) if team_id else None, checklist=_checklist(data.get("checklist")), repeat_days=repeat,
        previous_id=data.get("_previous_id"), created_by_id=created_by, created_at=utcnow(),
    )
    task._actor_id = created_by
    session.add(task)
    session.flush()
    if task.assignee_id and task.assignee_id != created_by:
        notify(session, [task.assignee_id], "maintenance_assigned", f"{task.kind} task #{task.id} due {task.due_date}",
               body=task.title, link=f"/field/maintenance/{task.id}", ref_type="maintenance", ref_id=task.id,
               channels=("inapp", "push"))
    return task


def start_task(session: Session, task_id: Any, by_user_id: Optional[int]) -> MaintenanceTask:
    task = get_task(session, task_id, lock=True)
    if task.status != "Planned":
        raise Conflict(f"task {task.id} is {task.status}, not Planned")
    task._actor_id = by_user_id
    task.status = "In Progress"
    return task


def complete_task(session: Session, task_id: Any, by_user_id: Optional[int], *, report: Any = None,
                  readings: Any = None, checklist_done: Iterable[int] = (), photos: Iterable[tuple[str, bytes]] = (),
                  completed_at: Optional[datetime] = None) -> tuple[MaintenanceTask, Optional[MaintenanceTask]]:
    """The completion report; a repeating task plans its next one repeat_days after this completion.
    Returns (task, next task or None). Caller commits."""
    task = get_task(session, task_id, lock=True)
    if task.status not in OPEN_STATUSES:
        raise Conflict(f"task {task.id} is {task.status} and cannot be completed")
    if readings is not None and not isinstance(readings, dict):
        raise InvalidInput("readings must be an object, e.g. {\"voltage_v\": 231}")
    done = {int(i) for i in checklist_done}
    task._actor_id = by_user_id
    task.checklist = [{**item, "done": item.get("done") or i in done} for i, item in enumerate(task.checklist or [])]
    task.report = (report or "").strip()[:10000] or None if isinstance(report, (str, type(None))) else str(report)
    task.readings = {str(k)[:40]: str(v)[:40] for k, v in (readings or {}).items()} or None
    task.completed_at = completed_at or utcnow()
    task.completed_by_id = by_user_id
    task.status = "Done"
    for name, data in photos:
        if data:
            store_photo(session, data, name, by_user_id, task_id=task.id)
    next_task = None
    if task.repeat_days:
        next_task = plan_task(session, {
            "kind": task.kind, "charger_cid": task.charger.cid if task.charger else None, "site": task.site,
            "title": task.title, "due_date": (task.completed_at.date() + timedelta(days=task.repeat_days)).isoformat(),
            "assignee_id": task.assignee_id, "field_team_id": task.field_team_id, "repeat_days": task.repeat_days,
            "checklist": [{"item": i["item"]} for i in task.checklist or []], "_previous_id": task.id,
        }, by_user_id)
    if by_user_id is not None:
        record_activity(session, by_user_id, "maintenance", f"{task.kind} task #{task.id} completed", "maintenance", task.id)
    return task, next_task


def cancel_task(session: Session, task_id: Any, by_user_id: Optional[int]) -> MaintenanceTask:
    task = get_task(session, task_id, lock=True)
    if task.status not in OPEN_STATUSES:
        raise Conflict(f"task {task.id} is {task.status}")
    task._actor_id = by_user_id
    task.status = "Cancelled"
    return task


def list_tasks(session: Session, *, ctype: Optional[str] = None, kind: Optional[str] = None, status: Optional[str] = None,
               site: Optional[str] = None, assignee_id: Any = None, date_from: Optional[date] = None,
               date_to: Optional[date] = None, limit: int = 500) -> list[MaintenanceTask]:
    """The filtered list: L2/L3 (the charger's type), kind, status, site, assignee, due-date range."""
    query = select(MaintenanceTask).outerjoin(Charger, MaintenanceTask.charger_id == Charger.id)
    if ctype:
        if ctype not in CHARGER_TYPES:
            raise InvalidInput("type must be L2 or L3")
        # a site task counts for a type when the site has chargers of that type
        sites = select(Charger.site).where(Charger.type == ctype, Charger.site.is_not(None))
        query = query.where(or_(Charger.type == ctype, (MaintenanceTask.charger_id.is_(None)) & MaintenanceTask.site.in_(sites)))
    if kind:
        if kind not in MAINTENANCE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(MAINTENANCE_KINDS)}")
        query = query.where(MaintenanceTask.kind == kind)
    if status:
        if status not in MAINTENANCE_STATUSES and status != "Overdue":
            raise InvalidInput(f"status must be one of {', '.join(MAINTENANCE_STATUSES)} or Overdue")
        if status == "Overdue":
            query = query.where(MaintenanceTask.status.in_(OPEN_STATUSES), MaintenanceTask.due_date < utcnow().date())
        else:
            query = query.where(MaintenanceTask.status == status)
    if site:
        query = query.where(MaintenanceTask.site == site)
    if assignee_id not in (None, ""):
        query = query.where(MaintenanceTask.assignee_id == int(assignee_id))
    if date_from:
        query = query.where(MaintenanceTask.due_date >= date_from)
    if date_to:
        query = query.where(MaintenanceTask.due_date <= date_to)
    return list(session.scalars(query.order_by(MaintenanceTask.due_date, MaintenanceTask.id).limit(limit)))


def month_grid(year: int, month: int, tasks: list[MaintenanceTask]) -> list[list[dict]]:
    """Weeks (Monday first) of days, each with its tasks, for the server-rendered calendar."""
    by_day: dict[date, list[MaintenanceTask]] = {}
    for task in tasks:
        by_day.setdefault(task.due_date, []).append(task)
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        weeks.append([{"date": d, "in_month": d.month == month, "tasks": by_day.get(d, [])} for d in week])
    return weeks


def remind_overdue(session: Session, today: Optional[date] = None) -> int:
    """Once a day per overdue task: its assignee (or, for a team task, nobody but the list) is told. Caller commits."""
    today = today or utcnow().date()
    tasks = session.scalars(select(MaintenanceTask).where(
        MaintenanceTask.status.in_(OPEN_STATUSES), MaintenanceTask.due_date < today,
        MaintenanceTask.assignee_id.is_not(None),
        or_(MaintenanceTask.last_reminded_on.is_(None), MaintenanceTask.last_reminded_on < today),
    )).all()
    for task in tasks:
        task.last_reminded_on = today
        notify(session, [task.assignee_id], "maintenance_overdue",
               f"Overdue: {task.kind} task #{task.id} was due {task.due_date}", body=task.title,
               link=f"/field/maintenance/{task.id}", ref_type="maintenance", ref_id=task.id, channels=("inapp", "push"))
    return len(tasks)


def task_json(task: MaintenanceTask) -> dict:
    return {
        "id": task.id, "charger_cid": task.charger.cid if task.charger else None,
        "charger_type": task.charger.type if task.charger else None, "site": task.site, "kind": task.kind,
        "title": task.title, "due_date": task.due_date.isoformat(), "status": task.status,
        "assignee_id": task.assignee_id, "field_team_id": task.field_team_id, "checklist": task.checklist or [],
        "repeat_days": task.repeat_days, "previous_id": task.previous_id, "report": task.report, "readings": task.readings,
        "completed_at": iso_utc(task.completed_at),
        "photos": [p.id for p in task.photos],
    }
