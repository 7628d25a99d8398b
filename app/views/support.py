"""Support screens: call logging with the customer card, call history, tickets, the request queue."""
from __future__ import annotations

from datetime import date

from flask import abort, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from markupsafe import Markup
from sqlalchemy import select

from app.formatting import local_datetime
from app.extensions import db
from app.models.people import Department
from app.models.support import (
    CALL_CATEGORIES, CALL_OUTCOMES, CALL_STATUSES, PRIORITIES, REQUEST_STATUSES, TICKET_STATUSES, Call, CustomerRequest, SupportAudit, Ticket,
)
from app.services import ServiceError
from app.services import support_calls, support_requests, support_tickets
from app.services import support
from app.services.support_audit import history_of
from app.views.base import Done, InDepartmentScope, ReadOnlyModelView, form_action
from app.views.customers import register_customer_panel
from flask_appbuilder.security.sqla.models import Role, User
from app.models.people import TeamMember
from app.services.people import roles_that_work
from app.services.support_caller import caller_overview


def _record_link(kind: str):
    """A list column formatter: the record's number, linking to its support page."""
    return lambda pk: _link(f"/support/{kind}/{int(pk)}", f"#{int(pk)}")


class CallView(ReadOnlyModelView):
    datamodel = SQLAInterface(Call)
    class_permission_name = "Call"
    list_columns = ["id", "created_at", "caller_phone", "customer", "category", "charger_ref", "outcome", "status", "agent", "assignee"]
    show_columns = list_columns + ["summary", "resolution", "department", "resolved_at"]
    search_columns = ["category", "agent", "created_at", "outcome", "customer", "charger_ref", "summary", "caller_phone", "status"]
    formatters_columns = {"id": _record_link("calls")}
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: support.scope_clause(db.session, Call, g.user)]]


class TicketView(ReadOnlyModelView):
    datamodel = SQLAInterface(Ticket)
    class_permission_name = "Ticket"
    list_columns = ["id", "title", "priority", "status", "assignee", "department", "created_at", "resolution_due", "reopen_count"]
    show_columns = list_columns + ["description", "customer", "charger_ref", "call", "first_response_due", "first_responded_at", "resolved_at", "closed_at"]
    search_columns = ["title", "priority", "status", "assignee", "department", "customer", "created_at", "category"]
    formatters_columns = {"id": _record_link("tickets")}
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: support.scope_clause(db.session, Ticket, g.user)]]


class CustomerRequestView(ReadOnlyModelView):
    datamodel = SQLAInterface(CustomerRequest)
    class_permission_name = "CustomerRequest"
    list_columns = ["id", "created_at", "channel", "summary", "category", "urgency", "priority", "classifier", "assigned_department", "assignee", "status"]
    show_columns = list_columns + ["text", "phone", "customer", "department", "confidence", "assignment_overridden"]
    search_columns = ["channel", "category", "urgency", "priority", "classifier", "assignee", "status", "created_at", "text"]
    formatters_columns = {"id": _record_link("requests")}
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: support.scope_clause(db.session, CustomerRequest, g.user)]]


class SupportAuditView(ReadOnlyModelView):
    datamodel = SQLAInterface(SupportAudit)
    class_permission_name = "SupportAudit"
    list_columns = ["at", "entity", "entity_id", "field", "old_value", "new_value", "user"]
    search_columns = ["entity", "entity_id", "field", "user", "at"]
    base_order = ("at", "desc")


def _me():
    return g.user.id


def _members(works: str | None = None):
    """Active members (id, first, last, department) for the assignment lists; works: only those whose role
    may work this resource."""
    query = (
        select(User.id, User.first_name, User.last_name, Department.name)
        .join(TeamMember, TeamMember.user_id == User.id).outerjoin(Department, Department.id == TeamMember.department_id)
        .where(TeamMember.active.is_(True), User.active.is_(True)).order_by(User.first_name)
    )
    if works:
        query = query.where(User.id.in_(select(User.id).join(User.roles).where(Role.name.in_(roles_that_work(works)))))
    return db.session.execute(query).all()


def _departments():
    return db.session.scalars(select(Department).order_by(Department.name)).all()


def _date_arg(name: str):
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        flash(f"{name}: not a date", "danger")
        return None


class SupportDeskView(BaseView):
    """The agent's pages; every write goes through app.services.support."""

    route_base = "/support"
    class_permission_name = "SupportDesk"
    default_view = "log_call"
    method_permission_name = {
        "log_call": "write", "save_call": "write", "caller_card": "read", "call_page": "read", "escalate": "write", "history": "read",
        "update_call": "write", "queue": "read", "request_page": "read",
        "new_request": "write", "save_request": "write", "request_override": "write", "request_ticket": "write",
    }

    # --- calls ---------------------------------------------------------------------
    @expose("/calls/new", methods=["GET"])
    @has_access
    def log_call(self):
        return self.render_template(
            "support/log_call.html", categories=CALL_CATEGORIES, outcomes=CALL_OUTCOMES, members=_members(),
            departments=_departments(), form=request.args,
        )

    @expose("/calls/caller", methods=["GET"])
    @has_access
    def caller_card(self):
        """The call screen's customer card (HTML fragment): the caller, their open tickets and recent calls."""

        overview = caller_overview(db.session, request.args.get("phone", ""), _me())
        return self.render_template("support/_caller_card.html", overview=overview)

    @expose("/calls/new", methods=["POST"])
    @has_access
    def save_call(self):
        form = request.form
        try:
            call = support_calls.log_call(
                db.session, caller_phone=form.get("caller_phone"), category=form.get("category"), agent_id=_me(),
                summary=form.get("summary"), charger_ref=form.get("charger_ref"), outcome=form.get("outcome") or None,
                resolution=form.get("resolution"), assignee_id=form.get("assignee_id") or None,
                department_id=form.get("department_id") or None,
            )
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return self.render_template(
                "support/log_call.html", categories=CALL_CATEGORIES, outcomes=CALL_OUTCOMES, members=_members(),
                departments=_departments(), form=form,
            ), 400
        flash(f"Call #{call.id} logged", "success")
        return redirect(url_for("SupportDeskView.call_page", pk=call.id))

    @expose("/calls/<int:pk>", methods=["GET"])
    @has_access
    def call_page(self, pk: int):
        call = _in_scope(support_calls.get_call, pk)
        card = support.customer_card(db.session, call.caller_phone) if call.caller_phone else None
        return self.render_template(
            "support/call.html", call=call, card=card, audit=history_of(db.session, "call", pk), outcomes=CALL_OUTCOMES,
            statuses=CALL_STATUSES,
        )

    @expose("/calls/<int:pk>", methods=["POST"])
    @has_access
    @form_action("SupportDeskView.call_page")
    def update_call(self, pk: int):
        form = request.form
        changes = {k: form.get(k) or None for k in ("outcome", "resolution", "status") if k in form}
        if not changes.get("status"):
            changes.pop("status", None)
        support_calls.update_call(db.session, pk, changes, _me())
        return "Call updated"

    @expose("/calls/<int:pk>/escalate", methods=["POST"])
    @has_access
    @form_action("SupportDeskView.call_page")
    def escalate(self, pk: int):
        ticket, created = support_calls.escalate_call(db.session, pk, _me())
        return Done(f"Ticket #{ticket.id} {'created' if created else 'already exists'} for call #{pk}",
                    url_for("TicketDeskView.ticket_page", pk=ticket.id))

    @expose("/calls/", methods=["GET"])
    @has_access
    def history(self):
        args = request.args
        page = args.get("page", 0, type=int)
        try:
            rows, has_next = support_calls.search_calls(
                db.session, q=args.get("q"), category=args.get("category") or None,
                agent_id=args.get("agent_id", type=int), date_from=_date_arg("date_from"),
                date_to=_date_arg("date_to"), outcome=args.get("outcome") or None,
                customer_id=args.get("customer_id", type=int), charger_ref=args.get("charger") or None, page=page,
                viewer=_me(),
            )
        except ServiceError as exc:
            flash(exc.message, "danger")
            rows, has_next = [], False
        query = {k: v for k, v in args.items() if k != "page" and v}
        return self.render_template(
            "support/history.html", calls=rows, has_next=has_next, page=page, args=args, query=query,
            categories=CALL_CATEGORIES, outcomes=CALL_OUTCOMES, members=_members(),
        )

    # --- customer requests -------------------------------------------------------------
    @expose("/requests/", methods=["GET"])
    @has_access
    def queue(self):
        status = request.args.get("status", "open")
        return self.render_template(
            "support/queue.html", requests=support_requests.list_requests(db.session, status=status, viewer=_me()), status=status,
            statuses=REQUEST_STATUSES,
        )

    @expose("/requests/<int:pk>", methods=["GET"])
    @has_access
    def request_page(self, pk: int):
        item = _in_scope(support_requests.get_request, pk)
        ticket = db.session.scalar(select(Ticket).where(Ticket.request_id == pk))
        return self.render_template(
            "support/request.html", item=item, ticket=ticket, audit=history_of(db.session, "request", pk),
            members=_members("CustomerRequest"), departments=_departments(), priorities=PRIORITIES, statuses=REQUEST_STATUSES,
        )

    @expose("/requests/new", methods=["GET"])
    @has_access
    def new_request(self):
        return self.render_template("support/new_request.html")

    @expose("/requests/new", methods=["POST"])
    @has_access
    @form_action("SupportDeskView.new_request")
    def save_request(self):
        form = request.form
        item = support_requests.create_request(
            db.session, text=form.get("text"), channel=form.get("channel") or "web",
            phone=form.get("phone") or None, created_by=_me(),
        )
        return Done(f"Request #{item.id} queued for classification", url_for("SupportDeskView.request_page", pk=item.id))

    @expose("/requests/<int:pk>/override", methods=["POST"])
    @has_access
    @form_action("SupportDeskView.request_page")
    def request_override(self, pk: int):
        form = request.form
        if form.get("assignee_id") or form.get("department_id") or form.get("priority"):
            support_requests.override_request_assignment(
                db.session, pk, by_user_id=_me(), assignee_id=form.get("assignee_id") or None,
                department_id=form.get("department_id") or None, priority=form.get("priority") or None,
            )
        if form.get("status"):
            support_requests.set_request_status(db.session, pk, form["status"], _me())

    @expose("/requests/<int:pk>/ticket", methods=["POST"])
    @has_access
    @form_action("SupportDeskView.request_page")
    def request_ticket(self, pk: int):
        ticket, _created = support_requests.convert_request_to_ticket(db.session, pk, _me())
        return Done(to=url_for("TicketDeskView.ticket_page", pk=ticket.id))


def _in_scope(getter, pk: int):
    """The record if it is in the signed-in person's department scope; a 404 page otherwise."""
    try:
        return getter(db.session, pk, _me())
    except ServiceError:
        abort(404)


class TicketDeskView(BaseView):
    """Working tickets, at the desk or from the field (phone-sized pages): the list of the person's
    department scope, a ticket's page, opening one, moving it, notes and assignment. Its permission
    is the "Ticket" resource, the same as the tickets API. Every write goes through app.services.support."""

    route_base = "/support/tickets"
    class_permission_name = "Ticket"
    default_view = "ticket_list"
    method_permission_name = {
        "ticket_list": "read", "ticket_page": "read", "new_ticket": "write", "save_ticket": "write",
        "ticket_transition": "write", "ticket_note": "write", "ticket_assign": "write",
    }

    @expose("/", methods=["GET"])
    @has_access
    def ticket_list(self):
        status = request.args.get("status", "open")
        try:
            tickets = support_tickets.list_tickets(db.session, status=None if status == "all" else status, viewer=_me())
        except ServiceError as exc:
            flash(exc.message, "danger")
            tickets = []
        return self.render_template("support/tickets.html", tickets=tickets, status=status, statuses=TICKET_STATUSES)

    @expose("/<int:pk>", methods=["GET"])
    @has_access
    def ticket_page(self, pk: int):
        ticket = _in_scope(support_tickets.get_ticket, pk)
        moves = [to for (frm, to) in support_tickets.TICKET_TRANSITIONS if frm == ticket.status]
        return self.render_template(
            "support/ticket.html", ticket=ticket, moves=moves, audit=history_of(db.session, "ticket", pk),
            members=_members("Ticket"), departments=_departments(), priorities=PRIORITIES,
        )

    @expose("/new", methods=["GET"])
    @has_access
    def new_ticket(self):
        return self.render_template(
            "support/new_ticket.html", priorities=PRIORITIES, categories=CALL_CATEGORIES, members=_members("Ticket"),
            departments=_departments(), form=request.args,
        )

    @expose("/new", methods=["POST"])
    @has_access
    @form_action("TicketDeskView.new_ticket", missing_is_404=True)  # out of scope: a 404 page
    def save_ticket(self):
        form = request.form
        ticket = support_tickets.open_ticket(
            db.session, title=form.get("title"), description=form.get("description"),
            priority=form.get("priority") or "Medium", category=form.get("category") or None,
            charger_ref=form.get("charger_ref"), assignee_id=form.get("assignee_id") or None,
            department_id=form.get("department_id") or None, created_by=_me(),
        )
        return Done(to=url_for("TicketDeskView.ticket_page", pk=ticket.id))

    @expose("/<int:pk>/transition", methods=["POST"])
    @has_access
    @form_action("TicketDeskView.ticket_page", missing_is_404=True)  # out of scope: a 404 page
    def ticket_transition(self, pk: int):
        support_tickets.transition_ticket(db.session, pk, request.form.get("to"), _me(), note=request.form.get("note") or None)

    @expose("/<int:pk>/notes", methods=["POST"])
    @has_access
    @form_action("TicketDeskView.ticket_page", missing_is_404=True)  # out of scope: a 404 page
    def ticket_note(self, pk: int):
        support_tickets.add_ticket_note(db.session, pk, request.form.get("body"), _me())

    @expose("/<int:pk>/assign", methods=["POST"])
    @has_access
    @form_action("TicketDeskView.ticket_page", missing_is_404=True)  # out of scope: a 404 page
    def ticket_assign(self, pk: int):
        form = request.form
        changes = {}
        if form.get("priority"):
            changes["priority"] = form["priority"]
        if form.get("assignee_id") or form.get("department_id"):
            support_tickets.assign_ticket(db.session, pk, by_user_id=_me(), assignee_id=form.get("assignee_id") or None,
                                          department_id=form.get("department_id") or None)
        if changes:
            support_tickets.update_ticket(db.session, pk, changes, _me())


def register(appbuilder) -> None:
    category = "Support"
    appbuilder.add_view_no_menu(SupportDeskView)
    appbuilder.add_view_no_menu(TicketDeskView)
    appbuilder.add_link("SupportDesk", label="Log a call", href="/support/calls/new", icon="fa-phone", category=category)
    appbuilder.add_link("SupportDesk", label="Call history", href="/support/calls/", icon="fa-search", category=category)
    appbuilder.add_link("SupportDesk", label="Request queue", href="/support/requests/", icon="fa-inbox", category=category)
    appbuilder.add_link("SupportDesk", label="New request", href="/support/requests/new", icon="fa-envelope", category=category)
    appbuilder.add_link("Ticket", label="Ticket desk", href="/support/tickets/", icon="fa-tasks", category=category)
    appbuilder.add_link("Ticket", label="New ticket", href="/support/tickets/new", icon="fa-plus", category=category)
    appbuilder.add_view(CallView, "Call", label="Calls", icon="fa-phone-square", category=category)
    appbuilder.add_view(TicketView, "Ticket", label="Tickets", icon="fa-ticket", category=category)
    appbuilder.add_view(CustomerRequestView, "CustomerRequest", label="Requests", icon="fa-envelope-open", category=category)
    appbuilder.add_view(SupportAuditView, "SupportAudit", label="Support audit trail", icon="fa-history", category=category)


# --- the customer page's panels (Contacts' registry) ----------------------------------------------
def _link(href: str, text: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(href, text)


def _panel_viewer():
    """Who is looking at the customer page (None outside a request: the whole history)."""
    return getattr(g, "user", None) if has_request_context() else None


@register_customer_panel
def calls_panel(session, customer):
    calls = session.scalars(
        select(Call).where(Call.customer_id == customer.id, support.scope_clause(session, Call, _panel_viewer()))
        .order_by(Call.created_at.desc()).limit(20)
    ).all()
    return {
        "title": "Calls", "order": 40, "empty": "No calls yet.",
        "columns": ["When", "Call", "Category", "Status", "Outcome", "Summary"],
        "rows": [
            [local_datetime(c.created_at), _link(f"/support/calls/{c.id}", f"#{c.id}"), c.category,
             c.status, c.outcome or "", (c.summary or "")[:80]]
            for c in calls
        ],
    }


@register_customer_panel
def tickets_panel(session, customer):
    tickets = session.scalars(
        select(Ticket).where(Ticket.customer_id == customer.id, support.scope_clause(session, Ticket, _panel_viewer()))
        .order_by(Ticket.created_at.desc()).limit(20)
    ).all()
    return {
        "title": "Tickets", "order": 50, "empty": "No tickets yet.",
        "columns": ["Opened", "Ticket", "Priority", "Status", "Title"],
        "rows": [
            [local_datetime(t.created_at), _link(f"/support/tickets/{t.id}", f"#{t.id}"), t.priority,
             t.status, t.title]
            for t in tickets
        ],
    }
