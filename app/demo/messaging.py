"""Messaging demo data for `flask seed-demo` (idempotent): approved templates, notification groups
with the demo people, and a few WhatsApp conversations."""
from __future__ import annotations

from datetime import timedelta

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.customers import Customer
from app.models.messaging import Conversation, Message, MessageTemplate, NotificationGroup
from app.services.classification import classify_by_rules
from app.services.support import ROUTING

# code -> (name, body, variables)
TEMPLATES = {
    "team_alert": ("Team alert", "ChargeOps alert: {{title}}. {{body}}", "title,body"),
    "installation_update": (
        "Installation update", "Hello {{name}}, an update on your charger installation: {{update}}", "name,update",
    ),
    "appointment_confirmation": (
        "Appointment confirmation", "Hello {{name}}, your {{visit}} is confirmed for {{date}}. Reply here with any questions.",
        "name,visit,date",
    ),
    "follow_up": ("Follow-up", "Hello {{name}}, we are following up on your request {{ref}}. Reply to continue.", "name,ref"),
}

# code -> (name, description, usernames)
GROUPS = {
    "hotline": ("Hotline team", "First line: customer WhatsApp and calls", ["manager", "agent"]),
    "field_north": ("Field team North", "Installers and field teams in the north", ["installer", "fieldteam"]),
    "managers": ("Managers", "Escalations and SLA breaches", ["manager"]),
    "cpo_technical": ("CPO / Technical", "Charger Faulted/Offline alerts", ["cpo", "installer"]),
}

CONVERSATIONS = [
    ("Sunil Perera", "+94771234567", [
        ("inbound", "Hi, the charger at Colombo City Centre is not charging, error on screen", 50),
        ("outbound", "Sorry about that! We are resetting LK-CCC02-01 remotely now.", 45),
        ("inbound", "It works now, thanks", 30),
    ]),
    ("Nadeesha Fernando", "+94772345678", [
        ("inbound", "My wallet was charged twice for yesterday's session, please refund", 120),
    ]),
    ("Roshan Jayasuriya", "+94773456789", [
        ("inbound", "When will my home charger installation happen?", 60 * 30),
        ("outbound", "Hello Roshan, an update on your charger installation: the survey is booked.", 60 * 29),
    ]),
]


def seed_templates(session: Session) -> None:
    for code, (name, body, variables) in TEMPLATES.items():
        template = session.scalar(select(MessageTemplate).where(MessageTemplate.code == code))
        if template is None:
            session.add(MessageTemplate(code=code, name=name, body=body, variables=variables, language="en",
                                        approved=True, active=True))
    session.flush()


def seed_groups(session: Session) -> None:
    users = {u.username: u for u in session.scalars(select(User))}
    for code, (name, description, usernames) in GROUPS.items():
        group = session.scalar(select(NotificationGroup).where(NotificationGroup.code == code))
        if group is None:
            group = NotificationGroup(code=code, name=name, description=description, whatsapp=True, active=True)
            group.members = [users[u] for u in usernames if u in users]
            session.add(group)
    session.flush()


def seed(session: Session) -> None:
    seed_templates(session)
    seed_groups(session)
    now = utcnow()
    for name, phone, lines in CONVERSATIONS:
        customer = session.scalar(select(Customer).where(Customer.phone == phone))
        if customer is None:
            customer = Customer(name=name, phone=phone)
            session.add(customer)
            session.flush()
        if session.scalar(select(Conversation.id).where(Conversation.customer_id == customer.id)):
            continue
        conversation = Conversation(customer_id=customer.id, phone=phone, status="open", unread_count=0,
                                    last_message_at=now)
        session.add(conversation)
        session.flush()
        for i, (direction, body, minutes_ago) in enumerate(lines):
            at = now - timedelta(minutes=minutes_ago)
            message = Message(
                channel="whatsapp", direction=direction, conversation_id=conversation.id, customer_id=customer.id,
                from_addr=phone if direction == "inbound" else None, to_addr=phone if direction == "outbound" else "-",
                body=body, status="received" if direction == "inbound" else "delivered", created_at=at, status_at=at,
                provider_sid=f"SMdemo{customer.id:06d}{i:02d}" + "0" * 18, attempts=1 if direction == "outbound" else 0,
                idempotency_key=f"demo:{customer.id}:{i}" if direction == "outbound" else None,
            )
            if direction == "inbound":  # classified when it came in, by the rules (the demo needs no API key)
                result = classify_by_rules(body)
                message.category, message.urgency, message.department = result.category, result.urgency, result.department
                message.summary, message.classifier = result.summary[:300], result.classifier
                message.priority = ROUTING[(result.category, result.urgency)][1]
                message.classified_at = at + timedelta(seconds=3)
                conversation.department, conversation.priority = ROUTING[(result.category, result.urgency)]
            session.add(message)
            conversation.last_message_at = at
            conversation.last_preview = body[:190]
            if direction == "inbound":
                conversation.last_inbound_at = at
                conversation.unread_count += 1
    session.flush()
