"""The summary and poverty reports, their tenancy, and their CSV and XLSX exports."""

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.api.helpers import agreement_body, field_names, offer_body, order_body
from tests.api.test_match_runs import wait_for


@pytest.fixture
def season(client, world):
    """Sayu's apples go to Zejing on an agreement (80 t delivered of 100); Sujiayuan's eggs to Baikang (10 t)."""
    client.post("/api/v1/offers", json=offer_body(tonnes="100", min_price_per_tonne="5000.00"), headers=world.coop)
    client.post(
        "/api/v1/offers",
        json=offer_body(
            tonnes="30", min_price_per_tonne="5200.00", available_from="2020-11-02", available_until="2020-11-30"
        ),
        headers=world.coop,
    )
    client.post(
        "/api/v1/offers",
        json=offer_body(product="egg", grade="premium", tonnes="10", min_price_per_tonne="7000.00"),
        headers=world.other_coop,
    )
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(
            world.buyer_id, world.coop_id, tonnes="100", price_per_tonne="7800.00", reference="ZY-2020-APL-001"
        ),
        headers=world.admin,
    ).json
    client.post(
        "/api/v1/orders",
        json=order_body(tonnes="100", max_price_per_tonne="7800.00", agreement_id=agreement["id"]),
        headers=world.buyer,
    )
    client.post(
        "/api/v1/orders",
        json=order_body(product="egg", tonnes="10", max_price_per_tonne="9600.00"),
        headers=world.other_buyer,
    )
    run = wait_for(client, world.admin, client.post("/api/v1/match-runs", json={}, headers=world.admin).json["id"])
    client.post(f"/api/v1/match-runs/{run['id']}/approve", headers=world.admin)
    contracts = {c["product"]: c for c in client.get("/api/v1/contracts", headers=world.admin).json["data"]}
    apple = client.post(
        f"/api/v1/contracts/{contracts['apple']['id']}/deliveries",
        json={"tonnes": "80", "shipped_on": "2020-10-12"},
        headers=world.coop,
    ).json
    client.post(f"/api/v1/deliveries/{apple['id']}/accept", json={"accepted_tonnes": "80"}, headers=world.buyer)
    egg = client.post(
        f"/api/v1/contracts/{contracts['egg']['id']}/deliveries",
        json={"tonnes": "10", "shipped_on": "2020-11-03"},
        headers=world.other_coop,
    ).json
    client.post(f"/api/v1/deliveries/{egg['id']}/accept", json={"accepted_tonnes": "10"}, headers=world.other_buyer)
    return contracts


def _summary(client, headers, **query):
    response = client.get("/api/v1/reports/summary", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_summary_by_product_counts_each_figure_from_its_own_source(client, world, season):
    report = _summary(client, world.admin, group_by="product")
    rows = {row["key"]: row for row in report["rows"]}
    egg_price = season["egg"]["price_per_tonne"]
    assert rows["apple"] == {
        "key": "apple",
        "name": None,
        "name_zh": None,
        "tonnes_offered": "130",
        "tonnes_contracted": "100",
        "tonnes_delivered": "80",
        "revenue_contracted": "780000.00",
        "revenue_earned": "624000.00",
    }
    assert rows["egg"]["tonnes_delivered"] == "10"
    assert rows["egg"]["revenue_earned"] == str((Decimal(egg_price) * 10).quantize(Decimal("0.01")))
    totals = report["totals"]
    assert totals["tonnes_offered"] == "140" and totals["tonnes_delivered"] == "90"
    assert Decimal(totals["revenue_earned"]) == Decimal("624000.00") + Decimal(rows["egg"]["revenue_earned"])
    assert set(totals) == {
        "tonnes_offered",
        "tonnes_contracted",
        "tonnes_delivered",
        "revenue_contracted",
        "revenue_earned",
    }


def test_every_grouping_adds_up_to_the_same_totals(client, world, season):
    totals = _summary(client, world.admin, group_by="product")["totals"]
    for group_by in ("cooperative", "township", "month"):
        assert _summary(client, world.admin, group_by=group_by)["totals"] == totals, group_by
    by_buyer = _summary(client, world.admin, group_by="buyer")
    assert {row["name"] for row in by_buyer["rows"]} == {"Zejing", "Baikang"}
    assert by_buyer["totals"]["tonnes_offered"] == "0"  # offers belong to no buyer
    by_agreement = _summary(client, world.admin, group_by="agreement")
    assert [(row["name"], row["tonnes_delivered"]) for row in by_agreement["rows"]] == [("ZY-2020-APL-001", "80")]
    by_month = {row["key"]: row for row in _summary(client, world.admin, group_by="month")["rows"]}
    assert by_month["2020-10"]["tonnes_delivered"] == "80" and by_month["2020-11"]["tonnes_delivered"] == "10"
    assert by_month["2020-11"]["tonnes_offered"] == "30"
    townships = {row["key"]: row for row in _summary(client, world.admin, group_by="township")["rows"]}
    assert set(townships) == {"Sayu", "Sujiayuan"}


def test_the_period_filters_each_figure_by_its_own_date(client, world, season):
    october = _summary(client, world.admin, group_by="product", **{"from": "2020-10-01", "to": "2020-10-31"})
    rows = {row["key"]: row for row in october["rows"]}
    assert rows["apple"]["tonnes_delivered"] == "80" and "egg" not in rows or rows["egg"]["tonnes_delivered"] == "0"
    bad = client.get("/api/v1/reports/summary?from=2021-01-01&to=2020-01-01", headers=world.admin)
    assert bad.status_code == 422 and field_names(bad) == {"to"}
    for query, field in (("group_by=colour", "group_by"), ("format=pdf", "format"), ("from=yesterday", "from")):
        response = client.get(f"/api/v1/reports/summary?{query}", headers=world.admin)
        assert response.status_code == 422 and field in field_names(response), query


def test_each_party_sees_only_its_own_figures(client, world, season):
    mine = _summary(client, world.coop, group_by="cooperative")
    assert [row["key"] for row in mine["rows"]] == [str(world.coop_id)]
    assert mine["totals"]["tonnes_offered"] == "130"
    buyer = _summary(client, world.other_buyer, group_by="product")
    assert [row["key"] for row in buyer["rows"]] == ["egg"]
    assert buyer["totals"]["tonnes_offered"] == "0" and buyer["totals"]["tonnes_delivered"] == "10"
    assert _summary(client, world.buyer, group_by="agreement")["totals"]["tonnes_delivered"] == "80"
    assert _summary(client, world.other_buyer, group_by="agreement")["rows"] == []
    poverty = client.get("/api/v1/reports/poverty", headers=world.other_coop).json
    assert [row["township"] for row in poverty["rows"]] == ["Sujiayuan"]


def test_poverty_report_per_township(client, world, season):
    report = client.get("/api/v1/reports/poverty", headers=world.admin).json
    sayu = next(row for row in report["rows"] if row["township"] == "Sayu")
    # The test cooperatives each have 120 registered poor households.
    assert sayu == {
        "township": "Sayu",
        "township_zh": None,
        "cooperatives": 1,
        "registered_poor_households": 120,
        "revenue_earned": "624000.00",
        "revenue_to_cooperatives_with_poor_households": "624000.00",
        "revenue_per_poor_household": "5200.00",
    }
    assert report["totals"]["registered_poor_households"] == 240
    assert report["totals"]["cooperatives"] == 2


def test_csv_export_opens_in_excel(client, world, season):
    response = client.get("/api/v1/reports/summary?group_by=product&format=csv", headers=world.admin)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="market-summary-product-start_end.csv"' in response.headers["Content-Disposition"]
    data = response.data
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data  # BOM and CRLF, for Excel
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [
        "产品 Product",
        "名称 Name",
        "供货吨数 Tonnes offered",
        "合同吨数 Tonnes contracted",
        "交付吨数 Tonnes delivered",
        "合同金额(元) Revenue contracted (yuan)",
        "实收金额(元) Revenue earned (yuan)",
    ]
    apple = next(row for row in rows if row[0] == "apple")
    assert apple[2:] == ["130", "100", "80", "780000.00", "624000.00"]
    assert rows[-1][0] == "合计 Total" and rows[-1][4] == "90"


def test_xlsx_export_holds_numbers(client, world, season):
    response = client.get("/api/v1/reports/summary?group_by=cooperative&format=xlsx", headers=world.admin)
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data)).active
    header = [cell.value for cell in sheet[1]]
    assert header[0] == "合作社 Cooperative" and header[-1] == "实收金额(元) Revenue earned (yuan)"
    values = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    sayu = next(row for row in values if row[0] == str(world.coop_id))
    assert sayu[1] == "Sayu Apple合作社"
    assert Decimal(str(sayu[4])) == Decimal("80") and Decimal(str(sayu[6])) == Decimal("624000")
    assert sheet.cell(row=2, column=7).number_format == "#,##0.00"
    poverty = client.get("/api/v1/reports/poverty?format=xlsx", headers=world.admin)
    assert load_workbook(io.BytesIO(poverty.data)).active.cell(row=1, column=4).value == (
        "建档立卡户 Registered poor households"
    )


def test_names_that_begin_like_formulas_or_hold_control_characters_stay_text_in_the_files(
    client, world, season, engine
):
    """Opening a report never runs a name as a formula; a control character stored before such text was
    refused (a sheet cannot hold one) does not fail the workbook."""
    from market.db import session_scope
    from market.models import Cooperative

    formula = '=HYPERLINK("http://example.com","看")'
    with session_scope(engine) as session:
        session.get(Cooperative, world.coop_id).name_zh = formula
        other = session.get(Cooperative, world.other_coop_id)
        other.name_zh, other.township = "Bad\x01name", "-1+1"

    csv_rows = list(
        csv.reader(
            io.StringIO(
                client.get("/api/v1/reports/summary?group_by=cooperative&format=csv", headers=world.admin).data.decode(
                    "utf-8-sig"
                )
            )
        )
    )
    assert [row[1] for row in csv_rows if row[0] == str(world.coop_id)] == ["'" + formula]
    township = client.get("/api/v1/reports/summary?group_by=township&format=csv", headers=world.admin)
    assert "'-1+1" in [row[0] for row in csv.reader(io.StringIO(township.data.decode("utf-8-sig")))]

    response = client.get("/api/v1/reports/summary?group_by=cooperative&format=xlsx", headers=world.admin)
    assert response.status_code == 200, response.data
    sheet = load_workbook(io.BytesIO(response.data)).active
    names = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2)}
    assert names[str(world.coop_id)].value == formula and names[str(world.coop_id)].data_type == "s"
    assert names[str(world.other_coop_id)].value == "Bad\ufffdname"
    township = client.get("/api/v1/reports/summary?group_by=township&format=xlsx", headers=world.admin)
    assert township.status_code == 200, township.data
