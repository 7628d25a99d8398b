"""Payments: history across providers and the idempotent import of a provider's settlement CSV."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.customers import PROVIDERS, Customer, Payment, SettlementImport
from app.services import InvalidInput
from app.services.customers import customer_ids_by_phone, default_currency
from app.services.activity import record_activity
from app.services.customers_wallet import parse_amount

STATUS_WORDS = {
    "settled": "Settled", "success": "Settled", "succeeded": "Settled", "successful": "Settled",
    "completed": "Settled", "captured": "Settled", "paid": "Settled",
    "failed": "Failed", "declined": "Failed", "rejected": "Failed", "error": "Failed",
    "refunded": "Refunded", "reversed": "Refunded", "chargeback": "Refunded",
    "pending": "Pending", "authorized": "Pending", "processing": "Pending",
}
# accepted header spellings -> our field
COLUMNS = {
    "provider_ref": ("provider_ref", "reference", "ref", "transaction_id", "txn_id", "request_id"),
    "amount": ("amount", "settled_amount", "value"),
    "currency": ("currency", "ccy"),
    "status": ("status", "result", "state"),
    "paid_at": ("paid_at", "date", "settled_at", "settlement_date", "transaction_date", "time"),
    "phone": ("phone", "customer_phone", "msisdn", "mobile"),
    "customer_id": ("customer_id",),
    "description": ("description", "note", "narration"),
}


def provider_name(value: str) -> str:
    for provider in PROVIDERS:
        if (value or "").strip().lower() == provider.lower():
            return provider
    raise InvalidInput(f"unknown provider '{value}'; use one of {', '.join(PROVIDERS)}")


def normalise_status(value: str) -> str:
    status = STATUS_WORDS.get((value or "").strip().lower())
    if status is None:
        raise ValueError(f"unknown status '{value}'")
    return status


def parse_time(value: str) -> datetime:
    text = (value or "").strip()
    if not text:
        raise ValueError("date is missing")
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not a date") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


@dataclass
class ImportReport:
    provider: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    import_id: Optional[int] = None

    def as_dict(self) -> dict:
        return {
            "id": self.import_id, "provider": self.provider, "total": self.total, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged,
            "rejected": [{"row": row, "reason": why} for row, why in self.rejected],
        }


def _header_map(fieldnames: list[str]) -> dict[str, str]:
    lowered = {name.strip().lower().replace(" ", "_").replace("-", "_"): name for name in fieldnames if name}
    mapping = {}
    for ours, spellings in COLUMNS.items():
        for spelling in spellings:
            if spelling in lowered:
                mapping[ours] = lowered[spelling]
                break
    missing = [c for c in ("provider_ref", "amount", "status", "paid_at") if c not in mapping]
    if missing:
        raise InvalidInput(f"the CSV has no column for {', '.join(missing)} (found: {', '.join(fieldnames)})")
    return mapping


def import_settlement_csv(
    session: Session, provider: str, content: bytes | str, *, filename: str = "settlement.csv", user_id: Optional[int] = None
) -> ImportReport:
    """Create or update payments from a settlement file; the same file twice changes nothing.

    A row is rejected (and reported with its line number and why) when it cannot be read, names
    an unknown customer, or contradicts the amount already recorded for that reference.
    """
    provider = provider_name(provider)
    limit = int(current_app.config["SETTLEMENT_CSV_MAX_BYTES"]) if has_app_context() else 10 * 1024 * 1024
    if len(content) > limit:
        raise InvalidInput(f"'{filename}' is {len(content)} bytes; the limit is {limit} bytes")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(f"'{filename}' is not a UTF-8 CSV file") from None
    reader = csv.DictReader(io.StringIO(content))
    if not reader.fieldnames:
        raise InvalidInput(f"'{filename}' is empty")
    cols = _header_map(reader.fieldnames)
    report = ImportReport(provider=provider)
    seen: dict[str, tuple] = {}
    created: list[Payment] = []
    rows = list(reader)
    refs = [(r.get(cols["provider_ref"]) or "").strip() for r in rows]
    existing = {
        p.provider_ref: p
        for p in session.scalars(select(Payment).where(Payment.provider == provider, Payment.provider_ref.in_([r for r in refs if r])))
    } if refs else {}
    customers = _CustomersOfRows(session, rows, cols)
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        report.total += 1
        try:
            ref = (row.get(cols["provider_ref"]) or "").strip()
            if not ref:
                raise ValueError("reference is missing")
            if len(ref) > 80:
                raise ValueError("reference is longer than 80 characters")
            try:
                amount = parse_amount(row.get(cols["amount"]))
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
            status = normalise_status(row.get(cols["status"]))
            paid_at = parse_time(row.get(cols["paid_at"]))
            currency = ((row.get(cols["currency"]) if "currency" in cols else "") or default_currency()).strip().upper()
            if len(currency) != 3 or not currency.isalpha():
                raise ValueError(f"'{currency}' is not a currency code")
            customer_id = customers.of(row)
            key = (amount, status, currency, customer_id)
            if ref in seen:
                if seen[ref] != key:
                    raise ValueError(f"reference {ref} appears twice in the file with different values")
                report.unchanged += 1
                continue
            seen[ref] = key
            payment = existing.get(ref)
            if payment is None:
                payment = Payment(
                    provider=provider, provider_ref=ref, status=status, amount=amount, currency=currency,
                    customer_id=customer_id, paid_at=paid_at, description=(row.get(cols.get("description", "")) or None),
                    created_at=utcnow(),
                )
                session.add(payment)
                existing[ref] = payment
                created.append(payment)
                report.created += 1
                continue
            if payment.amount != amount or payment.currency != currency:
                raise ValueError(
                    f"reference {ref} is recorded as {payment.amount:.2f} {payment.currency}, the file says {amount:.2f} {currency}"
                )
            changed = False
            if payment.status != status:
                payment.status, changed = status, True
            if customer_id is not None and payment.customer_id != customer_id:
                payment.customer_id, changed = customer_id, True
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1
        except ValueError as exc:
            report.rejected.append((line, str(exc)))
    batch = SettlementImport(
        provider=provider, filename=filename[:255], rows_total=report.total, rows_created=report.created,
        rows_updated=report.updated, rows_unchanged=report.unchanged, rows_rejected=len(report.rejected),
        rejects="\n".join(f"row {line}: {why}" for line, why in report.rejected) or None,
        imported_by_id=user_id, created_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    for payment in created:
        payment.import_batch_id = batch.id
    session.flush()
    report.import_id = batch.id
    record_activity(
        session, user_id, "settlement_import",
        f"{provider} settlement {filename}: {report.created} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected",
        "settlement_import", batch.id,
    )
    return report


class _CustomersOfRows:
    """The customer a settlement row names (customer_id or phone column), looked up for the whole file at once."""

    def __init__(self, session: Session, rows: list[dict], cols: dict):
        self.cols = cols
        ids = {int(v) for v in self._cells(rows, "customer_id") if v.isdigit()}
        self.known_ids = {
            found for chunk in (sorted(ids)[i:i + 500] for i in range(0, len(ids), 500))
            for found in session.scalars(select(Customer.id).where(Customer.id.in_(chunk)))
        }
        self.by_phone = customer_ids_by_phone(session, self._cells(rows, "phone"))

    def _cells(self, rows: list[dict], name: str) -> list[str]:
        if name not in self.cols:
            return []
        return [cell for cell in ((row.get(self.cols[name]) or "").strip() for row in rows) if cell]

    def of(self, row: dict) -> Optional[int]:
        raw = (row.get(self.cols["customer_id"]) or "").strip() if "customer_id" in self.cols else ""
        if raw:
            if not raw.isdigit() or int(raw) not in self.known_ids:
                raise ValueError(f"no customer #{raw}")
            return int(raw)
        raw = (row.get(self.cols["phone"]) or "").strip() if "phone" in self.cols else ""
        if raw:
            if raw not in self.by_phone:
                raise ValueError(f"no customer with phone {raw}")
            return self.by_phone[raw]
        return None


def payments_for_customer(session: Session, customer_id: int, limit: int = 50) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment).where(Payment.customer_id == customer_id).order_by(Payment.paid_at.desc(), Payment.id.desc()).limit(limit)
        )
    )

