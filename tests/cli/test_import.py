"""`market import FILE`: offers and orders from CSV or XLSX, checked like API requests, all or nothing."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sqlmodel import func, select

from market.cli import main
from market.db import session_scope
from market.imports import BY_FIELD, COLUMNS, OFFER_COLUMNS, ORDER_COLUMNS
from market.models import AuditEvent, Buyer, Cooperative, DemandOrder, PurchaseAgreement, SupplyOffer
from market.models.common import Product
from market.services.audit import snapshot
from tests.services.audit_helpers import sealed_and_checked

KIND_HEADERS = [
    "类型 Kind",
    "合作社 Cooperative",
    "采购方 Buyer",
    "编号 Reference",
    "产品 Product",
    "品种 Variety",
    "等级 Grade",
    "最低等级 Min grade",
    "吨数 Tonnes",
    "最低价(元/吨) Min price (yuan/t)",
    "最高价(元/吨) Max price (yuan/t)",
    "供货开始 Available from",
    "供货结束 Available until",
    "品牌 Brand",
    "交货开始 Deliver from",
    "交货结束 Deliver until",
    "目的地 Destination",
    "采购协议 Agreement",
]


@dataclass
class Parties:
    sayu: int
    shouwang: int
    zejing: int
    agreement: int


@pytest.fixture
def parties(engine) -> Parties:
    with session_scope(engine) as session:
        sayu = Cooperative(
            name="Sayu Apple Cooperative",
            name_zh="洒渔镇苹果专业合作社",
            township="Sayu",
            county="Zhaoyang District",
            latitude=27.43,
            longitude=103.6,
            member_households=300,
            poor_households=120,
        )
        shouwang = Cooperative(
            name="Shouwang Cooperative",
            name_zh="守望乡合作社",
            township="Shouwang",
            county="Zhaoyang District",
            latitude=27.31,
            longitude=103.64,
        )
        zejing = Buyer(name="Zejing", name_zh="泽晶公司", city="Dongguan", latitude=23.02, longitude=113.75)
        session.add_all([sayu, shouwang, zejing])
        session.flush()
        agreement = PurchaseAgreement(
            reference="AGR-2020-01",
            buyer_id=zejing.id,
            cooperative_id=sayu.id,
            product=Product.apple,
            quantity_kg=1_000_000,
            price_fen=720_000,
            valid_from=date(2020, 9, 1),
            valid_until=date(2021, 3, 31),
        )
        session.add(agreement)
        session.flush()
        return Parties(sayu.id, shouwang.id, zejing.id, agreement.id)


def _env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": "", "LOG_LEVEL": "WARNING"}


def _import(database_url: str, path: Path, *extra: str):
    return CliRunner().invoke(main, ["import", str(path), *extra], env=_env(database_url))


def _write_csv(path: Path, headers: list[str], rows: list[list[object]], *, bom: bool = True) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def _row(**values: object) -> list[object]:
    """A row under KIND_HEADERS, by field name."""
    fields = [column.field for column in COLUMNS]
    assert [BY_FIELD[name].header for name in fields] == KIND_HEADERS
    return ["" if values.get(field) is None else values[field] for field in fields]


def _offer(**changes: object) -> list[object]:
    values = {
        "kind": "offer",
        "cooperative": "Sayu Apple Cooperative",
        "product": "apple",
        "variety": "Red Fuji 红富士",
        "grade": "first",
        "tonnes": "120.5",
        "min_price_per_tonne": "6800.00",
        "available_from": "2020-09-15",
        "available_until": "2020-12-31",
    }
    return _row(**(values | changes))


def _order(**changes: object) -> list[object]:
    values = {
        "kind": "order",
        "buyer": "Zejing",
        "product": "apple",
        "min_grade": "second",
        "tonnes": "100",
        "max_price_per_tonne": "7500.00",
        "deliver_from": "2020-10-01",
        "deliver_until": "2020-10-31",
    }
    return _row(**(values | changes))


def _reported(result) -> list[str]:
    """What the command said on stderr, but the progress bar."""
    return [line for line in result.stderr.splitlines() if not line.startswith("importing ")]


def _counts(engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return (
            session.exec(select(func.count()).select_from(SupplyOffer)).one(),
            session.exec(select(func.count()).select_from(DemandOrder)).one(),
            session.exec(select(func.count()).where(AuditEvent.actor == "system:import")).one(),
        )


# --- what goes in --------------------------------------------------------------------------------


def test_a_csv_with_a_bom_imports_offers_and_orders_exactly(tmp_path, database_url, engine, parties):
    path = _write_csv(
        tmp_path / "book.csv",
        KIND_HEADERS,
        [
            _offer(tonnes="120.505", reference="L-1"),
            _offer(
                cooperative="守望乡合作社", product="鸡蛋", grade="特级", tonnes="0.001", min_price_per_tonne="9800.1"
            ),
            _offer(cooperative=str(parties.shouwang), available_from="2020/9/7", available_until="2020年10月4日"),
            _row(),  # a blank line is skipped
            _order(reference="PO-1", destination="石碣", agreement="AGR-2020-01", tonnes="600"),
            _order(buyer="泽晶公司", agreement=str(parties.agreement), tonnes="400", max_price_per_tonne="7200"),
            _order(product="Sichuan pepper 花椒", min_grade="一级"),
        ],
    )
    result = _import(database_url, path)
    assert result.exit_code == 0, result.output
    assert "imported 3 offers and 3 orders from book.csv" in result.stdout
    with session_scope(engine) as session:
        offers = session.exec(select(SupplyOffer).order_by(SupplyOffer.id)).all()
        assert [(o.cooperative_id, o.quantity_kg, o.min_price_fen) for o in offers] == [
            (parties.sayu, 120_505, 680_000),
            (parties.shouwang, 1, 980_010),
            (parties.shouwang, 120_500, 680_000),
        ]
        assert [(o.product.value, o.grade.value, o.reference) for o in offers] == [
            ("apple", "first", "L-1"),
            ("egg", "premium", None),
            ("apple", "first", None),
        ]
        assert (offers[2].available_from, offers[2].available_until) == (date(2020, 9, 7), date(2020, 10, 4))
        orders = session.exec(select(DemandOrder).order_by(DemandOrder.id)).all()
        assert [(o.quantity_kg, o.agreement_id, o.destination) for o in orders] == [
            (600_000, parties.agreement, "Shijie, Dongguan"),
            (400_000, parties.agreement, "Dongguan"),
            (100_000, None, "Dongguan"),
        ]
        assert (orders[2].product, orders[2].min_grade.value) == (Product.sichuan_pepper, "first")
        assert session.get(PurchaseAgreement, parties.agreement).called_off_kg == 1_000_000
        # The audit trail is what the API would leave, as the system: a create per row, each call-off before its order.
        events = session.exec(
            select(AuditEvent).where(AuditEvent.actor == "system:import").order_by(AuditEvent.id)
        ).all()
        assert [e.action for e in events] == ["offer.create"] * 3 + ["agreement.call_off", "order.create"] * 2 + [
            "order.create"
        ]
        for event in events:
            if event.action == "offer.create":
                assert event.after == snapshot(session.get(SupplyOffer, event.object_id))
            elif event.action == "order.create":
                assert event.after == snapshot(session.get(DemandOrder, event.object_id))
    assert sealed_and_checked(engine).intact


def test_a_csv_without_a_bom_and_with_half_headers_is_read_too(tmp_path, database_url, engine, parties):
    headers = ["合作社", "Product", "等级", "Tonnes", "最低价(元/吨)", "available_from", "供货结束 Available until"]
    rows = [["Sayu Apple Cooperative", "potato", "second", "30", "1050", "2020-09-07", "2020-09-20"]]
    result = _import(database_url, _write_csv(tmp_path / "offers.csv", headers, rows, bom=False))
    assert result.exit_code == 0, result.output
    assert _counts(engine) == (1, 0, 1)


def test_full_width_digits_keyed_in_with_a_chinese_input_method_are_read_as_numbers(
    tmp_path, database_url, engine, parties
):
    headers = ["合作社", "Product", "等级", "Tonnes", "最低价(元/吨)", "available_from", "供货结束 Available until"]
    keyed_in = ["３０．５", "１０５０", "２０２０-０９-０７", "2020年9月20日"]
    rows = [["Sayu Apple Cooperative", "potato", "second", *keyed_in]]
    result = _import(database_url, _write_csv(tmp_path / "offers.csv", headers, rows, bom=False))
    assert result.exit_code == 0, result.output
    with session_scope(engine) as session:
        offer = session.exec(select(SupplyOffer)).one()
    assert (offer.quantity_kg, offer.min_price_fen, str(offer.available_from)) == (30_500, 105_000, "2020-09-07")


def test_an_xlsx_workbook_with_an_offers_and_an_orders_sheet(tmp_path, database_url, engine, parties):
    book = Workbook()
    offers = book.active
    offers.title = "供货 Offers"
    offers.append([column.header for column in OFFER_COLUMNS])
    # Number cells (12.345 t is a double in the file), date cells, an id as a number.
    offers.append(
        [
            "Sayu Apple Cooperative",
            "lot 7",
            "apple",
            "Red Fuji",
            "premium",
            12.345,
            6800.1,
            datetime(2020, 9, 15),
            datetime(2020, 12, 31),
            "昭阳红",
        ]
    )
    offers.append([parties.shouwang, 1001, "苹果", None, "一级", 40, 5300, "2020-09-15", "2020-10-31", None])
    orders = book.create_sheet("采购 Orders")
    orders.append([None, None])  # the header may come after blank rows
    orders.append([column.header for column in ORDER_COLUMNS])
    orders.append(
        ["Zejing", "PO-7", "apple", "second", 0.1, 7500, datetime(2020, 10, 1), datetime(2020, 10, 31), None, None]
    )
    path = tmp_path / "book.xlsx"
    book.save(path)

    result = _import(database_url, path)
    assert result.exit_code == 0, result.output
    with session_scope(engine) as session:
        offers_ = session.exec(select(SupplyOffer).order_by(SupplyOffer.id)).all()
        assert [(o.quantity_kg, o.min_price_fen, o.reference, o.brand) for o in offers_] == [
            (12_345, 680_010, "lot 7", "昭阳红"),
            (40_000, 530_000, "1001", None),
        ]
        order = session.exec(select(DemandOrder)).one()
        assert (order.quantity_kg, order.max_price_fen, order.deliver_until) == (100, 750_000, date(2020, 10, 31))


# --- what is refused ---------------------------------------------------------------------------------


def test_a_bad_row_is_named_by_its_row_number_and_column_and_nothing_is_written(
    tmp_path, database_url, engine, parties
):
    path = _write_csv(
        tmp_path / "book.csv",
        KIND_HEADERS,
        [
            _offer(),
            _offer(tonnes="1.0001"),  # row 3
            _order(),
            _order(buyer="Nobody Ltd"),  # row 5
            _offer(min_price_per_tonne="", grade="supreme"),  # row 6
            _row(kind="lot"),  # row 7
            _offer(destination="dongguan"),  # row 8: an order's column
            _order(max_price_per_tonne="0"),  # row 9
        ],
    )
    result = _import(database_url, path)
    assert result.exit_code == 1
    errors = _reported(result)
    assert errors[:-1] == [
        "book.csv: row 3, 吨数 Tonnes: Decimal input should have no more than 3 decimal places",
        "book.csv: row 5, 采购方 Buyer: no buyer has the id or name 'Nobody Ltd'",
        "book.csv: row 6, 等级 Grade: Input should be 'premium', 'first' or 'second'",
        "book.csv: row 6, 最低价(元/吨) Min price (yuan/t): Field required",
        "book.csv: row 7, 类型 Kind: write offer (供货) or order (采购)",
        "book.csv: row 8, 目的地 Destination: not filled in for an offer",
        "book.csv: row 9, 最高价(元/吨) Max price (yuan/t): Input should be greater than 0",
    ]
    assert errors[-1] == "market import: 7 errors in book.csv; nothing was imported"
    assert _counts(engine) == (0, 0, 0)


def test_rules_that_need_the_database_refuse_the_file_too(tmp_path, database_url, engine, parties):
    first = _write_csv(tmp_path / "first.csv", KIND_HEADERS, [_offer(reference="L-1"), _order(reference="PO-1")])
    assert _import(database_url, first).exit_code == 0
    path = _write_csv(
        tmp_path / "second.csv",
        KIND_HEADERS,
        [
            _offer(reference="L-1"),  # row 2: used already
            _offer(reference="L-2"),
            _offer(reference="L-2"),  # row 4: twice in the file
            _offer(cooperative="Shouwang Cooperative", reference="L-1"),  # another cooperative: fine
            _order(agreement="AGR-2020-01", tonnes="700"),
            _order(agreement="AGR-2020-01", tonnes="300.001"),  # row 7: 300 t left after row 6
            _order(agreement="AGR-1999"),  # row 8
            _order(destination="atlantis"),  # row 9
        ],
    )
    result = _import(database_url, path)
    assert result.exit_code == 1, result.output
    assert _reported(result)[:-1] == [
        "second.csv: row 2, 编号 Reference: already used by this cooperative",
        "second.csv: row 4, 编号 Reference: repeats the reference of row 3",
        "second.csv: row 7, 吨数 Tonnes: at most 300 t remain on the agreement",
        "second.csv: row 8, 采购协议 Agreement: no agreement 'AGR-1999'",
        "second.csv: row 9, 目的地 Destination: unknown destination: see GET /api/v1/destinations",
    ]
    assert _counts(engine) == (1, 1, 2)
    with session_scope(engine) as session:
        assert session.get(PurchaseAgreement, parties.agreement).called_off_kg == 0


def test_a_workbook_row_is_named_by_its_sheet(tmp_path, database_url, engine, parties):
    book = Workbook()
    sheet = book.active
    sheet.title = "Orders"
    sheet.append([column.header for column in ORDER_COLUMNS])
    sheet.append(["Zejing", None, "apple", "second", 10, 7500, "2020-10-01", "2020-10-31", None, None])
    sheet.append(["Zejing", None, "apple", "second", 10, 7500, "2020-10-31", "2020-10-01", None, None])
    book.save(tmp_path / "orders.xlsx")
    result = _import(database_url, tmp_path / "orders.xlsx")
    assert result.exit_code == 1
    assert "orders.xlsx: Orders row 3, 交货结束 Deliver until: must not be before deliver_from" in result.stderr
    assert _counts(engine) == (0, 0, 0)


def test_a_table_placed_lower_and_to_the_right_keeps_the_spreadsheets_row_numbers(tmp_path, database_url, parties):
    book = Workbook()
    sheet = book.active
    sheet.title = "Orders"
    good = ["Zejing", None, "apple", "second", 10, 7500, "2020-10-01", "2020-10-31", None, None]
    for offset, value in enumerate(column.header for column in ORDER_COLUMNS):
        sheet.cell(row=3, column=3 + offset, value=value)
    for row, values in ((4, good), (6, good[:6] + ["2020-10-31", "2020-10-01", None, None])):
        for offset, value in enumerate(values):
            sheet.cell(row=row, column=3 + offset, value=value)
    book.save(tmp_path / "placed.xlsx")
    result = _import(database_url, tmp_path / "placed.xlsx")
    assert result.exit_code == 1
    assert "placed.xlsx: Orders row 6, 交货结束 Deliver until: must not be before deliver_from" in result.stderr


@pytest.mark.parametrize(
    "headers, message",
    [
        (["合作社 Cooperative", "Colour"], "row 1, Colour: unknown column"),
        (["合作社 Cooperative", "Tonnes", "吨数"], "row 1, 吨数: the same column as Tonnes"),
        (["合作社 Cooperative", "采购方 Buyer", "吨数 Tonnes"], "row 1: add a 类型 Kind column"),
    ],
)
def test_a_header_row_that_cannot_be_read_is_refused(tmp_path, database_url, engine, parties, headers, message):
    result = _import(
        database_url, _write_csv(tmp_path / "odd.csv", headers, [["Sayu Apple Cooperative"] * len(headers)])
    )
    assert result.exit_code == 1 and message in result.stderr
    assert _counts(engine) == (0, 0, 0)


def test_files_that_are_not_tables_are_refused(tmp_path, database_url, parties):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("合作社 Cooperative\n".encode("gb18030"))
    assert "not UTF-8 text" in _import(database_url, latin).stderr
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a workbook")
    assert "not a readable XLSX workbook" in _import(database_url, fake).stderr
    empty = _write_csv(tmp_path / "empty.csv", KIND_HEADERS, [])
    assert "no offers or orders in the file" in _import(database_url, empty).stderr
    other = tmp_path / "book.ods"
    other.write_text("x")
    assert "not a .csv or .xlsx file" in _import(database_url, other).stderr


# --- how it is written ---------------------------------------------------------------------------


def test_rows_are_checked_and_written_in_chunks_each_with_one_audit_batch_and_a_progress_bar(
    tmp_path, database_url, engine, parties, monkeypatch
):
    from market import imports

    batches: list[list[str]] = []
    real = imports.append_events

    def counted(session, events, **options):
        batches.append([event["action"] for event in events])
        return real(session, events, **options)

    monkeypatch.setattr(imports, "append_events", counted)
    rows = [_offer(reference=f"L-{n}") for n in range(5)] + [_order(agreement="AGR-2020-01", tonnes="10")] * 3
    result = _import(database_url, _write_csv(tmp_path / "book.csv", KIND_HEADERS, rows), "--chunk-size", "2")
    assert result.exit_code == 0, result.output
    # Two rows of the file at a time; each order's call-off right before it.
    offer, call_off, order = "offer.create", "agreement.call_off", "order.create"
    assert batches == [[offer] * 2, [offer] * 2, [offer, call_off, order], [call_off, order] * 2]
    assert "importing book.csv" in result.stderr
    assert _counts(engine) == (5, 3, 11)
    with session_scope(engine) as session:
        assert session.get(PurchaseAgreement, parties.agreement).called_off_kg == 30_000
    assert sealed_and_checked(engine).intact


def test_a_large_file_has_each_row_audited_as_stored_in_file_order(tmp_path, database_url, engine, parties):
    """Chunks of a hundred rows: each table's events made by the database from the rows it stored."""
    rows = [_offer(reference=f"L-{n}") for n in range(130)] + [_order(reference=f"PO-{n}") for n in range(70)]
    result = _import(database_url, _write_csv(tmp_path / "book.csv", KIND_HEADERS, rows), "--chunk-size", "100")
    assert result.exit_code == 0, result.output
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()[-200:]
        offers = session.exec(select(SupplyOffer).order_by(SupplyOffer.id)).all()
        orders = session.exec(select(DemandOrder).order_by(DemandOrder.id)).all()
        assert [offer.reference for offer in offers] == [f"L-{n}" for n in range(130)]
        assert [order.reference for order in orders] == [f"PO-{n}" for n in range(70)]
        expected = [("offer.create", offer) for offer in offers] + [("order.create", order) for order in orders]
        for event, (action, row) in zip(events, expected, strict=True):
            assert (event.action, event.object_id, event.after) == (action, row.id, snapshot(row))
    assert sealed_and_checked(engine).intact


def test_a_file_is_checked_as_one_across_its_chunks(tmp_path, database_url, engine, parties):
    """Chunks already written are undone by an error in a later one, which is found as in one piece."""
    rows = [_offer(reference="L-1"), _order(agreement="AGR-2020-01", tonnes="600"), _offer(reference="L-2")]
    rows += [_offer(reference="L-3"), _order(agreement="AGR-2020-01", tonnes="400.001"), _offer(reference="L-1")]
    result = _import(database_url, _write_csv(tmp_path / "book.csv", KIND_HEADERS, rows), "--chunk-size", "2")
    assert result.exit_code == 1
    assert _reported(result)[:-1] == [
        "book.csv: row 6, 吨数 Tonnes: at most 400 t remain on the agreement",
        "book.csv: row 7, 编号 Reference: repeats the reference of row 2",
    ]
    assert _counts(engine) == (0, 0, 0)
    with session_scope(engine) as session:
        assert session.get(PurchaseAgreement, parties.agreement).called_off_kg == 0


def test_the_help_lists_every_column(database_url):
    help_text = CliRunner().invoke(main, ["import", "--help"]).output
    for column in COLUMNS:
        assert column.header in help_text, column.header
