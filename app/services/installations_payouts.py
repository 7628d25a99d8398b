"""Installations, phase 8: field-team payouts per the team's payment schedule.

A job is paid to the team that installed it: its survey share at the surveying team's survey rate
plus the installing team's installation rate. payout_item.job_id is unique, so a job is never
paid twice, even when two releases race.
"""
from __future__ import annotations

import calendar as _calendar
from collections import defaultdict
from datetime import date
from typing import Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.models.base import ZERO, utcnow
from app.models.installations import InstallationJob, JobVisit, Payout, PayoutItem
from app.models.people import FieldTeam, PaymentSchedule
from app.security import ADMIN, FINANCE, MANAGER
from app.services import Conflict, Forbidden, InvalidInput, NotFound
from app.services.installations import PAID, PAYABLE, move_job, role_names


def period_of(schedule: PaymentSchedule, day: date) -> tuple[date, date]:
    """The pay period a job falls in: the day itself, the half month, or the month."""
    if schedule == PaymentSchedule.PER_JOB:
        return day, day
    last = _calendar.monthrange(day.year, day.month)[1]
    if schedule == PaymentSchedule.FORTNIGHTLY:
        return (day.replace(day=1), day.replace(day=15)) if day.day <= 15 else (day.replace(day=16), day.replace(day=last))
    return day.replace(day=1), day.replace(day=last)


def due_payouts(session: Session, team_id: Optional[int] = None, as_of: Optional[date] = None) -> list[dict]:
    """Payable jobs grouped into the pay periods that have ended by `as_of`, per team (three queries in all)."""
    as_of = as_of or utcnow().date()
    jobs = list(session.scalars(select(InstallationJob).where(InstallationJob.stage == PAYABLE)
                                .options(selectinload(InstallationJob.lead)).order_by(InstallationJob.payable_at)))
    done: dict = {}
    for visit in session.scalars(select(JobVisit).where(JobVisit.job_id.in_([j.id for j in jobs]), JobVisit.status == "done")
                                 .order_by(JobVisit.id)):
        done[(visit.job_id, visit.kind)] = visit.team_id  # the latest done visit wins
    teams = {t.id: t for t in session.scalars(select(FieldTeam))}
    groups: dict = defaultdict(list)
    for job in jobs:
        installer, surveyor = teams.get(done.get((job.id, "installation"))), teams.get(done.get((job.id, "survey")))
        team = installer or surveyor
        if team is None or (team_id is not None and team.id != team_id):
            continue
        survey_amount = surveyor.survey_rate if surveyor else ZERO
        install_amount = installer.installation_rate if installer else ZERO
        start, end = period_of(team.payment_schedule, (job.payable_at or utcnow()).date())
        if end > as_of and team.payment_schedule != PaymentSchedule.PER_JOB:
            continue  # the period is still running
        key = (team.id, start, end, job.id if team.payment_schedule == PaymentSchedule.PER_JOB else None)
        groups[key].append((job, survey_amount, install_amount))
    return [
        {"team": teams[key[0]], "period_start": key[1], "period_end": key[2], "jobs": items,
         "amount": sum((s + i for _, s, i in items), ZERO)}
        for key, items in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3] or 0))
    ]


def due_by_team(session: Session, as_of: Optional[date] = None) -> list[dict]:
    """What Finance's queue shows: per team, the due payouts, their jobs and the total."""
    per_team: dict = {}
    for group in due_payouts(session, as_of=as_of):
        row = per_team.setdefault(group["team"].id, {"team": group["team"], "payouts": 0, "jobs": [], "amount": ZERO})
        row["payouts"] += 1
        row["jobs"] += [job for job, _, _ in group["jobs"]]
        row["amount"] += group["amount"]
    return list(per_team.values())


def release_payouts(session: Session, team_id: int, reference: str, actor: User, as_of: Optional[date] = None) -> list[Payout]:
    """Finance releases what the team is due: one payout per job / fortnight / month, each with its jobs."""
    have = role_names(actor)
    if ADMIN not in have and not have & {FINANCE, MANAGER}:
        raise Forbidden("Releasing field-team payouts is for Finance")
    team = session.get(FieldTeam, int(team_id)) if str(team_id).isdigit() else None
    if team is None:
        raise NotFound(f"No field team {team_id}")
    reference = (reference or "").strip()
    if not reference:
        raise InvalidInput("reference: the bank/UPI transfer reference")
    due = due_payouts(session, team.id, as_of)
    if not due:
        raise Conflict(f"{team.name} has no payable jobs in a closed pay period ({team.payment_schedule.value})")
    payouts = []
    try:
        with session.begin_nested():
            for n, group in enumerate(due, start=1):
                ref = reference if len(due) == 1 else f"{reference}-{n}"
                payout = Payout(team_id=team.id, period_start=group["period_start"], period_end=group["period_end"],
                                amount=group["amount"], reference=ref, released_by_id=actor.id, created_at=utcnow())
                session.add(payout)
                session.flush()
                for job, survey_amount, install_amount in group["jobs"]:
                    session.add(PayoutItem(payout_id=payout.id, job_id=job.id, survey_amount=survey_amount,
                                           installation_amount=install_amount, amount=survey_amount + install_amount))
                session.flush()
                payouts.append(payout)
    except IntegrityError:
        raise Conflict("These jobs were just paid, or the payout reference is already used: nothing was paid twice")
    for payout in payouts:
        for item in payout.items:
            move_job(session, item.job, PAID, actor, f"Paid to {team.name} in payout {payout.reference} ({item.amount})")
            item.job.paid_at = payout.created_at
    return payouts
