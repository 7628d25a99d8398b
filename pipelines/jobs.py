"""Jobs: one per period and domain, each over the partitions in pipelines/partitions.py."""
from dagster import define_asset_job

from pipelines.assets.installations import oem_monthly_reports, oem_weekly_reports, payout_ledger
from pipelines.assets.people import team_performance_monthly, team_performance_weekly
from pipelines.partitions import MONTHLY, WEEKLY

installations_weekly = define_asset_job("installations_weekly", selection=[oem_weekly_reports], partitions_def=WEEKLY)
installations_monthly = define_asset_job("installations_monthly", selection=[oem_monthly_reports, payout_ledger], partitions_def=MONTHLY)
team_performance_weekly_job = define_asset_job("team_performance_weekly", selection=[team_performance_weekly], partitions_def=WEEKLY)
team_performance_monthly_job = define_asset_job("team_performance_monthly", selection=[team_performance_monthly], partitions_def=MONTHLY)

JOBS = [installations_weekly, installations_monthly, team_performance_weekly_job, team_performance_monthly_job]
