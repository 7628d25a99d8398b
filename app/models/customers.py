"""Customers: the contact database. (Wallets, payments and more come with the Contacts module.)"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import created_at_column


class Customer(Model):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    phone: Mapped[Optional[str]] = mapped_column(String(20), unique=True)  # E.164
    email: Mapped[Optional[str]] = mapped_column(String(254), index=True)
    address: Mapped[Optional[str]] = mapped_column(Text)
    notes: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()

    def __repr__(self) -> str:
        return f"{self.name} ({self.phone})" if self.phone else self.name
