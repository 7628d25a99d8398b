"""Wallets: every balance change is one conditional UPDATE plus one append-only ledger row, in one transaction.

The balance is never read, changed in Python and written back: the database adds the delta
itself (`balance = balance + :delta`) and refuses a debit below zero in the same statement,
so concurrent requests serialise on the wallet row on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from flask import current_app, has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.customers import (
    ADJUSTMENT, CHARGE, OVERDRAFT_ALLOWED, REFUND, REVERSAL, Wallet, WalletEntry,
)
from app.services import Conflict, InvalidInput, get_or_404, iso_utc
from app.services.customers import ensure_wallet, get_customer
from app.services.activity import record_activity
from app.security import FINANCE, MANAGER
from app.services.notifications import notify_user
from app.services.people import active_users_with_roles
from app.models.field import WalletHold


CENT = Decimal("0.01")


def parse_amount(value: Any, field: str = "amount", allow_negative: bool = False) -> Decimal:
    """A positive money amount with at most two decimals, from a JSON number or a string; 400 otherwise."""
    if value is None or value == "":
        raise InvalidInput(f"{field} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidInput(f"{field} must be a number, not {value!r}")
    try:
        amount = Decimal(str(value).strip().replace(",", "")) if isinstance(value, str) else Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a number, not '{value}'") from None
    if not amount.is_finite():
        raise InvalidInput(f"{field} must be a finite number")
    limit = Decimal(str(current_app.config["TOPUP_MAX_AMOUNT"])) if has_app_context() else Decimal("10000000")
    if abs(amount) > limit:
        raise InvalidInput(f"{field} {value} is above the limit of {limit}")
    if amount != amount.quantize(CENT):
        raise InvalidInput(f"{field} may have at most two decimal places, not '{value}'")
    amount = amount.quantize(CENT)
    if amount == 0:
        raise InvalidInput(f"{field} must not be zero")
    if amount < 0 and not allow_negative:
        raise InvalidInput(f"{field} must be positive, not {value}")
    return amount


def _text(value: Any, field: str, required: bool = True, max_len: int = 500) -> Optional[str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{field} is required")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidInput(f"{field} must be text")
    text = str(value).strip()
    if len(text) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters")
    return text


def post_entry(
    session: Session,
    wallet: Wallet,
    entry_type: str,
    amount: Decimal,
    *,
    user_id: Optional[int],
    reason: str,
    source_type: Optional[str] = None,
    source_ref: Optional[str] = None,
    reverses_id: Optional[int] = None,
    allow_overdraft: bool = False,
) -> WalletEntry:
    """Apply a signed amount to the wallet and append its ledger row (caller commits).
    A debit may not spend money set aside by holds (balance - held); allow_overdraft: energy already delivered."""
    allow_overdraft = allow_overdraft or entry_type in OVERDRAFT_ALLOWED or amount > 0
    new_balance = func.round(Wallet.balance + amount, 2)  # round: SQLite adds REALs; keep exact cents
    statement = (
        update(Wallet)
        .where(Wallet.id == wallet.id)
        .values(balance=new_balance, updated_at=utcnow())
        .returning(Wallet.balance)
        .execution_options(synchronize_session=False)
    )
    if not allow_overdraft:
        statement = statement.where(new_balance >= Wallet.held)
    balance_after = session.execute(statement).scalar_one_or_none()
    if balance_after is None:
        available = session.scalar(select(Wallet.balance - Wallet.held).where(Wallet.id == wallet.id))
        raise Conflict(f"insufficient balance: {available:.2f} {wallet.currency} available, {-amount:.2f} needed")
    entry = WalletEntry(
        wallet_id=wallet.id,
        entry_type=entry_type,
        amount=amount,
        balance_after=Decimal(balance_after).quantize(CENT),
        reason=reason,
        source_type=source_type,
        source_ref=source_ref,
        reverses_id=reverses_id,
        created_by_id=user_id,
        created_at=utcnow(),
    )
    session.add(entry)
    session.flush()
    session.expire(wallet, ["balance", "updated_at"])
    return entry


def entry_result(entry: WalletEntry) -> dict:
    return {
        "id": entry.id,
        "wallet_id": entry.wallet_id,
        "customer_id": entry.wallet.customer_id,
        "entry_type": entry.entry_type,
        "amount": f"{entry.amount:.2f}",
        "balance_after": f"{entry.balance_after:.2f}",
        "currency": entry.wallet.currency,
        "reason": entry.reason,
        "source_type": entry.source_type,
        "source_ref": entry.source_ref,
        "reverses_id": entry.reverses_id,
        "created_by": entry.created_by.username if entry.created_by else None,
        "created_at": iso_utc(entry.created_at),
    }


def _existing_entry(session: Session, entry_type: str, source_type: str, source_ref: str) -> Optional[WalletEntry]:
    return session.scalar(
        select(WalletEntry).where(
            WalletEntry.entry_type == entry_type,
            WalletEntry.source_type == source_type,
            WalletEntry.source_ref == source_ref,
        )
    )


def _post_once(session, customer_id, entry_type, amount, *, user_id, reason, reference, currency=None, source_type=None):
    """A charge/refund/adjustment identified by its reference: the same reference twice is one entry."""
    customer = get_customer(session, customer_id)
    source_type = source_type or entry_type
    reference = _text(reference, "reference", required=True, max_len=80)
    existing = _existing_entry(session, entry_type, source_type, reference)
    if existing is not None:
        if existing.wallet.customer_id != customer.id or abs(existing.amount) != abs(amount):
            raise Conflict(f"reference {reference} was already used for a different {entry_type}")
        return existing, False
    wallet = ensure_wallet(session, customer.id, currency)
    try:
        with session.begin_nested():  # a savepoint: losing the race undoes this entry only
            entry = post_entry(
                session, wallet, entry_type, amount, user_id=user_id, reason=reason,
                source_type=source_type, source_ref=reference,
            )
    except IntegrityError:
        # a concurrent request with the same reference won the race
        existing = _existing_entry(session, entry_type, source_type, reference)
        if existing is None:
            raise
        return existing, False
    record_activity(session, user_id, f"wallet_{entry_type}", f"{entry_type} {amount:.2f} for {customer.name}: {reason}",
                    "wallet_entry", entry.id)
    return entry, True


def charge_wallet(session: Session, customer_id, amount, *, user_id, reason, reference, currency=None):
    """Debit the wallet (a charging session, a fee); refused with 409 when the balance would go below zero."""
    amount = parse_amount(amount)
    return _post_once(session, customer_id, CHARGE, -amount, user_id=user_id,
                      reason=_text(reason, "reason"), reference=reference, currency=currency)


def refund(session: Session, customer_id, amount, *, user_id, reason, reference, currency=None):
    """Credit money back to the wallet (e.g. a failed session that was charged)."""
    amount = parse_amount(amount)
    return _post_once(session, customer_id, REFUND, amount, user_id=user_id,
                      reason=_text(reason, "reason"), reference=reference, currency=currency)


def adjust_wallet(session: Session, customer_id, amount, *, user_id, reason, reference, currency=None):
    """A signed correction by Finance; a debit adjustment may not take the wallet below zero."""
    amount = parse_amount(amount, allow_negative=True)
    return _post_once(session, customer_id, ADJUSTMENT, amount, user_id=user_id,
                      reason=_text(reason, "reason"), reference=reference, currency=currency)


def reverse_entry(session: Session, entry_id, *, user_id, reason) -> WalletEntry:
    """Correct a mistake: a new entry with the opposite amount that points at the one it reverses (once)."""
    reason = _text(reason, "reason")
    original = get_or_404(session, WalletEntry, entry_id, "wallet entry")
    if original.entry_type == REVERSAL:
        raise Conflict(f"entry #{original.id} is itself a reversal; record a new entry instead")
    already = session.scalar(select(WalletEntry.id).where(WalletEntry.reverses_id == original.id))
    if already is not None:
        raise Conflict(f"entry #{original.id} was already reversed by entry #{already}")
    wallet = session.get(Wallet, original.wallet_id)
    try:
        with session.begin_nested():  # a savepoint: losing the race undoes this reversal only
            entry = post_entry(
                session, wallet, REVERSAL, -original.amount, user_id=user_id, reason=reason,
                source_type="wallet_entry", source_ref=str(original.id), reverses_id=original.id,
            )
    except IntegrityError:
        raise Conflict(f"entry #{entry_id} was already reversed") from None
    record_activity(session, user_id, "wallet_reversal", f"reversed entry #{original.id} ({original.amount:.2f}): {reason}",
                    "wallet_entry", entry.id)
    return entry


def wallets_out_of_balance(session: Session) -> list[dict]:
    """Every wallet whose ledger does not sum to its balance (should be none)."""
    sums = (
        select(WalletEntry.wallet_id, func.coalesce(func.sum(WalletEntry.amount), 0).label("total"))
        .group_by(WalletEntry.wallet_id)
        .subquery()
    )
    rows = session.execute(
        select(Wallet.id, Wallet.customer_id, Wallet.currency, Wallet.balance, sums.c.total)
        .outerjoin(sums, sums.c.wallet_id == Wallet.id)
        .order_by(Wallet.id)
    )
    bad = []
    for wallet_id, customer_id, currency, balance, total in rows:
        total = Decimal(str(total or 0)).quantize(CENT)
        balance = Decimal(str(balance)).quantize(CENT)
        if total != balance:
            bad.append({"wallet_id": wallet_id, "customer_id": customer_id, "currency": currency,
                        "balance": balance, "ledger_sum": total})
    return bad


def ledger_for_customer(session: Session, customer_id: int, limit: int = 50) -> list[WalletEntry]:
    return list(
        session.scalars(
            select(WalletEntry)
            .join(Wallet, Wallet.id == WalletEntry.wallet_id)
            .where(Wallet.customer_id == customer_id)
            .order_by(WalletEntry.id.desc())
            .limit(limit)
        )
    )


def report_wallets_out_of_balance(session: Session) -> int:
    """Tell Finance and Managers (in-app) about every wallet whose ledger does not sum to its balance;
    returns how many there are (caller commits)."""
    bad = wallets_out_of_balance(session)
    if bad:
        body = "\n".join(
            f"wallet #{w['wallet_id']} (customer #{w['customer_id']}): balance {w['balance']:.2f}, ledger {w['ledger_sum']:.2f}"
            for w in bad[:50]
        )
        for user in active_users_with_roles(session, [FINANCE, MANAGER]):
            notify_user(session, user.id, "wallet_mismatch", f"{len(bad)} wallet(s) do not match their ledger",
                        body, "/walletview/list/")
    return len(bad)


# --- holds: money set aside (a force charge's amount) until it is captured as one charge or released ---

def available_balance(session: Session, wallet_id: int) -> Decimal:
    value = session.scalar(select(Wallet.balance - Wallet.held).where(Wallet.id == wallet_id))
    return Decimal(value or 0).quantize(CENT)


def place_hold(session: Session, wallet: Wallet, amount: Decimal, *, source_type: str, source_ref: str):
    """Set `amount` aside: one conditional UPDATE of wallet.held, refused (409) when balance - held cannot
    cover it, so two holds can never spend the same money (the row lock serialises them). Caller commits."""
    amount = Decimal(amount).quantize(CENT)
    if amount <= 0:
        raise InvalidInput("a hold must be a positive amount")
    held_after = session.execute(
        update(Wallet)
        .where(Wallet.id == wallet.id, func.round(Wallet.balance - Wallet.held, 2) >= amount)
        .values(held=func.round(Wallet.held + amount, 2), updated_at=utcnow())
        .returning(Wallet.held)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if held_after is None:
        available = available_balance(session, wallet.id)
        raise Conflict(f"insufficient balance: {available:.2f} {wallet.currency} available, {amount:.2f} needed")
    hold = WalletHold(wallet_id=wallet.id, amount=amount, status="held", source_type=source_type,
                      source_ref=source_ref, created_at=utcnow())
    session.add(hold)
    session.flush()
    session.expire(wallet, ["held", "updated_at"])
    return hold


def _settle_hold(session: Session, hold_id: int, status: str):
    """held -> captured|released exactly once (a conditional UPDATE), and the wallet's held goes down by it."""
    settled = session.execute(
        update(WalletHold).where(WalletHold.id == hold_id, WalletHold.status == "held")
        .values(status=status, settled_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    if not settled:
        return None
    hold = session.get(WalletHold, hold_id, populate_existing=True)
    session.execute(
        update(Wallet).where(Wallet.id == hold.wallet_id)
        .values(held=func.round(Wallet.held - hold.amount, 2), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return hold


def release_hold(session: Session, hold_id: int) -> bool:
    """Give the money back to the available balance; False when the hold was already settled. Caller commits."""
    return _settle_hold(session, hold_id, "released") is not None


def capture_hold(session: Session, hold_id: int, amount: Decimal, *, user_id: Optional[int], reason: str,
                 reference: str) -> Optional[WalletEntry]:
    """Settle a hold with one charge of exactly `amount` (may differ from the hold: it is what was metered);
    None when the hold was already settled, so the charge happens once. Caller commits."""
    hold = _settle_hold(session, hold_id, "captured")
    if hold is None:
        return None
    amount = Decimal(amount).quantize(CENT)
    if amount <= 0:
        return None
    wallet = session.get(Wallet, hold.wallet_id)
    return post_entry(session, wallet, CHARGE, -amount, user_id=user_id, reason=reason,
                      source_type=hold.source_type, source_ref=reference, allow_overdraft=True)

