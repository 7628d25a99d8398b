"""Messaging over REST: `messages` (list/get, send, turn into a request or ticket) and `alerts`
(list/get, alert a group, resolve)."""
from __future__ import annotations

from flask import g
from flask_appbuilder.api import expose, protect
from flask_appbuilder.security.decorators import permission_name

from app.api.base import API_METHOD_PERMISSIONS, ResourceApi, service_errors
from app.api.schemas import AlertInput, MessageInput, ResolveInput, load_input
from app.extensions import db
from app.models.messaging import Alert, Message
from app.services import InvalidInput
from app.services import messaging_inbound, messaging_outbound
from app.services import messaging
from app.services import messaging_conversations
from app.services import messaging_alerts as alerts
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.views.base import InDepartmentScope
from app.models.customers import Customer


class MessagesApi(ResourceApi):
    resource_name = "messages"
    datamodel = SQLAInterface(Message)
    class_permission_name = "Message"
    include_route_methods = {"get", "get_list", "info", "post", "to_request", "to_ticket"}
    method_permission_name = {**API_METHOD_PERMISSIONS, "to_request": "write", "to_ticket": "write"}
    list_columns = ["id", "channel", "direction", "to_addr", "from_addr", "body", "status", "customer_id",
                    "conversation_id", "created_at", "delivered_at", "category", "urgency", "priority", "summary"]
    show_columns = list_columns + ["subject", "provider_sid", "idempotency_key", "error_code", "error_message", "attempts",
                                   "sent_at", "read_at", "template_id", "template_variables", "request_id", "ticket_id",
                                   "recipient_user_id", "ref_type", "ref_id"]
    search_columns = ["channel", "direction", "status", "customer_id", "conversation_id", "to_addr", "from_addr", "created_at"]
    order_columns = ["id", "created_at", "status"]
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: messaging_conversations.scope_clause(db.session, Message, g.user)]]  # 404 outside it

    @expose("/", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def post(self):
        """Send a WhatsApp message or an e-mail.
        ---
        post:
          description: >-
            WhatsApp (default): {"to" or "customer_id" or "conversation_id", "body" (free text, only inside
            the 24-hour window, else 409) or "template" + "variables", "idempotency_key"}.
            E-mail: {"channel": "email", "to", "subject", "body", "idempotency_key"}.
            201 with the queued message; the same idempotency_key again is 200 with the first message.
          responses:
            201: {description: queued}
            200: {description: an earlier send with the same idempotency_key}
            400: {description: bad input}
            409: {description: free text outside the 24-hour window}
        """
        data = load_input(MessageInput)
        key = data["idempotency_key"]
        existing = messaging.find_by_idempotency_key(db.session, str(key))
        if existing is not None:
            return self.response(200, **messaging_conversations.message_json(existing))
        if data.get("channel", "whatsapp") == "email":
            message = messaging_outbound.send_email(
                db.session, to=data.get("to"), subject=data.get("subject"), body=data.get("body"), idempotency_key=key,
                customer_id=data.get("customer_id"), created_by=g.user.id,
            )
        elif data.get("channel", "whatsapp") != "whatsapp":
            raise InvalidInput("channel must be whatsapp or email")
        elif data.get("conversation_id") not in (None, ""):
            message = messaging_outbound.reply(db.session, data["conversation_id"], by_user_id=g.user.id, idempotency_key=key,
                                  body=data.get("body"), template=data.get("template"), variables=data.get("variables"))
        else:
            to = data.get("to")
            if not to and data.get("customer_id") not in (None, ""):
                customer = db.session.get(Customer, data["customer_id"])
                if customer is None:
                    raise InvalidInput(f"customer {data['customer_id']} not found")
                to = customer.phone
            if not to:
                raise InvalidInput("give to, customer_id or conversation_id")
            variables = data.get("variables")
            message = messaging_outbound.send_whatsapp(
                db.session, to=to, body=data.get("body"), template=data.get("template"), variables=variables,
                customer_id=data.get("customer_id"), idempotency_key=key, created_by=g.user.id,
            )
        db.session.commit()
        return self.response(201, **messaging_conversations.message_json(message))

    @expose("/<int:pk>/request", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def to_request(self, pk: int):
        """Turn an inbound message into a customer request (idempotent)."""
        existed = db.session.get(Message, pk)
        had = existed.request_id if existed else None
        req = messaging_inbound.message_to_request(db.session, pk, g.user.id)
        db.session.commit()
        return self.response(200 if had else 201, request_id=req.id, message_id=pk)

    @expose("/<int:pk>/ticket", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def to_ticket(self, pk: int):
        """Open a ticket for an inbound message (idempotent)."""
        ticket, created = messaging_inbound.message_to_ticket(db.session, pk, g.user.id)
        db.session.commit()
        return self.response(201 if created else 200, ticket_id=ticket.id, message_id=pk)


class AlertsApi(ResourceApi):
    resource_name = "alerts"
    datamodel = SQLAInterface(Alert)
    class_permission_name = "Alert"
    include_route_methods = {"get", "get_list", "info", "post", "resolve"}
    method_permission_name = {**API_METHOD_PERMISSIONS, "resolve": "write"}
    list_columns = ["id", "group.code", "kind", "title", "body", "ref_type", "ref_id", "dedupe_key", "repeat_count",
                    "created_at", "resolved_at", "resolved_by.username", "resolution"]
    show_columns = list_columns
    search_columns = ["kind", "ref_type", "ref_id", "created_at", "resolved_at", "dedupe_key"]
    order_columns = ["id", "created_at"]
    base_order = ("created_at", "desc")

    @expose("/", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def post(self):
        """Alert a notification group: {"group", "kind", "title", "body", "ref_type", "ref_id", "dedupe_key"}.
        201 with the alert and its recipients; 200 {"deduplicated": true} for a repeat inside the window."""
        data = load_input(AlertInput)
        alert = alerts.alert_group(
            db.session, str(data["group"]), kind=data.get("kind"), title=data.get("title"), body=data.get("body"),
            ref_type=data.get("ref_type"), ref_id=data.get("ref_id"), dedupe_key=data.get("dedupe_key"),
        )
        db.session.commit()
        if alert is None:
            return self.response(200, deduplicated=True, message="the same alert was sent within the de-duplication window")
        return self.response(201, **alerts.alert_json(alert))

    @expose("/<int:pk>/resolve", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def resolve(self, pk: int):
        """Resolve an alert: {"resolution": "..."}; a second resolve is 409."""
        data = load_input(ResolveInput)
        alert = alerts.resolve_alert(db.session, pk, g.user.id, data.get("resolution"))
        db.session.commit()
        return self.response(200, **alerts.alert_json(alert))


def register(appbuilder) -> None:
    """Add this domain's REST APIs."""
    appbuilder.add_api(MessagesApi)
    appbuilder.add_api(AlertsApi)
