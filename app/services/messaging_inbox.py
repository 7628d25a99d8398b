"""The WhatsApp inbox: conversation lists, a conversation's history, reading, assigning, resolving
and reopening.

Services flush; the caller commits.
"""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models.base import utcnow
from app.models.messaging import (
    Conversation, Message,
)
from app.services import Conflict, InvalidInput, get_or_404
from app.services.people import user_may_work
from app.services.messaging_conversations import get_conversation, scope_clause
from flask_appbuilder.security.sqla.models import User
from app.services.notifications import notify_user
from app.services.activity import record_activity


def list_conversations(session: Session, *, box: str = "open", user_id: Optional[int] = None,
                       limit: int = 100, viewer: Optional[int] = None) -> list[Conversation]:
    """The inbox, newest activity first. box: open | unread | mine | unassigned | resolved | all.
    viewer limits it to that person's department scope."""
    query = select(Conversation).options(joinedload(Conversation.customer), joinedload(Conversation.assignee))
    if viewer is not None:
        query = query.where(scope_clause(session, Conversation, viewer))
    if box == "open":
        query = query.where(Conversation.status == "open")
    elif box == "unread":
        query = query.where(Conversation.unread_count > 0)
    elif box == "mine":
        query = query.where(Conversation.assignee_id == user_id, Conversation.status == "open")
    elif box == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None), Conversation.status == "open")
    elif box == "resolved":
        query = query.where(Conversation.status == "resolved")
    elif box != "all":
        raise InvalidInput(f"unknown inbox filter {box}")
    return list(session.scalars(query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(limit)))


def history(session: Session, conversation_id: int) -> list[Message]:
    return list(session.scalars(
        select(Message).where(Message.conversation_id == conversation_id)
        .options(selectinload(Message.media), joinedload(Message.template), joinedload(Message.created_by))
        .order_by(Message.created_at, Message.id)
    ))


def recent_customer_messages(session: Session, customer_id: int, limit: int = 20) -> list[Message]:
    """The customer's latest WhatsApp messages and e-mails, newest first (the customer page panel)."""
    return list(session.scalars(
        select(Message).where(Message.customer_id == customer_id)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    ))


def mark_conversation_read(session: Session, conversation_id: int) -> Conversation:
    conversation = get_or_404(session, Conversation, conversation_id, "conversation")
    conversation.unread_count = 0
    return conversation


def assign_conversation(session: Session, conversation_id: int, assignee_id: Any, by_user_id: Optional[int]) -> Conversation:
    conversation = get_conversation(session, conversation_id, by_user_id)
    if assignee_id in (None, ""):
        conversation.assignee_id = None
        return conversation
    user = get_or_404(session, User, assignee_id, "user")
    if not user_may_work(session, user.id, "WhatsAppInbox"):
        raise InvalidInput(f"assignee_id: {user.username} cannot work the WhatsApp inbox")
    if conversation.assignee_id != user.id:
        conversation.assignee_id = user.id
        if user.id != by_user_id:
            notify_user(session, user.id, "whatsapp_assigned",
                        f"WhatsApp conversation with {conversation.customer.name} assigned to you",
                        body=conversation.last_preview, link=f"/messaging/conversations/{conversation.id}",
                        ref_type="conversation", ref_id=conversation.id)
        if by_user_id:
            record_activity(session, by_user_id, "whatsapp_assign",
                            f"Assigned conversation #{conversation.id} to {user.username}",
                            ref_type="conversation", ref_id=conversation.id)
    return conversation


def resolve_conversation(session: Session, conversation_id: int, by_user_id: Optional[int]) -> Conversation:
    conversation = get_conversation(session, conversation_id, by_user_id)
    if conversation.status == "resolved":
        raise Conflict(f"conversation {conversation.id} is already resolved")
    conversation.status = "resolved"
    conversation.resolved_at = utcnow()
    conversation.resolved_by_id = by_user_id
    conversation.unread_count = 0
    return conversation


def reopen_conversation(session: Session, conversation_id: int, by_user_id: Optional[int] = None) -> Conversation:
    conversation = get_conversation(session, conversation_id, by_user_id)
    conversation.status = "open"
    conversation.resolved_at = None
    conversation.resolved_by_id = None
    return conversation

