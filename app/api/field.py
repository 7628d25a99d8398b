"""Field operations over REST (api-contract v1.1): issues, maintenance, force charge, the notification feed
and Web Push subscriptions. Each action's input is a marshmallow schema; rules are in app/services/field_*."""
from __future__ import annotations

from flask import g, request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.security.decorators import permission_name
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from app.api.base import ActionApi, describe_errors, service_errors
from app.api.idempotency import idempotent
from app.extensions import db
from app.models.field import FORCE_CHARGE_MODES, ISSUE_PRIORITIES, ISSUE_STATUSES, MAINTENANCE_KINDS
from app.services import Conflict, InvalidInput, iso_utc
from app.services import field_force_charge as force
from app.services import field_issues as issues
from app.services import field_maintenance as maintenance
from app.services import notifications
from app.services.support_audit import history_of
from app.models.messaging import Notification


class IssueIn(Schema):
    class Meta:
        unknown = EXCLUDE

    charger_cid = fields.String(required=True, validate=validate.Length(min=1, max=48))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    priority = fields.String(load_default="Medium", validate=validate.OneOf(ISSUE_PRIORITIES))
    assignee_id = fields.Integer(allow_none=True, load_default=None)
    description = fields.String(allow_none=True, load_default=None)


class TransitionIn(Schema):
    to = fields.String(required=True, validate=validate.OneOf(ISSUE_STATUSES))
    note = fields.String(allow_none=True, load_default=None)
    # the status the client saw (the field app's offline queue): another one now is a 409, never overwritten
    seen = fields.String(data_key="from", allow_none=True, load_default=None, validate=validate.OneOf(ISSUE_STATUSES))


class NoteIn(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=10000))


class AssignIn(Schema):
    assignee_id = fields.Integer(required=True, allow_none=True)


class MaintenanceIn(Schema):
    class Meta:
        unknown = EXCLUDE

    charger_cid = fields.String(allow_none=True, load_default=None)
    site = fields.String(allow_none=True, load_default=None)
    kind = fields.String(required=True, validate=validate.OneOf(MAINTENANCE_KINDS))
    title = fields.String(allow_none=True, load_default=None)
    due_date = fields.Date(required=True)
    assignee_id = fields.Integer(allow_none=True, load_default=None)
    field_team_id = fields.Integer(allow_none=True, load_default=None)
    repeat_days = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=3650))
    checklist = fields.List(fields.String(), load_default=list)


class CompleteIn(Schema):
    report = fields.String(allow_none=True, load_default=None)
    readings = fields.Dict(keys=fields.String(), allow_none=True, load_default=None)
    checklist_done = fields.List(fields.Integer(), load_default=list)


class ForceChargeIn(Schema):
    customer_id = fields.Integer(required=True)
    connector_id = fields.Integer(required=True, validate=validate.Range(min=1, max=99))
    mode = fields.String(required=True, validate=validate.OneOf(FORCE_CHARGE_MODES))
    amount = fields.Raw(allow_none=True, load_default=None)  # money: parsed to Decimal by the wallet's rule
    minutes = fields.Integer(allow_none=True, load_default=None)


class PushKeys(Schema):
    p256dh = fields.String(required=True, validate=validate.Length(min=1, max=200))
    auth = fields.String(required=True, validate=validate.Length(min=1, max=100))


class PushSubscriptionIn(Schema):
    class Meta:
        unknown = EXCLUDE

    endpoint = fields.Url(required=True, schemes={"https"}, validate=validate.Length(max=1000))
    keys = fields.Nested(PushKeys, required=True)


def _load(schema: Schema) -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.messages)) from None


def _me() -> int:
    return g.user.id


class IssueApi(ActionApi):
    """`/api/v1/issues/`: the issue tracker."""

    resource_name = "issues"
    class_permission_name = "ChargerIssue"
    method_permission_name = {"list_issues": "read", "show": "read", "history": "read", "create": "write",
                              "transition": "write", "note": "write", "assign": "write", "to_ticket": "write"}

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def list_issues(self):
        """?status=&priority=&assignee_id=&cid=&open=1"""
        rows = issues.list_issues(db.session, status=request.args.get("status") or None,
                                  priority=request.args.get("priority") or None,
                                  assignee_id=request.args.get("assignee_id", type=int),
                                  cid=request.args.get("cid") or None, open_only=request.args.get("open") == "1")
        return self.response(200, count=len(rows), result=[issues.issue_json(i) for i in rows])

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    @idempotent
    def create(self):
        data = _load(IssueIn())
        issue = issues.open_issue(db.session, created_by=_me(), **data)
        db.session.commit()
        return self.response(201, id=issue.id, result=issues.issue_json(issue))

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def show(self, pk: int):
        return self.response(200, result=issues.issue_json(issues.get_issue(db.session, pk)))

    @expose("/<int:pk>/transition", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    @idempotent
    def transition(self, pk: int):
        data = _load(TransitionIn())
        current = issues.get_issue(db.session, pk).status
        if data["seen"] and current != data["seen"]:
            raise Conflict(f"issue {pk} is {current} now, not {data['seen']}: someone moved it meanwhile")
        issue = issues.transition_issue(db.session, pk, data["to"], _me(), data.get("note"))
        db.session.commit()
        return self.response(200, result=issues.issue_json(issue))

    @expose("/<int:pk>/notes", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    @idempotent
    def note(self, pk: int):
        """JSON `{"body"}`, or multipart with `body` and `photo` files."""
        if request.files:
            photos = [(f.filename, f.read()) for f in request.files.getlist("photo")]
            note = issues.add_note(db.session, pk, request.form.get("body"), _me(), photos)
        else:
            note = issues.add_note(db.session, pk, _load(NoteIn())["body"], _me())
        db.session.commit()
        return self.response(201, id=note.id, photos=[p.id for p in note.photos])

    @expose("/<int:pk>/assign", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def assign(self, pk: int):
        issue = issues.assign_issue(db.session, pk, _load(AssignIn())["assignee_id"], _me())
        db.session.commit()
        return self.response(200, result=issues.issue_json(issue))

    @expose("/<int:pk>/ticket", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def to_ticket(self, pk: int):
        """Turn the issue into a customer ticket (or return the one it has)."""
        ticket = issues.issue_to_ticket(db.session, pk, _me())
        db.session.commit()
        return self.response(200, ticket_id=ticket.id)

    @expose("/<int:pk>/history", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def history(self, pk: int):
        issues.get_issue(db.session, pk)
        return self.response(200, result=[
            {"field": a.field, "old": a.old_value, "new": a.new_value, "user_id": a.user_id, "at": iso_utc(a.at)}
            for a in history_of(db.session, "issue", pk)])


class MaintenanceApi(ActionApi):
    """`/api/v1/maintenance/`: maintenance tasks, filtered by ?type=L2|L3&kind=&status=&site=&assignee_id=."""

    resource_name = "maintenance"
    class_permission_name = "MaintenanceTask"
    method_permission_name = {"list_tasks": "read", "show": "read", "create": "write", "start": "write",
                              "complete": "write"}

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def list_tasks(self):
        rows = maintenance.list_tasks(
            db.session, ctype=request.args.get("type") or None, kind=request.args.get("kind") or None,
            status=request.args.get("status") or None, site=request.args.get("site") or None,
            assignee_id=request.args.get("assignee_id", type=int))
        return self.response(200, count=len(rows), result=[maintenance.task_json(t) for t in rows])

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    @idempotent
    def create(self):
        task = maintenance.plan_task(db.session, _load(MaintenanceIn()), _me())
        db.session.commit()
        return self.response(201, id=task.id, result=maintenance.task_json(task))

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def show(self, pk: int):
        return self.response(200, result=maintenance.task_json(maintenance.get_task(db.session, pk)))

    @expose("/<int:pk>/start", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    @idempotent
    def start(self, pk: int):
        task = maintenance.start_task(db.session, pk, _me())
        db.session.commit()
        return self.response(200, result=maintenance.task_json(task))

    @expose("/<int:pk>/complete", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    @idempotent
    def complete(self, pk: int):
        """JSON `{"report","readings","checklist_done"}`, or multipart with those and `photo` files."""
        if request.files or request.form:
            photos = [(f.filename, f.read()) for f in request.files.getlist("photo")]
            readings = {k[8:]: v for k, v in request.form.items() if k.startswith("reading_") and v}
            task, nxt = maintenance.complete_task(
                db.session, pk, _me(), report=request.form.get("report"), readings=readings,
                checklist_done=[int(i) for i in request.form.getlist("done") if i.isdigit()], photos=photos)
        else:
            task, nxt = maintenance.complete_task(db.session, pk, _me(), **_load(CompleteIn()))
        db.session.commit()
        return self.response(200, result=maintenance.task_json(task), next_id=nxt.id if nxt else None)


class ForceChargeStartApi(ActionApi):
    """`POST /api/v1/chargers/<cid>/force-charge`."""

    resource_name = "chargers"
    class_permission_name = "ForceCharge"
    method_permission_name = {"start": "write"}

    @expose("/<cid>/force-charge", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def start(self, cid: str):
        fc = force.start_force_charge(db.session, cid, _load(ForceChargeIn()), _me())
        return self.response(202, force_charge_id=fc.id, command_id=fc.command_id)


class ForceChargeApi(ActionApi):
    """`GET /api/v1/force-charges/<id>`."""

    resource_name = "force-charges"
    class_permission_name = "ForceCharge"
    method_permission_name = {"show": "read"}

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def show(self, pk: int):
        return self.response(200, **force.force_charge_json(force.get_force_charge(db.session, pk)))


class NotificationApi(ActionApi):
    """`/api/v1/notifications/`: the caller's own feed."""

    resource_name = "notifications"
    class_permission_name = "Notification"
    method_permission_name = {"feed": "read", "read": "write", "read_all": "write"}

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def feed(self):
        rows = notifications.feed(db.session, _me(), unread_only=request.args.get("unread") == "1",
                                  before_id=request.args.get("before", type=int))
        return self.response(200, count=len(rows), unread=notifications.unread_count(db.session, _me()),
                             result=[notifications.notification_json(n) for n in rows])

    @expose("/<int:pk>/read", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def read(self, pk: int):
        note = db.session.get(Notification, pk)
        if note is None or note.user_id != _me():
            return self.response(404, message=f"notification {pk} not found")
        notifications.mark_read(db.session, _me(), [pk])
        db.session.commit()
        return self.response(200, unread=notifications.unread_count(db.session, _me()))

    @expose("/read-all", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def read_all(self):
        marked = notifications.mark_all_read(db.session, _me())
        db.session.commit()
        return self.response(200, marked=marked, unread=0)


class PushSubscriptionApi(ActionApi):
    """`POST /api/v1/push/subscriptions` `{"endpoint","keys":{"p256dh","auth"}}`."""

    resource_name = "push"
    class_permission_name = "Notification"
    method_permission_name = {"subscribe": "write"}

    @expose("/subscriptions", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def subscribe(self):
        data = _load(PushSubscriptionIn())
        subscription, created = notifications.register_push_subscription(db.session, _me(), data)
        db.session.commit()
        return self.response(201 if created else 200, id=subscription.id)


def register(appbuilder) -> None:
    for api in (IssueApi, MaintenanceApi, ForceChargeStartApi, ForceChargeApi, NotificationApi, PushSubscriptionApi):
        appbuilder.add_api(api)
