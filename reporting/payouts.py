"""The field-team payout ledger of a period: every payout item with its team, job, rates and schedule,
and the totals per team. Finance downloads it (payouts screen, GET /api/v1/payouts/ledger); Dagster
builds it every month."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.installations import InstallationJob, Lead, Oem, Payout, PayoutItem
from app.models.people import FieldTeam
from reporting.excel import Column, Report
from reporting.periods import day_range, describe, period_bounds

LEDGER_COLUMNS = [
    Column("Payout reference", width=20), Column("Released", "datetime"), Column("Team", width=22),
    Column("Payment schedule", width=14), Column("Covers from", "date"), Column("Covers to", "date"),
    Column("Job", width=11), Column("OEM", width=16), Column("Customer", width=22),
    Column("Survey rate", "money", total=True), Column("Installation rate", "money", total=True, width=16),
    Column("Amount paid", "money", total=True),
]
TEAM_COLUMNS = [Column("Team", width=24), Column("Payment schedule", width=16), Column("Payouts", "int", total=True),
                Column("Jobs paid", "int", total=True), Column("Amount paid", "money", total=True, width=16)]


@dataclass
class PayoutLedger:
    start: date
    end: date
    items: list[tuple] = field(default_factory=list)  # LEDGER_COLUMNS order
    teams: list[tuple] = field(default_factory=list)  # TEAM_COLUMNS order

    @property
    def total(self) -> Decimal:
        return sum((row[-1] for row in self.items), Decimal("0.00"))


def payout_ledger(session: Session, start: date, end: date) -> PayoutLedger:
    """Every payout item released between start and end (inclusive dates), and the totals per team."""
    since, until = day_range(start, end)
    rows = session.execute(
        select(Payout.id, Payout.reference, Payout.created_at, FieldTeam.name, FieldTeam.payment_schedule, Payout.period_start,
               Payout.period_end, PayoutItem.job_id, Oem.name.label("oem"), Lead.customer_name, PayoutItem.survey_amount,
               PayoutItem.installation_amount, PayoutItem.amount)
        .join(PayoutItem, PayoutItem.payout_id == Payout.id).join(FieldTeam, FieldTeam.id == Payout.team_id)
        .join(InstallationJob, InstallationJob.id == PayoutItem.job_id).join(Lead, Lead.id == InstallationJob.lead_id)
        .join(Oem, Oem.id == InstallationJob.oem_id)
        .where(Payout.created_at >= since, Payout.created_at < until).order_by(FieldTeam.name, Payout.id, PayoutItem.id)
    ).all()
    ledger = PayoutLedger(start=start, end=end)
    per_team: dict[str, list] = {}
    for r in rows:
        schedule = getattr(r.payment_schedule, "value", r.payment_schedule)
        ledger.items.append((r.reference, r.created_at, r.name, schedule, r.period_start, r.period_end, f"INS-{r.job_id:05d}",
                             r.oem, r.customer_name, r.survey_amount, r.installation_amount, r.amount))
        team = per_team.setdefault(r.name, [r.name, schedule, set(), 0, Decimal("0.00")])
        team[2].add(r.id)
        team[3] += 1
        team[4] += r.amount
    ledger.teams = [(name, schedule, len(payouts), jobs, amount) for name, schedule, payouts, jobs, amount in per_team.values()]
    return ledger


def ledger_title(ledger: PayoutLedger, operator: str) -> str:
    return f"{operator}: field-team payout ledger, {describe('monthly', ledger.start, ledger.end)}"


def payout_ledger_workbook(ledger: PayoutLedger, operator: str) -> bytes:
    report = Report()
    teams = report.sheet("Per team", TEAM_COLUMNS, freeze_below=4)
    teams.title(ledger_title(ledger, operator), f"Payouts released {ledger.start:%d %B} to {ledger.end:%d %B %Y}")
    teams.table(TEAM_COLUMNS, ledger.teams, totals_label="All teams")
    items = report.sheet("Payout items", LEDGER_COLUMNS, freeze_below=3)
    items.title(ledger_title(ledger, operator))
    items.table(LEDGER_COLUMNS, ledger.items, totals_label="Total")
    return report.to_bytes()


def month_ledger(session: Session, first: date) -> PayoutLedger:
    return payout_ledger(session, *period_bounds("monthly", first))
