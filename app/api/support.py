"""Support over REST: `calls`, `tickets`, `requests` (CRUD from ModelRestApi; writes and actions via the service)."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import g, request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name

from app.api.base import ResourceApi, service_errors
from app.api.schemas import (
    CallEditInput, CallInput, NoteInput, RequestEditInput, RequestInput, TicketEditInput, TicketInput, TransitionInput, load_input,
)
from app.extensions import db
from app.models.support import Call, CustomerRequest, Ticket
from app.services import InvalidInput, iso_utc
from app.services import support_calls, support_requests, support_tickets
from app.services import support
from app.services.support_audit import history_of
from app.views.base import InDepartmentScope
from app.services.phones import try_e164

ROUTES = {"get", "get_list", "info", "post", "put"}


def _me() -> int | None:
    return g.user.id if getattr(g, "user", None) is not None and g.user.is_authenticated else None



def call_json(call: Call) -> dict[str, Any]:
    ticket = call.ticket
    return {
        "id": call.id, "created_at": iso_utc(call.created_at), "caller_phone": call.caller_phone,
        "customer_id": call.customer_id, "customer_name": call.customer.name if call.customer else None,
        "category": call.category, "charger_ref": call.charger_ref, "summary": call.summary,
        "outcome": call.outcome, "resolution": call.resolution, "status": call.status,
        "agent_id": call.agent_id, "assignee_id": call.assignee_id, "department_id": call.department_id,
        "ticket_id": ticket.id if ticket else None, "resolved_at": iso_utc(call.resolved_at),
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id, "title": ticket.title, "description": ticket.description, "category": ticket.category,
        "priority": ticket.priority, "status": ticket.status, "customer_id": ticket.customer_id,
        "charger_ref": ticket.charger_ref, "call_id": ticket.call_id, "request_id": ticket.request_id,
        "assignee_id": ticket.assignee_id, "department_id": ticket.department_id,
        "created_by_id": ticket.created_by_id, "created_at": iso_utc(ticket.created_at),
        "updated_at": iso_utc(ticket.updated_at), "first_response_due": iso_utc(ticket.first_response_due),
        "resolution_due": iso_utc(ticket.resolution_due), "first_responded_at": iso_utc(ticket.first_responded_at),
        "resolved_at": iso_utc(ticket.resolved_at), "closed_at": iso_utc(ticket.closed_at),
        "reopen_count": ticket.reopen_count, "response_breached": ticket.response_breached,
        "resolution_breached": ticket.resolution_breached,
    }


def request_json(item: CustomerRequest) -> dict[str, Any]:
    return {
        "id": item.id, "channel": item.channel, "text": item.text, "customer_id": item.customer_id,
        "phone": item.phone, "source_ref": item.source_ref, "category": item.category, "urgency": item.urgency,
        "department": item.department, "summary": item.summary, "confidence": item.confidence,
        "classifier": item.classifier, "assigned_department_id": item.assigned_department_id,
        "assignee_id": item.assignee_id, "priority": item.priority, "status": item.status,
        "assignment_overridden": item.assignment_overridden, "created_at": iso_utc(item.created_at),
    }


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a date (YYYY-MM-DD)") from None


class CallApi(ResourceApi):
    resource_name = "calls"
    class_permission_name = "Call"
    datamodel = SQLAInterface(Call)
    include_route_methods = ROUTES | {"escalate", "lookup", "search"}
    method_permission_name = {**ResourceApi.method_permission_name, "escalate": "write", "lookup": "read", "search": "read"}
    list_columns = [
        "id", "created_at", "caller_phone", "customer_id", "customer.name", "category", "charger_ref", "summary",
        "outcome", "resolution", "status", "agent_id", "assignee_id", "department_id", "resolved_at",
    ]
    show_columns = list_columns
    add_columns = edit_columns = ["caller_phone", "category"]  # writes go through the service
    search_columns = ["category", "outcome", "status", "agent_id", "customer_id", "charger_ref", "caller_phone", "created_at"]
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: support.scope_clause(db.session, Call, g.user)]]  # 404 outside it

    @service_errors
    def post_headless(self):
        data = load_input(CallInput)
        call = support_calls.log_call(
            db.session, caller_phone=data.get("caller_phone"), category=data.get("category"), agent_id=_me(),
            summary=data.get("summary"), charger_ref=data.get("charger_ref"), outcome=data.get("outcome"),
            resolution=data.get("resolution"), assignee_id=data.get("assignee_id"),
            department_id=data.get("department_id"), customer_id=data.get("customer_id"),
        )
        db.session.commit()
        return self.response(201, id=call.id, result=call_json(call))

    @service_errors
    def put_headless(self, pk):
        call = support_calls.update_call(db.session, pk, load_input(CallEditInput), _me())
        db.session.commit()
        return self.response(200, result=call_json(call))

    @expose("/<int:pk>/escalate", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def escalate(self, pk: int):
        """Escalate the call to a prefilled ticket linked both ways (idempotent: 200 with the existing one)."""
        ticket, created = support_calls.escalate_call(db.session, pk, _me())
        db.session.commit()
        return self.response(201 if created else 200, id=ticket.id, created=created, result=ticket_json(ticket))

    @expose("/lookup", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def lookup(self):
        """The customer card for a caller's number: {"customer": {...} | null, "phone": e164 | null}."""
        phone = request.args.get("phone", "")
        return self.response(200, phone=try_e164(phone), customer=support.customer_card(db.session, phone))

    @expose("/search", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def search(self):
        """Call history: q (words), category, agent_id, date_from, date_to, outcome, customer_id, charger, page."""
        args = request.args
        try:
            page = int(args.get("page", 0))
        except ValueError:
            raise InvalidInput("page must be a number") from None
        rows, has_next = support_calls.search_calls(
            db.session, q=args.get("q"), category=args.get("category"), agent_id=args.get("agent_id", type=int),
            date_from=_date(args.get("date_from"), "date_from"), date_to=_date(args.get("date_to"), "date_to"),
            outcome=args.get("outcome"), customer_id=args.get("customer_id", type=int),
            charger_ref=args.get("charger"), page=page, viewer=_me(),
        )
        return self.response(200, page=page, has_next=has_next, result=[call_json(c) for c in rows])


class TicketApi(ResourceApi):
    resource_name = "tickets"
    class_permission_name = "Ticket"
    datamodel = SQLAInterface(Ticket)
    include_route_methods = ROUTES | {"transition", "add_note", "history"}
    method_permission_name = {**ResourceApi.method_permission_name, "transition": "write", "add_note": "write", "history": "read"}
    list_columns = [
        "id", "title", "category", "priority", "status", "customer_id", "charger_ref", "call_id", "request_id",
        "assignee_id", "department_id", "created_at", "updated_at", "first_response_due", "resolution_due",
        "first_responded_at", "resolved_at", "closed_at", "reopen_count",
    ]
    show_columns = list_columns + ["description"]
    add_columns = edit_columns = ["title", "priority"]
    search_columns = ["status", "priority", "category", "assignee_id", "department_id", "customer_id", "created_at"]
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: support.scope_clause(db.session, Ticket, g.user)]]  # 404 outside it

    @service_errors
    def post_headless(self):
        data = load_input(TicketInput)
        ticket = support_tickets.open_ticket(
            db.session, title=data.get("title"), description=data.get("description"), priority=data.get("priority") or "Medium",
            category=data.get("category"), customer_id=data.get("customer_id"), charger_ref=data.get("charger_ref"),
            assignee_id=data.get("assignee_id"), department_id=data.get("department_id"), created_by=_me(),
        )
        db.session.commit()
        return self.response(201, id=ticket.id, result=ticket_json(ticket))

    @service_errors
    def put_headless(self, pk):
        ticket = support_tickets.update_ticket(db.session, pk, load_input(TicketEditInput), _me())
        db.session.commit()
        return self.response(200, result=ticket_json(ticket))

    @expose("/<int:pk>/transition", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def transition(self, pk: int):
        """{"to": "In Progress" | "Resolved" | "Closed", "note": optional}; an illegal move is 409."""
        data = load_input(TransitionInput)
        ticket = support_tickets.transition_ticket(db.session, pk, data.get("to"), _me(), note=data.get("note"))
        db.session.commit()
        return self.response(200, result=ticket_json(ticket))

    @expose("/<int:pk>/notes", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def add_note(self, pk: int):
        note = support_tickets.add_ticket_note(db.session, pk, load_input(NoteInput)["body"], _me())
        db.session.commit()
        return self.response(201, id=note.id, result={"id": note.id, "body": note.body, "author_id": note.author_id,
                                                      "created_at": iso_utc(note.created_at)})

    @expose("/<int:pk>/history", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def history(self, pk: int):
        """The audit trail (every field change: who, when, old, new) and the notes."""
        ticket = support_tickets.get_ticket(db.session, pk, _me())
        audit = [
            {"at": iso_utc(a.at), "user_id": a.user_id, "user": a.user.username if a.user else None, "field": a.field,
             "old": a.old_value, "new": a.new_value}
            for a in history_of(db.session, "ticket", ticket.id)
        ]
        notes = [{"id": n.id, "at": iso_utc(n.created_at), "author_id": n.author_id, "body": n.body} for n in ticket.notes]
        return self.response(200, audit=audit, notes=notes)


class RequestApi(ResourceApi):
    resource_name = "requests"
    class_permission_name = "CustomerRequest"
    datamodel = SQLAInterface(CustomerRequest)
    include_route_methods = ROUTES | {"to_ticket"}
    method_permission_name = {**ResourceApi.method_permission_name, "to_ticket": "write"}
    list_columns = [
        "id", "created_at", "channel", "text", "customer_id", "phone", "source_ref", "category", "urgency",
        "department", "summary", "confidence", "classifier", "assigned_department_id", "assignee_id", "priority",
        "status", "assignment_overridden",
    ]
    show_columns = list_columns
    add_columns = edit_columns = ["text"]
    search_columns = ["status", "category", "urgency", "priority", "channel", "assignee_id", "classifier", "created_at"]
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: support.scope_clause(db.session, CustomerRequest, g.user)]]

    @service_errors
    def post_headless(self):
        data = load_input(RequestInput)
        item = support_requests.create_request(
            db.session, text=data.get("text"), channel=data.get("channel") or "api", customer_id=data.get("customer_id"),
            phone=data.get("phone"), created_by=_me(), source_ref=data.get("source_ref"),
        )
        db.session.commit()
        return self.response(201, id=item.id, result=request_json(item))

    @service_errors
    def put_headless(self, pk):
        """Manual override of assignment/priority (audited) and status changes."""
        data = load_input(RequestEditInput)
        if {"assignee_id", "department_id", "priority"} & set(data):
            support_requests.override_request_assignment(
                db.session, pk, by_user_id=_me(), assignee_id=data.get("assignee_id"),
                department_id=data.get("department_id"), priority=data.get("priority"),
            )
        if "status" in data:
            support_requests.set_request_status(db.session, pk, data["status"], _me())
        if not data:
            raise InvalidInput("nothing to change")
        db.session.commit()
        return self.response(200, result=request_json(support_requests.get_request(db.session, pk, _me())))

    @expose("/<int:pk>/ticket", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def to_ticket(self, pk: int):
        """Open a ticket for the request (idempotent: 200 with the existing one)."""
        ticket, created = support_requests.convert_request_to_ticket(db.session, pk, _me())
        db.session.commit()
        return self.response(201 if created else 200, id=ticket.id, created=created, result=ticket_json(ticket))


def register(appbuilder) -> None:
    for api in (CallApi, TicketApi, RequestApi):
        appbuilder.add_api(api)
