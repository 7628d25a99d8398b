"""Support desk datasets: weekly team performance (calls handled, tickets resolved, median time to resolve)."""

from datetime import datetime, timedelta
from pathlib import Path

from dagster import (
    AssetExecutionContext, WeeklyPartitionsDefinition, asset, build_schedule_from_partitioned_job, define_asset_job,
)

from pipelines.resources import FlaskAppResource

WEEKS = WeeklyPartitionsDefinition(start_date="2026-01-05", day_offset=1)


@asset(partitions_def=WEEKS, group_name="support")
def support_team_performance(context: AssetExecutionContext, chargeops: FlaskAppResource):
    """Per agent for the week: the same figures as the dashboard's team panel, also written as Excel."""
    from flask import current_app

    from reporting.support_team import team_performance_frame, write_team_performance_xlsx

    start = datetime.fromisoformat(context.partition_key)
    end = start + timedelta(days=7)
    with chargeops.session() as session:
        frame = team_performance_frame(session, start, end)
        path = Path(current_app.config["VAR_DIR"]) / "reports" / "support" / f"team-{context.partition_key}.xlsx"
        write_team_performance_xlsx(frame, path, f"Support team performance, week of {context.partition_key}")
    context.add_output_metadata({"agents": len(frame), "file": str(path)})
    return frame


support_weekly_job = define_asset_job("support_weekly", selection=[support_team_performance], partitions_def=WEEKS)
JOBS = [support_weekly_job]
SCHEDULES = [build_schedule_from_partitioned_job(support_weekly_job, hour_of_day=2)]
