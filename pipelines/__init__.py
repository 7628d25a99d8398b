"""Dagster definitions, written out: `dagster dev -m pipelines` loads `defs`.

Assets: pipelines/assets/<domain>.py (bodies call reporting/); partitions: pipelines/partitions.py;
jobs and schedules: pipelines/jobs.py, pipelines/schedules.py; resources: pipelines/resources/, one file each.
"""
from dagster import Definitions

from pipelines.assets.installations import oem_monthly_reports, oem_weekly_reports, payout_ledger
from pipelines.assets.people import team_performance_monthly, team_performance_weekly
from pipelines.jobs import JOBS
from pipelines.resources import RESOURCES
from pipelines.schedules import SCHEDULES

ASSETS = [oem_weekly_reports, oem_monthly_reports, payout_ledger, team_performance_weekly, team_performance_monthly]

defs = Definitions(assets=ASSETS, jobs=JOBS, schedules=SCHEDULES, resources=RESOURCES)
