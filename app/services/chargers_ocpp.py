"""Chargers on the OCPP gateway: their passwords, who may connect, what a boot and an id tag are
answered, transaction ids, and which gateway holds which charger.

Plain functions taking a session, like every service: the API (`PUT .../ocpp-password`), the
gateway process (app/ocpp/) and the demo seed call them. They flush; the caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Optional

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.chargers_ocpp import ChargerOcppLink, OcppGatewayNode, OcppTransaction
from app.models.customers import CustomerTag, Wallet
from app.services import InvalidInput, NotFound, iso_utc
from app.services.customers import default_currency
from app.services.activity import record_activity

ACCEPTED, BLOCKED, EXPIRED, INVALID = "Accepted", "Blocked", "Expired", "Invalid"

# BootNotification's answer, first match wins: (rule, status). A charger an admin has not completed in
# the registry (auto-registered) waits as Pending while auto-registration is on; otherwise it is Rejected.
BOOT_RULES = (
    ("not in the registry", "Rejected"),
    ("auto-registered, auto-registration on", "Pending"),
    ("auto-registered, auto-registration off", "Rejected"),
    ("registered", "Accepted"),
)

# Authorize / StartTransaction's idTagInfo.status, first match wins. Customers have no status of their
# own: a card is blocked by switching its tag off, and charging needs credit in the wallet.
AUTHORIZATION_RULES = (
    ("an operator tag (OCPP_OPERATOR_TAGS)", ACCEPTED),
    ("no customer has this tag", INVALID),
    ("the tag is switched off", BLOCKED),
    ("the wallet has no credit (balance not above zero)", BLOCKED),
    ("otherwise", ACCEPTED),
)


def _cfg(name: str):
    return current_app.config[name]


def _charger(session: Session, cid: str) -> Charger:
    charger = session.scalar(select(Charger).where(Charger.cid == cid))
    if charger is None:
        raise NotFound(f"no charger {cid}")
    return charger


def _link(session: Session, charger_id: int) -> ChargerOcppLink:
    link = session.get(ChargerOcppLink, charger_id)
    if link is None:
        link = ChargerOcppLink(charger_id=charger_id, connected=False)
        session.add(link)
    return link


# --- passwords (security profiles 1 and 2) -------------------------------------------------------

def hash_ocpp_password(password: str) -> str:
    return generate_password_hash(password, method=_cfg("OCPP_PASSWORD_HASH_METHOD"))


def set_ocpp_password(session: Session, cid: str, password: str, user_id: Optional[int]) -> ChargerOcppLink:
    """An Admin/CPO sets the charger's Basic-auth password; only its hash is kept (audited, never shown)."""
    minimum = _cfg("OCPP_PASSWORD_MIN_LENGTH")
    if not isinstance(password, str) or len(password) < minimum:
        raise InvalidInput(f"password: at least {minimum} characters")
    charger = _charger(session, cid)
    link = _link(session, charger.id)
    link.password_hash = hash_ocpp_password(password)
    link.password_set_at, link.password_set_by_id = utcnow(), user_id
    session.flush()
    record_activity(session, user_id, "charger_ocpp_password", f"OCPP password of charger {cid} set",
                    ref_type="charger", ref_id=charger.id)
    return link


@dataclass(frozen=True)
class OcppAccount:
    """What the handshake needs to know about an identity."""

    charger_id: int
    unregistered: bool
    password_hash: Optional[str]


def ocpp_account(session: Session, cid: str) -> Optional[OcppAccount]:
    row = session.execute(
        select(Charger.id, Charger.unregistered, ChargerOcppLink.password_hash)
        .outerjoin(ChargerOcppLink, ChargerOcppLink.charger_id == Charger.id).where(Charger.cid == cid)
    ).first()
    return OcppAccount(row.id, row.unregistered, row.password_hash) if row else None


def password_matches(password_hash: Optional[str], password: str) -> bool:
    return bool(password_hash) and check_password_hash(password_hash, password)


def register_pending_charger(session: Session, cid: str, password: str) -> OcppAccount:
    """Auto-registration: an unknown identity becomes an unregistered charger whose first password is kept
    (trust on first use) until someone completes the registry entry; it boots as Pending meanwhile."""
    charger = session.scalar(select(Charger).where(Charger.cid == cid))
    if charger is None:
        charger = Charger(cid=cid, name=cid, type="L2", unregistered=True, offline=True, commands_sent=0)
        session.add(charger)
        session.flush()
    link = _link(session, charger.id)
    if not link.password_hash:
        link.password_hash, link.password_set_at = hash_ocpp_password(password), utcnow()
    session.flush()
    return OcppAccount(charger.id, charger.unregistered, link.password_hash)


# --- what the gateway answers ---------------------------------------------------------------------

def boot_answer(session: Session, cid: str, auto_register: bool) -> tuple[str, int]:
    """(status, interval) for BootNotification.conf, by BOOT_RULES; Pending's interval is the retry wait."""
    row = session.execute(select(Charger.unregistered, Charger.heartbeat_interval).where(Charger.cid == cid)).first()
    if row is None:
        return "Rejected", _cfg("OCPP_PENDING_RETRY_SECONDS")
    if row.unregistered:
        return ("Pending" if auto_register else "Rejected"), _cfg("OCPP_PENDING_RETRY_SECONDS")
    # the registry's interval when set: the offline threshold is computed from the same number
    return "Accepted", row.heartbeat_interval or _cfg("OCPP_HEARTBEAT_INTERVAL")


def authorize_id_tag(session: Session, id_tag: str, currency: Optional[str] = None) -> str:
    """idTagInfo.status for a tag, by AUTHORIZATION_RULES (one query)."""
    if id_tag in _cfg("OCPP_OPERATOR_TAGS"):
        return ACCEPTED
    row = session.execute(
        select(CustomerTag.active, Wallet.balance)
        .outerjoin(Wallet, (Wallet.customer_id == CustomerTag.customer_id) & (Wallet.currency == (currency or default_currency())))
        .where(CustomerTag.tag == id_tag)
    ).first()
    if row is None:
        return INVALID
    if not row.active:
        return BLOCKED
    if row.balance is None or Decimal(row.balance) <= 0:
        return BLOCKED
    return ACCEPTED


def issue_transaction_id(session: Session, cid: str, connector_id: int, id_tag: str, authorization: str,
                         node: Optional[str]) -> int:
    """The transactionId of StartTransaction.conf: the next id of ocpp_transaction, unique across gateways."""
    issued = OcppTransaction(cid=cid, connector_id=connector_id, id_tag=id_tag[:20], authorization=authorization,
                             gateway_node=node, issued_at=utcnow())
    session.add(issued)
    session.flush()
    return issued.id


# --- which gateway holds which charger --------------------------------------------------------------

def mark_connected(session: Session, cid: str, node: str, remote_address: Optional[str]) -> None:
    charger_id = session.scalar(select(Charger.id).where(Charger.cid == cid))
    if charger_id is None:
        return
    link = _link(session, charger_id)
    link.connected, link.gateway_node, link.remote_address, link.since = True, node, (remote_address or "")[:64], utcnow()
    session.flush()


def mark_disconnected(session: Session, cid: str, node: str) -> None:
    """Only the node that holds it: a charger that already reconnected elsewhere stays connected there."""
    charger_id = session.scalar(select(Charger.id).where(Charger.cid == cid))
    if charger_id is None:
        return
    session.execute(
        update(ChargerOcppLink)
        .where(ChargerOcppLink.charger_id == charger_id, ChargerOcppLink.gateway_node == node, ChargerOcppLink.connected.is_(True))
        .values(connected=False, since=utcnow())
    )


def gateway_started(session: Session, node: str) -> None:
    """A (re)started gateway holds nothing yet: its node's old links are closed, its heartbeat row is fresh."""
    now = utcnow()
    session.execute(
        update(ChargerOcppLink).where(ChargerOcppLink.gateway_node == node, ChargerOcppLink.connected.is_(True))
        .values(connected=False, since=now)
    )
    row = session.get(OcppGatewayNode, node)
    if row is None:
        session.add(OcppGatewayNode(node=node, started_at=now, last_seen=now))
    else:
        row.started_at = row.last_seen = now
    session.flush()


def gateway_alive(session: Session, node: str) -> None:
    session.execute(update(OcppGatewayNode).where(OcppGatewayNode.node == node).values(last_seen=utcnow()))


def gateway_stopped(session: Session, node: str) -> None:
    gateway_started(session, node)  # same effect on the links
    session.execute(update(OcppGatewayNode).where(OcppGatewayNode.node == node)
                    .values(last_seen=utcnow() - timedelta(days=1)))


def _fresh_after(now: datetime) -> datetime:
    return now - timedelta(seconds=_cfg("OCPP_NODE_STALE_SECONDS"))


@dataclass(frozen=True)
class Holder:
    on_gateway: bool  # the charger has an OCPP account: it is meant to reach us through a gateway
    node: Optional[str]  # the live gateway that holds its socket, if any


def holder_of(session: Session, cid: str, now: Optional[datetime] = None) -> Optional[Holder]:
    """None for an identity not in the registry."""
    now = now or utcnow()
    row = session.execute(
        select(Charger.id, ChargerOcppLink.password_hash, ChargerOcppLink.connected, ChargerOcppLink.gateway_node,
               OcppGatewayNode.last_seen)
        .outerjoin(ChargerOcppLink, ChargerOcppLink.charger_id == Charger.id)
        .outerjoin(OcppGatewayNode, OcppGatewayNode.node == ChargerOcppLink.gateway_node)
        .where(Charger.cid == cid)
    ).first()
    if row is None:
        return None
    live = bool(row.connected) and row.last_seen is not None and row.last_seen >= _fresh_after(now)
    return Holder(on_gateway=bool(row.password_hash), node=row.gateway_node if live else None)


def link_summary(session: Session, charger_id: int, now: Optional[datetime] = None) -> dict:
    """The charger page's and `GET /network/chargers/<cid>`'s `ocpp` block."""
    now = now or utcnow()
    row = session.execute(
        select(ChargerOcppLink, OcppGatewayNode.last_seen)
        .outerjoin(OcppGatewayNode, OcppGatewayNode.node == ChargerOcppLink.gateway_node)
        .where(ChargerOcppLink.charger_id == charger_id)
    ).first()
    if row is None:
        return {"password_set": False, "connected": False, "since": None, "gateway": None}
    link, node_seen = row
    connected = link.connected and node_seen is not None and node_seen >= _fresh_after(now)
    return {
        "password_set": bool(link.password_hash),
        "connected": bool(connected),
        "since": iso_utc(link.since),
        "gateway": link.gateway_node if connected else None,
    }
