"""Wallet audit trail as Excel: ledger entries through the shared writer (reporting/excel.py)."""
from __future__ import annotations

from typing import Iterable

from reporting.excel import Column, Report

EXPORT_LIMIT = 100_000
COLUMNS = [
    Column("Entry #", "int", width=8), Column("When", "datetime"), Column("Customer #", "int", width=10),
    Column("Customer", width=26), Column("Currency", width=8), Column("Type", width=11), Column("Amount", "money", width=12),
    Column("Balance after", "money", width=13), Column("Reason", width=40), Column("Source type", width=12),
    Column("Source ref", width=14), Column("Reverses #", "int", width=10), Column("By", width=12),
]


def ledger_rows(entries: Iterable) -> Iterable[tuple]:
    for e in entries:
        yield (e.id, e.created_at, e.wallet.customer_id, e.wallet.customer.name, e.wallet.currency, e.entry_type,
               e.amount, e.balance_after, e.reason, e.source_type, e.source_ref, e.reverses_id,
               e.created_by.username if e.created_by else "system")


def ledger_workbook(entries: Iterable) -> bytes:
    """One sheet of entries, money as numbers with two decimals, header frozen."""
    report = Report()
    sheet = report.sheet("Wallet audit trail", COLUMNS, freeze_below=1)
    sheet.table(COLUMNS, ledger_rows(entries))
    return report.to_bytes()
