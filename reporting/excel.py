"""The one Excel writer every report shares: typed columns formatted for people.

A sheet is a title, a table of typed columns (dates as dates, money with two decimals and a
thousands separator, whole numbers), an optional totals row, a frozen header and widths from the
column definitions. Workbooks are openpyxl write-only (rows streamed, not kept), so a 100k-row
report costs about what a bare openpyxl dump of the same rows costs (bench/reports.py).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from app.formatting import local_naive

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

FORMATS = {
    "text": "General", "int": "#,##0", "money": "#,##0.00", "decimal": "#,##0.0", "percent": "0.0%",
    "date": "dd mmm yyyy", "datetime": "dd mmm yyyy hh:mm",
}
WIDTHS = {"text": 18, "int": 10, "money": 14, "decimal": 10, "percent": 10, "date": 13, "datetime": 18}
HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
HEADER_FONT = Font(bold=True, color="FFFFFF")
TITLE_FONT = Font(bold=True, size=14)
HEADING_FONT = Font(bold=True, size=12)
TOTAL_BORDER = Border(top=Side(style="thin"))


@dataclass(frozen=True)
class Column:
    header: str  # in the reader's words: "Your reference", not "oem_ref"
    kind: str = "text"  # text | int | money | decimal | percent | date | datetime
    width: Optional[int] = None
    total: bool = False  # summed in the totals row


class Sheet:
    """A write-only sheet filled top to bottom; `row` is the next row number (1-based)."""

    def __init__(self, workbook: "Report", title: str, widths: Sequence[int] = (), freeze_below: Optional[int] = None):
        self.report = workbook
        self.ws = workbook.wb.create_sheet(title[:31])
        if freeze_below:  # a write-only sheet takes its panes before the first row is written
            self.ws.freeze_panes = f"A{freeze_below + 1}"
        for i, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        self.row = 1
        self._styles: dict = {}

    def _style(self, kind: str, font: Optional[Font] = None, border: Optional[Border] = None):
        """One prototype cell per look; its style array is shared by every cell that looks the same."""
        key = (kind, id(font), id(border))
        if key not in self._styles:
            proto = WriteOnlyCell(self.ws)
            proto.number_format = FORMATS.get(kind, "General")
            if font is not None:
                proto.font = font
            if border is not None:
                proto.border = border
            self._styles[key] = proto._style
        return self._styles[key]

    def cell(self, value, kind: str = "text", font: Optional[Font] = None, border: Optional[Border] = None,
             fill: Optional[PatternFill] = None, wrap: bool = False) -> WriteOnlyCell:
        if isinstance(value, Decimal):
            value = float(value)  # Excel stores doubles; the two-decimal format shows the exact cents
        elif isinstance(value, datetime):
            value = local_naive(value)  # stored UTC, read in the configured TIMEZONE (cells carry no zone)
        c = WriteOnlyCell(self.ws, value)
        if fill is not None or wrap:
            c.number_format = FORMATS.get(kind, "General")
            if font is not None:
                c.font = font
            if fill is not None:
                c.fill = fill
            if wrap:
                c.alignment = Alignment(wrap_text=True, vertical="top")
        elif kind != "text" or font is not None or border is not None:
            c._style = self._style(kind, font, border)
        return c

    def append(self, values: Iterable) -> int:
        self.ws.append(list(values))
        self.row += 1
        return self.row - 1

    def title(self, text: str, subtitle: Optional[str] = None) -> None:
        self.append([self.cell(text, font=TITLE_FONT)])
        if subtitle:
            self.append([subtitle])
        self.append([])

    def heading(self, text: str) -> None:
        self.append([self.cell(text, font=HEADING_FONT)])

    def pairs(self, rows: Iterable[tuple[str, object, str]]) -> None:
        """Label / value lines (highlights): (label, value, kind)."""
        for label, value, kind in rows:
            self.append([self.cell(label, font=Font(bold=True)), self.cell(value, kind)])
        self.append([])

    def table(self, columns: Sequence[Column], rows: Iterable[Sequence], totals_label: Optional[str] = None) -> tuple[int, int]:
        """Header, rows, and (when a column has total=True) a totals row; returns (header row, last data row)."""
        header = self.append([self.cell(c.header, fill=HEADER_FILL, font=HEADER_FONT, wrap=True) for c in columns])
        kinds = [c.kind for c in columns]
        styles = [None if k == "text" else self._style(k) for k in kinds]
        sums = [Decimal(0) if c.total else None for c in columns]
        ws, append, count = self.ws, self.ws.append, 0
        for values in rows:
            out = []
            for i, value in enumerate(values):
                if sums[i] is not None and value is not None:
                    sums[i] += Decimal(value) if not isinstance(value, Decimal) else value
                style = styles[i]
                if style is None or value is None:
                    out.append(value)
                else:
                    if isinstance(value, Decimal):
                        value = float(value)
                    c = WriteOnlyCell(ws, value)
                    c._style = style
                    out.append(c)
            append(out)
            count += 1
        self.row += count
        last = self.row - 1
        if totals_label and any(s is not None for s in sums):
            bold = Font(bold=True)
            self.append([self.cell(totals_label if i == 0 else (s if s is not None else None), kinds[i] if s is not None else "text",
                                   font=bold, border=TOTAL_BORDER) for i, s in enumerate(sums)])
        self.append([])
        return header, last


class Report:
    """A workbook of Sheets, saved to bytes or a file."""

    def __init__(self):
        self.wb = Workbook(write_only=True)

    def sheet(self, title: str, columns: Sequence[Column] = (), widths: Sequence[int] = (),
              freeze_below: Optional[int] = None) -> Sheet:
        """`freeze_below`: the row of the table's header, kept in view while scrolling."""
        return Sheet(self, title, widths or [c.width or WIDTHS.get(c.kind, 18) for c in columns], freeze_below)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.wb.save(buffer)
        return buffer.getvalue()

    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_bytes()
        path.write_bytes(data)
        return path


def single_table(title: str, sheet_name: str, columns: Sequence[Column], rows: Iterable[Sequence],
                 subtitle: Optional[str] = None, totals_label: Optional[str] = "Total") -> Report:
    """The common case: one sheet with a title and one table."""
    report = Report()
    sheet = report.sheet(sheet_name, columns, freeze_below=3 + (1 if subtitle else 0))
    sheet.title(title, subtitle)
    sheet.table(columns, rows, totals_label=totals_label)
    return report
