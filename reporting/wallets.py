"""Wallet audit trail as Excel: ledger entries -> DataFrame -> openpyxl workbook."""
from __future__ import annotations

import io
from typing import Iterable

import pandas as pd

EXPORT_LIMIT = 100_000
COLUMNS = ["Entry #", "When (UTC)", "Customer #", "Customer", "Currency", "Type", "Amount", "Balance after",
           "Reason", "Source type", "Source ref", "Reverses #", "By"]


def ledger_frame(entries: Iterable) -> pd.DataFrame:
    rows = [
        [e.id, e.created_at, e.wallet.customer_id, e.wallet.customer.name, e.wallet.currency, e.entry_type,
         float(e.amount), float(e.balance_after), e.reason, e.source_type, e.source_ref, e.reverses_id,
         e.created_by.username if e.created_by else "system"]
        for e in entries
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def ledger_workbook(entries: Iterable) -> bytes:
    """One sheet of entries with money formatted to two decimals (Excel cells are numbers, not text)."""
    frame = ledger_frame(entries)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Wallet audit trail", index=False)
        sheet = writer.sheets["Wallet audit trail"]
        for col in ("G", "H"):
            for cell in sheet[col][1:]:
                cell.number_format = "#,##0.00"
        for column, width in zip("ABCDEFGHIJKLM", (8, 18, 10, 26, 8, 11, 12, 13, 40, 12, 14, 10, 12)):
            sheet.column_dimensions[column].width = width
        sheet.freeze_panes = "A2"
    return buffer.getvalue()
