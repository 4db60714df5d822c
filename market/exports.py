"""Reports as files the cooperation office opens in Excel or LibreOffice: CSV and XLSX.

Headers carry Chinese and English ("产品 Product"). CSV is UTF-8 with a byte-order mark
and CRLF line ends, which is what Excel needs to read Chinese correctly; XLSX cells hold
numbers (with tonne and yuan number formats), not text, so sums work in the sheet.

Names are the cooperatives' and buyers' own words: a name that begins like a formula ("=", "+",
"-", "@") stays text in both, so opening a report never runs it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

TONNES_FORMAT = "#,##0.000"
YUAN_FORMAT = "#,##0.00"
COUNT_FORMAT = "#,##0"
# What Excel and LibreOffice read as the start of a formula in a CSV field.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    zh: str
    en: str
    kind: str = "text"  # text | tonnes | yuan | count

    @property
    def header(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: list[Column]
    rows: list[list[object]]


def to_csv(sheet: Sheet) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(column.header for column in sheet.columns)
    for row in sheet.rows:
        writer.writerow(_csv_field(column, value) for column, value in zip(sheet.columns, row, strict=True))
    return buffer.getvalue().encode("utf-8-sig")


def _csv_field(column: Column, value: object) -> object:
    if value is None:
        return ""
    if column.kind == "text" and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # the spreadsheets' own mark for "this is text"
    return value


def _xlsx_text(value: object) -> object:
    """Text as a cell can hold it: control characters (refused in new text since they were allowed,
    `RequestModel`) are shown as U+FFFD rather than failing the whole report."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def to_xlsx(sheet: Sheet) -> bytes:
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet.title[:31]
    worksheet.append([column.header for column in sheet.columns])
    for cell in worksheet[1]:
        cell.font = Font(bold=True)
    formats = {"tonnes": TONNES_FORMAT, "yuan": YUAN_FORMAT, "count": COUNT_FORMAT}
    for row in sheet.rows:
        worksheet.append(
            [
                Decimal(value) if column.kind in formats and value is not None else _xlsx_text(value)
                for column, value in zip(sheet.columns, row, strict=True)
            ]
        )
        for cell in worksheet[worksheet.max_row]:
            if cell.data_type == "f":  # openpyxl takes any text beginning with "=" for a formula
                cell.data_type = "s"
    for index, column in enumerate(sheet.columns, start=1):
        letter = get_column_letter(index)
        if column.kind in formats:
            for cell in worksheet[letter][1:]:
                cell.number_format = formats[column.kind]
        width = max([len(column.header) + 4] + [len(str(row[index - 1])) + 2 for row in sheet.rows])
        worksheet.column_dimensions[letter].width = min(width, 60)
    worksheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
