"""Department scope: a member sees and works the calls, tickets, requests and conversations of their
department (or the whole queue when their department holds that capability); Managers, Dispatchers
and Admins see all; capabilities gate the actions they name; auto-assignment picks only people who
can open the item."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import appbuilder
from app.models.chargers import Charger, ChargerCommand
from app.models.people import Department, TeamMember
from app.models.support import Ticket
from app.security import OPS_AGENT
from tests.conftest import PASSWORD, csrf_token
from tests.support.conftest import user_id


def department_id(session, name: str) -> int:
    return session.scalar(select(Department.id).where(Department.name == name))


def add_member(session, username: str, role: str, department: str) -> int:
    """A person with this role working in this department (signs in with the test password)."""
    user = appbuilder.sm.add_user(username, username.title(), "Tester", f"{username}@example.com",
                                  appbuilder.sm.find_role(role), PASSWORD)
    session.add(TeamMember(user_id=user.id, department_id=department_id(session, department)))
    session.commit()
    return user.id


def technical_ticket(session, title="Charger CP-9 firmware crash loop") -> int:
    """A ticket routed to Technical, opened by the system (nobody's own ticket)."""
    from app.services.support_tickets import open_ticket

    ticket = open_ticket(session, title=title, priority="High", category="Charger Faults",
                         department_id=department_id(session, "Technical"))
    session.commit()
    return ticket.id


def post_form(browser, page_url: str, action: str, data: dict):
    token = csrf_token(browser.get(page_url).get_data(as_text=True))
    return browser.post(action, data={**data, "csrf_token": token})


def test_hotline_agent_cannot_see_open_or_work_a_technical_ticket_by_api(api_as, session):
    ticket_id = technical_ticket(session)
    api = api_as("agent")  # Ops Agent, Hotline
    assert api.get(f"/api/v1/tickets/{ticket_id}").status_code == 404
    assert ticket_id not in [t["id"] for t in api.get("/api/v1/tickets/").json["result"]]
    moved = api.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "In Progress"})
    noted = api.post(f"/api/v1/tickets/{ticket_id}/notes", json={"body": "looking"})
    assigned = api.put(f"/api/v1/tickets/{ticket_id}", json={"assignee_id": user_id(session, "agent")})
    history = api.get(f"/api/v1/tickets/{ticket_id}/history")
    assert [r.status_code for r in (moved, noted, assigned, history)] == [404, 404, 404, 404]
    assert moved.json["message"]
    session.expire_all()
    ticket = session.get(Ticket, ticket_id)
    assert ticket.status == "Open" and ticket.notes == [] and ticket.assignee_id is None


def test_hotline_agent_cannot_open_or_move_a_technical_ticket_in_the_ui(web_as, session):
    ticket_id = technical_ticket(session)
    browser = web_as("agent")
    assert browser.get(f"/support/tickets/{ticket_id}").status_code == 404
    assert f"/support/tickets/{ticket_id}\"" not in browser.get("/support/tickets/?status=all").get_data(as_text=True)
    assert browser.get(f"/ticketview/show/{ticket_id}").status_code == 404
    listed = browser.get("/ticketview/list/").get_data(as_text=True)
    assert "firmware crash loop" not in listed
    token = csrf_token(browser.get("/support/tickets/new").get_data(as_text=True))
    moved = browser.post(f"/support/tickets/{ticket_id}/transition", data={"to": "In Progress", "csrf_token": token})
    assert moved.status_code == 404
    session.expire_all()
    assert session.get(Ticket, ticket_id).status == "Open"


def test_a_technical_member_sees_and_works_it_and_a_manager_sees_all(api_as, web_as, session):
    ticket_id = technical_ticket(session)
    add_member(session, "tech_agent", OPS_AGENT, "Technical")
    tech = api_as("tech_agent")
    assert tech.get(f"/api/v1/tickets/{ticket_id}").status_code == 200
    assert tech.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "In Progress"}).status_code == 200
    assert tech.post(f"/api/v1/tickets/{ticket_id}/notes", json={"body": "firmware rolled back"}).status_code == 201
    page = web_as("tech_agent").get(f"/support/tickets/{ticket_id}")
    assert page.status_code == 200 and "firmware rolled back" in page.get_data(as_text=True)
    for overseer in ("manager", "dispatcher", "admin"):
        assert api_as(overseer).get(f"/api/v1/tickets/{ticket_id}").status_code == 200
        assert ticket_id in [t["id"] for t in api_as(overseer).get("/api/v1/tickets/").json["result"]]
    # the Service department holds "tickets": the whole queue
    add_member(session, "service_agent", OPS_AGENT, "Service")
    assert api_as("service_agent").get(f"/api/v1/tickets/{ticket_id}").status_code == 200


def test_calls_and_requests_follow_the_department_too(api_as, session):
    from app.models.base import utcnow
    from app.models.support import CustomerRequest
    from app.services.support_calls import log_call

    call = log_call(session, caller_phone="+94770000111", category="Charger Faults", summary="CP-4 dead")
    request = CustomerRequest(channel="web", text="charger broken", category="Charger Faults", urgency="High",
                              classified_at=utcnow(), status="New", assignment_overridden=False,
                              assigned_department_id=department_id(session, "Technical"))  # routed, no one picked
    session.add(request)
    session.commit()
    add_member(session, "maint_agent", OPS_AGENT, "Maintenance")
    maint = api_as("maint_agent")
    # an unrouted Charger Faults call belongs to Technical (where escalation sends it), not Maintenance
    assert maint.get(f"/api/v1/calls/{call.id}").status_code == 404
    assert maint.get(f"/api/v1/requests/{request.id}").status_code == 404
    assert call.id not in [c["id"] for c in maint.get("/api/v1/calls/search").json["result"]]
    hotline = api_as("agent")  # Hotline holds "calls" and "requests": the whole queues
    assert hotline.get(f"/api/v1/calls/{call.id}").status_code == 200
    assert hotline.get(f"/api/v1/requests/{request.id}").status_code == 200
    add_member(session, "tech_agent", OPS_AGENT, "Technical")
    assert api_as("tech_agent").get(f"/api/v1/calls/{call.id}").status_code == 200


def test_conversations_are_scoped_to_the_department(web_as, session):
    from app.models.customers import Customer
    from app.models.messaging import Conversation

    customer = Customer(name="Kamal Silva", phone="+94770000222")
    session.add(customer)
    session.flush()
    conv = Conversation(customer_id=customer.id, phone=customer.phone, status="open", unread_count=0,
                        department="Technical")
    session.add(conv)
    session.commit()
    add_member(session, "service_agent", OPS_AGENT, "Service")  # Service does not hold "whatsapp"
    browser = web_as("service_agent")
    assert browser.get(f"/messaging/conversations/{conv.id}").status_code == 404
    assert "Kamal Silva" not in browser.get("/messaging/inbox/?box=all").get_data(as_text=True)
    assert web_as("agent").get(f"/messaging/conversations/{conv.id}").status_code == 200  # Hotline: the inbox
    add_member(session, "tech_agent", OPS_AGENT, "Technical")
    assert web_as("tech_agent").get(f"/messaging/conversations/{conv.id}").status_code == 200


def test_escalation_never_picks_someone_who_cannot_open_the_ticket(api_as, web_as, session):
    api = api_as("agent")
    call_id = api.post("/api/v1/calls/", json={"caller_phone": "+94771234567", "category": "Charger Faults",
                                               "summary": "CP-12 shows error E42"}).json["id"]
    ticket = api.post(f"/api/v1/calls/{call_id}/escalate").json["result"]
    # Technical's only demo member is the CPO, who may only read tickets: nobody is picked
    assert ticket["department_id"] == department_id(session, "Technical")
    assert ticket["assignee_id"] != user_id(session, "cpo") and ticket["assignee_id"] is None
    tech_id = add_member(session, "tech_agent", OPS_AGENT, "Technical")
    call_id = api.post("/api/v1/calls/", json={"caller_phone": "+94771234567", "category": "Charger Faults",
                                               "summary": "CP-13 no display"}).json["id"]
    ticket = api.post(f"/api/v1/calls/{call_id}/escalate").json["result"]
    assert ticket["assignee_id"] == tech_id
    assert web_as("tech_agent").get(f"/support/tickets/{ticket['id']}").status_code == 200


def test_routing_picks_only_members_who_can_open_the_request(session):
    from app.services.support import least_loaded_member

    technical = department_id(session, "Technical")
    assert least_loaded_member(session, technical, works="Ticket") is None  # the CPO cannot work tickets
    tech_id = add_member(session, "tech_agent", OPS_AGENT, "Technical")
    for works in ("Ticket", "CustomerRequest", "WhatsAppInbox"):
        assert least_loaded_member(session, technical, works=works).user_id == tech_id


def test_manual_assignment_to_someone_who_cannot_work_tickets_is_refused(api_as, session):
    ticket_id = technical_ticket(session)
    refused = api_as("manager").put(f"/api/v1/tickets/{ticket_id}", json={"assignee_id": user_id(session, "cpo")})
    assert refused.status_code == 400 and "cannot work tickets" in refused.json["message"]


# --- capabilities gate actions ----------------------------------------------------------------


def _without_capability(session, department: str, code: str) -> None:
    dept = session.get(Department, department_id(session, department))
    dept.capabilities = [c for c in dept.capabilities if c.code != code]
    session.commit()


def test_charger_commands_need_the_departments_capability(api_as, web_as, session):
    session.add(Charger(cid="CAP-1", name="Charger CAP-1", type="L2", heartbeat_interval=60))
    session.commit()
    _without_capability(session, "Maintenance", "charger_commands")  # the demo installer's department
    refused = api_as("installer").post("/api/v1/chargers/CAP-1/commands", json={"action": "Reset", "payload": {"type": "Soft"}})
    assert refused.status_code == 403 and "charger commands" in refused.json["message"].lower()
    assert session.scalar(select(ChargerCommand.id)) is None
    page = web_as("installer").get("/chargers/network/CAP-1").get_data(as_text=True)
    assert 'id="command-buttons-none"' in page and 'data-action="Reset"' not in page
    assert 'data-action="Reset"' in web_as("cpo").get("/chargers/network/CAP-1").get_data(as_text=True)
    assert 'data-action="Reset"' in web_as("manager").get("/chargers/network/CAP-1").get_data(as_text=True)


def test_require_capability_is_one_service_call(session):
    from app.services import Forbidden
    from app.services.people import department_scope, require_capability

    installer, manager = user_id(session, "installer"), user_id(session, "manager")
    require_capability(session, installer, "charger_commands")  # Maintenance holds it
    require_capability(session, manager, "ssh_reboot")  # overseeing roles hold every capability
    try:
        require_capability(session, installer, "ssh_reboot")
    except Forbidden as exc:
        assert exc.status == 403
    else:
        raise AssertionError("Maintenance does not hold ssh_reboot")
    assert department_scope(session, None).everything  # the system itself (tasks, webhooks)
