"""The dashboard on /admin/: headline figures, charts over time and by product, and the agreements'
progress, from contracts, deliveries and acceptances made with the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date

import pytest

from market.admin import formatting
from tests.admin.conftest import approve, deliver_season, post_form, text


def _squash(page: str) -> str:
    """The text a reader sees, one space between words (a chart's <title>s are for hover and screen readers)."""
    page = re.sub(r"<title>.*?</title>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _kpi(page: str, name: str) -> str:
    """The text of one headline figure's box."""
    found = re.search(rf'<div class="kpi" id="kpi-{name}">(.*?)</div>', page, re.S)
    assert found, name
    return _squash(found.group(1)).strip()


def _figure(page: str, chart: str) -> str:
    found = re.search(rf'<figure id="chart-{chart}">(.*?)</figure>', page, re.S)
    assert found, chart
    return found.group(1)


def _agreement(page: str, agreement_id: int) -> str:
    found = re.search(rf'<article [^>]*id="agreement-{agreement_id}"(.*?)</article>', page, re.S)
    assert found, agreement_id
    return found.group(1)


@pytest.fixture
def season_day(monkeypatch):
    """Mid-November 2020 in the office: 76 of the agreement's 212 days gone (35.8%)."""
    monkeypatch.setattr(formatting, "today", lambda: date(2020, 11, 15))


def test_before_anything_is_approved_the_figures_are_zero(admin_client, market, season_day):
    page = text(admin_client.get("/admin/"))
    assert _kpi(page, "contracted") == "合同吨数 0 合同金额 0.00 元"
    assert _kpi(page, "delivered") == "交付吨数 0 过磅验收；占合同吨数 –"
    assert _kpi(page, "earned") == "已实现收入（元） 0.00 占合同金额 –"
    assert _kpi(page, "household") == "建档立卡户户均收入（元） – 带贫合作社收入 0.00 元，惠及 0 户建档立卡户"
    for chart in ("month-tonnes", "month-revenue", "product-tonnes", "product-revenue"):
        assert "本期间没有签约或交付。" in _figure(page, chart) and "<svg" not in _figure(page, chart)
    # What the home page had stays: the run awaiting review and the request form.
    assert f'href="/admin/runs/{market.run_id}"' in page and 'action="/admin/runs"' in page
    assert "100 吨，751,680.00 元" in page
    # The proposal has already called off and reserved the agreement's 60 t; none delivered, so behind pace.
    card = _squash(_agreement(page, market.agreement_id))
    assert "ZY-2020-APL-001 ⚠ 进度落后 东莞市泽景公司 ← 洒渔镇苹果专业合作社" in card
    assert "已下单 60 / 60 吨 已签合同 60 / 60 吨 已交付 0 / 60 吨" in card
    assert "已实现收入：0.00 元 交付进度：0.0% 剩余天数：136" in card


def test_approval_and_deliveries_move_the_figures(admin_client, market, engine, season_day):
    approve(engine, market)
    page = text(admin_client.get("/admin/"))
    assert _kpi(page, "contracted") == "合同吨数 100 合同金额 751,680.00 元"
    assert _kpi(page, "delivered").startswith("交付吨数 0 ")

    deliver_season(engine, market, approved=True)
    page = text(admin_client.get("/admin/"))
    # 39.5 t x 7,092.00 + 30 t x 7,800.00 = 280,134.00 + 234,000.00 yuan, all earned by Sayu's 120 households.
    assert _kpi(page, "contracted") == "合同吨数 100 合同金额 751,680.00 元"
    assert _kpi(page, "delivered") == "交付吨数 69.5 过磅验收；占合同吨数 69.5%"
    assert _kpi(page, "earned") == "已实现收入（元） 514,134.00 占合同金额 68.4%"
    assert (
        _kpi(page, "household")
        == "建档立卡户户均收入（元） 4,284.45 带贫合作社收入 514,134.00 元，惠及 120 户建档立卡户"
    )

    # By month: contracts count in their delivery window (October), deliveries on the day they shipped.
    tonnes = _figure(page, "month-tonnes")
    assert 'aria-label="合同吨数与交付吨数（按月份）"' in tonnes
    for bar in (
        "2020年10月 · 已签合同: 100 吨",
        "2020年10月 · 已交付: 39.5 吨",
        "2020年11月 · 已签合同: 0 吨",
        "2020年11月 · 已交付: 30 吨",
    ):
        assert f"<title>{bar}</title>" in tonnes, bar
    assert "2020年9月" not in tonnes  # only offers that month: nothing contracted or delivered
    revenue = _figure(page, "month-revenue")
    assert "<title>2020年10月 · 已签合同: 751,680.00</title>" in revenue
    assert "<title>2020年11月 · 已实现: 234,000.00</title>" in revenue
    # The longest bar of a chart is its largest figure; the others are measured against it (on 62% of the width).
    assert re.findall(r'class="bar" x="0" y="\d+" width="([\d.]+)%"', tonnes) == ["62.0", "24.5", "0.0", "18.6"]
    by_product = _figure(page, "product-tonnes")
    assert (
        "<title>苹果 · 已签合同: 100 吨</title>" in by_product and "<title>苹果 · 已交付: 69.5 吨</title>" in by_product
    )
    assert "鸡蛋" not in by_product
    assert "<title>苹果 · 已实现: 514,134.00</title>" in _figure(page, "product-revenue")

    # The agreement: half its tonnes delivered, a third of its season gone: on pace, 136 days left.
    card = _squash(_agreement(page, market.agreement_id))
    assert "ZY-2020-APL-001 进度正常" in card and "进度落后" not in card
    assert 'aria-label="已交付: 30 / 60 吨"' in _agreement(page, market.agreement_id)
    assert "已实现收入：234,000.00 元 交付进度：50.0% 剩余天数：136" in card


def test_an_agreement_whose_season_is_over_says_so(admin_client, market, engine, monkeypatch):
    deliver_season(engine, market)
    monkeypatch.setattr(formatting, "today", lambda: date(2021, 4, 1))
    card = _squash(_agreement(text(admin_client.get("/admin/")), market.agreement_id))
    assert "⚠ 进度落后" in card and "协议期已结束" in card


def test_the_period_filter_narrows_every_figure(admin_client, market, engine, season_day):
    deliver_season(engine, market)
    november = text(admin_client.get("/admin/?from=2020-11-01&to=2020-11-30"))
    assert _squash(re.search(r'id="period">(.*?)<', november).group(1)) == "2020-11-01 至 2020-11-30"
    assert 'name="from" required' not in november and 'value="2020-11-01"' in november
    assert _kpi(november, "contracted") == "合同吨数 0 合同金额 0.00 元"
    assert _kpi(november, "delivered") == "交付吨数 30 过磅验收；占合同吨数 –"
    assert _kpi(november, "household").startswith("建档立卡户户均收入（元） 1,950.00 ")  # 234,000.00 / 120
    assert "2020年10月" not in _figure(november, "month-tonnes")
    assert 'href="/admin/reports?from=2020-11-01&to=2020-11-30"' in november  # the reports, for the same period

    october = text(admin_client.get("/admin/?to=2020-10-31"))
    assert _squash(re.search(r'id="period">(.*?)<', october).group(1)) == "截至 2020-10-31"
    assert _kpi(october, "delivered") == "交付吨数 39.5 过磅验收；占合同吨数 39.5%"
    # The agreements show where they stand today, whatever the period.
    assert "剩余天数：136" in _squash(_agreement(october, market.agreement_id))


def test_a_bad_period_is_explained_and_everything_shown(admin_client, market, engine):
    deliver_season(engine, market)
    response = admin_client.get("/admin/?from=2020-12-01&to=2020-11-01")
    assert response.status_code == 200
    page = text(response)
    assert "截止日期早于起始日期。" in page and 'aria-invalid="true"' in page
    assert _kpi(page, "delivered").startswith("交付吨数 69.5 ")
    assert _kpi(text(admin_client.get("/admin/?from=someday")), "delivered").startswith("交付吨数 69.5 ")


def test_the_dashboard_in_english(admin_client, market, engine, season_day):
    deliver_season(engine, market)
    post_form(admin_client, "/admin/language", {"lang": "en"})
    page = text(admin_client.get("/admin/"))
    assert _kpi(page, "delivered") == "Tonnes delivered 69.5 accepted at the weighbridge; 69.5% of contracted"
    assert _kpi(page, "household") == (
        "Revenue per registered poor household, yuan 4,284.45 "
        "514,134.00 yuan to cooperatives with 120 registered poor households"
    )
    assert "<title>Oct 2020 · Contracted: 100 t</title>" in _figure(page, "month-tonnes")
    assert "<title>Apple · Earned: 514,134.00</title>" in _figure(page, "product-revenue")
    card = _squash(_agreement(page, market.agreement_id))
    assert "Dongguan Zejing Co. ← Sayu Apple Cooperative" in card
    assert "Delivered 30 of 60 t" in card and "On pace" in card and "Days left: 136" in card
