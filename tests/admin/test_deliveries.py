"""Deliveries in the console: the list and its filters, a contract's loads, and closing a contract short."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from market.admin import paging
from market.db import session_scope
from market.models import AuditEvent, Contract, DemandOrder
from market.models.common import ContractStatus
from tests.admin.conftest import approve, contract_for, csrf_token, deliver_season, post_form, ship, text


def _squash(page: str) -> str:
    page = re.sub(r"<title>.*?</title>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _rows(page: str) -> list[str]:
    body = re.search(r'<table id="deliveries">.*?<tbody>(.*?)</tbody>', page, re.S)
    return (
        []
        if body is None
        else [_squash(row).strip() for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)]
    )


@pytest.fixture
def season(engine, market):
    """Both contracts delivered against, and 10 t more shipped to Zejing, awaiting its weighbridge."""
    season = deliver_season(engine, market)
    season.pending = ship(engine, market, season.zejing_contract, "10", date(2020, 11, 20), "ZY-0120")
    return season


def test_the_list_shows_each_load_with_its_figures_and_contract(admin_client, season):
    page = text(admin_client.get("/admin/deliveries"))
    assert _rows(page) == [
        f"ZY-0081 合同 {season.baikang_contract} 苹果 洒渔镇苹果专业合作社 → 东莞百康集团 2020-10-08 已验收 "
        "40 39.5 0.5 500 kg bruised 280,134.00",
        f"ZY-0107 合同 {season.zejing_contract} 苹果 洒渔镇苹果专业合作社 → 东莞市泽景公司 2020-11-02 已验收 "
        "30 30 0 234,000.00",
        f"ZY-0120 合同 {season.zejing_contract} 苹果 洒渔镇苹果专业合作社 → 东莞市泽景公司 2020-11-20 待验收 10 – – –",
    ]
    assert f'href="/admin/contracts/{season.baikang_contract}"' in page
    assert "第 1–3 条，共 3 条" in _squash(page)
    # The navigation names the page.
    assert '<a href="/admin/deliveries" aria-current="page">交付</a>' in page


def test_the_list_filters_by_status_and_contract(admin_client, season):
    shipped = _rows(text(admin_client.get("/admin/deliveries?status=shipped")))
    assert [row.split()[0] for row in shipped] == ["ZY-0120"]
    accepted = _rows(text(admin_client.get("/admin/deliveries?status=accepted")))
    assert [row.split()[0] for row in accepted] == ["ZY-0081", "ZY-0107"]
    zejing = _rows(text(admin_client.get(f"/admin/deliveries?contract={season.zejing_contract}")))
    assert [row.split()[0] for row in zejing] == ["ZY-0107", "ZY-0120"]
    both = _rows(text(admin_client.get(f"/admin/deliveries?contract={season.zejing_contract}&status=accepted")))
    assert [row.split()[0] for row in both] == ["ZY-0107"]
    assert "没有符合条件的交付。" in text(admin_client.get("/admin/deliveries?contract=999"))
    # A filter that makes no sense is explained, and the list shown unfiltered.
    for bad, message in (
        ("status=lost", "不是有效的选择"),
        ("contract=abc", "不是有效的整数"),
        ("contract=0", "请填写合同编号"),
    ):
        response = admin_client.get(f"/admin/deliveries?{bad}")
        assert response.status_code == 200 and message in text(response), bad
        assert len(_rows(text(response))) == 3


def test_the_list_pages_and_keeps_its_filters(admin_client, season, monkeypatch):
    monkeypatch.setattr(paging, "PER_PAGE", 1)
    first = text(admin_client.get("/admin/deliveries?status=accepted"))
    assert "第 1–1 条，共 2 条" in _squash(first) and "第 1 / 2 页" in _squash(first)
    assert 'href="/admin/deliveries?status=accepted&page=2"' in first
    second = text(admin_client.get("/admin/deliveries?status=accepted&page=2"))
    assert [row.split()[0] for row in _rows(second)] == ["ZY-0107"]
    assert 'href="/admin/deliveries?status=accepted"' in second


def test_the_list_is_empty_before_anything_ships(admin_client, market):
    assert "没有符合条件的交付。" in text(admin_client.get("/admin/deliveries"))


def test_a_contract_lists_its_deliveries(admin_client, season):
    page = text(admin_client.get(f"/admin/contracts/{season.zejing_contract}"))
    table = _squash(re.search(r'<table id="contract-deliveries">(.*?)</table>', page, re.S).group(1))
    assert "ZY-0107 2020-11-02 已验收 30 30 0 234,000.00" in table
    assert "ZY-0120 2020-11-20 待验收 10 – – –" in table
    assert "ZY-0081" not in table  # Baikang's load is on the other contract
    assert "交付 2" in _squash(page)
    assert "验收进度 30 / 60 吨" in _squash(page)


# --- closing short -------------------------------------------------------------------------------


def _close(client, contract_id: int, reason: str | None = "Hail damaged the rest of the lot."):
    page = f"/admin/contracts/{contract_id}"
    return post_form(client, f"{page}/close", {} if reason is None else {"reason": reason}, page=page)


def _contract(engine, contract_id: int) -> Contract:
    with session_scope(engine) as session:
        row = session.get(Contract, contract_id)
        session.expunge(row)
        return row


def test_closing_short_ends_the_contract_and_gives_the_rest_back(admin_client, market, engine):
    season = deliver_season(engine, market)
    page = text(admin_client.get(f"/admin/contracts/{season.zejing_contract}"))
    assert 'id="close-form"' in page and f'action="/admin/contracts/{season.zejing_contract}/close"' in page
    assert "短量结案即按已验收的吨数（30 / 60 吨）结束合同" in page

    response = _close(admin_client, season.zejing_contract, "  Hail damaged the rest of the lot.  ")
    assert response.status_code == 303 and response.location == f"/admin/contracts/{season.zejing_contract}"
    page = text(admin_client.get(response.location))
    assert f"合同 {season.zejing_contract} 已短量结案：未验收的 30 吨已退回采购方订单。" in page
    assert '<span class="badge contract-closed_short">短量结案</span>' in page
    assert "已短量结案：Hail damaged the rest of the lot." in page
    assert 'id="close-form"' not in page
    timeline = _squash(page).split("变更记录", 1)[1]
    assert f"合同短量结案 交付中 → 短量结案 操作者：{market.admin_name}" in timeline

    contract = _contract(engine, season.zejing_contract)
    assert (contract.status, contract.close_reason) == (
        ContractStatus.closed_short,
        "Hail damaged the rest of the lot.",
    )
    with session_scope(engine) as session:
        order = session.get(DemandOrder, market.zejing_order_id)
        assert order.contracted_kg == 30_000  # the 30 t never delivered are wanted again
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "contract.close_short")).all()
        assert [(event.object_id, event.account_id) for event in events] == [(season.zejing_contract, market.admin_id)]
    # Only what was accepted counts as contracted now: 30 t to Zejing and Baikang's 40.
    dashboard = _squash(text(admin_client.get("/admin/")))
    assert "合同吨数 70 合同金额 517,680.00 元" in dashboard


def test_closing_is_refused_while_a_load_awaits_acceptance(admin_client, market, engine):
    season = deliver_season(engine, market)
    ship(engine, market, season.zejing_contract, "10", date(2020, 11, 20), "ZY-0120")
    response = _close(admin_client, season.zejing_contract)
    assert response.status_code == 303
    page = text(admin_client.get(response.location))
    assert f"合同 {season.zejing_contract} 未能结案：尚有待验收的发货。请先完成过磅验收。" in page
    assert 'class="flash flash-error" role="alert"' in page
    assert _contract(engine, season.zejing_contract).status == ContractStatus.in_delivery
    assert 'id="close-form"' in page  # still open: the office can close it once the load is settled


@pytest.mark.parametrize("stage", ["proposed", "fulfilled"])
def test_only_an_open_contract_can_be_closed(admin_client, market, engine, stage):
    if stage == "fulfilled":
        contract_id = deliver_season(engine, market).baikang_contract
        status = ContractStatus.fulfilled
    else:
        contract_id = contract_for(engine, market.market_order_id).id
        status = ContractStatus.proposed
    page = text(admin_client.get(f"/admin/contracts/{contract_id}"))
    assert 'id="close-form"' not in page  # no button for what cannot be done
    response = _close(admin_client, contract_id)
    assert response.status_code == 303
    label = {"proposed": "拟议", "fulfilled": "已履约"}[stage]
    assert f"合同 {contract_id} 未能结案：只有已确认或交付中的合同才能短量结案；该合同当前状态为“{label}”。" in text(
        admin_client.get(response.location)
    )
    assert _contract(engine, contract_id).status == status


@pytest.mark.parametrize(
    ("reason", "message"),
    [(None, "请说明短量结案的原因。"), ("   ", "请说明短量结案的原因。"), ("x" * 501, "最多 500 个字符。")],
)
def test_a_reason_is_required(admin_client, market, engine, reason, message):
    approve(engine, market)
    contract_id = contract_for(engine, market.zejing_order_id).id
    response = _close(admin_client, contract_id, reason)
    assert response.status_code == 422
    page = text(response)
    assert message in page and 'aria-invalid="true"' in page
    assert _contract(engine, contract_id).status == ContractStatus.confirmed


@pytest.mark.parametrize("token", [None, "forged-token", "other-session"])
def test_closing_needs_the_forms_token(admin_client, app, market, engine, token):
    approve(engine, market)
    contract_id = contract_for(engine, market.zejing_order_id).id
    if token == "other-session":
        token = csrf_token(app.test_client())
    data = {"reason": "Hail"} | ({} if token is None else {"csrf_token": token})
    response = admin_client.post(f"/admin/contracts/{contract_id}/close", data=data)
    assert response.status_code == 400
    assert "表单已过期或并非来自本控制台，因此未做任何更改。" in text(response)
    assert _contract(engine, contract_id).status == ContractStatus.confirmed


def test_closing_a_missing_contract_is_a_404(admin_client, market):
    assert _close(admin_client, 999).status_code == 404


def test_closing_needs_a_signed_in_admin(client, market, engine):
    approve(engine, market)
    contract_id = contract_for(engine, market.zejing_order_id).id
    response = client.post(
        f"/admin/contracts/{contract_id}/close", data={"reason": "Hail", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 303 and response.location.startswith("/admin/sign-in")
    assert _contract(engine, contract_id).status == ContractStatus.confirmed
