"""Firmware: the catalogue (binaries served at signed, expiring URLs) and campaigns that roll one out in batches.

A campaign's whole state is in its rows (campaign, one row per charger, the status history), and
`advance_campaigns` moves every running campaign one step from there; beat calls it, and so does
the task the ingest queues when a FirmwareStatusNotification arrives. Any process may restart at
any time: the next call picks up where the rows say.

Decisions where the issue is silent:
- A charger counts as done when it reports Installed; its next BootNotification (the ingest stores
  firmwareVersion) confirms the version, shown as `confirmed` on the campaign.
- A failed attempt is DownloadFailed / InstallationFailed, a refused or timed-out UpdateFirmware, or no
  progress for FIRMWARE_ATTEMPT_TIMEOUT_S; it is retried `max_retries` times, then the charger is Failed.
- The failure rate is Failed / (Installed + Failed), checked once a batch's worth of chargers finished;
  a campaign resumed by hand counts only what fails after the resume.
- Batch n+1 starts only when every charger of the batches before it is finished (`parallel_batches` at once).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Optional

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerCommand
from app.models.fleet import CampaignCharger, Firmware, FirmwareCampaign, FirmwareStatusEvent
from app.services import Conflict, Forbidden, InvalidInput, NotFound
from app.services import chargers_commands
from app.services.people import require_capability
from app.services.activity import record_activity

DOWNLOAD_SALT = "firmware-download"
RUNNING, PAUSED, COMPLETED, CANCELLED = "Running", "Paused", "Completed", "Cancelled"
OPEN_CAMPAIGN = (RUNNING, PAUSED)
# a campaign's charger: waiting, on its way, or finished
WAITING = ("Pending", "Retrying")
IN_PROGRESS = ("Sent", "Downloading", "Downloaded", "Installing")
FINISHED = ("Installed", "Failed", "Cancelled")
FIRMWARE_STATUSES = ("Downloading", "Downloaded", "Installing", "Installed", "DownloadFailed", "InstallationFailed")
FAILURES = ("DownloadFailed", "InstallationFailed")
COMMAND_FAILURES = ("Rejected", "Timeout", "NotSupported", "NotImplemented", "Unknown")
# by hand: which moves are allowed from which campaign status
CAMPAIGN_MOVES = {"pause": (RUNNING,), "resume": (PAUSED,), "cancel": (RUNNING, PAUSED)}


def _cfg(name: str):
    return current_app.config[name]


# --- the catalogue -------------------------------------------------------------------------------

def firmware_dir() -> Path:
    path = Path(_cfg("UPLOAD_DIR")) / "firmware"
    path.mkdir(parents=True, exist_ok=True)
    return path


def add_firmware(session: Session, vendor: str, model: str, version: str, notes: Optional[str],
                 filename: str, data: bytes, user_id: Optional[int]) -> Firmware:
    """Store a firmware image (checksummed, under UPLOAD_DIR) in the catalogue; one per vendor/model/version."""
    if not data:
        raise InvalidInput("file is empty")
    if len(data) > _cfg("FIRMWARE_MAX_BYTES"):
        raise InvalidInput(f"file is larger than {_cfg('FIRMWARE_MAX_BYTES')} bytes")
    if session.scalar(select(Firmware.id).where(Firmware.vendor == vendor, Firmware.model == model,
                                                Firmware.version == version)):
        raise Conflict(f"{vendor} {model} {version} is already in the catalogue")
    stored = f"{_slug(vendor)}-{_slug(model)}-{_slug(version)}-{secrets.token_hex(8)}.bin"
    firmware = Firmware(vendor=vendor, model=model, version=version, notes=notes or None, stored_name=stored,
                        original_name=(filename or stored)[:200], size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), uploaded_by_id=user_id, created_at=utcnow())
    session.add(firmware)
    session.flush()
    (firmware_dir() / stored).write_bytes(data)

    record_activity(session, user_id, "firmware", f"Added firmware {firmware} ({firmware.sha256[:12]})",
                    ref_type="firmware", ref_id=firmware.id)
    return firmware


def firmware_json(f: Firmware) -> dict:
    return {"id": f.id, "vendor": f.vendor, "model": f.model, "version": f.version, "notes": f.notes,
            "size": f.size, "sha256": f.sha256, "created_at": _iso(f.created_at)}


def list_firmware(session: Session, vendor: Optional[str] = None, model: Optional[str] = None) -> list[Firmware]:
    query = select(Firmware).order_by(Firmware.vendor, Firmware.model, Firmware.created_at.desc())
    if vendor:
        query = query.where(Firmware.vendor == vendor)
    if model:
        query = query.where(Firmware.model == model)
    return list(session.scalars(query))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_cfg("SECRET_KEY"), salt=DOWNLOAD_SALT)


def download_url(firmware: Firmware, charger_id: int) -> str:
    """The signed, expiring HTTP URL a charger downloads this image from (UpdateFirmware's location)."""
    token = _serializer().dumps({"f": firmware.id, "c": charger_id})
    name = f"{_slug(firmware.vendor)}-{_slug(firmware.model)}-{_slug(firmware.version)}.bin"
    return f"{_cfg('PUBLIC_BASE_URL').rstrip('/')}/fleet/firmware/{token}/{name}"


def firmware_for_download(session: Session, token: str) -> tuple[Firmware, Path]:
    try:
        data = _serializer().loads(token, max_age=_cfg("FIRMWARE_LINK_HOURS") * 3600)
    except SignatureExpired:
        raise Forbidden("this firmware link has expired")
    except BadSignature:
        raise Forbidden("this firmware link is not valid")
    firmware = session.get(Firmware, int(data.get("f", 0))) if isinstance(data, dict) else None
    if firmware is None:
        raise NotFound("no such firmware")
    return firmware, firmware_dir() / firmware.stored_name


# --- campaigns -------------------------------------------------------------------------------------

def create_campaign(session: Session, firmware_id: int, user_id: Optional[int], *, batch_size: int,
                    charger_cids: Optional[list[str]] = None, vendor: Optional[str] = None,
                    model: Optional[str] = None, site: Optional[str] = None,
                    current_version: Optional[str] = None, parallel_batches: int = 1,
                    window_start_hour: Optional[int] = None, window_end_hour: Optional[int] = None,
                    max_retries: int = 2, failure_threshold: float = 0.2) -> FirmwareCampaign:
    """Choose the chargers (a list, or vendor/model/site/current version; by default the firmware's own
    vendor and model, skipping those already on it), cut them into batches, and start the campaign.
    Needs the department's firmware capability."""
    require_capability(session, user_id, "firmware")
    firmware = session.get(Firmware, firmware_id)
    if firmware is None:
        raise NotFound(f"no firmware {firmware_id}")
    if (window_start_hour is None) != (window_end_hour is None):
        raise InvalidInput("give both window_start_hour and window_end_hour, or neither")
    query = select(Charger).order_by(Charger.cid)
    if charger_cids:
        query = query.where(Charger.cid.in_(charger_cids))
        targeting = f"{len(charger_cids)} chargers by identity"
    else:
        vendor = vendor or (None if site or current_version else firmware.vendor)
        model = model or (None if site or current_version else firmware.model)
        words = []
        for column, value, label in ((Charger.vendor, vendor, "vendor"), (Charger.model, model, "model"),
                                     (Charger.site, site, "site"), (Charger.firmware_version, current_version, "version")):
            if value:
                query = query.where(column == value)
                words.append(f"{label} {value}")
        query = query.where(func.coalesce(Charger.firmware_version, "") != firmware.version)
        targeting = ", ".join(words)
    chargers = list(session.scalars(query))
    if charger_cids:
        missing = sorted(set(charger_cids) - {c.cid for c in chargers})
        if missing:
            raise NotFound(f"unknown chargers: {', '.join(missing[:20])}")
    if not chargers:
        raise InvalidInput("no charger matches the campaign's target")
    busy = session.scalars(
        select(Charger.cid).join(CampaignCharger, CampaignCharger.charger_id == Charger.id)
        .join(FirmwareCampaign, FirmwareCampaign.id == CampaignCharger.campaign_id)
        .where(FirmwareCampaign.status.in_(OPEN_CAMPAIGN), Charger.id.in_([c.id for c in chargers]),
               CampaignCharger.status.not_in(FINISHED))
    ).all()
    if busy:
        raise Conflict(f"already in an open campaign: {', '.join(sorted(busy)[:20])}")
    campaign = FirmwareCampaign(
        firmware_id=firmware.id, status=RUNNING, targeting=targeting[:400], batch_size=batch_size,
        parallel_batches=parallel_batches, window_start_hour=window_start_hour, window_end_hour=window_end_hour,
        max_retries=max_retries, failure_threshold=failure_threshold, created_by_id=user_id, created_at=utcnow(),
        ack_failed=0, ack_finished=0,
    )
    session.add(campaign)
    session.flush()
    session.add_all([
        CampaignCharger(campaign_id=campaign.id, charger_id=c.id, batch_no=i // batch_size, status="Pending", attempts=0)
        for i, c in enumerate(chargers)
    ])
    session.flush()
    _audit(session, campaign, user_id, f"Started: {firmware} to {len(chargers)} chargers ({targeting}), "
                                        f"batches of {batch_size}")
    return campaign


def get_campaign(session: Session, campaign_id: int) -> FirmwareCampaign:
    campaign = session.get(FirmwareCampaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    return campaign


def move_campaign(session: Session, campaign_id: int, move: str, user_id: Optional[int]) -> FirmwareCampaign:
    """Pause, resume or cancel by hand (audited); a move the current status does not allow is a Conflict."""
    if move not in CAMPAIGN_MOVES:
        raise InvalidInput(f"move must be one of {', '.join(CAMPAIGN_MOVES)}")
    campaign = _locked(session, campaign_id)
    if campaign.status not in CAMPAIGN_MOVES[move]:
        raise Conflict(f"a {campaign.status.lower()} campaign cannot {move}")
    if move == "pause":
        campaign.status, campaign.paused_reason = PAUSED, "paused by hand"
    elif move == "resume":
        counts = _counts(session, campaign.id)
        # failures before the resume were seen by whoever resumed: the threshold counts from here
        campaign.ack_failed = counts.get("Failed", 0)
        campaign.ack_finished = counts.get("Failed", 0) + counts.get("Installed", 0)
        campaign.status, campaign.paused_reason = RUNNING, None
    else:
        session.execute(update(CampaignCharger).where(
            CampaignCharger.campaign_id == campaign.id, CampaignCharger.status.in_(WAITING)
        ).values(status="Cancelled", finished_at=utcnow()))
        campaign.status, campaign.finished_at = CANCELLED, utcnow()
    _audit(session, campaign, user_id, f"{move.capitalize()}d by hand" if move != "cancel" else "Cancelled by hand")
    return campaign


def campaign_json(session: Session, campaign: FirmwareCampaign) -> dict:
    rows = session.execute(
        select(Charger.cid, CampaignCharger).join(Charger, Charger.id == CampaignCharger.charger_id)
        .where(CampaignCharger.campaign_id == campaign.id).order_by(CampaignCharger.batch_no, Charger.cid)
    ).all()
    counts = {s: 0 for s in WAITING + IN_PROGRESS + FINISHED}
    for _, t in rows:
        counts[t.status] = counts.get(t.status, 0) + 1
    return {
        "id": campaign.id, "status": campaign.status, "paused_reason": campaign.paused_reason,
        "firmware": firmware_json(campaign.firmware), "targeting": campaign.targeting,
        "batch_size": campaign.batch_size, "parallel_batches": campaign.parallel_batches,
        "window": [campaign.window_start_hour, campaign.window_end_hour] if campaign.window_start_hour is not None else None,
        "max_retries": campaign.max_retries, "failure_threshold": campaign.failure_threshold,
        "counts": counts,
        "chargers": [
            {"cid": cid, "status": t.status, "batch": t.batch_no, "attempts": t.attempts, "error": t.last_error,
             "confirmed": t.confirmed_at is not None, "status_at": _iso(t.status_at)}
            for cid, t in rows
        ],
        "created_at": _iso(campaign.created_at), "finished_at": _iso(campaign.finished_at),
    }


def charger_firmware_history(session: Session, charger_id: int, limit: int = 200) -> list[dict]:
    rows = session.execute(
        select(FirmwareStatusEvent, CampaignCharger.campaign_id)
        .outerjoin(CampaignCharger, CampaignCharger.id == FirmwareStatusEvent.target_id)
        .where(FirmwareStatusEvent.charger_id == charger_id).order_by(FirmwareStatusEvent.id.desc()).limit(limit)
    ).all()
    return [{"status": e.status, "at": _iso(e.at), "campaign_id": campaign_id, "attempt": e.attempt}
            for e, campaign_id in rows]


# --- what the chargers say (called by the ingest inside its batch transaction) ----------------------

def record_firmware_statuses(session: Session, notes: Iterable[tuple[int, object, datetime]]) -> list[tuple[str, int, str]]:
    """Keep every FirmwareStatusNotification and move the charger's campaign row on it.

    Returns the ingest's events (task name, charger id, detail) so the campaign advances without
    waiting for beat.
    """
    notes = list(notes)
    ids = sorted({charger_id for charger_id, _, _ in notes})
    targets = {
        t.charger_id: t for t in session.scalars(
            select(CampaignCharger).join(FirmwareCampaign, FirmwareCampaign.id == CampaignCharger.campaign_id)
            .where(CampaignCharger.charger_id.in_(ids), FirmwareCampaign.status.in_(OPEN_CAMPAIGN),
                   CampaignCharger.status.in_(IN_PROGRESS))
        )
    }
    events = []
    for charger_id, status, at in sorted(notes, key=lambda n: n[2]):
        status = str(status or "")[:40] or "Unknown"
        target = targets.get(charger_id)
        session.add(FirmwareStatusEvent(charger_id=charger_id, target_id=target.id if target else None, status=status,
                                        attempt=target.attempts if target else None, at=at, received_at=utcnow()))
        if target is None or target.status not in IN_PROGRESS or status not in FIRMWARE_STATUSES:
            continue
        target.status_at = at
        if status in FAILURES:
            _attempt_failed(target, status)
        else:
            target.status = status
            if status == "Installed":
                target.finished_at = at
        events.append(("firmware.charger_firmware_status", charger_id, status))
    return events


def _attempt_failed(target: CampaignCharger, why: str) -> None:
    """Retry while attempts remain (max_retries after the first), then the charger has Failed."""
    target.last_error = why[:200]
    if target.attempts > target.campaign.max_retries:
        target.status, target.finished_at = "Failed", utcnow()
    else:
        target.status = "Retrying"


# --- beat ---------------------------------------------------------------------------------------------

def advance_campaigns(session: Session, now: Optional[datetime] = None) -> list[str]:
    """Move every running campaign one step; returns the UpdateFirmware command ids to publish after the
    caller commits."""
    now = now or utcnow()
    to_publish: list[str] = []
    for campaign_id in session.scalars(select(FirmwareCampaign.id).where(FirmwareCampaign.status == RUNNING)).all():
        to_publish += _advance(session, campaign_id, now)
    return to_publish


def _advance(session: Session, campaign_id: int, now: datetime) -> list[str]:
    campaign = _locked(session, campaign_id)  # one advancer per campaign at a time (beat and the ingest's task)
    if campaign.status != RUNNING:
        return []
    targets = list(session.scalars(select(CampaignCharger).where(CampaignCharger.campaign_id == campaign.id)))
    _settle_commands(session, targets, now)
    _confirm_versions(session, campaign, targets)
    if _pause_on_failures(session, campaign, targets):
        return []
    if all(t.status in FINISHED for t in targets):
        campaign.status, campaign.finished_at = COMPLETED, now
        _audit(session, campaign, None, "Completed: " + ", ".join(
            f"{n} {s.lower()}" for s, n in sorted(_tally(targets).items())))
        return []
    if not _in_window(campaign, now):
        return []
    unfinished = sorted({t.batch_no for t in targets if t.status not in FINISHED})
    open_batches = set(unfinished[:max(1, campaign.parallel_batches)])
    to_publish = []
    for target in targets:
        if target.batch_no in open_batches and target.status in WAITING:
            to_publish += _send_update(session, campaign, target, now)
    return to_publish


def _send_update(session: Session, campaign: FirmwareCampaign, target: CampaignCharger, now: datetime) -> list[str]:
    charger = session.get(Charger, target.charger_id)
    payload = {"location": download_url(campaign.firmware, charger.id),
               "retrieveDate": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "retries": 1}
    command = chargers_commands.create_command(session, charger.cid, "UpdateFirmware", payload, campaign.created_by_id)
    target.attempts += 1
    target.status, target.command_id, target.sent_at, target.status_at = "Sent", command.command_id, now, now
    return [command.command_id] if command.status == "Pending" else []


def _settle_commands(session: Session, targets: list[CampaignCharger], now: datetime) -> None:
    """A refused or timed-out UpdateFirmware, or an attempt with no progress for too long, is a failed attempt."""
    sent = {t.command_id: t for t in targets if t.status in IN_PROGRESS and t.command_id}
    if not sent:
        return
    statuses = dict(session.execute(
        select(ChargerCommand.command_id, ChargerCommand.status).where(ChargerCommand.command_id.in_(list(sent)))
    ).all())
    stale = now - timedelta(seconds=_cfg("FIRMWARE_ATTEMPT_TIMEOUT_S"))
    for command_id, target in sent.items():
        status = statuses.get(command_id)
        if target.status == "Sent" and status in COMMAND_FAILURES:
            _attempt_failed(target, f"UpdateFirmware {status}")
        elif (target.status_at or target.sent_at or now) < stale:
            _attempt_failed(target, f"no progress since {target.status}")


def _confirm_versions(session: Session, campaign: FirmwareCampaign, targets: list[CampaignCharger]) -> None:
    waiting = [t for t in targets if t.status == "Installed" and t.confirmed_at is None]
    if not waiting:
        return
    booted = dict(session.execute(
        select(Charger.id, Charger.booted_at).where(
            Charger.id.in_([t.charger_id for t in waiting]), Charger.firmware_version == campaign.firmware.version)
    ).all())
    for t in waiting:
        if t.charger_id in booted and booted[t.charger_id] and booted[t.charger_id] >= (t.sent_at or booted[t.charger_id]):
            t.confirmed_at = booted[t.charger_id]


def _pause_on_failures(session: Session, campaign: FirmwareCampaign, targets: list[CampaignCharger]) -> bool:
    tally = _tally(targets)
    failed = tally.get("Failed", 0) - campaign.ack_failed
    finished = tally.get("Failed", 0) + tally.get("Installed", 0) - campaign.ack_finished
    if finished < min(campaign.batch_size, len(targets)) or failed <= 0:
        return False
    rate = failed / finished
    if rate <= campaign.failure_threshold:
        return False
    campaign.status = PAUSED
    campaign.paused_reason = f"failure rate {rate:.0%} passed {campaign.failure_threshold:.0%} ({failed} of {finished})"
    _audit(session, campaign, None, f"Paused by itself: {campaign.paused_reason}")
    return True


def _in_window(campaign: FirmwareCampaign, now: datetime) -> bool:
    start, end = campaign.window_start_hour, campaign.window_end_hour
    if start is None or end is None:
        return True
    return start <= now.hour < end if start <= end else (now.hour >= start or now.hour < end)  # overnight window


def _locked(session: Session, campaign_id: int) -> FirmwareCampaign:
    """The campaign row, write-locked for this transaction (the same UPDATE trick as a charger's commands)."""
    locked = session.execute(
        update(FirmwareCampaign).where(FirmwareCampaign.id == campaign_id)
        .values(batch_size=FirmwareCampaign.batch_size).returning(FirmwareCampaign.id)
    ).scalar()
    if locked is None:
        raise NotFound(f"no campaign {campaign_id}")
    campaign = session.get(FirmwareCampaign, campaign_id)
    session.refresh(campaign)
    return campaign


def _counts(session: Session, campaign_id: int) -> dict[str, int]:
    return dict(session.execute(
        select(CampaignCharger.status, func.count()).where(CampaignCharger.campaign_id == campaign_id)
        .group_by(CampaignCharger.status)
    ).all())


def _tally(targets: list[CampaignCharger]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in targets:
        out[t.status] = out.get(t.status, 0) + 1
    return out


def _audit(session: Session, campaign: FirmwareCampaign, user_id: Optional[int], text: str) -> None:
    record_activity(session, user_id, "firmware_campaign", f"Campaign {campaign.id}: {text}",
                    ref_type="firmware_campaign", ref_id=campaign.id)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text or "")[:60] or "x"


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
