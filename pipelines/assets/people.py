"""Team performance datasets: support agents and field teams, per week and per month."""

from datetime import date

from dagster import AssetExecutionContext, MaterializeResult, asset

from pipelines.partitions import MONTHLY, WEEKLY
from pipelines.resources.chargeops import ChargeOpsApp
from reporting.datasets import build_team_performance


def _team_performance(context: AssetExecutionContext, chargeops: ChargeOpsApp, period: str) -> MaterializeResult:
    with chargeops.session() as session:
        record, agents, teams = build_team_performance(session, period, date.fromisoformat(context.partition_key))
        session.commit()
        return MaterializeResult(metadata={
            "agents": len(agents), "field_teams": len(teams), "calls_handled": sum(a.calls for a in agents),
            "jobs_done": sum(t.surveys + t.installations for t in teams), "file": record.stored_name,
        })


@asset(partitions_def=WEEKLY, group_name="people")
def team_performance_weekly(context: AssetExecutionContext, chargeops: ChargeOpsApp) -> MaterializeResult:
    """The week's support desk (calls, tickets, SLA met) and field teams (jobs, on-time, first-time-right, lead-to-install)."""
    return _team_performance(context, chargeops, "weekly")


@asset(partitions_def=MONTHLY, group_name="people")
def team_performance_monthly(context: AssetExecutionContext, chargeops: ChargeOpsApp) -> MaterializeResult:
    """The month's support desk and field team performance."""
    return _team_performance(context, chargeops, "monthly")
