"""The report periods, defined once: every weekly and monthly asset, job and schedule uses these."""
from dagster import MonthlyPartitionsDefinition, WeeklyPartitionsDefinition

WEEKLY = WeeklyPartitionsDefinition(start_date="2026-01-05", day_offset=1)  # Monday to Sunday
MONTHLY = MonthlyPartitionsDefinition(start_date="2026-01-01")
