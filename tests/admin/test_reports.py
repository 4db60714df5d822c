"""/admin/reports: the summary by any grouping and period, the poverty figures by township, and the
downloads, which are the API's own files (same columns, same bytes) without needing a bearer token."""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from tests.admin.conftest import deliver_season, post_form, text
from tests.conftest import bearer


def _squash(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _table(page: str, table_id: str) -> str:
    return _squash(re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S).group(1)).strip()


@pytest.fixture
def season(engine, market):
    return deliver_season(engine, market)


def test_the_summary_by_product_with_its_totals(admin_client, season):
    page = text(admin_client.get("/admin/reports"))
    assert "按产品汇总" in page and '<a href="/admin/reports" aria-current="page">报表</a>' in page
    assert _table(page, "summary") == (
        "产品 供货（吨） 已签合同（吨） 交付（吨） 合同金额（元） 已实现收入（元） "
        "苹果 100 100 69.5 751,680.00 514,134.00 "
        "鸡蛋 10 0 0 0.00 0.00 "
        "合计 110 100 69.5 751,680.00 514,134.00"
    )
    assert _table(page, "poverty") == (
        "乡镇 合作社 建档立卡户 已实现收入（元） 带贫合作社收入（元） 户均收入（元） "
        "洒渔镇 1 120 514,134.00 514,134.00 4,284.45 "
        "合计 1 120 514,134.00 514,134.00 4,284.45"
    )


@pytest.mark.parametrize(
    ("group_by", "rows"),
    [
        ("cooperative", ["洒渔镇苹果专业合作社 100 100 69.5 751,680.00 514,134.00", "苏甲乡桂庆养殖专业合作社 10 0 0"]),
        ("buyer", ["东莞市泽景公司 0 60 30 468,000.00 234,000.00", "东莞百康集团 0 40 39.5 283,680.00 280,134.00"]),
        ("agreement", ["ZY-2020-APL-001 0 60 30 468,000.00 234,000.00 合计 0 60 30"]),
        ("township", ["洒渔镇 100 100 69.5", "苏甲乡 10 0 0"]),
        (
            "month",
            ["2020年9月 110 0 0", "2020年10月 0 100 39.5 751,680.00 280,134.00", "2020年11月 0 0 30 0.00 234,000.00"],
        ),
    ],
)
def test_every_grouping(admin_client, season, group_by, rows):
    page = text(admin_client.get(f"/admin/reports?group_by={group_by}"))
    table = _table(page, "summary")
    for row in rows:
        assert row in table, (row, table)
    assert f'<option selected value="{group_by}">' in page
    assert f'href="/admin/reports/summary.csv?group_by={group_by}"' in page


def test_the_period_applies_to_both_tables_and_the_downloads(admin_client, season):
    page = text(admin_client.get("/admin/reports?group_by=month&from=2020-11-01&to=2020-11-30"))
    assert _table(page, "summary").endswith("合计 0 0 30 0.00 234,000.00")
    assert "1,950.00" in _table(page, "poverty")  # 234,000.00 yuan over 120 households
    assert "2020-11-01 至 2020-11-30" in _squash(page)
    assert 'href="/admin/reports/summary.xlsx?group_by=month&from=2020-11-01&to=2020-11-30"' in page
    assert 'href="/admin/reports/poverty.csv?from=2020-11-01&to=2020-11-30"' in page
    empty = text(admin_client.get("/admin/reports?from=2021-06-01"))
    assert "本期间没有供货、签约或交付。" in empty and "本期间没有实现收入。" in empty


def test_a_bad_choice_or_period_is_explained(admin_client, season):
    page = text(admin_client.get("/admin/reports?group_by=weather&from=2020-12-01&to=2020-11-01"))
    assert "不是有效的选择" in page and "截止日期早于起始日期。" in page
    assert _table(page, "summary").endswith("合计 110 100 69.5 751,680.00 514,134.00")  # by product, every date


def test_the_reports_in_english(admin_client, season):
    post_form(admin_client, "/admin/language", {"lang": "en"})
    page = text(admin_client.get("/admin/reports?group_by=month"))
    assert "Summary by month" in page
    assert "Oct 2020 0 100 39.5 751,680.00 280,134.00" in _table(page, "summary")
    assert "Sayu 1 120 514,134.00 514,134.00 4,284.45" in _table(page, "poverty")
    cooperatives = _table(text(admin_client.get("/admin/reports?group_by=cooperative")), "summary")
    assert "Sayu Apple Cooperative 100 100 69.5" in cooperatives


# --- downloads ---------------------------------------------------------------------------------

SUMMARY_HEADER = [
    "月份 Month",
    "名称 Name",
    "供货吨数 Tonnes offered",
    "合同吨数 Tonnes contracted",
    "交付吨数 Tonnes delivered",
    "合同金额(元) Revenue contracted (yuan)",
    "实收金额(元) Revenue earned (yuan)",
]


def test_the_summary_csv_opens_in_excel_and_is_the_apis(admin_client, client, market, season):
    query = "group_by=month&from=2020-10-01&to=2020-11-30"
    response = admin_client.get(f"/admin/reports/summary.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = 'attachment; filename="market-summary-month-2020-10-01_2020-11-30.csv"'
    assert response.headers["Content-Disposition"] == disposition
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data  # the byte-order mark and CRLF Excel needs
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [
        SUMMARY_HEADER,
        ["2020-10", "", "0", "100", "39.5", "751680.00", "280134.00"],
        ["2020-11", "", "0", "0", "30", "0.00", "234000.00"],
        ["合计 Total", "", "0", "100", "69.5", "751680.00", "514134.00"],
    ]
    api = client.get(f"/api/v1/reports/summary?{query}&format=csv", headers=bearer(market.admin_token))
    assert api.status_code == 200
    assert api.get_data() == data and api.headers["Content-Disposition"] == disposition


@pytest.mark.parametrize("group_by", ["product", "cooperative", "buyer", "agreement", "township", "month"])
def test_every_grouping_downloads_as_the_api_does(admin_client, client, market, season, group_by):
    mine = admin_client.get(f"/admin/reports/summary.csv?group_by={group_by}").get_data()
    api = client.get(f"/api/v1/reports/summary?group_by={group_by}&format=csv", headers=bearer(market.admin_token))
    assert mine == api.get_data()


def test_the_summary_xlsx_holds_numbers(admin_client, client, market, season):
    response = admin_client.get("/admin/reports/summary.xlsx?group_by=cooperative")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="market-summary-cooperative-start_end.xlsx"' in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert sheet.title == "合作社 Cooperative"
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["合作社 Cooperative", "名称 Name", "供货吨数 Tonnes offered"]
    assert values[1][1] == "洒渔镇苹果专业合作社"
    assert values[-1][0] == "合计 Total" and float(values[-1][6]) == 514134.0  # a number, not text
    assert sheet["G2"].number_format == "#,##0.00"
    api = client.get("/api/v1/reports/summary?group_by=cooperative&format=xlsx", headers=bearer(market.admin_token))
    theirs = load_workbook(io.BytesIO(api.get_data())).active
    assert values == [[cell.value for cell in row] for row in theirs.iter_rows()]


def test_the_poverty_downloads(admin_client, client, market, season):
    response = admin_client.get("/admin/reports/poverty.csv?to=2020-12-31")
    assert 'filename="market-poverty-start_2020-12-31.csv"' in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == [
        "乡镇 Township",
        "乡镇(中文) Township (Chinese)",
        "合作社数 Cooperatives",
        "建档立卡户 Registered poor households",
    ]
    assert rows[1:] == [
        ["Sayu", "洒渔镇", "1", "120", "514134.00", "514134.00", "4284.45"],
        ["total", "合计", "1", "120", "514134.00", "514134.00", "4284.45"],
    ]
    api = client.get("/api/v1/reports/poverty?to=2020-12-31&format=csv", headers=bearer(market.admin_token))
    assert api.get_data() == data

    workbook = admin_client.get("/admin/reports/poverty.xlsx")
    sheet = load_workbook(io.BytesIO(workbook.get_data())).active
    assert sheet.title == "带贫 Poverty alleviation"
    assert [cell.value for cell in sheet[2]][:4] == ["Sayu", "洒渔镇", 1, 120]
    assert float(sheet["G2"].value) == 4284.45


@pytest.mark.parametrize("query", ["from=2020-12-01&to=2020-11-01", "from=yesterday", "group_by=weather"])
def test_a_download_of_a_bad_period_or_grouping_is_refused(admin_client, season, query):
    response = admin_client.get(f"/admin/reports/summary.csv?{query}")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "无法下载该报表：" in text(response)


def test_a_refused_download_names_the_field(admin_client, market):
    page = text(admin_client.get("/admin/reports/poverty.xlsx?from=2020-12-01&to=2020-11-01"))
    assert "无法下载该报表：截止日期：截止日期早于起始日期。" in page


def test_downloads_need_a_signed_in_admin(client, market):
    for path in ("/admin/reports/summary.csv", "/admin/reports/poverty.xlsx"):
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/admin/sign-in?next=")


def test_only_csv_and_xlsx(admin_client, market):
    assert admin_client.get("/admin/reports/summary.pdf").status_code == 404
