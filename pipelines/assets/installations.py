"""Installations datasets: each OEM's weekly and monthly report (built and e-mailed) and the monthly payout ledger."""

from datetime import date

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from sqlalchemy import select

from app.models.installations import Oem
from pipelines.partitions import MONTHLY, WEEKLY
from pipelines.resources.chargeops import ChargeOpsApp
from reporting.datasets import build_payout_ledger
from reporting.installations import build_oem_report, email_oem_report


def _oem_reports(context: AssetExecutionContext, chargeops: ChargeOpsApp, period: str) -> MaterializeResult:
    start = date.fromisoformat(context.partition_key)
    built = {}
    with chargeops.session() as session:
        for oem in session.scalars(select(Oem).where(Oem.active.is_(True)).order_by(Oem.name)):
            record, data, workbook = build_oem_report(session, oem, period, start)
            email_oem_report(session, record, data, workbook)
            session.commit()
            built[oem.name] = {"jobs": len(data.jobs), "new_leads": data.new_leads, "installations": data.installations_done,
                               "file": record.stored_name, "email": record.email_status or "", "why": record.email_error or ""}
            context.log.info(f"{oem.name}: {len(data.jobs)} jobs, {record.stored_name}, e-mail {record.email_status}")
    return MaterializeResult(metadata={
        "oems": len(built), "jobs": sum(b["jobs"] for b in built.values()),
        "failed_emails": sum(1 for b in built.values() if b["email"] == "failed"), "reports": MetadataValue.json(built),
    })


@asset(partitions_def=WEEKLY, group_name="installations")
def oem_weekly_reports(context: AssetExecutionContext, chargeops: ChargeOpsApp) -> MaterializeResult:
    """Each OEM's weekly Excel report (highlights, funnel, every job), e-mailed to its contact."""
    return _oem_reports(context, chargeops, "weekly")


@asset(partitions_def=MONTHLY, group_name="installations")
def oem_monthly_reports(context: AssetExecutionContext, chargeops: ChargeOpsApp) -> MaterializeResult:
    """Each OEM's monthly Excel report (highlights, funnel, every job), e-mailed to its contact."""
    return _oem_reports(context, chargeops, "monthly")


@asset(partitions_def=MONTHLY, group_name="installations")
def payout_ledger(context: AssetExecutionContext, chargeops: ChargeOpsApp) -> MaterializeResult:
    """The month's field-team payouts, item by item with team, job, rates and schedule, and the totals per team."""
    with chargeops.session() as session:
        record, ledger = build_payout_ledger(session, date.fromisoformat(context.partition_key))
        session.commit()
        return MaterializeResult(metadata={
            "payout_items": len(ledger.items), "teams": len(ledger.teams), "total": str(ledger.total), "file": record.stored_name,
        })
