"""Deleting never destroys history: every model with a delete route (UI or API) is refused by the
database while history points at it (ON DELETE RESTRICT), and the history stays."""
from __future__ import annotations

from flask_appbuilder import Model, ModelView
from flask_appbuilder.api import ModelRestApi

from app.extensions import db

# rows that are part of their parent, not history of it: they go with it
PART_OF = {
    "customer_phone", "customer_tag", "vehicle", "charger_connector", "department_capability",
    "field_team_member", "notification_group_member", "oem_user", "team_member", "notification",
    "charger_ocpp_link",  # the charger's live connection state, not history
    "push_subscription", "push_delivery",  # a person's own push endpoints and their send queue
    "user_sign_in_version",  # a person's own sign-in generation
}


def _delete_routes(app):
    """(view, model) for every view and API that exposes a delete."""
    for view in app.appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        if datamodel is None:
            continue
        if isinstance(view, ModelRestApi):
            routes = view.include_route_methods
            if routes is None or "delete" in routes:
                yield view, datamodel.obj
        elif isinstance(view, ModelView) and (view.include_route_methods is None or "delete" in view.include_route_methods):
            if "can_write" in (view.base_permissions or ["can_write"]) or "can_delete" in (view.base_permissions or []):
                yield view, datamodel.obj


def test_no_history_table_cascades_or_unlinks_on_delete(app):
    offenders = []
    deletable = {model.__tablename__ for _view, model in _delete_routes(app)}
    assert {"customer", "charger", "field_team", "message_template", "oem"} <= deletable
    assert "team_member" not in deletable  # people are deactivated, never deleted
    for table in Model.metadata.sorted_tables:
        if table.name in PART_OF or table.name.startswith("ab_"):
            continue
        for fk in table.foreign_keys:
            referred = fk.column.table.name
            if referred == "ab_user" and (fk.ondelete or "").upper() != "CASCADE":
                continue  # FAB deactivates users; the author link is kept or nulled, never the row
            if table.name == "alert_recipient" and fk.parent.name in ("notification_id", "user_id"):
                continue  # the recipient's own inbox row
            if (fk.ondelete or "").upper() != "RESTRICT":
                offenders.append(f"{table.name}.{fk.parent.name} -> {referred} ({fk.ondelete})")
    assert not offenders, offenders


def _history(session):
    """One of each thing with history, and its history."""
    from app.models.chargers import Charger, ChargerCommand, ChargerMessage
    from app.models.customers import Customer
    from app.models.installations import InstallationJob, JobEvent, JobVisit, Lead, Oem
    from app.models.messaging import Conversation, Message, MessageTemplate
    from app.models.people import FieldTeam, TeamMember
    from app.models.support import Call

    customer = Customer(name="Nimal Perera", phone="+94771234567")
    charger = Charger(cid="CP-HIST-1", name="History charger")
    template = MessageTemplate(code="hist_tpl", name="History", body="Hello")
    oem = Oem(name="History Motors", code="HIST")
    team = session.query(FieldTeam).first()
    member = session.query(TeamMember).first()
    session.add_all([customer, charger, template, oem])
    session.flush()
    conversation = Conversation(customer_id=customer.id, phone=customer.phone)
    session.add(conversation)
    session.flush()
    lead = Lead(oem_id=oem.id, oem_ref="H-1", source="api", customer_name="Nimal", phone="+94771234567")
    session.add(lead)
    session.flush()
    job = InstallationJob(lead_id=lead.id, oem_id=oem.id, customer_id=customer.id, stage="New")
    session.add(job)
    session.flush()
    history = [
        Message(direction="inbound", to_addr="+94110000000", conversation_id=conversation.id, customer_id=customer.id, body="hi",
                template_id=template.id, status="received"),
        Call(caller_phone=customer.phone, customer_id=customer.id, category="Billing", agent_id=member.user_id),
        ChargerCommand(command_id="hist-cmd-1", charger_id=charger.id, action="Reset", status="Accepted"),
        ChargerMessage(charger_id=charger.id, direction="in", action="Heartbeat", payload="{}", received_at=__import__("datetime").datetime(2026, 12, 1)),
        JobEvent(job_id=job.id, actor="system", to_stage="New"),
        JobVisit(job_id=job.id, kind="survey", code="S-1", visit_date=__import__("datetime").date(2026, 12, 1), slot="AM", team_id=team.id, status="assigned"),
    ]
    session.add_all(history)
    session.commit()
    parents = {"customer": customer, "charger": charger, "message_template": template, "oem": oem,
               "field_team": team, "team_member": member}
    return parents, [(type(h), h.id) for h in history]


def test_deleting_anything_with_history_keeps_it_and_its_history(app, session, web_as, api_as):
    parents, history = _history(session)
    ids = {name: row.id for name, row in parents.items()}
    admin = web_as("admin")
    for view, model in _delete_routes(app):
        name = model.__tablename__
        if name not in ids:
            continue
        if isinstance(view, ModelRestApi):
            response = api_as("admin").delete(f"/api/v1/{view.resource_name}/{ids[name]}")
            assert response.status_code == 409, (name, response.status_code, response.json)
            assert response.json["message"]
        else:
            response = admin.get(f"{view.route_base}/delete/{ids[name]}")
            assert response.status_code in (200, 302), (name, response.status_code)
    session.expire_all()
    for name, pk in ids.items():
        model = type(parents[name])
        assert db.session.get(model, pk) is not None, f"{name} {pk} was deleted"
    for model, pk in history:
        assert db.session.get(model, pk) is not None, f"history {model.__name__} {pk} was lost"
