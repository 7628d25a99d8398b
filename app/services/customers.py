"""Customers: the contact database (phones, tags, vehicles), search and lookup with wallet balance."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterable, Optional

from flask import current_app, has_app_context
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models.customers import Customer, CustomerPhone, CustomerTag, Vehicle, Wallet
from app.services import Conflict, InvalidInput, NotFound, get_or_404
from app.services.phones import to_e164, try_e164
from sqlalchemy.exc import IntegrityError

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def default_currency() -> str:
    return current_app.config["DEFAULT_CURRENCY"] if has_app_context() else "LKR"


def enabled_currencies() -> list[str]:
    """The ISO 4217 codes the operator keeps wallets in (ENABLED_CURRENCIES, default the default currency)."""
    configured = current_app.config.get("ENABLED_CURRENCIES") if has_app_context() else None
    return [c.upper() for c in (configured or [default_currency()])]


# --- lookups other modules use ----------------------------------------------------------
# Hot-path statements are built once and only bound per call (building a select costs more than running it).
_BY_PHONE = (
    select(Customer).join(CustomerPhone, CustomerPhone.customer_id == Customer.id).where(CustomerPhone.phone == bindparam("phone"))
)
_BY_PRIMARY_PHONE = select(Customer).where(Customer.phone == bindparam("phone"))
_BALANCE = select(Wallet.balance).where(Wallet.customer_id == bindparam("customer_id"), Wallet.currency == bindparam("currency"))


def find_by_phone(session: Session, raw_phone: str) -> Optional[Customer]:
    """The customer with this number in any written form ('077 123 4567', '+94771234567', '0094...')."""
    e164 = try_e164(raw_phone)
    if e164 is None:
        return None
    found = session.scalar(_BY_PHONE, {"phone": e164})
    if found is None:  # a customer written without its phone row (bulk loads by other modules)
        found = session.scalar(_BY_PRIMARY_PHONE, {"phone": e164})
    return found


def customer_ids_by_phone(session: Session, raw_phones) -> dict[str, int]:
    """{number as written: customer id} for the numbers that belong to a customer: a few queries for any count."""
    e164 = {raw: try_e164(raw) for raw in set(raw_phones)}
    wanted = sorted({number for number in e164.values() if number})
    found: dict[str, int] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        found.update(list(session.execute(select(CustomerPhone.phone, CustomerPhone.customer_id).where(CustomerPhone.phone.in_(chunk))).tuples()))
        missing = [n for n in chunk if n not in found]  # as find_by_phone: customers written without a phone row
        if missing:
            found.update(list(session.execute(select(Customer.phone, Customer.id).where(Customer.phone.in_(missing))).tuples()))
    return {raw: found[number] for raw, number in e164.items() if number in found}


def find_by_email(session: Session, email: str) -> list[Customer]:
    return list(
        session.scalars(
            select(Customer).where(func.lower(Customer.email) == email.strip().lower()).order_by(Customer.id)
        )
    )


def balance_of(session: Session, customer_id: int) -> Optional[Decimal]:
    """The customer's wallet balance in the default currency (Decimal), or None when they have no wallet."""
    return session.scalar(_BALANCE, {"customer_id": customer_id, "currency": default_currency()})


def search_customers(session: Session, text: str, limit: int = 50) -> list[Customer]:
    """One search box: a phone in any form, an e-mail, an RFID tag, a plate, or part of a name."""
    text = (text or "").strip()
    if not text:
        return []
    found: dict[int, Customer] = {}
    by_phone = find_by_phone(session, text) if re.search(r"\d{6,}", re.sub(r"[\s\-()]", "", text)) else None
    if by_phone is not None:
        found[by_phone.id] = by_phone
    if "@" in text:
        for c in find_by_email(session, text):
            found.setdefault(c.id, c)
    pattern = f"%{text.lower()}%"
    query = (
        select(Customer)
        .outerjoin(CustomerTag, CustomerTag.customer_id == Customer.id)
        .outerjoin(Vehicle, Vehicle.customer_id == Customer.id)
        .where(
            or_(
                func.lower(Customer.name).like(pattern),
                func.lower(Customer.email).like(pattern),
                CustomerTag.tag == text,
                func.upper(Vehicle.plate) == text.upper(),
            )
        )
        .distinct()
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )
    for c in session.scalars(query):
        found.setdefault(c.id, c)
    return list(found.values())[:limit]


_LOOKUP_BY_PHONE = None


def _lookup_by_phone_statement():
    """Built once: the hot path only binds values (building a select costs more than running it)."""
    global _LOOKUP_BY_PHONE
    if _LOOKUP_BY_PHONE is None:
        _LOOKUP_BY_PHONE = (
            select(Customer, Wallet.balance, Wallet.currency)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .outerjoin(Wallet, (Wallet.customer_id == Customer.id) & (Wallet.currency == bindparam("currency")))
            .where(CustomerPhone.phone == bindparam("phone"))
            .options(joinedload(Customer.phones), joinedload(Customer.vehicles))  # one round trip
        )
    return _LOOKUP_BY_PHONE


def lookup_customers(
    session: Session, phone: Optional[str] = None, email: Optional[str] = None, limit: Optional[int] = None
) -> list[dict]:
    """GET /customers/lookup: the matching customers with their wallet balance, in one query."""
    phone = (phone or "").strip()
    email = (email or "").strip()
    if not phone and not email:
        raise InvalidInput("give a phone or an email to look up")
    currency = default_currency()
    if phone:
        # a number belongs to at most one customer (unique), so no limit is needed
        e164 = to_e164(phone)
        rows = session.execute(_lookup_by_phone_statement(), {"phone": e164, "currency": currency}).unique().all()
        if not rows:  # a customer written without its phone row (bulk loads by other modules)
            rows = session.execute(
                select(Customer, Wallet.balance, Wallet.currency)
                .outerjoin(Wallet, (Wallet.customer_id == Customer.id) & (Wallet.currency == currency))
                .where(Customer.phone == e164)
            ).all()
    else:
        if not EMAIL_RE.match(email):
            raise InvalidInput(f"'{email}' is not an email address")
        limit = limit or (current_app.config["CUSTOMER_LOOKUP_LIMIT"] if has_app_context() else 20)
        rows = session.execute(
            select(Customer, Wallet.balance, Wallet.currency)
            .outerjoin(Wallet, (Wallet.customer_id == Customer.id) & (Wallet.currency == currency))
            .where(func.lower(Customer.email) == email.lower())
            .options(selectinload(Customer.phones), selectinload(Customer.vehicles))
            .order_by(Customer.id)
            .limit(limit)
        )
    return [
        {**customer_summary(c), "balance": _money(balance), "currency": wallet_currency or currency}
        for c, balance, wallet_currency in rows
    ]


def _money(value: Optional[Decimal]) -> Optional[str]:
    return None if value is None else f"{value:.2f}"


def customer_summary(c: Customer) -> dict:
    return {
        "id": c.id,
        "name": c.name,
        "phone": c.phone,
        "phones": [p.phone for p in c.phones],
        "email": c.email,
        "address": c.address,
        "vehicles": [{"make": v.make, "model": v.model, "plate": v.plate} for v in c.vehicles],
    }


# --- creating and changing customers ---------------------------------------------------------

FIELDS = ("name", "phone", "phones", "email", "address", "notes", "tags", "vehicles")


def _clean_email(value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not EMAIL_RE.match(value.strip()):
        raise InvalidInput(f"'{value}' is not an email address")
    return value.strip()


def _normalise_phones(primary: Any, extra: Any) -> list[str]:
    """Primary first, then the others; every one E.164, no repeats."""
    if extra is None:
        extra = []
    if isinstance(extra, str):
        extra = [p for p in re.split(r"[,;\n]", extra) if p.strip()]
    if not isinstance(extra, (list, tuple)):
        raise InvalidInput("phones must be a list of phone numbers")
    result: list[str] = []
    for raw in ([primary] if primary else []) + list(extra):
        if not isinstance(raw, str):
            raise InvalidInput(f"'{raw}' is not a phone number")
        e164 = to_e164(raw)
        if e164 not in result:
            result.append(e164)
    return result


def _refuse_taken_phones(session: Session, phones: Iterable[str], customer_id: Optional[int]) -> None:
    phones = list(phones)
    if not phones:
        return
    taken = session.execute(
        select(CustomerPhone.phone, Customer.id, Customer.name)
        .join(Customer, Customer.id == CustomerPhone.customer_id)
        .where(CustomerPhone.phone.in_(phones), Customer.id != (customer_id or 0))
    ).first()
    if taken is None:
        taken = session.execute(
            select(Customer.phone, Customer.id, Customer.name)
            .where(Customer.phone.in_(phones), Customer.id != (customer_id or 0))
        ).first()
    if taken is not None:
        raise Conflict(f"{taken.phone} already belongs to customer #{taken.id} {taken.name}")


def _clean_tags(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [t for t in re.split(r"[,;\s]+", value) if t]
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise InvalidInput("tags must be a list of RFID/ID tag numbers")
    return list(dict.fromkeys(t.strip().upper() for t in value if t.strip()))


def _clean_vehicles(value: Any) -> list[dict]:
    if value in (None, ""):
        return []
    if not isinstance(value, (list, tuple)):
        raise InvalidInput("vehicles must be a list of {make, model, plate}")
    result = []
    for v in value:
        if not isinstance(v, dict) or not str(v.get("make") or "").strip() or not str(v.get("model") or "").strip():
            raise InvalidInput("every vehicle needs a make and a model")
        plate = str(v.get("plate") or "").strip().upper() or None
        result.append({"make": str(v["make"]).strip(), "model": str(v["model"]).strip(), "plate": plate})
    return result


def _refuse_taken_tags(session: Session, tags: list[str], customer_id: Optional[int]) -> None:
    if not tags:
        return
    taken = session.execute(
        select(CustomerTag.tag, Customer.id, Customer.name)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(CustomerTag.tag.in_(tags), Customer.id != (customer_id or 0))
    ).first()
    if taken is not None:
        raise Conflict(f"tag {taken.tag} already belongs to customer #{taken.id} {taken.name}")


def ensure_wallet(session: Session, customer_id: int, currency: Optional[str] = None) -> Wallet:
    """The customer's wallet in this currency, created on first use (a concurrent creator wins cleanly)."""
    if currency is not None and not isinstance(currency, str):
        raise InvalidInput("currency must be an ISO 4217 code")
    currency = (currency or default_currency()).upper()
    if currency not in enabled_currencies():
        raise InvalidInput(f"currency {currency[:10]} is not enabled (enabled: {', '.join(enabled_currencies())})")
    wallet = session.scalar(select(Wallet).where(Wallet.customer_id == customer_id, Wallet.currency == currency))
    if wallet is not None:
        return wallet
    try:
        with session.begin_nested():
            wallet = Wallet(customer_id=customer_id, currency=currency, balance=Decimal("0.00"))
            session.add(wallet)
    except IntegrityError:
        wallet = session.scalar(select(Wallet).where(Wallet.customer_id == customer_id, Wallet.currency == currency))
    return wallet


def create_customer(session: Session, data: dict, user_id: Optional[int] = None) -> Customer:
    """A new customer with their numbers, tags and vehicles, and an empty default-currency wallet."""
    if not isinstance(data, dict):
        raise InvalidInput("send the customer as a JSON object")
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
    name = str(data.get("name") or "").strip()
    if not name:
        raise InvalidInput("name is required")
    phones = _normalise_phones(data.get("phone"), data.get("phones"))
    tags = _clean_tags(data.get("tags"))
    vehicles = _clean_vehicles(data.get("vehicles"))
    _refuse_taken_phones(session, phones, None)
    _refuse_taken_tags(session, tags, None)
    customer = Customer(
        name=name,
        phone=phones[0] if phones else None,
        email=_clean_email(data.get("email")),
        address=(data.get("address") or None),
        notes=(data.get("notes") or None),
    )
    customer.phones = [CustomerPhone(phone=p) for p in phones]
    customer.tags = [CustomerTag(tag=t) for t in tags]
    customer.vehicles = [Vehicle(**v) for v in vehicles]
    customer.wallets = [Wallet(currency=default_currency(), balance=Decimal("0.00"))]
    session.add(customer)
    _flush_refusing_duplicates(session)
    return customer


def update_customer(session: Session, customer_id: int, data: dict, user_id: Optional[int] = None) -> Customer:
    """Change the given fields; phones/tags/vehicles given as lists replace the current ones."""
    if not isinstance(data, dict):
        raise InvalidInput("send the changes as a JSON object")
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            raise InvalidInput("name is required")
        customer.name = name
    if "phone" in data or "phones" in data:
        primary = data.get("phone", customer.phone)
        extra = data["phones"] if "phones" in data else [p.phone for p in customer.phones if p.phone != customer.phone]
        phones = _normalise_phones(primary, extra)
        _refuse_taken_phones(session, phones, customer.id)
        current = {p.phone: p for p in customer.phones}
        customer.phones = [current.get(p) or CustomerPhone(phone=p) for p in phones]
        customer.phone = phones[0] if phones else None
    if "email" in data:
        customer.email = _clean_email(data.get("email"))
    for field in ("address", "notes"):
        if field in data:
            setattr(customer, field, data.get(field) or None)
    if "tags" in data:
        tags = _clean_tags(data.get("tags"))
        _refuse_taken_tags(session, tags, customer.id)
        current_tags = {t.tag: t for t in customer.tags}
        customer.tags = [current_tags.get(t) or CustomerTag(tag=t) for t in tags]
    if "vehicles" in data:
        customer.vehicles = [Vehicle(**v) for v in _clean_vehicles(data.get("vehicles"))]
    _flush_refusing_duplicates(session)
    return customer


def _flush_refusing_duplicates(session: Session) -> None:
    """A concurrent save of the same number or tag loses at the unique index: a 409, not a 500.
    Rolls the session back when it loses (the one service rule here that does)."""
    try:
        session.flush()
    except IntegrityError:
        # rolls the caller's transaction back, not a savepoint: on SQLite a read inside a SAVEPOINT pins a
        # snapshot that turns the write into "database is locked" (see messaging_conversations._customer_for_phone)
        session.rollback()
        raise Conflict("that phone number or tag was just saved for another customer; search for it first") from None


def get_customer(session: Session, customer_id: Any) -> Customer:
    return get_or_404(session, Customer, customer_id, "customer")
