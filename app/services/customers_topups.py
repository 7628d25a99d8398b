"""Manual top-ups against a receipt number (the idempotency key), approved by a second person above
the threshold, and the credit they post to the wallet.

Services flush; the caller commits.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Optional

from flask import current_app, has_app_context
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.customers import (
    TOPUP, TOPUP_CREDITED, TOPUP_PENDING,
    TOPUP_REJECTED, Payment, TopUp, WalletEntry,
)
from app.services import Conflict, Forbidden, InvalidInput, NotFound, iso_utc
from app.services.customers import default_currency, ensure_wallet, get_customer
from app.services.activity import record_activity
from app.services.customers_wallet import _text, parse_amount, post_entry
from app.services.customers_receipts import check_receipt, discard_receipt, store_receipt


def approval_threshold() -> Decimal:
    return Decimal(str(current_app.config["TOPUP_APPROVAL_THRESHOLD"])) if has_app_context() else Decimal("50000")


def topup_result(topup: TopUp) -> dict:
    entry = topup.entry
    return {
        "id": topup.id,
        "customer_id": topup.customer_id,
        "amount": f"{topup.amount:.2f}",
        "currency": topup.currency,
        "receipt_no": topup.receipt_no,
        "note": topup.reason,
        "status": topup.status,
        "credited": entry is not None,
        "entry_id": entry.id if entry else None,
        "balance_after": f"{entry.balance_after:.2f}" if entry else None,
        "receipt_file": bool(topup.receipt_file),
        "created_by": topup.created_by.username if topup.created_by else None,
        "created_at": iso_utc(topup.created_at),
        "decided_by": topup.decided_by.username if topup.decided_by else None,
        "decided_at": iso_utc(topup.decided_at),
    }


def _find_topup(session: Session, receipt_no: str) -> Optional[TopUp]:
    return session.scalar(select(TopUp).where(TopUp.receipt_no == receipt_no))


def _same_request(topup: TopUp, customer_id: int, amount: Decimal) -> TopUp:
    if topup.customer_id != customer_id or topup.amount != amount:
        raise Conflict(
            f"receipt {topup.receipt_no} was already used for top-up #{topup.id} "
            f"({topup.amount:.2f} to customer #{topup.customer_id})"
        )
    return topup


def _credit_topup(session: Session, topup: TopUp, user_id: Optional[int]) -> WalletEntry:
    wallet = ensure_wallet(session, topup.customer_id, topup.currency)
    entry = post_entry(
        session, wallet, TOPUP, topup.amount, user_id=user_id,
        reason=f"Manual top-up, receipt {topup.receipt_no}: {topup.reason}",
        source_type="topup", source_ref=topup.receipt_no,
    )
    topup.entry_id = entry.id
    # the receipt is a payment too, so payment history shows manual money next to the providers'
    session.add(Payment(
        provider="Manual", provider_ref=topup.receipt_no, status="Settled", amount=topup.amount,
        currency=topup.currency, customer_id=topup.customer_id, paid_at=utcnow(),
        description=f"Manual top-up #{topup.id}",
    ))
    session.flush()
    return entry


def top_up_wallet(
    session: Session,
    customer_id,
    amount,
    receipt_no,
    note=None,
    *,
    user_id: Optional[int],
    receipt=None,
) -> tuple[TopUp, bool]:
    """A manual top-up against a receipt number (unique): (top-up, created?).

    A repeated receipt number returns the first top-up and credits nothing. Above the approval
    threshold the top-up waits for a second person (approve_topup) before the wallet is credited.
    `receipt` is an optional (filename, bytes) of the scanned receipt (PDF/JPEG/PNG).
    """
    amount = parse_amount(amount)
    receipt_no = _text(receipt_no, "receipt_no", max_len=60)
    reason = _text(note, "note", required=False, max_len=1000) or f"Manual top-up, receipt {receipt_no}"
    customer = get_customer(session, customer_id)
    checked = check_receipt(*receipt) if receipt is not None else None
    existing = _find_topup(session, receipt_no)
    if existing is not None:
        return _same_request(existing, customer.id, amount), False

    stored = store_receipt(checked) if checked else None
    needs_approval = amount > approval_threshold()
    topup = TopUp(
        customer_id=customer.id, amount=amount, currency=default_currency(), receipt_no=receipt_no,
        reason=reason, status=TOPUP_PENDING if needs_approval else TOPUP_CREDITED,
        created_by_id=user_id, created_at=utcnow(),
        receipt_file=stored, receipt_filename=checked.filename if checked else None,
        receipt_content_type=checked.content_type if checked else None,
    )
    try:
        with session.begin_nested():  # a savepoint: a lost race undoes the top-up only, not the caller's work
            session.add(topup)
            session.flush()  # the receipt number is the idempotency key: claim it first
            if not needs_approval:
                topup.decided_by_id, topup.decided_at = user_id, topup.created_at
                _credit_topup(session, topup, user_id)
            record_activity(
                session, user_id, "wallet_topup",
                f"top-up {amount:.2f} for {customer.name}, receipt {receipt_no}"
                + (" (waiting for approval)" if needs_approval else ""),
                "topup", topup.id,
            )
            session.flush()
    except IntegrityError:
        discard_receipt(stored)
        existing = _find_topup(session, receipt_no)
        if existing is None:
            raise
        return _same_request(existing, customer.id, amount), False
    except Exception:
        discard_receipt(stored)
        raise
    return topup, True


def _decide(session: Session, topup_id, user_id: int, to_status: str) -> TopUp:
    try:
        topup_id = int(topup_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"top-up id must be a whole number, not '{topup_id}'") from None
    topup = session.get(TopUp, topup_id)
    if topup is None:
        raise NotFound(f"top-up {topup_id} not found")
    if topup.status != TOPUP_PENDING:
        raise Conflict(f"top-up #{topup.id} is {topup.status.lower()}, not waiting for approval")
    if topup.created_by_id == user_id:
        raise Forbidden("the person who entered a top-up cannot approve or reject it; a second person must")
    now = utcnow()
    claimed = session.execute(
        update(TopUp)
        .where(TopUp.id == topup.id, TopUp.status == TOPUP_PENDING)
        .values(status=to_status, decided_by_id=user_id, decided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise Conflict(f"top-up #{topup.id} was decided by someone else meanwhile")
    session.expire(topup)
    return topup


def approve_topup(session: Session, topup_id, *, user_id: int) -> TopUp:
    """The checker: a different person credits a top-up that waited for approval."""
    topup = _decide(session, topup_id, user_id, TOPUP_CREDITED)
    _credit_topup(session, topup, user_id)
    record_activity(session, user_id, "wallet_topup_approved",
                    f"approved top-up {topup.amount:.2f}, receipt {topup.receipt_no}", "topup", topup.id)
    return topup


def reject_topup(session: Session, topup_id, *, user_id: int, reason: Optional[str] = None) -> TopUp:
    topup = _decide(session, topup_id, user_id, TOPUP_REJECTED)
    record_activity(session, user_id, "wallet_topup_rejected",
                    f"rejected top-up {topup.amount:.2f}, receipt {topup.receipt_no}: {reason or 'no reason given'}",
                    "topup", topup.id)
    return topup


def pending_topups(session: Session) -> list[TopUp]:
    return list(session.scalars(select(TopUp).where(TopUp.status == TOPUP_PENDING).order_by(TopUp.id)))

