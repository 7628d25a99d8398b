"""Schedules: each job runs for the period that just ended. On (RUNNING) as soon as Dagster starts."""
from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from pipelines.jobs import installations_monthly, installations_weekly, team_performance_monthly_job, team_performance_weekly_job

RUNNING = DefaultScheduleStatus.RUNNING

SCHEDULES = [
    build_schedule_from_partitioned_job(installations_weekly, hour_of_day=6, default_status=RUNNING),
    build_schedule_from_partitioned_job(installations_monthly, hour_of_day=6, default_status=RUNNING),
    build_schedule_from_partitioned_job(team_performance_weekly_job, hour_of_day=2, default_status=RUNNING),
    build_schedule_from_partitioned_job(team_performance_monthly_job, hour_of_day=2, default_status=RUNNING),
]
