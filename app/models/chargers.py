"""Chargers: registry, connectors, raw OCPP stream, sessions, remote commands, fault log."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import DDL, Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint, event, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import created_at_column

CHARGER_TYPES = ("L2", "L3")


class Charger(Model):
    """One charge point, identified on the wire by its OCPP identity (chargeBoxIdentity)."""

    __tablename__ = "charger"
    # the network list sorted by name walks this; the ingest never writes name, so its updates stay HOT
    __table_args__ = (
        Index("ix_charger_name_id", "name", "id"),
        # the network list walks one bucket at a time in cid order; the rank changes rarely, so updates stay HOT
        Index("ix_charger_condition_rank_cid", "condition_rank", "cid"),
        Index("ix_charger_type_condition_rank_cid", "type", "condition_rank", "cid"),  # the same within a type
        # the list's search (`q`, a substring of cid, name or site): trigrams on PostgreSQL, so a search counts and
        # pages its matches instead of reading 100k rows; SQLite ignores the options and keeps a plain index
        Index("ix_charger_search_trgm", "cid", "name", "site", postgresql_using="gin",
              postgresql_ops={"cid": "gin_trgm_ops", "name": "gin_trgm_ops", "site": "gin_trgm_ops"}),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    cid: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(2), default="L2")  # L2 (AC) / L3 (DC)
    power_kw: Mapped[Optional[float]] = mapped_column(Float)
    vendor: Mapped[Optional[str]] = mapped_column(String(40))
    model: Mapped[Optional[str]] = mapped_column(String(40))
    serial: Mapped[Optional[str]] = mapped_column(String(40))
    firmware_version: Mapped[Optional[str]] = mapped_column(String(60))
    site: Mapped[Optional[str]] = mapped_column(String(120), index=True)
    address: Mapped[Optional[str]] = mapped_column(String(255))
    latitude: Mapped[Optional[float]] = mapped_column(Float)
    longitude: Mapped[Optional[float]] = mapped_column(Float)
    heartbeat_interval: Mapped[Optional[int]] = mapped_column(Integer)  # seconds, from BootNotification's reply
    # auto-registered from traffic of an identity nobody entered in the registry
    unregistered: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # archived (decommissioned) chargers keep their history and drop out of the daily lists
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(), nullable=False)
    last_seen: Mapped[Optional[datetime]] = mapped_column()
    # last_seen + the offline threshold: the sweep and the buckets compare it with now
    # not indexed: the ingest moves it with every message and every reader scans the fleet (0008)
    offline_after: Mapped[Optional[datetime]] = mapped_column()
    offline: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)  # as last marked by the sweep
    last_heartbeat_at: Mapped[Optional[datetime]] = mapped_column()
    last_heartbeat_gap: Mapped[Optional[float]] = mapped_column(Float)  # seconds between the last two heartbeats
    last_rssi: Mapped[Optional[int]] = mapped_column(Integer)
    temperature_c: Mapped[Optional[float]] = mapped_column(Float)
    booted_at: Mapped[Optional[datetime]] = mapped_column()
    firmware_status: Mapped[Optional[str]] = mapped_column(String(40))
    firmware_status_at: Mapped[Optional[datetime]] = mapped_column()
    diagnostics_status: Mapped[Optional[str]] = mapped_column(String(40))
    diagnostics_status_at: Mapped[Optional[datetime]] = mapped_column()
    commands_sent: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # also a row lock for queueing
    # the bucket by the charger's own state (Faulted, Weak Signal, Charging or Available as its place in the
    # network list's order), stored by whoever writes that state; Offline is the clock's, applied when read
    condition_rank: Mapped[int] = mapped_column(SmallInteger, default=4, server_default="4", nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    connectors: Mapped[list["Connector"]] = relationship(
        back_populates="charger", order_by="Connector.connector_id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return self.cid


# the network list's buckets read these two small sets of chargers (partial indexes)
_FAULTED = text("status = 'Faulted' OR (error_code IS NOT NULL AND error_code <> 'NoError')")
_CHARGING = text("status IN ('Charging', 'SuspendedEV', 'SuspendedEVSE')")


# the search index's operator class (a contrib extension every PostgreSQL ships; the migration creates it too)
event.listen(Charger.__table__, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))


class Connector(Model):
    """A connector's last OCPP StatusNotification; connector 0 is the charger as a whole."""

    __tablename__ = "charger_connector"
    __table_args__ = (
        UniqueConstraint("charger_id", "connector_id", name="uq_charger_connector"),
        Index("ix_charger_connector_faulted", "charger_id", postgresql_where=_FAULTED, sqlite_where=_FAULTED),
        Index("ix_charger_connector_charging", "charger_id", postgresql_where=_CHARGING, sqlite_where=_CHARGING),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="CASCADE"), index=True)
    charger: Mapped[Charger] = relationship(back_populates="connectors")
    connector_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[Optional[str]] = mapped_column(String(30))
    error_code: Mapped[Optional[str]] = mapped_column(String(60))
    vendor_error_code: Mapped[Optional[str]] = mapped_column(String(60))
    info: Mapped[Optional[str]] = mapped_column(String(100))
    updated_at: Mapped[Optional[datetime]] = mapped_column()

    def __repr__(self) -> str:
        return f"{self.charger_id}/{self.connector_id}"


class ChargerMessage(Model):
    """The raw stream, both directions, for the debug console (pruned by age and per charger).

    It is also the ingest's duplicate filter: an incoming OCPP message carries its msg_id in
    `dedup_key` too, and the unique (charger, dedup_key) makes a QoS 1 redelivery insert nothing.
    Redeliveries come within seconds of a reconnect, far inside the stream's retention.
    """

    __tablename__ = "charger_message"
    __table_args__ = (
        Index("ix_charger_message_charger_id_id", "charger_id", "id"),
        UniqueConstraint("charger_id", "dedup_key", name="uq_charger_message_dedup"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"))
    charger: Mapped[Charger] = relationship()
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    action: Mapped[str] = mapped_column(String(60))  # OCPP action, Telemetry, CommandResult, Malformed
    msg_id: Mapped[Optional[str]] = mapped_column(String(80))
    dedup_key: Mapped[Optional[str]] = mapped_column(String(80))  # incoming OCPP msg_id; NULL for the rest
    payload: Mapped[Optional[str]] = mapped_column(Text)
    flag: Mapped[Optional[str]] = mapped_column(String(200))  # what broke the spec, if anything
    received_at: Mapped[datetime] = mapped_column(index=True)


class ChargingSession(Model):
    """A transaction from StartTransaction to StopTransaction, live energy/power from MeterValues."""

    __tablename__ = "charging_session"
    __table_args__ = (UniqueConstraint("charger_id", "transaction_id", name="uq_charging_session_tx"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Charger] = relationship()
    transaction_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[Optional[str]] = mapped_column(String(20))
    meter_start: Mapped[Optional[int]] = mapped_column(Integer)  # Wh
    meter_last: Mapped[Optional[int]] = mapped_column(Integer)  # Wh
    meter_stop: Mapped[Optional[int]] = mapped_column(Integer)  # Wh
    energy_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    power_kw: Mapped[Optional[float]] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), default="Active", index=True)  # Active | Completed
    stop_reason: Mapped[Optional[str]] = mapped_column(String(30))
    started_at: Mapped[Optional[datetime]] = mapped_column()
    stopped_at: Mapped[Optional[datetime]] = mapped_column()
    updated_at: Mapped[Optional[datetime]] = mapped_column()

    def __repr__(self) -> str:
        return f"tx {self.transaction_id}"


class ChargerCommand(Model):
    """A remote command: stored before publishing, answered on .../cmd/{command_id}/result."""

    __tablename__ = "charger_command"
    id: Mapped[int] = mapped_column(primary_key=True)
    command_id: Mapped[str] = mapped_column(String(36), unique=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Charger] = relationship()
    action: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    # Queued -> Pending -> Sent -> Accepted | Rejected | <other OCPP conf status> | Timeout
    status: Mapped[str] = mapped_column(String(20), index=True)
    result: Mapped[Optional[str]] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # result came after Timeout
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[Optional[datetime]] = mapped_column()
    answered_at: Mapped[Optional[datetime]] = mapped_column()
    timed_out_at: Mapped[Optional[datetime]] = mapped_column()
    # its turn came (Pending) + the timeout: never published after this, and Timeout once it passes unanswered
    expires_at: Mapped[Optional[datetime]] = mapped_column()


class ChargerFault(Model):
    """The error log: one row per fault episode on a connector, until it clears."""

    __tablename__ = "charger_fault"
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Charger] = relationship()
    connector_id: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str] = mapped_column(String(60))
    vendor_error_code: Mapped[Optional[str]] = mapped_column(String(60))
    info: Mapped[Optional[str]] = mapped_column(String(100))
    nonstandard: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # not an OCPP 1.6 code
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    cleared_at: Mapped[Optional[datetime]] = mapped_column(index=True)


class BucketSnapshot(Model):
    """The network's bucket counts for one charger type at one moment, taken by beat every
    NETWORK_SNAPSHOT_MINUTES: the history behind the buckets-over-time chart."""

    __tablename__ = "charger_bucket_snapshot"
    __table_args__ = (UniqueConstraint("taken_at", "charger_type", name="uq_charger_bucket_snapshot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(index=True)  # on the snapshot interval: a second beat is a no-op
    charger_type: Mapped[str] = mapped_column(String(2))
    faulted: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    offline: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    weak_signal: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    charging: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    available: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
