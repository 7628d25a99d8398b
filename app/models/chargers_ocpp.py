"""Chargers on the OCPP 1.6J gateway: each charger's password and live link, the gateway processes,
and the transaction ids the gateways hand out."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import created_at_column
from app.models.chargers import Charger


class ChargerOcppLink(Model):
    """A charger's OCPP account (Basic-auth password, hashed) and whether a gateway holds its socket.

    A side table, so the ingest's blind updates of the hot `charger` row stay as they are.
    """

    __tablename__ = "charger_ocpp_link"
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="CASCADE"), primary_key=True)
    charger: Mapped[Charger] = relationship()
    password_hash: Mapped[Optional[str]] = mapped_column(String(255))  # werkzeug hash; never shown again
    password_set_at: Mapped[Optional[datetime]] = mapped_column()
    password_set_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    password_set_by: Mapped[Optional[User]] = relationship(User)
    connected: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    gateway_node: Mapped[Optional[str]] = mapped_column(String(80), index=True)  # who holds the socket (or held it last)
    remote_address: Mapped[Optional[str]] = mapped_column(String(64))
    since: Mapped[Optional[datetime]] = mapped_column()  # connected or disconnected since


class OcppGatewayNode(Model):
    """A running gateway process; `last_seen` moves every few seconds, so a crashed one is told apart."""

    __tablename__ = "ocpp_gateway_node"
    node: Mapped[str] = mapped_column(String(80), primary_key=True)
    started_at: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()


class OcppTransaction(Model):
    """One StartTransaction answered by a gateway: the id is the transactionId, unique across every gateway.

    AUTOINCREMENT on SQLite (an id is never reused, even after the newest row is deleted); a sequence
    (the serial key) on PostgreSQL. No foreign key: the id must stay issued even if the charger goes.
    """

    __tablename__ = "ocpp_transaction"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cid: Mapped[str] = mapped_column(String(48), index=True)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(20))
    authorization: Mapped[str] = mapped_column(String(20))  # the idTagInfo status answered
    gateway_node: Mapped[Optional[str]] = mapped_column(String(80))
    issued_at: Mapped[datetime] = created_at_column()
