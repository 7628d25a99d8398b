"""Demo field operations: a few open charger issues and a month of planned maintenance (idempotent)."""
from __future__ import annotations

import random
from datetime import timedelta

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.field import ChargerIssue, MaintenanceTask
from app.services.field_issues import open_issue
from app.services.field_maintenance import plan_task

ISSUES = [("Cable holster broken", "Medium"), ("Display blank", "High"), ("RFID reader intermittent", "Low"),
          ("Earth leakage trips", "Critical")]


def seed(session: Session) -> None:
    if session.scalar(select(func.count()).select_from(ChargerIssue)) or session.scalar(select(func.count()).select_from(MaintenanceTask)):
        return
    chargers = session.scalars(select(Charger).where(Charger.unregistered.is_(False)).order_by(Charger.cid).limit(40)).all()
    if not chargers:
        return
    rng = random.Random(13)
    installer = session.scalar(select(User.id).where(User.username == "installer"))
    for (title, priority), charger in zip(ISSUES, rng.sample(chargers, min(len(ISSUES), len(chargers)))):
        open_issue(session, charger_cid=charger.cid, title=title, priority=priority, assignee_id=installer)
    today = utcnow().date()
    for n, charger in enumerate(rng.sample(chargers, min(12, len(chargers)))):
        kind = ("Routine", "Inspection", "Repair", "Routine")[n % 4]
        plan_task(session, {"kind": kind, "charger_cid": charger.cid, "due_date": (today + timedelta(days=rng.randint(-3, 27))).isoformat(),
                            "assignee_id": installer, "repeat_days": 90 if kind == "Routine" else None,
                            "checklist": ["Visual check of cable and connector", "Test the RCD", "Clean the air filter"]}, None)
    session.flush()
