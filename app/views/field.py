"""Field operations screens: the issue tracker, maintenance (list and month calendar), force charge,
the notification feed (with the menu's unread badge) and broadcasts. Rules are in app/services/field_*."""
from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select

from app.extensions import db
from app.models.chargers import CHARGER_TYPES, Charger
from app.models.field import (
    FORCE_CHARGE_MODES, ISSUE_PRIORITIES, ISSUE_STATUSES, MAINTENANCE_KINDS, MAINTENANCE_STATUSES, FieldPhoto,
)
from app.models.messaging import Notification, NotificationGroup
from app.models.people import FieldTeam
from app.security import ROLES
from app.services import ServiceError
from app.services import field_force_charge as force
from app.services import field_issues as issues
from app.services import field_maintenance as maintenance
from app.services import notifications
from app.services.customers import lookup_customers
from app.services.field_photos import photo_path
from app.services.support_audit import history_of
from app.views.base import Done, form_action
from app.models.field import Broadcast

CATEGORY = "Field"


def _people():
    return db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.first_name)).all()


def _photos():
    return [(f.filename, f.read()) for f in request.files.getlist("photo") if f and f.filename]


class IssueTrackerView(BaseView):
    route_base = "/field/issues"
    class_permission_name = "ChargerIssue"
    method_permission_name = {"list": "read", "issue": "read", "photo": "read", "create": "write", "transition": "write",
                              "note": "write", "assign": "write", "to_ticket": "write", "from_ticket": "write"}
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        args = request.args
        rows = issues.list_issues(db.session, status=args.get("status") or None, priority=args.get("priority") or None,
                                  assignee_id=args.get("assignee_id", type=int), cid=args.get("cid") or None,
                                  open_only=args.get("open") == "1")
        chargers = db.session.scalars(select(Charger.cid).order_by(Charger.cid).limit(2000)).all()
        return self.render_template("field/issues.html", issues=rows, statuses=ISSUE_STATUSES, priorities=ISSUE_PRIORITIES,
                                    people=_people(), chargers=chargers, args=args)

    @expose("/new", methods=["POST"])
    @has_access
    @form_action("IssueTrackerView.list")
    def create(self):
        form = request.form
        issue = issues.open_issue(db.session, charger_cid=form.get("charger_cid"), title=form.get("title"),
                                  priority=form.get("priority"), assignee_id=form.get("assignee_id") or None,
                                  description=form.get("description"), created_by=g.user.id)
        return Done(f"Issue #{issue.id} opened.", url_for("IssueTrackerView.issue", pk=issue.id))

    @expose("/<int:pk>")
    @has_access
    def issue(self, pk):
        try:
            issue = issues.get_issue(db.session, pk)
        except ServiceError:
            abort(404)
        moves = [to for (frm, to) in issues.ISSUE_TRANSITIONS if frm == issue.status]
        return self.render_template("field/issue.html", issue=issue, moves=moves, people=_people(),
                                    trail=history_of(db.session, "issue", issue.id))

    @expose("/<int:pk>/transition", methods=["POST"])
    @has_access
    @form_action("IssueTrackerView.issue")
    def transition(self, pk):
        issue = issues.transition_issue(db.session, pk, request.form.get("to"), g.user.id, request.form.get("note"))
        return f"Issue #{pk} is {issue.status}."

    @expose("/<int:pk>/notes", methods=["POST"])
    @has_access
    @form_action("IssueTrackerView.issue")
    def note(self, pk):
        issues.add_note(db.session, pk, request.form.get("body"), g.user.id, _photos())
        return "Note added."

    @expose("/<int:pk>/assign", methods=["POST"])
    @has_access
    @form_action("IssueTrackerView.issue")
    def assign(self, pk):
        issues.assign_issue(db.session, pk, request.form.get("assignee_id") or None, g.user.id)
        return "Assignee changed."

    @expose("/<int:pk>/ticket", methods=["POST"])
    @has_access
    @form_action("IssueTrackerView.issue")
    def to_ticket(self, pk):
        ticket = issues.issue_to_ticket(db.session, pk, g.user.id)
        return Done(f"Customer ticket #{ticket.id} for issue #{pk}.", f"/support/tickets/{ticket.id}")

    @expose("/from-ticket/<int:ticket_id>", methods=["POST"])
    @has_access
    @form_action(lambda ticket_id: f"/support/tickets/{ticket_id}")
    def from_ticket(self, ticket_id):
        issue = issues.ticket_to_issue(db.session, ticket_id, g.user.id)
        return Done(f"Ticket #{ticket_id} is charger issue #{issue.id}.", url_for("IssueTrackerView.issue", pk=issue.id))

    @expose("/photos/<int:photo_id>")
    @has_access
    def photo(self, photo_id):
        photo = db.session.get(FieldPhoto, photo_id)
        if photo is None:
            abort(404)
        return send_file(photo_path(photo), mimetype=photo.content_type, download_name=photo.original_name)


class MaintenanceView(BaseView):
    route_base = "/field/maintenance"
    class_permission_name = "MaintenanceTask"
    method_permission_name = {"list": "read", "calendar": "read", "task": "read", "photo": "read", "create": "write",
                              "start": "write", "complete": "write", "cancel": "write"}
    default_view = "list"

    def _filtered(self, **extra):
        args = request.args
        return maintenance.list_tasks(db.session, ctype=args.get("type") or None, kind=args.get("kind") or None,
                                      status=args.get("status") or None, site=args.get("site") or None,
                                      assignee_id=args.get("assignee_id", type=int), **extra)

    def _choices(self):
        return dict(types=CHARGER_TYPES, kinds=MAINTENANCE_KINDS, statuses=MAINTENANCE_STATUSES + ("Overdue",),
                    people=_people(), teams=db.session.scalars(select(FieldTeam).order_by(FieldTeam.name)).all(),
                    sites=[s for s in db.session.scalars(select(Charger.site).distinct().order_by(Charger.site)) if s],
                    chargers=db.session.scalars(select(Charger.cid).order_by(Charger.cid).limit(2000)).all(),
                    args=request.args, today=date.today())

    @expose("/")
    @has_access
    def list(self):
        try:
            tasks = self._filtered()
        except ServiceError as exc:
            flash(exc.message, "danger")
            tasks = []
        return self.render_template("field/maintenance.html", tasks=tasks, **self._choices())

    @expose("/calendar/")
    @has_access
    def calendar(self):
        month = request.args.get("month") or date.today().strftime("%Y-%m")
        try:
            year, mon = (int(x) for x in month.split("-"))
            first = date(year, mon, 1)
        except ValueError:
            first = date.today().replace(day=1)
        last = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        try:
            tasks = self._filtered(date_from=first, date_to=last)
        except ServiceError as exc:
            flash(exc.message, "danger")
            tasks = []
        prev = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
        return self.render_template("field/calendar.html", weeks=maintenance.month_grid(first.year, first.month, tasks),
                                    first=first, prev=prev.strftime("%Y-%m"), next=last.strftime("%Y-%m"),
                                    query={k: v for k, v in request.args.items() if k != "month"}, **self._choices())

    @expose("/new", methods=["POST"])
    @has_access
    @form_action("MaintenanceView.list")
    def create(self):
        form = request.form
        data = {k: form.get(k) for k in ("charger_cid", "site", "kind", "title", "due_date", "assignee_id",
                                          "field_team_id", "repeat_days")}
        data["checklist"] = form.get("checklist") or ""
        task = maintenance.plan_task(db.session, data, g.user.id)
        return Done(f"{task.kind} task #{task.id} planned for {task.due_date}.", url_for("MaintenanceView.task", pk=task.id))

    @expose("/<int:pk>")
    @has_access
    def task(self, pk):
        try:
            task = maintenance.get_task(db.session, pk)
        except ServiceError:
            abort(404)
        return self.render_template("field/task.html", task=task, trail=history_of(db.session, "maintenance", task.id))

    @expose("/<int:pk>/start", methods=["POST"])
    @has_access
    @form_action("MaintenanceView.task")
    def start(self, pk):
        maintenance.start_task(db.session, pk, g.user.id)
        return "Started."

    @expose("/<int:pk>/complete", methods=["POST"])
    @has_access
    @form_action("MaintenanceView.task")
    def complete(self, pk):
        form = request.form
        readings = {}
        for name, value in zip(form.getlist("reading_name"), form.getlist("reading_value")):
            if name.strip() and value.strip():
                readings[name.strip()] = value.strip()
        _task, nxt = maintenance.complete_task(
            db.session, pk, g.user.id, report=form.get("report"), readings=readings,
            checklist_done=[int(i) for i in form.getlist("done") if i.isdigit()], photos=_photos())
        return "Completed." + (f" Next one planned for {nxt.due_date} (#{nxt.id})." if nxt else "")

    @expose("/<int:pk>/cancel", methods=["POST"])
    @has_access
    @form_action("MaintenanceView.task")
    def cancel(self, pk):
        maintenance.cancel_task(db.session, pk, g.user.id)
        return "Cancelled."

    @expose("/photos/<int:photo_id>")
    @has_access
    def photo(self, photo_id):
        photo = db.session.get(FieldPhoto, photo_id)
        if photo is None or photo.task_id is None:
            abort(404)
        return send_file(photo_path(photo), mimetype=photo.content_type, download_name=photo.original_name)


class ForceChargeView(BaseView):
    route_base = "/field/force-charge"
    class_permission_name = "ForceCharge"
    method_permission_name = {"form": "read", "status": "read", "start": "write"}
    default_view = "form"

    @expose("/")
    @has_access
    def form(self):
        args = request.args
        customers, error = [], None
        if args.get("phone"):
            try:
                customers = lookup_customers(db.session, phone=args.get("phone"))
            except ServiceError as exc:
                error = exc.message
            if not customers and not error:
                error = f"No customer with the phone {args.get('phone')}."
        charger = connectors = None
        if args.get("cid"):
            charger = db.session.scalar(select(Charger).where(Charger.cid == args.get("cid")))
            connectors = force.free_connectors(db.session, charger) if charger else []
        chargers = db.session.scalars(select(Charger).where(Charger.offline.is_(False)).order_by(Charger.cid).limit(2000)).all()
        return self.render_template("field/force_charge.html", args=args, customers=customers, error=error,
                                    charger=charger, connectors=connectors, chargers=chargers, modes=FORCE_CHARGE_MODES,
                                    tariff=force.tariff(), recent=force.recent_force_charges(db.session, 20))

    @expose("/start", methods=["POST"])
    @has_access
    @form_action(lambda: url_for("ForceChargeView.form", cid=request.form.get("cid"), phone=request.form.get("phone")))
    def start(self):
        form = request.form
        data = {"customer_id": form.get("customer_id"), "connector_id": form.get("connector_id"), "mode": form.get("mode"),
                "amount": form.get("amount") or None, "minutes": form.get("minutes") or None}
        fc = force.start_force_charge(db.session, form.get("cid") or "", data, g.user.id)
        return Done(f"Force charge #{fc.id} sent to {fc.charger.cid}.", url_for("ForceChargeView.status", pk=fc.id))

    @expose("/<int:pk>")
    @has_access
    def status(self, pk):
        try:
            fc = force.get_force_charge(db.session, pk)
        except ServiceError:
            abort(404)
        return self.render_template("field/force_charge_status.html", fc=fc, trail=history_of(db.session, "force_charge", fc.id))


class FeedView(BaseView):
    """My notifications: newest first, a link to the thing, mark read / mark all read."""

    route_base = "/field/feed"
    class_permission_name = "Notification"
    default_view = "feed"

    @expose("/")
    @has_access
    def feed(self):
        unread_only = request.args.get("unread") == "1"
        rows = notifications.feed(db.session, g.user.id, unread_only=unread_only,
                                  before_id=request.args.get("before", type=int), limit=50)
        return self.render_template("field/feed.html", rows=rows, unread_only=unread_only,
                                    unread=notifications.unread_count(db.session, g.user.id))

    @expose("/<int:pk>/open", methods=["POST"])
    @has_access
    def open(self, pk):
        note = db.session.get(Notification, pk)
        if note is None or note.user_id != g.user.id:
            abort(404)
        notifications.mark_read(db.session, g.user.id, [pk])
        db.session.commit()
        return redirect(note.link if note.link and note.link.startswith("/") else url_for("FeedView.feed"))

    @expose("/<int:pk>/read", methods=["POST"])
    @has_access
    def read(self, pk):
        notifications.mark_read(db.session, g.user.id, [pk])
        db.session.commit()
        return redirect(url_for("FeedView.feed", unread=request.args.get("unread")))

    @expose("/read-all", methods=["POST"])
    @has_access
    def read_all(self):
        marked = notifications.mark_all_read(db.session, g.user.id)
        db.session.commit()
        flash(f"{marked} marked read.", "success")
        return redirect(url_for("FeedView.feed"))


class BroadcastView(BaseView):
    route_base = "/field/broadcast"
    class_permission_name = "Broadcast"
    method_permission_name = {"compose": "read", "send": "write"}
    default_view = "compose"

    @expose("/")
    @has_access
    def compose(self):
        groups = db.session.scalars(select(NotificationGroup).where(NotificationGroup.active.is_(True)).order_by(NotificationGroup.name)).all()
        sent = db.session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(20)).all()
        return self.render_template("field/broadcast.html", groups=groups, roles=ROLES, sent=sent,
                                    channels=notifications.CHANNELS)

    @expose("/send", methods=["POST"])
    @has_access
    @form_action("BroadcastView.compose")
    def send(self):
        form = request.form
        target = form.get("target") or ""
        group_code = target[6:] if target.startswith("group:") else None
        role = target[5:] if target.startswith("role:") else None
        record = notifications.broadcast(db.session, title=form.get("title"), body=form.get("body"),
                                         group_code=group_code, role=role, channels=form.getlist("channel"),
                                         by_user_id=g.user.id)
        return f"Sent to {record.recipients} people."


def _unread_badge():
    """The menu's unread count (0 for anonymous pages)."""
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return notifications.unread_count(db.session, user.id)


def register(appbuilder) -> None:
    appbuilder.add_view(IssueTrackerView, "ChargerIssue", label="Issue tracker", icon="fa-wrench", category=CATEGORY)
    appbuilder.add_view(MaintenanceView, "MaintenanceTask", label="Maintenance", icon="fa-calendar-check-o", category=CATEGORY)
    appbuilder.add_link("MaintenanceTask", href="MaintenanceView.calendar", label="Maintenance calendar",
                        icon="fa-calendar", category=CATEGORY)
    appbuilder.add_view(ForceChargeView, "ForceCharge", label="Force charge", icon="fa-bolt", category=CATEGORY)
    appbuilder.add_view(BroadcastView, "Broadcast", label="Broadcast", icon="fa-bullhorn", category=CATEGORY)
    appbuilder.add_view(FeedView, "Notification", label="Notifications", icon="fa-bell", category="Me")
    current_app.jinja_env.globals["unread_notifications"] = _unread_badge  # register() runs in the app context
