"""Messaging screens: the WhatsApp inbox and conversations, templates, notification groups,
the message log and the alert history; and Twilio's signed webhooks."""
from __future__ import annotations

import uuid

from flask import (
    Blueprint, Response, abort, current_app, flash, g, jsonify, redirect, request, send_file, url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from markupsafe import Markup
from sqlalchemy import select

from app.formatting import local_datetime
from app.extensions import csrf, db
from app.models.messaging import Alert, Conversation, Message, MessageMedia, MessageTemplate, NotificationGroup
from app.services import ServiceError
from app.services import messaging_inbound, messaging_outbound
from app.services import messaging
from app.services import messaging_inbox
from app.services import messaging_conversations
from app.services.messaging_providers import last_outbound
from app.services.messaging_alerts import resolve_alert
from app.views.base import InDepartmentScope, ReadOnlyModelView, ResourceModelView, form_action
from app.views.customers import register_customer_panel
from app.integrations.twilio_client import signature_is_valid
from flask_appbuilder.security.sqla.models import User
from app.models.people import TeamMember
from app.services.messaging_media import media_path

# --- Twilio webhooks (signed by Twilio, so no session and no CSRF token) -----------------------

webhooks = Blueprint("twilio_webhooks", __name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified_params():
    """The POSTed form if X-Twilio-Signature matches PUBLIC_BASE_URL + path + params; else None."""
    params = request.form.to_dict()
    path = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    if not signature_is_valid(path, params, request.headers.get("X-Twilio-Signature")):
        return None
    return params


@webhooks.post("/webhooks/twilio/whatsapp")
def twilio_whatsapp():
    params = _verified_params()
    if params is None:
        return jsonify(message="invalid or missing X-Twilio-Signature"), 403
    try:
        _message, created = messaging_inbound.receive_whatsapp(db.session, params)
        if not created:
            db.session.rollback()
    except ServiceError as exc:
        db.session.rollback()
        return jsonify(message=exc.message), exc.status
    return Response(EMPTY_TWIML, mimetype="text/xml")


@webhooks.post("/webhooks/twilio/status")
def twilio_status():
    params = _verified_params()
    if params is None:
        return jsonify(message="invalid or missing X-Twilio-Signature"), 403
    try:
        messaging_outbound.record_status(db.session, params)
    except ServiceError as exc:
        db.session.rollback()
        return jsonify(message=exc.message), exc.status
    return Response(EMPTY_TWIML, mimetype="text/xml")


# --- lists ------------------------------------------------------------------------------------


def _conversation_link(pk):
    return Markup(f'<a href="/messaging/conversations/{int(pk)}">open</a>') if pk else ""


class MessageView(ReadOnlyModelView):
    """Every WhatsApp message and e-mail, in and out, with its delivery status."""

    datamodel = SQLAInterface(Message)
    class_permission_name = "Message"
    list_columns = ["created_at", "channel", "direction", "to_addr", "from_addr", "body", "status", "template", "conversation_id"]
    show_columns = list_columns + ["subject", "customer", "recipient_user", "provider_sid", "idempotency_key", "attempts",
                                   "error_code", "error_message", "sent_at", "delivered_at", "read_at", "category",
                                   "urgency", "priority", "summary", "ref_type", "ref_id"]
    search_columns = ["channel", "direction", "status", "to_addr", "from_addr", "body", "created_at", "category"]
    formatters_columns = {"conversation_id": _conversation_link}
    label_columns = {"to_addr": "To", "from_addr": "From", "conversation_id": "Conversation"}
    base_order = ("created_at", "desc")
    base_filters = [["id", InDepartmentScope, lambda: messaging_conversations.scope_clause(db.session, Message, g.user)]]


class MessageTemplateView(ResourceModelView):
    datamodel = SQLAInterface(MessageTemplate)
    class_permission_name = "MessageTemplate"
    list_columns = ["code", "name", "variables", "language", "approved", "active", "content_sid"]
    add_columns = edit_columns = ["code", "name", "body", "variables", "content_sid", "language", "approved", "active"]
    show_columns = add_columns
    description_columns = {
        "body": "Text with {{name}} placeholders, exactly as approved by WhatsApp",
        "variables": "The placeholders in order, comma-separated (Twilio content variables 1, 2, ...)",
        "content_sid": "Twilio Content API SID (HX...) of the approved template",
    }


class NotificationGroupView(ResourceModelView):
    datamodel = SQLAInterface(NotificationGroup)
    class_permission_name = "NotificationGroup"
    list_columns = ["code", "name", "members", "whatsapp", "active"]
    add_columns = edit_columns = show_columns = ["code", "name", "description", "members", "whatsapp", "active"]


def _alert_link(pk):
    return Markup(f'<a href="/messaging/alerts/{int(pk)}">#{int(pk)}</a>')


class AlertView(ReadOnlyModelView):
    datamodel = SQLAInterface(Alert)
    class_permission_name = "Alert"
    list_columns = ["id", "created_at", "group", "kind", "title", "ref_type", "ref_id", "repeat_count", "resolved_at", "resolved_by"]
    search_columns = ["group", "kind", "title", "ref_type", "ref_id", "created_at", "resolved_at"]
    formatters_columns = {"id": _alert_link}
    label_columns = {"repeat_count": "Repeats swallowed"}
    base_order = ("created_at", "desc")


# --- the inbox --------------------------------------------------------------------------------


def _members():
    return db.session.execute(
        select(User.id, User.first_name, User.last_name).join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.active.is_(True), User.active.is_(True)).order_by(User.first_name)
    ).all()


def _visible_conversation(pk: int) -> Conversation:
    """The conversation if the signed-in person's department scope covers it; a 404 page otherwise."""
    try:
        return messaging_conversations.get_conversation(db.session, pk, g.user.id)
    except ServiceError:
        abort(404)


def _message_conversation(pk: int) -> str:
    """The page of the conversation a message (by its id) belongs to."""
    return url_for("InboxView.conversation", pk=db.session.get(Message, pk).conversation_id)


class InboxView(BaseView):
    """Conversations per customer; every write goes through app.services.messaging."""

    route_base = "/messaging"
    class_permission_name = "WhatsAppInbox"
    default_view = "inbox"
    method_permission_name = {
        "inbox": "read", "conversation": "read", "conversation_json": "read", "customer": "read", "media": "read",
        "reply": "write", "assign": "write", "resolve": "write", "reopen": "write", "to_request": "write",
        "to_ticket": "write",
    }

    @expose("/inbox/")
    @has_access
    def inbox(self):
        box = request.args.get("box", "open")
        try:
            rows = messaging_inbox.list_conversations(db.session, box=box, user_id=g.user.id, viewer=g.user.id)
        except ServiceError as exc:
            flash(exc.message, "danger")
            rows = []
        window_open = messaging.windows_open(db.session, [c.phone for c in rows])
        return self.render_template("messaging/inbox.html", conversations=rows, box=box, window_open=window_open,
                                    last_sends=last_outbound(db.session, [c.id for c in rows]))

    @expose("/conversations/<int:pk>")
    @has_access
    def conversation(self, pk: int):
        conv = _visible_conversation(pk)
        if conv.unread_count:
            messaging_inbox.mark_conversation_read(db.session, pk)
            db.session.commit()
        closes = messaging.window_closes_at(db.session, conv.phone)
        return self.render_template(
            "messaging/conversation.html", conv=conv, messages=messaging_inbox.history(db.session, pk),
            window_open=messaging.window_is_open(db.session, conv), window_closes=closes,
            templates=messaging.approved_templates(db.session), members=_members(), reply_key=uuid.uuid4().hex,
        )

    @expose("/conversations/<int:pk>/messages.json")
    @has_access
    def conversation_json(self, pk: int):
        _visible_conversation(pk)
        return jsonify(messages=[messaging_conversations.message_json(m) for m in messaging_inbox.history(db.session, pk)])

    @expose("/customers/<int:customer_id>")
    @has_access
    def customer(self, customer_id: int):
        """The customer's WhatsApp history (what the customer page links to)."""
        conv = db.session.scalar(select(Conversation).where(Conversation.customer_id == customer_id))
        if conv is None:
            flash("No WhatsApp conversation with this customer yet", "info")
            return redirect(url_for("InboxView.inbox"))
        _visible_conversation(conv.id)
        return redirect(url_for("InboxView.conversation", pk=conv.id))

    @expose("/media/<int:pk>")
    @has_access
    def media(self, pk: int):
        item = db.session.get(MessageMedia, pk) or abort(404)
        try:
            messaging_conversations.get_message(db.session, item.message_id, g.user.id)
        except ServiceError:
            abort(404)
        path = media_path(item)
        if item.status != "stored" or path is None or not path.exists():
            abort(404)
        return send_file(path, mimetype=item.content_type, as_attachment=False, download_name=path.name)

    @expose("/conversations/<int:pk>/reply", methods=["POST"])
    @has_access
    @form_action("InboxView.conversation")
    def reply(self, pk: int):
        form = request.form
        template = form.get("template") or None
        variables = {k[4:]: v for k, v in form.items() if k.startswith("var_")} if template else None
        messaging_outbound.reply(db.session, pk, by_user_id=g.user.id, idempotency_key=form.get("idempotency_key") or uuid.uuid4().hex,
                                 body=None if template else form.get("body"), template=template, variables=variables)
        return "Reply queued"

    @expose("/conversations/<int:pk>/assign", methods=["POST"])
    @has_access
    @form_action("InboxView.conversation")
    def assign(self, pk: int):
        messaging_inbox.assign_conversation(db.session, pk, request.form.get("assignee_id"), g.user.id)
        return "Assignment saved"

    @expose("/conversations/<int:pk>/resolve", methods=["POST"])
    @has_access
    @form_action("InboxView.conversation")
    def resolve(self, pk: int):
        messaging_inbox.resolve_conversation(db.session, pk, g.user.id)
        return "Conversation resolved"

    @expose("/conversations/<int:pk>/reopen", methods=["POST"])
    @has_access
    @form_action("InboxView.conversation")
    def reopen(self, pk: int):
        messaging_inbox.reopen_conversation(db.session, pk, g.user.id)

    @expose("/messages/<int:pk>/request", methods=["POST"])
    @has_access
    @form_action(_message_conversation)
    def to_request(self, pk: int):
        db.session.get(Message, pk) or abort(404)
        req = messaging_inbound.message_to_request(db.session, pk, g.user.id)
        return Markup(f'Customer request <a href="/support/requests/{req.id}">#{req.id}</a> created')

    @expose("/messages/<int:pk>/ticket", methods=["POST"])
    @has_access
    @form_action(_message_conversation)
    def to_ticket(self, pk: int):
        db.session.get(Message, pk) or abort(404)
        ticket, created = messaging_inbound.message_to_ticket(db.session, pk, g.user.id)
        return Markup(f'Ticket <a href="/support/tickets/{ticket.id}">#{ticket.id}</a> '
                      f'{"opened" if created else "already exists"}')


class AlertDeskView(BaseView):
    """One alert: who got it, delivery per recipient, and resolving it."""

    route_base = "/messaging/alerts"
    class_permission_name = "Alert"
    default_view = "alert"
    method_permission_name = {"alert": "read", "resolve": "write"}

    @expose("/<int:pk>")
    @has_access
    def alert(self, pk: int):
        item = db.session.get(Alert, pk) or abort(404)
        return self.render_template("messaging/alert.html", alert=item)

    @expose("/<int:pk>/resolve", methods=["POST"])
    @has_access
    @form_action("AlertDeskView.alert")
    def resolve(self, pk: int):
        resolve_alert(db.session, pk, g.user.id, request.form.get("resolution"))
        return "Alert resolved"


def register(appbuilder) -> None:
    """Add this domain's views and menu items, and Twilio's webhooks."""
    category = "WhatsApp"
    appbuilder.add_view(InboxView, "WhatsAppInbox", label="Inbox", category=category, href="/messaging/inbox/")
    appbuilder.add_view(MessageView, "Message", label="Message log", category=category)
    appbuilder.add_view(MessageTemplateView, "MessageTemplate", label="Templates", category=category)
    appbuilder.add_view(NotificationGroupView, "NotificationGroup", label="Notification groups", category=category)
    appbuilder.add_view(AlertView, "Alert", label="Alert history", category=category)
    appbuilder.add_view_no_menu(AlertDeskView)
    app = current_app._get_current_object()
    if "twilio_webhooks" not in app.blueprints:
        app.register_blueprint(webhooks)
    csrf.exempt(webhooks)


@register_customer_panel
def messages_panel(session, customer):
    """The customer page's WhatsApp and e-mail history (Contacts' panel registry)."""
    messages = messaging_inbox.recent_customer_messages(session, customer.id, limit=20)
    return {
        "title": "Messages", "order": 60, "empty": "No WhatsApp or e-mail messages yet.",
        "link": f"/messaging/customers/{customer.id}",
        "columns": ["When", "Channel", "Direction", "Status", "Message"],
        "rows": [
            [local_datetime(m.created_at), m.channel, m.direction, m.status, (m.body or "")[:120]]
            for m in messages
        ],
    }
