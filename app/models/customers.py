"""Customers: contacts (phones, tags, vehicles), wallets as an append-only ledger, payments, manual top-ups."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, event, true
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.models.base import Money, ZERO, created_at_column

# Ledger entry types; only a reversal may take a wallet below zero (a correction must always be recordable).
TOPUP, CHARGE, REFUND, ADJUSTMENT, REVERSAL = "topup", "charge", "refund", "adjustment", "reversal"
ENTRY_TYPES = (TOPUP, CHARGE, REFUND, ADJUSTMENT, REVERSAL)
OVERDRAFT_ALLOWED = {REVERSAL}

PROVIDERS = ("CyberSource", "Amex", "Dialog", "Manual")
PAYMENT_STATUSES = ("Pending", "Settled", "Failed", "Refunded")

TOPUP_PENDING, TOPUP_CREDITED, TOPUP_REJECTED = "Pending approval", "Credited", "Rejected"


class Customer(Model):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    phone: Mapped[Optional[str]] = mapped_column(String(20), unique=True)  # E.164, the primary number
    email: Mapped[Optional[str]] = mapped_column(String(254), index=True)
    address: Mapped[Optional[str]] = mapped_column(Text)
    notes: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    # archived customers keep their history and drop out of the daily lists (never deleted)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(), nullable=False)

    phones: Mapped[list["CustomerPhone"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.id"
    )
    tags: Mapped[list["CustomerTag"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerTag.id"
    )
    vehicles: Mapped[list["Vehicle"]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Vehicle.id"
    )
    wallets: Mapped[list["Wallet"]] = relationship(back_populates="customer", order_by="Wallet.id", passive_deletes="all")

    # form fields of the customer screens: the other numbers and the tags as comma-separated text
    @property
    def extra_phones(self) -> str:
        typed = self.__dict__.get("_typed_extra_phones")
        return typed if typed is not None else ", ".join(p.phone for p in self.phones if p.phone != self.phone)

    @extra_phones.setter
    def extra_phones(self, value: str) -> None:
        self.__dict__["_typed_extra_phones"] = value

    @property
    def tag_numbers(self) -> str:
        typed = self.__dict__.get("_typed_tag_numbers")
        return typed if typed is not None else ", ".join(t.tag for t in self.tags)

    @tag_numbers.setter
    def tag_numbers(self, value: str) -> None:
        self.__dict__["_typed_tag_numbers"] = value

    def __repr__(self) -> str:
        return f"{self.name} ({self.phone})" if self.phone else self.name


class CustomerPhone(Model):
    """Every number of a customer, the primary one included: unique, so one number is one customer."""

    __tablename__ = "customer_phone"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    customer: Mapped[Customer] = relationship(back_populates="phones")
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    label: Mapped[Optional[str]] = mapped_column(String(40))

    def __repr__(self) -> str:
        return self.phone


class CustomerTag(Model):
    """An RFID card or ID tag the customer starts sessions with."""

    __tablename__ = "customer_tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    customer: Mapped[Customer] = relationship(back_populates="tags")
    tag: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="RFID")
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return self.tag


class Vehicle(Model):
    __tablename__ = "vehicle"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    customer: Mapped[Customer] = relationship(back_populates="vehicles")
    make: Mapped[str] = mapped_column(String(60))
    model: Mapped[str] = mapped_column(String(60))
    plate: Mapped[Optional[str]] = mapped_column(String(20), index=True)

    def __repr__(self) -> str:
        return f"{self.make} {self.model} {self.plate or ''}".strip()


class Wallet(Model):
    """One per customer and currency. `balance` changes only together with a WalletEntry row."""

    __tablename__ = "wallet"
    __table_args__ = (UniqueConstraint("customer_id", "currency", name="uq_wallet_customer_currency"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"))
    customer: Mapped[Customer] = relationship(back_populates="wallets")
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    # set aside by open holds (force charges): a debit may spend only balance - held
    held: Mapped[Decimal] = mapped_column(Money, default=ZERO, server_default="0", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[Optional[datetime]] = mapped_column()

    def __repr__(self) -> str:
        return f"{self.customer.name if self.customer else self.customer_id} {self.currency}"


class WalletEntry(Model):
    """The append-only wallet ledger: signed amount, balance after, who, why, source document."""

    __tablename__ = "wallet_entry"
    __table_args__ = (
        UniqueConstraint("entry_type", "source_type", "source_ref", name="uq_wallet_entry_source"),
        Index("ix_wallet_entry_wallet_id_id", "wallet_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallet.id", ondelete="RESTRICT"))
    wallet: Mapped[Wallet] = relationship()
    entry_type: Mapped[str] = mapped_column(String(20), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)  # + credit, - debit
    balance_after: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(Text)
    source_type: Mapped[Optional[str]] = mapped_column(String(40))
    source_ref: Mapped[Optional[str]] = mapped_column(String(80))
    reverses_id: Mapped[Optional[int]] = mapped_column(ForeignKey("wallet_entry.id", ondelete="RESTRICT"), unique=True)
    reverses: Mapped[Optional["WalletEntry"]] = relationship(remote_side=[id])
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    created_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()

    @property
    def customer(self):
        return self.wallet.customer if self.wallet else None

    @property
    def source(self) -> str:
        return f"{self.source_type or ''} {self.source_ref or ''}".strip()

    def __repr__(self) -> str:
        return f"#{self.id} {self.entry_type} {self.amount}"


class LedgerIsAppendOnly(RuntimeError):
    pass


@event.listens_for(WalletEntry, "before_update")
def _refuse_ledger_update(_mapper, _connection, target):
    raise LedgerIsAppendOnly(f"wallet entry #{target.id} cannot be changed; record a reversal instead")


@event.listens_for(WalletEntry, "before_delete")
def _refuse_ledger_delete(_mapper, _connection, target):
    raise LedgerIsAppendOnly(f"wallet entry #{target.id} cannot be deleted; record a reversal instead")


@event.listens_for(Session, "before_flush")
def _primary_phone_is_searchable(session, _context, _instances):
    """Whoever saves a Customer (any module), its primary number also gets its unique phone row."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Customer) and obj.phone and obj.phone not in {p.phone for p in obj.phones}:
            obj.phones.append(CustomerPhone(phone=obj.phone))


class Payment(Model):
    """A payment seen at a provider (CyberSource, Amex, Dialog) or a manual receipt."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("provider", "provider_ref", name="uq_payment_provider_ref"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), index=True)
    provider_ref: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Optional[Customer]] = relationship()
    paid_at: Mapped[datetime] = mapped_column(index=True)
    description: Mapped[Optional[str]] = mapped_column(Text)
    import_batch_id: Mapped[Optional[int]] = mapped_column(ForeignKey("settlement_import.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at_column()

    def __repr__(self) -> str:
        return f"{self.provider} {self.provider_ref}"


class SettlementImport(Model):
    """One upload of a provider's settlement CSV and what became of its rows."""

    __tablename__ = "settlement_import"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_created: Mapped[int] = mapped_column(default=0)
    rows_updated: Mapped[int] = mapped_column(default=0)
    rows_unchanged: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    rejects: Mapped[Optional[str]] = mapped_column(Text)  # one "row N: why" per line
    imported_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    imported_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()


class TopUp(Model):
    """A manual wallet top-up against a receipt; above the threshold it waits for a second person."""

    __tablename__ = "topup"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Customer] = relationship()
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    receipt_no: Mapped[str] = mapped_column(String(60), unique=True)
    receipt_file: Mapped[Optional[str]] = mapped_column(String(80))  # generated name under UPLOAD_DIR/receipts
    receipt_filename: Mapped[Optional[str]] = mapped_column(String(255))  # as uploaded, for display only
    receipt_content_type: Mapped[Optional[str]] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[created_by_id])
    created_at: Mapped[datetime] = created_at_column()
    decided_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    decided_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[decided_by_id])
    decided_at: Mapped[Optional[datetime]] = mapped_column()
    entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("wallet_entry.id", ondelete="RESTRICT"))
    entry: Mapped[Optional[WalletEntry]] = relationship()

    def __repr__(self) -> str:
        return f"top-up {self.receipt_no}"
