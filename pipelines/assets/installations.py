"""Installations assets: OEM weekly/monthly progress reports (built and e-mailed) and the monthly
field-team payout ledger. Bodies call reporting/installations.py; they hold no report logic."""

from datetime import date

from dagster import (
    AssetExecutionContext, MaterializeResult, MetadataValue, MonthlyPartitionsDefinition, WeeklyPartitionsDefinition,
    asset, build_schedule_from_partitioned_job, define_asset_job,
)

from pipelines.resources import FlaskAppResource

WEEKLY = WeeklyPartitionsDefinition(start_date="2026-01-05", day_offset=1)  # Monday to Sunday
MONTHLY = MonthlyPartitionsDefinition(start_date="2026-01-01")


def _oem_reports(context: AssetExecutionContext, chargeops: FlaskAppResource, period: str) -> MaterializeResult:
    from sqlalchemy import select

    from app.models.installations import Oem
    from reporting.installations import oem_report

    start = date.fromisoformat(context.partition_key)
    built = {}
    with chargeops.session() as session:
        for oem in session.scalars(select(Oem).where(Oem.active.is_(True)).order_by(Oem.name)):
            record, jobs = oem_report(session, oem, period, start)
            session.commit()
            built[oem.name] = {"jobs": len(jobs), "file": record.stored_name, "emailed_to": record.emailed_to or ""}
            context.log.info(f"{oem.name}: {len(jobs)} jobs, {record.stored_name}")
    return MaterializeResult(metadata={
        "oems": len(built), "jobs": sum(b["jobs"] for b in built.values()), "reports": MetadataValue.json(built),
    })


@asset(partitions_def=WEEKLY, group_name="installations")
def installations_oem_weekly_reports(context: AssetExecutionContext, chargeops: FlaskAppResource) -> MaterializeResult:
    """Each OEM's weekly Excel report of lead/job progress, e-mailed to its contact."""
    return _oem_reports(context, chargeops, "weekly")


@asset(partitions_def=MONTHLY, group_name="installations")
def installations_oem_monthly_reports(context: AssetExecutionContext, chargeops: FlaskAppResource) -> MaterializeResult:
    """Each OEM's monthly Excel report of lead/job progress, e-mailed to its contact."""
    return _oem_reports(context, chargeops, "monthly")


@asset(partitions_def=MONTHLY, group_name="installations")
def installations_payout_ledger(context: AssetExecutionContext, chargeops: FlaskAppResource) -> MaterializeResult:
    """The month's field-team payouts (job by job) as an Excel ledger for Finance."""
    from reporting.installations import payout_ledger_workbook

    start = date.fromisoformat(context.partition_key)
    from reporting.installations import period_bounds

    start, end = period_bounds("monthly", start)
    with chargeops.session() as session:
        path, frame = payout_ledger_workbook(session, start, end)
    return MaterializeResult(metadata={
        "payout_items": len(frame), "total": float(frame["amount"].sum()) if not frame.empty else 0.0, "file": str(path),
    })


weekly_job = define_asset_job("installations_weekly", selection=[installations_oem_weekly_reports], partitions_def=WEEKLY)
monthly_job = define_asset_job(
    "installations_monthly", selection=[installations_oem_monthly_reports, installations_payout_ledger], partitions_def=MONTHLY
)
JOBS = [weekly_job, monthly_job]
SCHEDULES = [
    build_schedule_from_partitioned_job(weekly_job, hour_of_day=6),
    build_schedule_from_partitioned_job(monthly_job, hour_of_day=6),
]
