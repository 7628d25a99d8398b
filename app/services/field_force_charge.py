"""Force charge: start a session on a free connector for a customer, with their own RFID tag, and stop it
at an amount of money (metered at FORCE_CHARGE_TARIFF_PER_KWH) or after a number of minutes.

The money is held on the wallet first (customers_wallet.place_hold), so two force charges cannot spend
the same balance; the final meter reading (StopTransaction meterStop) is charged once and the hold settled.
A start the charger refuses, or that never turns into a session, releases the hold.

The ingest hands each batch's session traffic and command results of a charger with a live force charge
to the `field.force_charge_progress` task (force_charge_events); a beat task (`field.check_force_charges`)
stops timed ones and catches starts that timed out.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Optional

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerCommand, ChargingSession, Connector
from app.models.customers import CustomerTag
from app.models.field import FORCE_CHARGE_MODES, ForceCharge
from app.services import Conflict, InvalidInput, get_or_404, iso_utc
from app.services import chargers_commands
from app.services import chargers
from app.services.customers import ensure_wallet, get_customer
from app.services.customers_wallet import CENT, capture_hold, parse_amount, place_hold, release_hold
from app.services.activity import record_activity
from app.services.support_audit import audit_model

LIVE = ("Starting", "Charging", "Stopping")
FREE_CONNECTOR = ("Available", "Preparing")
START_REFUSED = ("Rejected", "Timeout", "NotSupported", "NotImplemented", "Unknown")

audit_model(ForceCharge, "force_charge", ("status", "session_id", "stop_command_id", "amount_charged", "failure"))


def _cfg(name: str):
    return current_app.config[name]


def tariff() -> Decimal:
    return Decimal(str(_cfg("FORCE_CHARGE_TARIFF_PER_KWH"))).quantize(CENT)


def cost_of(energy_wh: int, per_kwh: Decimal) -> Decimal:
    """Money for metered energy, to the cent."""
    return (Decimal(max(0, energy_wh)) * per_kwh / 1000).quantize(CENT, rounding=ROUND_HALF_UP)


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or value in (None, ""):
        raise InvalidInput(f"{field} is required")
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidInput(f"{field} must be a whole number") from None
    if not low <= number <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}")
    return number


def customer_tag(session: Session, customer_id: int) -> str:
    tag = session.scalar(select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id, CustomerTag.active.is_(True))
                         .order_by(CustomerTag.id).limit(1))
    if tag is None:
        raise Conflict("the customer has no active RFID tag to start a session with")
    if len(tag) > 20:
        raise Conflict(f"the customer's tag {tag} is longer than OCPP's 20 characters")
    return tag


def free_connectors(session: Session, charger: Charger) -> list[int]:
    """Connectors (1..n) that last reported Available/Preparing, with no session and no force charge on them."""
    busy = set(session.scalars(select(ChargingSession.connector_id).where(
        ChargingSession.charger_id == charger.id, ChargingSession.status == "Active")))
    busy |= set(session.scalars(select(ForceCharge.connector_id).where(
        ForceCharge.charger_id == charger.id, ForceCharge.status.in_(LIVE))))
    return [c for c in session.scalars(select(Connector.connector_id).where(
        Connector.charger_id == charger.id, Connector.connector_id > 0, Connector.status.in_(FREE_CONNECTOR))
        .order_by(Connector.connector_id)) if c not in busy]


def start_force_charge(session: Session, cid: str, data: dict, user_id: Optional[int]) -> ForceCharge:
    """Check, hold the money, store the RemoteStartTransaction and publish it. Commits (like send_command)."""
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object with customer_id, connector_id, mode and amount or minutes")
    mode = data.get("mode")
    if mode not in FORCE_CHARGE_MODES:
        raise InvalidInput("mode must be amount or time")
    connector_id = _whole(data.get("connector_id"), "connector_id", 1, 99)
    amount = minutes = None
    if mode == "amount":
        amount = parse_amount(data.get("amount"))
        to_hold = amount
    else:
        minutes = _whole(data.get("minutes"), "minutes", 1, int(_cfg("FORCE_CHARGE_MAX_MINUTES")))
        to_hold = Decimal(str(_cfg("FORCE_CHARGE_MIN_BALANCE"))).quantize(CENT)
    customer = get_customer(session, data.get("customer_id"))
    charger = chargers.get_charger(session, cid)
    # the charger's row first: two requests for one connector serialise here
    session.execute(update(Charger).where(Charger.id == charger.id).values(commands_sent=Charger.commands_sent))
    if charger.offline:
        raise Conflict(f"charger {cid} is offline")
    if connector_id not in free_connectors(session, charger):
        raise Conflict(f"connector {connector_id} of {cid} is not free")
    tag = customer_tag(session, customer.id)
    wallet = ensure_wallet(session, customer.id)
    fc = ForceCharge(charger_id=charger.id, connector_id=connector_id, customer_id=customer.id, id_tag=tag, mode=mode,
                     amount=amount, minutes=minutes, tariff_per_kwh=tariff(), status="Starting", energy_wh=0,
                     created_by_id=user_id, created_at=utcnow())
    fc._actor_id = user_id
    session.add(fc)
    session.flush()
    hold = place_hold(session, wallet, to_hold, source_type="force_charge", source_ref=f"force_charge:{fc.id}")
    fc.hold_id = hold.id
    command = chargers_commands.create_command(
        session, cid, "RemoteStartTransaction", {"connectorId": connector_id, "idTag": tag}, user_id)
    fc.command_id = command.command_id
    what = f"{amount:.2f} {wallet.currency}" if mode == "amount" else f"{minutes} min"
    record_activity(session, user_id, "force_charge",
                    f"Force charge #{fc.id}: {cid}/{connector_id} for {customer.name} ({what}), {to_hold:.2f} held",
                    "force_charge", fc.id)
    session.commit()
    if command.status == "Pending":
        chargers_commands.publish_command(command.command_id, wait=current_app.config["CHARGER_PUBLISH_WAIT_IN_REQUEST"])
    return fc


def get_force_charge(session: Session, fc_id: Any, lock: bool = False) -> ForceCharge:
    return get_or_404(session, ForceCharge, fc_id, "force charge", lock=lock)


def force_charge_events(session: Session, charger_ids: Iterable[int]) -> list[tuple[str, int, str]]:
    """For the ingest: which of this batch's chargers have a live force charge to move along."""
    ids = sorted(set(charger_ids))
    if not ids:
        return []
    live = session.scalars(select(ForceCharge.charger_id).where(
        ForceCharge.charger_id.in_(ids), ForceCharge.status.in_(LIVE)).distinct()).all()
    return [("field.force_charge_progress", charger_id, "") for charger_id in live]


def _fail(session: Session, fc: ForceCharge, why: str) -> None:
    fc.status = "Failed"
    fc.failure = why[:200]
    fc.stopped_at = utcnow()
    if fc.hold_id:
        release_hold(session, fc.hold_id)
    record_activity(session, None, "force_charge", f"Force charge #{fc.id} failed, hold released: {why}",
                    "force_charge", fc.id)


def _link_session(session: Session, fc: ForceCharge) -> Optional[ChargingSession]:
    taken = select(ForceCharge.session_id).where(ForceCharge.session_id.is_not(None))
    return session.scalar(select(ChargingSession).where(
        ChargingSession.charger_id == fc.charger_id, ChargingSession.connector_id == fc.connector_id,
        ChargingSession.id_tag == fc.id_tag, ChargingSession.id.not_in(taken),
        ChargingSession.started_at >= fc.created_at - timedelta(minutes=5),
    ).order_by(ChargingSession.id.desc()).limit(1))


def _energy(s: ChargingSession, final: bool) -> int:
    last = s.meter_stop if final and s.meter_stop is not None else s.meter_last
    if last is None or s.meter_start is None:
        return 0
    return max(0, last - s.meter_start)


def _finish(session: Session, fc: ForceCharge, s: ChargingSession) -> None:
    """The session ended: charge the final meter reading once and settle the hold."""
    fc.energy_wh = _energy(s, final=True)
    cost = cost_of(fc.energy_wh, fc.tariff_per_kwh)
    entry = capture_hold(session, fc.hold_id, cost, user_id=None, reference=f"force_charge:{fc.id}",
                         reason=f"Force charge #{fc.id} on {fc.charger.cid}/{fc.connector_id}: "
                                f"{fc.energy_wh / 1000:.3f} kWh at {fc.tariff_per_kwh:.2f}/kWh")
    fc.amount_charged = cost
    fc.wallet_entry_id = entry.id if entry is not None else None
    fc.status = "Completed"
    fc.stopped_at = s.stopped_at or utcnow()
    record_activity(session, None, "force_charge",
                    f"Force charge #{fc.id} completed: {fc.energy_wh} Wh, {cost:.2f} charged", "force_charge", fc.id)


def _stop(session: Session, fc: ForceCharge, s: ChargingSession, why: str) -> str:
    command = chargers_commands.create_command(
        session, fc.charger.cid, "RemoteStopTransaction", {"transactionId": s.transaction_id}, None)
    fc.stop_command_id = command.command_id
    fc.status = "Stopping"
    record_activity(session, None, "force_charge", f"Force charge #{fc.id}: stop sent ({why})", "force_charge", fc.id)
    return command.command_id if command.status == "Pending" else ""


def advance(session: Session, fc: ForceCharge, now: datetime) -> Optional[str]:
    """One step of a live force charge (caller holds its row lock and commits); returns a command id to publish."""
    if fc.status == "Starting":
        command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == fc.command_id))
        status = command.status if command is not None else "Unknown"
        s = _link_session(session, fc)
        if s is not None:
            fc.session_id = s.id
            fc.status = "Charging"
            fc.started_at = s.started_at or now
            if fc.mode == "time":
                fc.stop_at = fc.started_at + timedelta(minutes=fc.minutes)
            record_activity(session, None, "force_charge", f"Force charge #{fc.id} charging (tx {s.transaction_id})",
                            "force_charge", fc.id)
        elif status in START_REFUSED or (status not in chargers_commands.OPEN_COMMAND_STATUSES and status != "Accepted"):
            _fail(session, fc, f"the charger answered {status} to RemoteStartTransaction")
            return None
        elif now - fc.created_at > timedelta(seconds=_cfg("FORCE_CHARGE_START_TIMEOUT")):
            _fail(session, fc, f"no session started within {_cfg('FORCE_CHARGE_START_TIMEOUT')} s")
            return None
        else:
            return None
    s = fc.charging_session or session.get(ChargingSession, fc.session_id)
    session.refresh(s)
    if s.status == "Completed":
        _finish(session, fc, s)
        return None
    fc.energy_wh = _energy(s, final=False)
    if fc.status == "Stopping":
        stop = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == fc.stop_command_id))
        if stop is not None and stop.status in START_REFUSED:
            fc.status = "Charging"  # the stop did not take: the next check sends it again
        return None
    if fc.mode == "amount" and cost_of(fc.energy_wh, fc.tariff_per_kwh) >= fc.amount:
        return _stop(session, fc, s, f"{fc.amount:.2f} reached")
    if fc.mode == "time" and fc.stop_at is not None and now >= fc.stop_at:
        return _stop(session, fc, s, f"{fc.minutes} min reached")
    return None


def progress_charger(session: Session, charger_id: int, now: Optional[datetime] = None) -> list[str]:
    """Move along every live force charge of one charger (the ingest's hand-over). Caller commits, then publishes."""
    now = now or utcnow()
    ids = session.scalars(select(ForceCharge.id).where(ForceCharge.charger_id == charger_id, ForceCharge.status.in_(LIVE))).all()
    return _advance_all(session, ids, now)


def check_force_charges(session: Session, now: Optional[datetime] = None) -> list[str]:
    """Beat: timed stops, starts that never came, sessions that ended unseen. Caller commits, then publishes."""
    now = now or utcnow()
    ids = session.scalars(select(ForceCharge.id).where(ForceCharge.status.in_(LIVE))).all()
    return _advance_all(session, ids, now)


def _advance_all(session: Session, ids, now: datetime) -> list[str]:
    publish = []
    for fc_id in ids:
        fc = get_force_charge(session, fc_id, lock=True)
        if fc.status not in LIVE:
            continue
        command_id = advance(session, fc, now)
        if command_id:
            publish.append(command_id)
    return publish


def force_charge_json(fc: ForceCharge) -> dict:
    return {
        "id": fc.id, "force_charge_id": fc.id, "status": fc.status, "cid": fc.charger.cid, "connector_id": fc.connector_id,
        "customer_id": fc.customer_id, "mode": fc.mode, "amount": f"{fc.amount:.2f}" if fc.amount is not None else None,
        "minutes": fc.minutes, "tariff_per_kwh": f"{fc.tariff_per_kwh:.2f}", "energy_wh": fc.energy_wh,
        "amount_charged": f"{fc.amount_charged:.2f}" if fc.amount_charged is not None else None,
        "held": f"{fc.hold.amount:.2f}" if fc.hold else None, "hold_status": fc.hold.status if fc.hold else None,
        "command_id": fc.command_id, "stop_command_id": fc.stop_command_id, "session_id": fc.session_id,
        "failure": fc.failure, "created_at": iso_utc(fc.created_at),
        "started_at": iso_utc(fc.started_at),
        "stopped_at": iso_utc(fc.stopped_at),
    }


def recent_force_charges(session: Session, limit: int = 50) -> list[ForceCharge]:
    return list(session.scalars(select(ForceCharge).order_by(ForceCharge.id.desc()).limit(limit)))
