"""Chart views on the main entities, with Flask-AppBuilder's own GroupByChartView.

FAB groups the rows in Python; `period_group` adds ":day" / ":week" / ":month" to a date column so
a definition can group by time. The widget draws with chart.js from npm (see app/vendor.py),
never Google Charts: no page loads anything from another host.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Callable, Iterable

from flask import g
from flask_appbuilder.charts.views import GroupByChartView
from flask_appbuilder.charts.widgets import DirectChartWidget
from flask_appbuilder.models.group import GroupByProcessData, aggregate, aggregate_count, aggregate_sum
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterGreater
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import select

from app.extensions import db
from app.models.base import utcnow
from app.models.chargers import BucketSnapshot, Charger, ChargerFault
from app.models.field import ISSUE_PRIORITIES, MAINTENANCE_STATUSES, ChargerIssue, MaintenanceTask
from app.models.customers import PROVIDERS, Payment, TopUp
from app.models.installations import InstallationJob, JobVisit, Payout
from app.models.support import Call, Ticket
from app.services.chargers import BUCKETS, bucket_expression
from app.services.installations import STAGES

CATEGORY = "Charts"
CHART_DAYS = 90  # how far back a chart reads: FAB groups in Python, so the rows are bounded


def _since():
    return utcnow() - timedelta(days=CHART_DAYS)


def _period(value, unit: str) -> str:
    day = value.date() if isinstance(value, datetime) else value
    if unit == "day":
        return day.isoformat()
    if unit == "week":  # the ISO week's Monday
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.strftime("%Y-%m")


class PeriodGroupByProcessData(GroupByProcessData):
    """FAB's grouping, where a group "created_at:week" is the row's created_at as its ISO week."""

    def resolve_attr(self, obj, attr):
        column, _, unit = attr.partition(":")
        if unit == "pipeline":
            return PipelineStage(getattr(obj, column))
        if unit:
            value = getattr(obj, column)
            return _period(value, unit) if value is not None else ""
        return super().resolve_attr(obj, attr)


def _series(label: str, prefix: str, value_of: Callable) -> Callable:
    """One series for FAB's definitions: `value_of(items, col)` under `label` (FAB names series by function)."""

    @aggregate(label)
    def series(items: Iterable, col: str):
        return value_of(list(items), col)

    series.__name__ = prefix + "_" + "".join(ch if ch.isalnum() else "_" for ch in label.lower()) + "_"
    return series


def count_where(column: str, value) -> tuple[Callable, str]:
    """A series: the number of rows whose `column` equals `value`."""
    return _series(str(value), "count", lambda items, col: sum(1 for item in items if getattr(item, col) == value)), column


def sum_where(column: str, value, amount: str) -> tuple[Callable, str]:
    """A series: the sum of `amount` over the rows whose `column` equals `value` (Decimal in, number out)."""
    return _series(str(value), "sum", lambda items, col: float(sum(
        (getattr(item, amount) for item in items if getattr(item, col) == value), 0))), column


def mean_per_snapshot(column: str, label: str) -> tuple[Callable, str]:
    """A series over bucket snapshots: the fleet's average of `column` across the period's snapshots
    (each snapshot is one row per charger type, so rows of the same moment add up first)."""
    def mean(items, col):
        moments = {item.taken_at for item in items}
        return round(sum(getattr(item, col) for item in items) / len(moments), 1) if moments else 0
    return _series(label, "mean", mean), column


class PipelineStage(str):
    """A stage name that sorts in pipeline order, not alphabetically."""

    def _rank(self) -> int:
        return STAGES.index(self) if self in STAGES else len(STAGES)

    def __lt__(self, other):
        return self._rank() < PipelineStage(other)._rank()


class ChartJsWidget(DirectChartWidget):
    """FAB's chart widget contract (value_columns in Google's JSON shape), drawn by static/js/charts.js."""

    template = "chargeops/charts/chart_widget.html"


class ChargeOpsChartView(GroupByChartView):
    """A FAB chart whose only permission is can_read on its resource."""

    chart_widget = ChartJsWidget
    ProcessClass = PeriodGroupByProcessData
    method_permission_name = {"chart": "read"}
    chart_type = "ColumnChart"
    height = "380px"

    def _get_chart_widget(self, filters=None, order_column="", order_direction="", **kwargs):
        if order_column not in self.datamodel.get_columns_list():  # a period ("created_at:week") or a relation's column
            order_column = order_direction = ""
        return super()._get_chart_widget(filters=filters, order_column=order_column, order_direction=order_direction, **kwargs)


class CallChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(Call)
    class_permission_name = "CallChart"
    chart_title = "Calls by category and day"
    base_filters = [["created_at", FilterGreater, _since]]
    definitions = [
        {"label": "Per day", "group": "created_at:day",
         "series": [count_where("category", c) for c in ("Payment Issues", "Charger Faults", "General Inquiry", "Complaints")]},
        {"label": "Per category", "group": "category", "series": [(aggregate_count, "id")]},
    ]


class TicketChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(Ticket)
    class_permission_name = "TicketChart"
    chart_title = "Tickets by status and priority over time"
    chart_type = "LineChart"
    base_filters = [["created_at", FilterGreater, _since]]
    definitions = [
        {"label": "By status, per week opened", "group": "created_at:week",
         "series": [count_where("status", s) for s in ("Open", "In Progress", "Resolved", "Closed")]},
        {"label": "By priority, per week opened", "group": "created_at:week",
         "series": [count_where("priority", p) for p in ("Critical", "High", "Medium", "Low")]},
    ]


def _bucket_of(charger_id: int) -> str:
    """The charger's bucket now (one query per page for every charger, cached on the request)."""
    if "_chart_buckets" not in g:
        g._chart_buckets = dict(db.session.execute(select(Charger.id, bucket_expression(utcnow()))).all())
    return g._chart_buckets.get(charger_id, "")


def count_bucket(bucket: str) -> tuple[Callable, str]:
    return _series(bucket, "bucket", lambda items, col: sum(1 for item in items if _bucket_of(getattr(item, col)) == bucket)), "id"


class ChargerChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(Charger)
    class_permission_name = "ChargerChart"
    chart_title = "Chargers by bucket"
    definitions = [
        {"label": "Buckets per type", "group": "type", "series": [count_bucket(b) for b in BUCKETS]},
        {"label": "Buckets per site", "group": "site", "series": [count_bucket(b) for b in BUCKETS]},
    ]


class ChargerFaultChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(ChargerFault)
    class_permission_name = "ChargerFaultChart"
    chart_title = "Charger faults over time"
    chart_type = "LineChart"
    base_filters = [["first_seen", FilterGreater, _since]]
    definitions = [
        {"label": "Faults per day", "group": "first_seen:day", "series": [(aggregate_count, "id"), (aggregate_sum, "occurrences")]},
        {"label": "Per error code", "group": "error_code", "series": [(aggregate_count, "id")]},
    ]


class BucketHistoryChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(BucketSnapshot)
    class_permission_name = "BucketHistoryChart"
    chart_title = "Charger buckets over time"
    chart_type = "LineChart"
    base_filters = [["taken_at", FilterGreater, _since]]
    definitions = [
        {"label": "Per day (average of the day's snapshots)", "group": "taken_at:day",
         "series": [mean_per_snapshot(b.lower().replace(" ", "_"), b) for b in BUCKETS]},
        {"label": "Per week", "group": "taken_at:week",
         "series": [mean_per_snapshot(b.lower().replace(" ", "_"), b) for b in BUCKETS]},
    ]


class ChargerIssueChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(ChargerIssue)
    class_permission_name = "ChargerIssueChart"
    chart_title = "Charger issues"
    base_filters = [["created_at", FilterGreater, _since]]
    definitions = [
        {"label": "By priority, per week opened", "group": "created_at:week",
         "series": [count_where("priority", p) for p in ISSUE_PRIORITIES]},
        {"label": "By status", "group": "status", "series": [(aggregate_count, "id"), (aggregate_sum, "occurrences")]},
        {"label": "By source", "group": "source", "series": [(aggregate_count, "id")]},
    ]


class MaintenanceChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(MaintenanceTask)
    class_permission_name = "MaintenanceChart"
    chart_title = "Maintenance"
    base_filters = [["due_date", FilterGreater, lambda: (utcnow() - timedelta(days=CHART_DAYS)).date()]]
    definitions = [
        {"label": "By status, per week due", "group": "due_date:week",
         "series": [count_where("status", st) for st in MAINTENANCE_STATUSES]},
        {"label": "By kind", "group": "kind", "series": [count_where("status", st) for st in MAINTENANCE_STATUSES]},
    ]


class PaymentChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(Payment)
    class_permission_name = "PaymentChart"
    chart_title = "Payments by provider and month"
    definitions = [
        {"label": "Amount per month", "group": "paid_at:month",
         "series": [sum_where("provider", p, "amount") for p in PROVIDERS]},
        {"label": "Amount per provider", "group": "provider", "series": [(aggregate_sum, "amount"), (aggregate_count, "id")]},
    ]


class TopUpChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(TopUp)
    class_permission_name = "TopUpChart"
    chart_title = "Manual top-ups"
    base_filters = [["created_at", FilterGreater, _since]]
    definitions = [
        {"label": "Per week", "group": "created_at:week", "series": [(aggregate_count, "id"), (aggregate_sum, "amount")]},
        {"label": "Per status", "group": "status", "series": [(aggregate_count, "id"), (aggregate_sum, "amount")]},
    ]


class JobChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(InstallationJob)
    class_permission_name = "JobChart"
    chart_title = "Installation jobs by stage and OEM"
    definitions = [
        {"label": "Per stage", "group": "stage:pipeline", "series": [(aggregate_count, "id")]},
        {"label": "Per OEM", "group": "oem.name", "series": [(aggregate_count, "id")]},
    ]


class InstallationChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(JobVisit)
    class_permission_name = "InstallationChart"
    chart_title = "Installations per week"
    base_filters = [["kind", FilterEqual, "installation"]]
    definitions = [
        {"label": "Per week", "group": "visit_date:week",
         "series": [count_where("status", s) for s in ("done", "scheduled", "assigned", "rescheduled", "team unavailable")]},
    ]


class PayoutChartView(ChargeOpsChartView):
    datamodel = SQLAInterface(Payout)
    class_permission_name = "PayoutChart"
    chart_title = "Field-team payouts per team and month"
    definitions = [
        {"label": "Per month", "group": "created_at:month", "series": [(aggregate_sum, "amount"), (aggregate_count, "id")]},
        {"label": "Per team", "group": "team.name", "series": [(aggregate_sum, "amount"), (aggregate_count, "id")]},
    ]


CHART_VIEWS = [
    (CallChartView, "Calls"), (TicketChartView, "Tickets"), (ChargerChartView, "Charger buckets"),
    (ChargerFaultChartView, "Charger faults"), (BucketHistoryChartView, "Charger buckets over time"),
    (ChargerIssueChartView, "Charger issues"), (MaintenanceChartView, "Maintenance"), (PaymentChartView, "Payments"), (TopUpChartView, "Top-ups"),
    (JobChartView, "Installation jobs"), (InstallationChartView, "Installations"), (PayoutChartView, "Field-team payouts"),
]


def register(appbuilder) -> None:
    for view, label in CHART_VIEWS:
        appbuilder.add_view(view, view.class_permission_name, label=label, icon="fa-bar-chart", category=CATEGORY)
