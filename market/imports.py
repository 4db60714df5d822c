"""`market import`: offers and orders the cooperation office keys in from paper, from CSV or XLSX.

The layout mirrors the reports the office downloads (`market.exports`): one header row, each
header in Chinese and English ("吨数 Tonnes"; either half alone, or the API's field name,
is accepted too), one offer or order per row.

- **Kind.** A "类型 Kind" column says what each row is: `offer` (供货) or `order` (采购). Without
  it, a table holding a "合作社 Cooperative" column and no "采购方 Buyer" column is all offers,
  and the other way round all orders. A workbook is read sheet by sheet, each with its own
  header row, so an "Offers" sheet and an "Orders" sheet need no Kind column.
- **Parties.** "合作社 Cooperative" (offers) and "采购方 Buyer" (orders) name the party by id, by
  name or by Chinese name; "采购协议 Agreement" names an agreement by id or by reference.
- **Values** are checked by the API's own request models (`OfferCreate`, `OrderCreate`): tonnes to
  the kilogram and yuan to the fen, exactly (an XLSX number is read as the shortest decimal
  that gives it back, so 12.345 stays 12.345). Products and grades may be written in Chinese
  (苹果, 特级); dates as 2020-09-15, 2020/9/15 or 2020年9月15日, or as date cells.
- **All or nothing per file.** Every row is checked (values, parties, references, what each
  agreement has left); any error is reported by its row number and column, and nothing is kept.
  The file is read, checked and written in chunks of rows, one COPY per table (a multi-row
  INSERT on SQLite) and one audit batch per chunk, as the system actor `system:import`, in one
  transaction that an error rolls back whole.

CSV files are UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from market.db import settle
from market.exports import Column
from market.models import Buyer, Cooperative
from market.models.bulk import field_errors
from market.models.common import Grade, Product, utcnow
from market.models.offer import OfferCreate
from market.models.order import OrderCreate
from market.runtime import collector_paused
from market.services import bulk
from market.services.actors import Actor
from market.services.audit import append_events

OFFER, ORDER = "offer", "order"
BOTH = frozenset({OFFER, ORDER})
# Rows per INSERT and per audit batch.
CHUNK_SIZE = 5_000
# At most this many errors are kept (the first ones, in file order); the count is always exact.
MAX_ERRORS = 200


@dataclass(frozen=True)
class ImportColumn(Column):
    # The request field (or kind, cooperative, buyer, agreement) and which rows may fill it.
    field: str = ""
    kinds: frozenset[str] = BOTH


COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn("类型", "Kind", field="kind"),
    ImportColumn("合作社", "Cooperative", field="cooperative", kinds=frozenset({OFFER})),
    ImportColumn("采购方", "Buyer", field="buyer", kinds=frozenset({ORDER})),
    ImportColumn("编号", "Reference", field="reference"),
    ImportColumn("产品", "Product", field="product"),
    ImportColumn("品种", "Variety", field="variety", kinds=frozenset({OFFER})),
    ImportColumn("等级", "Grade", field="grade", kinds=frozenset({OFFER})),
    ImportColumn("最低等级", "Min grade", field="min_grade", kinds=frozenset({ORDER})),
    ImportColumn("吨数", "Tonnes", "tonnes", field="tonnes"),
    ImportColumn("最低价(元/吨)", "Min price (yuan/t)", "yuan", field="min_price_per_tonne", kinds=frozenset({OFFER})),
    ImportColumn("最高价(元/吨)", "Max price (yuan/t)", "yuan", field="max_price_per_tonne", kinds=frozenset({ORDER})),
    ImportColumn("供货开始", "Available from", field="available_from", kinds=frozenset({OFFER})),
    ImportColumn("供货结束", "Available until", field="available_until", kinds=frozenset({OFFER})),
    ImportColumn("品牌", "Brand", field="brand", kinds=frozenset({OFFER})),
    ImportColumn("交货开始", "Deliver from", field="deliver_from", kinds=frozenset({ORDER})),
    ImportColumn("交货结束", "Deliver until", field="deliver_until", kinds=frozenset({ORDER})),
    ImportColumn("目的地", "Destination", field="destination", kinds=frozenset({ORDER})),
    ImportColumn("采购协议", "Agreement", field="agreement", kinds=frozenset({ORDER})),
)
BY_FIELD = {column.field: column for column in COLUMNS}
# The columns of a file holding only offers, or only orders, in the order they are written.
OFFER_COLUMNS = tuple(c for c in COLUMNS if OFFER in c.kinds and c.field != "kind")
ORDER_COLUMNS = tuple(c for c in COLUMNS if ORDER in c.kinds and c.field != "kind")

KIND_WORDS = {"offer": OFFER, "offers": OFFER, "供货": OFFER, "order": ORDER, "orders": ORDER, "采购": ORDER}
PRODUCT_WORDS = {
    **{product.value: product.value for product in Product},
    "sichuan pepper": "sichuan_pepper",
    "苹果": "apple",
    "蔬菜": "vegetable",
    "鸡蛋": "egg",
    "花椒": "sichuan_pepper",
    "马铃薯": "potato",
    "土豆": "potato",
}
GRADE_WORDS = {**{grade.value: grade.value for grade in Grade}, "特级": "premium", "一级": "first", "二级": "second"}
_WORDS = {"product": PRODUCT_WORDS, "grade": GRADE_WORDS, "min_grade": GRADE_WORDS}
_DATE_FIELDS = frozenset({"available_from", "available_until", "deliver_from", "deliver_until"})
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _normal(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("（", "(").replace("）", ")")).casefold()


_HEADERS: dict[str, ImportColumn] = {}
for _column in COLUMNS:
    for _name in (_column.header, _column.zh, _column.en, _column.field):
        _HEADERS[_normal(_name)] = _column


# --- what went wrong -------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    where: str  # "row 7", or "Orders row 7" in a workbook
    column: str  # the header as the file spells it; "" for the row as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.where}, {self.column}: {self.message}" if self.column else f"{self.where}: {self.message}"


class ImportRefused(Exception):
    """The file has errors; nothing was written. `errors` holds the first MAX_ERRORS, `count` all."""

    def __init__(self, errors: list[RowError], count: int | None = None, rows: int = 0) -> None:
        self.errors = errors[:MAX_ERRORS]
        self.count = len(errors) if count is None else count
        self.rows = rows
        super().__init__(f"{self.count} error{'s' if self.count != 1 else ''}")


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Table:
    """One header row and what follows it: a CSV file, or one sheet of a workbook."""

    name: str  # "" for CSV, the sheet's title for XLSX
    headers: list[str]
    rows: Iterator[tuple[int, tuple[Any, ...]]]  # (row number as the spreadsheet shows it, cells)
    header_row: int = 1

    def where(self, number: int) -> str:
        return f"{self.name} row {number}" if self.name else f"row {number}"


def estimate_rows(path: Path) -> int:
    """About how many data rows the file holds, for a progress bar, without parsing it: CSV lines,
    or the <row> elements of a workbook's sheets (counted in the compressed stream)."""
    lines = 0
    if path.suffix.lower() == ".xlsx":
        try:
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                        with archive.open(name) as sheet:
                            lines += max(
                                sum(block.count(b"<row ") for block in iter(lambda: sheet.read(1 << 20), b"")) - 1, 0
                            )
        except (OSError, zipfile.BadZipFile):
            return 0
        return lines
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0)


def read_tables(path: Path) -> Iterator[Table]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield _csv_table(path)
    elif suffix == ".xlsx":
        yield from _xlsx_tables(path)
    else:
        raise ImportRefused([RowError(path.name, "", "not a .csv or .xlsx file")])


def _csv_table(path: Path) -> Table:
    text = path.read_bytes()
    try:
        decoded = text.decode("utf-8-sig")  # the byte-order mark, if any, goes
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
        raise ImportRefused([RowError(path.name, "", message)]) from None
    reader = csv.reader(io.StringIO(decoded, newline=""))
    headers = next(reader, [])
    return Table("", headers, ((number, tuple(row)) for number, row in enumerate(reader, start=2)))


def _xlsx_tables(path: Path) -> Iterator[Table]:
    # Calamine (Rust) reads a sheet several times faster than openpyxl; blank cells come as "".
    from python_calamine import CalamineWorkbook

    def refused(exc: Exception) -> ImportRefused:  # CalamineError, ZipError, XmlError ...
        return ImportRefused([RowError(path.name, "", f"not a readable XLSX workbook ({exc})")])

    try:
        book = CalamineWorkbook.from_path(str(path))
        names = book.sheet_names
    except Exception as exc:
        raise refused(exc) from None
    # Calamine parses a sheet without holding the interpreter: one thread reads the sheets in turn,
    # so the next is parsed while this one's rows are checked and written.
    with book, ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-reader") as reader:
        sheets = [reader.submit(book.get_sheet_by_name, name) for name in names]
        try:
            for reading in sheets:
                try:
                    sheet = reading.result()
                except Exception as exc:
                    raise refused(exc) from None
                # Rows are counted from the sheet's first row (as the spreadsheet numbers them); columns
                # from its first used column, the same for every row.
                rows = enumerate(sheet.iter_rows(), start=1)
                for number, cells in rows:
                    if any(_present(cell) for cell in cells):
                        headers = ["" if cell is None else _cell_text(cell) or "" for cell in cells]
                        yield Table(sheet.name, headers, rows, header_row=number)
                        break
        finally:
            for reading in sheets:
                reading.cancel()


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


# --- one row into a request ------------------------------------------------------------------


@dataclass
class Layout:
    """A table's columns, found from its header row."""

    columns: list[tuple[int, ImportColumn, str]]  # (position, column, header as written)
    kind: str | None  # the table's kind when it has no Kind column
    kind_at: int | None

    def header(self, field_name: str) -> str:
        for _, column, written in self.columns:
            if column.field == field_name:
                return written
        return BY_FIELD[field_name].header if field_name in BY_FIELD else field_name


def layout_of(table: Table) -> tuple[Layout | None, list[RowError]]:
    errors: list[RowError] = []
    columns: list[tuple[int, ImportColumn, str]] = []
    seen: dict[str, str] = {}
    at = table.where(table.header_row)
    for position, written in enumerate(table.headers):
        written = written.strip()
        if not written:
            continue
        column = _HEADERS.get(_normal(written))
        if column is None:
            errors.append(RowError(at, written, "unknown column; see `market import --help`"))
        elif column.field in seen:
            errors.append(RowError(at, written, f"the same column as {seen[column.field]}"))
        else:
            seen[column.field] = written
            columns.append((position, column, written))
    fields = {column.field for _, column, _ in columns}
    kind_at = next((position for position, column, _ in columns if column.field == "kind"), None)
    kind = None
    if kind_at is None:
        if "cooperative" in fields and "buyer" not in fields:
            kind = OFFER
        elif "buyer" in fields and "cooperative" not in fields:
            kind = ORDER
        else:
            errors.append(RowError(at, "", "add a 类型 Kind column (offer or order), or keep offers and orders apart"))
    if errors:
        return None, errors
    return Layout([c for c in columns if c[1].field != "kind"], kind, kind_at), []


def _cell_text(value: Any) -> str | None:
    """A text cell: numbers as written (1001, not 1001.0), blanks as None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


_MONEY_OR_TONNES = frozenset({"tonnes", "min_price_per_tonne", "max_price_per_tonne"})
_NUMBERS_OR_DATES = _MONEY_OR_TONNES | _DATE_FIELDS


def _cell_value(field_name: str, value: Any) -> Any:
    """A non-blank cell as the request model wants it: exact decimals, ISO dates, the API's words."""
    if type(value) is str:  # every CSV cell, and most XLSX text cells: the fast path
        if not value.isascii() and field_name in _NUMBERS_OR_DATES:
            # Keyed in with a Chinese input method: full-width digits and points ("１２０．５") as ASCII.
            value = unicodedata.normalize("NFKC", value)
        if field_name in _WORDS:
            words = _WORDS[field_name]
            key = value.casefold()
            # "apple", "苹果", or both as the demo writes them ("apple 苹果").
            return words.get(key) or next((words[part] for part in key.split() if part in words), value)
        if field_name in _DATE_FIELDS and not (len(value) == 10 and value[4] == "-" and value[7] == "-"):
            found = _DATE.match(value)
            if found:
                year, month, day = found.groups()
                return f"{year}-{int(month):02d}-{int(day):02d}"
        return value
    if isinstance(value, bool):
        return value  # refused by the model, as in a JSON body
    if isinstance(value, float) and field_name in _MONEY_OR_TONNES:
        # The shortest decimal that reads back as this double: what the sheet shows, exactly.
        return Decimal(repr(value))
    if isinstance(value, int | float) and field_name not in _MONEY_OR_TONNES:
        return _cell_text(value)
    if isinstance(value, datetime):
        return value.date() if field_name in _DATE_FIELDS and value.time() == datetime.min.time() else value
    return value


@dataclass
class ParsedRow:
    where: str
    layout: Layout
    kind: str
    data: OfferCreate | OrderCreate
    party: str  # the cooperative's or buyer's id or name, as written
    agreement: str | None = None


_MODELS = {OFFER: OfferCreate, ORDER: OrderCreate}
_PARTY = {OFFER: "cooperative", ORDER: "buyer"}


def parse_row(
    table: Table, layout: Layout, number: int, cells: tuple[Any, ...] | list[Any]
) -> ParsedRow | list[RowError] | None:
    """One data row as a request model, what is wrong with it, or None for a blank row."""
    present: list[tuple[ImportColumn, str, Any]] = []
    size = len(cells)
    for position, column, written in layout.columns:
        raw = cells[position] if position < size else None
        if raw is None:
            continue
        if type(raw) is str:
            raw = raw.strip()
            if not raw:
                continue
        present.append((column, written, raw))
    kind = layout.kind
    where = table.where(number)
    if layout.kind_at is not None:
        written_kind = _cell_text(cells[layout.kind_at] if layout.kind_at < size else None)
        if written_kind is None and not present:
            return None
        kind = KIND_WORDS.get((written_kind or "").casefold())
        if kind is None:
            return [RowError(where, table.headers[layout.kind_at].strip(), "write offer (供货) or order (采购)")]
    elif not present:
        return None
    assert kind is not None
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    party: str | None = None
    agreement: str | None = None
    for column, written, raw in present:
        name = column.field
        if kind not in column.kinds:
            errors.append(RowError(where, written, f"not filled in for an {kind}"))
        elif name == "cooperative" or name == "buyer":
            party = _cell_text(raw)
        elif name == "agreement":
            agreement = _cell_text(raw)
        else:
            values[name] = _cell_value(name, raw)
    if party is None:
        errors.append(RowError(where, layout.header(_PARTY[kind]), "required: an id or a name"))
    try:
        data = _MODELS[kind].model_validate(values)
    except ValidationError as exc:
        errors.extend(RowError(where, layout.header(name), message) for name, message in field_errors(exc))
        return errors
    if errors:
        return errors
    assert party is not None
    return ParsedRow(where, layout, kind, data, party, agreement)


# --- the whole file --------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    offers: int
    orders: int


@collector_paused()
def import_file(
    session: Session,
    path: Path,
    *,
    actor: Actor,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Imported:
    """Check every row of the file and write it, in this session's transaction: all or nothing.

    Rows are taken `chunk_size` at a time: read and checked (values, parties, references and
    agreements, as one file: a reference repeated three chunks later is still a repeat), then
    written while the file is still clean, with one audit batch per chunk. That batch's INSERT
    runs in the database while the next chunk is read (`append_events(..., wait=False)`).

    Raises ImportRefused with every error found (the first MAX_ERRORS): the caller rolls the
    transaction back, so nothing of a file with an error is kept. Agreements called off against
    stay locked until the transaction ends.
    """
    importer = _Importer(session, actor)
    for table in read_tables(path):
        layout, found = layout_of(table)
        if layout is None:
            importer.report(found)
            continue
        while rows := list(itertools.islice(table.rows, chunk_size)):
            parsed: list[ParsedRow] = []
            for number, cells in rows:
                if not any(cells) and all(cell is None or cell == "" for cell in cells):
                    continue
                row = parse_row(table, layout, number, cells)
                if isinstance(row, list):
                    importer.report(row)
                elif row is not None:
                    parsed.append(row)
            importer.take(parsed)
            if progress is not None:
                progress(len(rows))
    settle(session)
    if not importer.offers and not importer.orders and not importer.count:
        importer.report([RowError(path.name, "", "no offers or orders in the file")])
    if importer.count:
        importer.errors.sort(key=_file_order)
        raise ImportRefused(importer.errors, importer.count, rows=importer.offers + importer.orders)
    return Imported(importer.offers, importer.orders)


class _Importer:
    """One file's rows, checked and written a chunk at a time, with what the chunks so far have named."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor, self.now = session, actor, utcnow()
        self.errors: list[RowError] = []
        self.count = 0  # every error found, kept or not
        self.offers = self.orders = 0  # rows checked
        self.seen = bulk.Seen()
        self.cooperatives: dict[str, Any] = {}  # key as written -> the party, AMBIGUOUS, or None
        self.buyers: dict[str, Any] = {}
        self.agreements: dict[str, int | None] = {}

    def report(self, found: list[RowError]) -> None:
        self.count += len(found)
        if len(self.errors) < MAX_ERRORS:
            self.errors.extend(found[: MAX_ERRORS - len(self.errors)])

    def take(self, rows: list[ParsedRow]) -> None:
        """Check a chunk's rows against the database and the chunks before it; write them while the
        file has no error so far."""
        offers = [row for row in rows if row.kind == OFFER]
        orders = [row for row in rows if row.kind == ORDER]
        self.offers += len(offers)
        self.orders += len(orders)
        self._look_up(offers, orders)
        offer_items: list[tuple[OfferCreate, int]] = []
        offer_rows: list[ParsedRow] = []
        for row in offers:
            cooperative = self.cooperatives[row.party]
            if not isinstance(cooperative, Cooperative):
                column = row.layout.header("cooperative")
                self.report([RowError(row.where, column, _unknown("cooperative", row.party, cooperative))])
                continue
            offer_items.append((row.data, cooperative.id))  # type: ignore[arg-type]
            offer_rows.append(row)
        order_items: list[tuple[OrderCreate, Buyer]] = []
        order_rows: list[ParsedRow] = []
        for row in orders:
            buyer = self.buyers[row.party]
            found = []
            if not isinstance(buyer, Buyer):
                found.append(RowError(row.where, row.layout.header("buyer"), _unknown("buyer", row.party, buyer)))
            data = row.data
            if row.agreement is not None:
                agreement_id = self.agreements[row.agreement]
                if agreement_id is None:
                    found.append(RowError(row.where, row.layout.header("agreement"), f"no agreement {row.agreement!r}"))
                else:
                    data = data.model_copy(update={"agreement_id": agreement_id})
            if found:
                self.report(found)
                continue
            order_items.append((data, buyer))  # type: ignore[arg-type]
            order_rows.append(row)

        offer_plan, offer_errors = bulk.plan_offers(
            self.session, offer_items, now=self.now, label=lambda index: offer_rows[index].where, seen=self.seen
        )
        order_plan, order_errors = bulk.plan_orders(
            self.session, order_items, now=self.now, label=lambda index: order_rows[index].where, seen=self.seen
        )
        rule_errors = [(offer_rows[e.index], e) for e in offer_errors]
        rule_errors += [(order_rows[e.index], e) for e in order_errors]
        for row, error in rule_errors:
            name = "agreement" if error.field == "agreement_id" else error.field
            self.report([RowError(row.where, row.layout.header(name), error.message)])
        if self.count:
            return  # the file will be refused: nothing more is written
        events = []
        if offer_plan.rows:
            events += bulk.write_offers(self.session, actor=self.actor, plan=offer_plan)
        if order_plan.rows:
            events += bulk.write_orders(self.session, actor=self.actor, plan=order_plan)
        append_events(self.session, events, wait=False)

    def _look_up(self, offers: list[ParsedRow], orders: list[ParsedRow]) -> None:
        """The parties and agreements these rows name that no chunk before them named."""
        for model, known, rows in ((Cooperative, self.cooperatives, offers), (Buyer, self.buyers, orders)):
            new = {row.party for row in rows} - known.keys()
            if new:
                found = bulk.find_parties(self.session, model, new)
                known.update((key, found.get(key)) for key in new)
        new = {row.agreement for row in orders if row.agreement is not None} - self.agreements.keys()
        if new:
            found = bulk.find_agreements(self.session, new)
            self.agreements.update((key, found.get(key)) for key in new)


def _unknown(kind: str, key: str, found: object) -> str:
    if found is bulk.AMBIGUOUS:
        return f"{key!r} names more than one {kind}: use its id"
    return f"no {kind} has the id or name {key!r}"


def _file_order(error: RowError) -> tuple[str, int]:
    sheet, _, number = error.where.rpartition("row ")
    return sheet, int(number) if number.isdigit() else 0


# --- writing files of this layout (the benchmark, tests, a template for the office) -----------


def write_csv(path: Path, columns: tuple[ImportColumn, ...], rows: list[list[Any]], *, bom: bool = True) -> None:
    """Rows under bilingual headers, UTF-8 (with a byte-order mark for Excel by default), CRLF."""
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(column.header for column in columns)
        writer.writerows(["" if value is None else value for value in row] for row in rows)


def write_xlsx(path: Path, sheets: dict[str, tuple[tuple[ImportColumn, ...], list[list[Any]]]]) -> None:
    """One sheet per entry (title -> columns and rows), numbers as number cells; written streaming."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, (columns, rows) in sheets.items():
        sheet = book.create_sheet(title[:31])
        sheet.append([column.header for column in columns])
        for row in rows:
            sheet.append(row)
    book.save(path)
