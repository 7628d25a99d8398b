"""One charger's live status: the charger page and `GET /network/chargers/<cid>`.
"""
from __future__ import annotations


from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import iso_utc
from app.models.chargers import (
    ChargerCommand,
    ChargerFault,
    ChargerMessage,
    ChargingSession,
)
from app.services.chargers_ocpp import link_summary
from app.services.chargers import bucket_of, get_charger
from app.services.chargers_commands import command_json
from app.services.chargers_sessions import session_json


def charger_detail(session: Session, cid: str, messages: int = 30) -> dict:
    """The live charger page / contract `GET /network/chargers/<cid>` body."""
    charger = get_charger(session, cid)
    sessions = session.scalars(
        select(ChargingSession).where(ChargingSession.charger_id == charger.id)
        .order_by(ChargingSession.id.desc()).limit(10)
    ).all()
    commands = session.scalars(
        select(ChargerCommand).where(ChargerCommand.charger_id == charger.id)
        .order_by(ChargerCommand.id.desc()).limit(10)
    ).all()
    faults = session.scalars(
        select(ChargerFault).where(ChargerFault.charger_id == charger.id).order_by(ChargerFault.id.desc()).limit(20)
    ).all()
    return {
        "cid": charger.cid,
        "name": charger.name,
        "type": charger.type,
        "bucket": bucket_of(session, charger.id),
        "last_seen": iso_utc(charger.last_seen),
        "site": charger.site,
        "address": charger.address,
        "power_kw": charger.power_kw,
        "vendor": charger.vendor,
        "model": charger.model,
        "serial": charger.serial,
        "firmware_version": charger.firmware_version,
        "firmware_status": charger.firmware_status,
        "diagnostics_status": charger.diagnostics_status,
        "heartbeat_interval": charger.heartbeat_interval,
        "last_heartbeat_gap": charger.last_heartbeat_gap,
        "rssi_dbm": charger.last_rssi,
        "temperature_c": charger.temperature_c,
        "unregistered": charger.unregistered,
        "ocpp": link_summary(session, charger.id),  # connected to an OCPP gateway, and since when
        "connectors": [
            {
                "connector_id": c.connector_id, "status": c.status, "error_code": c.error_code,
                "vendor_error_code": c.vendor_error_code, "updated_at": iso_utc(c.updated_at),
            }
            for c in charger.connectors
        ],
        "sessions": [session_json(s) for s in sessions],
        "commands": [command_json(c) for c in commands],
        "faults": [
            {
                "connector_id": f.connector_id, "error_code": f.error_code, "vendor_error_code": f.vendor_error_code,
                "nonstandard": f.nonstandard, "occurrences": f.occurrences, "first_seen": iso_utc(f.first_seen),
                "last_seen": iso_utc(f.last_seen), "cleared_at": iso_utc(f.cleared_at),
            }
            for f in faults
        ],
        "messages": recent_messages(session, charger.id, limit=messages),
    }


def recent_messages(session: Session, charger_id: int, after_id: int = 0, limit: int = 50) -> list[dict]:
    rows = session.scalars(
        select(ChargerMessage).where(ChargerMessage.charger_id == charger_id, ChargerMessage.id > after_id)
        .order_by(ChargerMessage.id.desc()).limit(limit)
    ).all()
    return [
        {
            "id": m.id, "direction": m.direction, "action": m.action, "msg_id": m.msg_id,
            "payload": m.payload, "flag": m.flag, "received_at": iso_utc(m.received_at),
        }
        for m in rows
    ]

