"""The charger registry: entries from installations, completing auto-registered ones, deletion guards.

Services flush; the caller commits.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.chargers import (
    CHARGER_TYPES,
    Charger,
    ChargingSession,
)
from app.services import Conflict, InvalidInput
from app.services.chargers import valid_cid


def check_registry_entry(session: Session, charger: Charger) -> None:
    """A registry entry: a valid OCPP identity, unique, of type L2 or L3."""
    if not valid_cid(charger.cid or ""):
        raise InvalidInput("cid must be 1-48 characters of A-Z a-z 0-9 . _ -")
    if charger.type not in CHARGER_TYPES:
        raise InvalidInput("type must be L2 or L3")
    if not (charger.name or "").strip():
        raise InvalidInput("name is required")
    with session.no_autoflush:
        other = session.scalar(select(Charger.id).where(Charger.cid == charger.cid, Charger.id != (charger.id or 0)))
    if other is not None:
        raise Conflict(f"a charger with identity {charger.cid} already exists")


def register_installed_charger(
    session: Session, *, ocpp_identity: str, serial: str, charger_type: Optional[str] = None,
    address: Optional[str] = None, latitude: Optional[float] = None, longitude: Optional[float] = None,
    job_code: Optional[str] = None, **_details,
) -> Charger:
    """A field team installed a charger: it enters the registry, ready for monitoring. If the charger
    spoke before it was registered (auto-registered by the ingest), that entry is completed instead."""
    charger = session.scalar(select(Charger).where(Charger.cid == ocpp_identity))
    if charger is None:
        charger = Charger(cid=ocpp_identity, name=f"{job_code or ocpp_identity} (installed)", heartbeat_interval=None)
        session.add(charger)
    text = (charger_type or "").upper()
    charger.type = "L3" if ("DC" in text or "L3" in text) else "L2"
    charger.serial, charger.address = serial, address or charger.address
    charger.latitude = latitude if latitude is not None else charger.latitude
    charger.longitude = longitude if longitude is not None else charger.longitude
    charger.site = charger.site or "Customer site"
    complete_registry_entry(session, charger)
    return charger


def complete_registry_entry(session: Session, charger: Charger) -> None:
    """Someone filled in the record: an auto-registered charger is registered from now on."""
    charger.unregistered = False
    check_registry_entry(session, charger)


def ensure_charger_can_be_deleted(session: Session, charger: Charger) -> None:
    if session.scalar(select(func.count()).select_from(ChargingSession).where(
            ChargingSession.charger_id == charger.id, ChargingSession.status == "Active")):
        raise Conflict("the charger has an active session")

