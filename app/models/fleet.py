"""Fleet operations: firmware catalogue and campaigns, diagnostics files, SSH hosts and reboot jobs."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import created_at_column
from app.models.chargers import Charger


class Firmware(Model):
    """One firmware image of the catalogue; the binary lives under UPLOAD_DIR/firmware, never in the web root."""

    __tablename__ = "firmware"
    __table_args__ = (UniqueConstraint("vendor", "model", "version", name="uq_firmware_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vendor: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(60))
    notes: Mapped[Optional[str]] = mapped_column(Text)
    stored_name: Mapped[str] = mapped_column(String(200))
    original_name: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    uploaded_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()

    def __repr__(self) -> str:
        return f"{self.vendor} {self.model} {self.version}"


class FirmwareCampaign(Model):
    """A roll-out of one firmware to a set of chargers, batch after batch, driven by beat from this row."""

    __tablename__ = "firmware_campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    firmware_id: Mapped[int] = mapped_column(ForeignKey("firmware.id", ondelete="RESTRICT"), index=True)
    firmware: Mapped[Firmware] = relationship()
    # Running -> Paused -> Running ... -> Completed | Cancelled
    status: Mapped[str] = mapped_column(String(20), index=True)
    targeting: Mapped[str] = mapped_column(String(400))  # how the chargers were chosen, in words
    batch_size: Mapped[int] = mapped_column(Integer)
    parallel_batches: Mapped[int] = mapped_column(Integer, default=1)  # how many batches run at once
    window_start_hour: Mapped[Optional[int]] = mapped_column(Integer)  # UTC hours when new sends may start
    window_end_hour: Mapped[Optional[int]] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer, default=2)
    failure_threshold: Mapped[float] = mapped_column(Float, default=0.2)  # failed / finished that pauses it
    paused_reason: Mapped[Optional[str]] = mapped_column(String(200))
    # failed / finished counts at the last resume by hand: the threshold counts only what came after
    ack_failed: Mapped[int] = mapped_column(Integer, default=0)
    ack_finished: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[Optional[datetime]] = mapped_column()

    targets: Mapped[list["CampaignCharger"]] = relationship(
        back_populates="campaign", order_by="CampaignCharger.id", viewonly=True)

    def __repr__(self) -> str:
        return f"Campaign {self.id}"


class CampaignCharger(Model):
    """One charger of a campaign: its batch, attempts, and where it stands now."""

    __tablename__ = "firmware_campaign_charger"
    __table_args__ = (
        UniqueConstraint("campaign_id", "charger_id", name="uq_campaign_charger"),
        Index("ix_campaign_charger_charger_status", "charger_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("firmware_campaign.id", ondelete="RESTRICT"), index=True)
    campaign: Mapped[FirmwareCampaign] = relationship(back_populates="targets")
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"))
    charger: Mapped[Charger] = relationship()
    batch_no: Mapped[int] = mapped_column(Integer)
    # Pending -> Sent -> Downloading -> Downloaded -> Installing -> Installed | Failed | Cancelled
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    command_id: Mapped[Optional[str]] = mapped_column(String(36))  # the UpdateFirmware of the current attempt
    last_error: Mapped[Optional[str]] = mapped_column(String(200))
    sent_at: Mapped[Optional[datetime]] = mapped_column()
    status_at: Mapped[Optional[datetime]] = mapped_column()
    finished_at: Mapped[Optional[datetime]] = mapped_column()
    confirmed_at: Mapped[Optional[datetime]] = mapped_column()  # its BootNotification reported the new version


class FirmwareStatusEvent(Model):
    """Every FirmwareStatusNotification, kept for good (the raw stream is pruned; this is not)."""

    __tablename__ = "firmware_status_event"
    __table_args__ = (Index("ix_firmware_status_event_charger_id_id", "charger_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"))
    charger: Mapped[Charger] = relationship()
    target_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("firmware_campaign_charger.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[Optional[int]] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column()  # the charger's time
    received_at: Mapped[datetime] = created_at_column()


class DiagnosticsFile(Model):
    """A GetDiagnostics request and the file the charger uploaded to its signed URL."""

    __tablename__ = "diagnostics_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Charger] = relationship()
    command_id: Mapped[Optional[str]] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(20))  # Requested -> Uploaded
    stored_name: Mapped[Optional[str]] = mapped_column(String(200))
    original_name: Mapped[Optional[str]] = mapped_column(String(200))
    size: Mapped[Optional[int]] = mapped_column(Integer)
    sha256: Mapped[Optional[str]] = mapped_column(String(64))
    requested_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    requested_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
    uploaded_at: Mapped[Optional[datetime]] = mapped_column()


class SshHost(Model):
    """A machine we may reboot over SSH: a site controller (by site) or a charger's own Linux (by charger).

    The private key is never stored: `key_secret` names where it is (file:/abs/path or env:VARIABLE).
    """

    __tablename__ = "ssh_host"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    charger_id: Mapped[Optional[int]] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Optional[Charger]] = relationship()
    site: Mapped[Optional[str]] = mapped_column(String(120), index=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    username: Mapped[str] = mapped_column(String(64))
    host_key: Mapped[str] = mapped_column(Text)  # pinned public key: "ssh-ed25519 AAAA..."
    key_secret: Mapped[str] = mapped_column(String(300))
    reboot_command: Mapped[str] = mapped_column(String(500), default="sudo /sbin/reboot")
    timeout_s: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = created_at_column()

    def __repr__(self) -> str:
        return self.name


class SshJob(Model):
    """One SSH reboot: who asked, where it ran, its exit code and output."""

    __tablename__ = "ssh_job"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), unique=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("ssh_host.id", ondelete="RESTRICT"), index=True)
    host: Mapped[SshHost] = relationship()
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Charger] = relationship()
    status: Mapped[str] = mapped_column(String(20))  # Queued -> Running -> Succeeded | Failed
    exit_code: Mapped[Optional[int]] = mapped_column(Integer)
    output: Mapped[Optional[str]] = mapped_column(Text)
    error: Mapped[Optional[str]] = mapped_column(String(300))
    requested_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    requested_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[Optional[datetime]] = mapped_column()
    finished_at: Mapped[Optional[datetime]] = mapped_column()
