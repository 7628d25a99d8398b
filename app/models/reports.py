"""Reports: the datasets the pipelines build per period (payout ledger, team performance), kept for download.

OEM reports have their own table (installations.OemReport: one per OEM and period, with its e-mail status)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from flask_appbuilder import Model
from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Money, created_at_column


class ReportFile(Model):
    """One dataset built for one period; rebuilding the period replaces the file and its figures."""

    __tablename__ = "report_file"
    __table_args__ = (UniqueConstraint("kind", "period", "period_start", name="uq_report_file_period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)  # payout_ledger | support_team | field_teams
    period: Mapped[str] = mapped_column(String(10))  # weekly | monthly
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    stored_name: Mapped[str] = mapped_column(String(120))
    rows: Mapped[int] = mapped_column(default=0)
    total: Mapped[Optional[Decimal]] = mapped_column(Money)  # money datasets: their grand total
    created_at: Mapped[datetime] = created_at_column()
