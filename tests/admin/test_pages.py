"""The console's pages show the run's report and the contracts with the right figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from market.admin import paging
from market.admin.formatting import tonnes, yuan
from market.app import create_app
from market.db import session_scope
from market.models import Contract, MatchRun
from market.models.common import ContractStatus, MatchRunStatus
from tests.admin.conftest import accept, contract_for, post_form, ship, sign_in, text, wait_for_run


def _report(engine, run_id: int) -> dict:
    with session_scope(engine) as session:
        return session.get(MatchRun, run_id).report


def _squash(page: str) -> str:
    """The page's text without tags, one space between words, for reading figures in context."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_home_lists_the_run_awaiting_review_with_its_figures(admin_client, market):
    page = text(admin_client.get("/admin/"))
    assert f'href="/admin/runs/{market.run_id}"' in page
    assert "待审核的撮合" in page
    assert "100 吨，751,680.00 元" in page
    assert 'action="/admin/runs"' in page  # the request form


def test_the_review_page_shows_the_report(admin_client, market, engine):
    report = _report(engine, market.run_id)
    response = admin_client.get(f"/admin/runs/{market.run_id}")
    assert response.status_code == 200
    page = _squash(text(response))

    # Totals, computed independently here where they can be: 60 t x 7,800 + 40 t to Baikang.
    assert "撮合吨数 100 需求 135 吨（满足率 74.1%）" in page
    assert "合同金额（元） 751,680.00 2 份合同" in page
    assert f"交易收益（元） {yuan(report['totals']['gains_from_trade'])}" in page
    assert f"已扣除运费 {yuan(report['totals']['transport_cost'])} 元" in page
    # By product: apples 100 of 130 t; eggs offered 10, wanted 5, none matched.
    assert "苹果 100 130 100 76.9% 2 751,680.00" in page
    assert "鸡蛋 10 5 0 0.0% 0 0.00" in page
    # The agreement, in full at its price, and its progress bar.
    assert "东莞市泽景公司 ← 洒渔镇苹果专业合作社 ZY-2020-APL-001 60 60 60" in page
    assert "468,000.00" in page
    assert 'aria-label="已签合同: 100.0%"' in text(response)
    # Cooperatives (with registered poor households) and buyers.
    assert "洒渔镇苹果专业合作社 Sayu 100 751,680.00 120 6,264.00" in page
    assert "东莞市泽景公司 1 60 468,000.00" in page
    assert "东莞百康集团 1 40 283,680.00" in page
    # Unmatched orders, with their reasons in words.
    assert "BK-APL-01 苹果 30 货源已售罄" in page
    assert "BK-EGG-01 鸡蛋 5 价格差：要价加运费不低于出价" in page
    # Solver statistics, one row per phase solved.
    solvers = [phase["solver"] for phase in report["solver"]]
    assert len(solvers) >= 2
    for name in set(solvers):
        assert page.count(name) == solvers.count(name)
    # Optimum vs first come, first served: two charts, in inline SVG, and the figures beside them.
    comparison = report["comparison"]
    svg = text(response)
    assert svg.count('<svg class="chart" role="img"') == 2
    assert 'aria-label="撮合吨数"' in svg and 'aria-label="交易收益（元）"' in svg
    assert f"最优撮合: {tonnes(comparison['optimum']['tonnes'])} 吨" in svg
    assert f"先到先得: {yuan(comparison['baseline']['gains_from_trade'])}" in svg
    assert f"优化多带来 {yuan(comparison['extra_gains_from_trade'])} 元交易收益" in page
    # The decision buttons, since it awaits review.
    assert 'id="approve"' in svg and 'id="reject"' in svg


def test_approving_confirms_the_contracts_and_says_so(admin_client, market, engine):
    response = post_form(admin_client, f"/admin/runs/{market.run_id}/approve", page=f"/admin/runs/{market.run_id}")
    assert response.status_code == 303 and response.location == f"/admin/runs/{market.run_id}"
    page = text(admin_client.get(response.location))
    assert f"第 {market.run_id} 轮撮合已批准：其合同均已确认。" in page
    assert '<span class="badge run-approved">已批准</span>' in page
    assert 'id="approve"' not in page
    assert market.admin_name in _squash(page).split("审核时间")[1][:60]  # decided by
    with session_scope(engine) as session:
        run = session.get(MatchRun, market.run_id)
        assert (run.status, run.decided_by_id) == (MatchRunStatus.approved, market.admin_id)
        statuses = session.exec(select(Contract.status).where(Contract.match_run_id == market.run_id)).all()
        assert statuses == [ContractStatus.confirmed, ContractStatus.confirmed]

    again = post_form(admin_client, f"/admin/runs/{market.run_id}/reject")
    assert again.status_code == 303
    page = text(admin_client.get(again.location))
    assert f"只有待审核的撮合才能驳回；第 {market.run_id} 轮撮合当前状态为“已批准”。" in page
    with session_scope(engine) as session:
        assert session.get(MatchRun, market.run_id).status == MatchRunStatus.approved


def test_rejecting_cancels_the_contracts(admin_client, market, engine):
    response = post_form(admin_client, f"/admin/runs/{market.run_id}/reject")
    page = text(admin_client.get(response.location))
    assert "已驳回：其合同均已取消，吨数已释放。" in page
    with session_scope(engine) as session:
        statuses = set(session.exec(select(Contract.status).where(Contract.match_run_id == market.run_id)).all())
    assert statuses == {ContractStatus.cancelled}


def test_a_missing_run_or_contract_is_a_404_page(admin_client):
    for path in ("/admin/runs/999", "/admin/contracts/999"):
        response = admin_client.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html"
        assert "没有这个页面" in text(response)
    response = post_form(admin_client, "/admin/runs/999/approve")
    assert response.status_code == 404


def test_requesting_a_run_queues_it_and_shows_it(admin_client, market, engine):
    response = post_form(
        admin_client, "/admin/runs", {"product": "apple", "policy": "bid", "poverty_weight_per_tonne": "200.50"}
    )
    assert response.status_code == 303
    run_id = int(response.location.rsplit("/", 1)[1])
    assert run_id != market.run_id
    assert f"第 {run_id} 轮撮合已排队" in text(admin_client.get(response.location))
    assert wait_for_run(engine, run_id) == MatchRunStatus.proposed
    with session_scope(engine) as session:
        run = session.get(MatchRun, run_id)
        assert (run.product, run.policy.value, run.parameters) == ("apple", "bid", {"poverty_weight_fen": 20050})
        assert run.requested_by_id == market.admin_id
    page = _squash(text(admin_client.get(f"/admin/runs/{run_id}")))
    assert "产品 苹果 定价方式 出价 带贫权重 200.50 元/吨" in page
    # The first run still holds every apple: this one sees Baikang's 30 t still wanted, and no supply.
    assert "撮合吨数 0 需求 30 吨（满足率 0.0%）" in page
    assert "BK-APL-01 苹果 30 无该等级货源" in page


@pytest.mark.parametrize(
    ("weight", "message"),
    [("-1", "应在 0 至 100,000 元/吨之间。"), ("abc", "不是有效的小数"), ("1.234", "最多两位小数"), ("", "请填写权重")],
)
def test_a_bad_request_form_names_the_field_and_queues_nothing(admin_client, market, engine, weight, message):
    response = post_form(admin_client, "/admin/runs", {"policy": "midpoint", "poverty_weight_per_tonne": weight})
    assert response.status_code == 422
    assert message in text(response)
    assert 'aria-invalid="true"' in text(response)
    with session_scope(engine) as session:
        assert len(session.exec(select(MatchRun)).all()) == 1


def test_a_run_that_cannot_be_handed_to_the_workers_stays_queued_and_says_so(settings, market, engine):
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        client = app.test_client()
        sign_in(client, market.admin_token)
        response = post_form(client, "/admin/runs", {"policy": "midpoint", "poverty_weight_per_tonne": "0"})
        assert response.status_code == 303
        page = text(client.get(response.location))
        assert "已排队，但任务队列暂不可用：队列恢复后会自动交给撮合进程。请勿重复申请。" in page
        assert '<span class="badge run-failed">失败</span>' not in page
    finally:
        app.extensions["market.engine"].dispose()
    with session_scope(engine) as session:
        waiting = session.exec(select(MatchRun).where(MatchRun.id != market.run_id)).one()
        assert waiting.status == MatchRunStatus.queued and waiting.error is None


def test_the_runs_list_filters_by_status(admin_client, market):
    page = text(admin_client.get("/admin/runs"))
    assert f'href="/admin/runs/{market.run_id}"' in page and "751,680.00" in page
    assert f'href="/admin/runs/{market.run_id}"' in text(admin_client.get("/admin/runs?status=proposed"))
    empty = text(admin_client.get("/admin/runs?status=approved"))
    assert f'href="/admin/runs/{market.run_id}"' not in empty and "暂无撮合。" in empty
    bad = admin_client.get("/admin/runs?status=bogus")
    assert bad.status_code == 200 and "不是有效的选择" in text(bad)


def test_the_contracts_list_filters_and_pages(admin_client, market, engine, monkeypatch):
    page = _squash(text(admin_client.get("/admin/contracts")))
    assert "第 1–2 条，共 2 条" in page
    assert "拟议 苹果 · 一级 洒渔镇苹果专业合作社 东莞市泽景公司 60 7,800.00 468,000.00" in page
    assert "洒渔镇苹果专业合作社 东莞百康集团 40" in page

    post_form(admin_client, f"/admin/runs/{market.run_id}/approve")
    confirmed = _squash(text(admin_client.get("/admin/contracts?status=confirmed&product=apple")))
    assert confirmed.count("已确认 苹果") == 2
    assert "没有符合条件的合同。" in text(admin_client.get("/admin/contracts?status=proposed"))
    assert "没有符合条件的合同。" in text(admin_client.get("/admin/contracts?product=egg"))
    assert "没有符合条件的合同。" in text(admin_client.get(f"/admin/contracts?match_run={market.run_id + 1}"))
    assert "共 2 条" in text(admin_client.get(f"/admin/contracts?match_run={market.run_id}"))

    monkeypatch.setattr(paging, "PER_PAGE", 1)
    first = text(admin_client.get("/admin/contracts?status=confirmed"))
    assert "第 1–1 条，共 2 条" in first and "第 1 / 2 页" in first
    assert 'href="/admin/contracts?status=confirmed&page=2"' in first  # the filter is kept
    second = text(admin_client.get("/admin/contracts?status=confirmed&page=2"))
    assert "第 2–2 条，共 2 条" in second and 'href="/admin/contracts?status=confirmed"' in second
    ids = [re.findall(r'href="/admin/contracts/(\d+)"', body) for body in (first, second)]
    assert len(ids[0]) == len(ids[1]) == 1 and ids[0] != ids[1]


def test_a_contract_shows_its_history(admin_client, market, engine):
    with session_scope(engine) as session:
        contract = session.exec(select(Contract).where(Contract.order_id == market.market_order_id)).one()
    post_form(admin_client, f"/admin/runs/{market.run_id}/approve")
    page = _squash(text(admin_client.get(f"/admin/contracts/{contract.id}")))
    assert f"合同 {contract.id} 已确认" in page
    assert "产品 苹果 · 一级 合作社 洒渔镇苹果专业合作社 采购方 东莞百康集团 吨数 40" in page
    assert "金额（元） 283,680.00" in page
    timeline = page.split("变更记录", 1)[1]
    steps = [
        f"申请撮合 操作者：{market.admin_name}",
        "撮合开始 操作者：撮合引擎",
        "合同拟议 操作者：撮合引擎",
        "撮合提出拟议合同 操作者：撮合引擎",
        f"合同确认 拟议 → 已确认 操作者：{market.admin_name}",
        f"撮合已批准 操作者：{market.admin_name}",
    ]
    positions = [timeline.find(step) for step in steps]
    assert all(position >= 0 for position in positions), list(zip(steps, positions, strict=True))
    assert positions == sorted(positions)


def test_a_contracts_deliveries_join_its_history(admin_client, market, engine):
    """Shipments and acceptances recorded through the ledger appear with their tonnes, ticket and reason."""
    post_form(admin_client, f"/admin/runs/{market.run_id}/approve")
    contract = contract_for(engine, market.market_order_id)
    delivery_id = ship(engine, market, contract.id, "40", date(2020, 10, 8), "ZY-0081")
    accept(engine, market.baikang_token, delivery_id, "39.5", "500 kg bruised")
    page = _squash(text(admin_client.get(f"/admin/contracts/{contract.id}")))
    assert f"合同 {contract.id} 已履约" in page
    assert "已验收（吨） 39.5 已实现收入（元） 280,134.00" in page  # 39.5 t x 7,092.00 yuan/t
    assert "验收进度: 39.5 / 40 吨" in page  # the progress bar's accessible name
    timeline = page.split("变更记录", 1)[1]
    steps = [
        f"合同确认 拟议 → 已确认 操作者：{market.admin_name}",
        "登记发货 发运 40 吨 · 磅单 ZY-0081 操作者：Sayu clerk",
        "发货 已确认 → 交付中 操作者：Sayu clerk",
        "验收 验收 39.5 吨 · 拒收 0.5 吨：500 kg bruised 操作者：Baikang weighbridge",
        "过磅验收 交付中 → 已履约 操作者：Baikang weighbridge",
    ]
    positions = [timeline.find(step) for step in steps]
    assert all(position >= 0 for position in positions), list(zip(steps, positions, strict=True))
    assert positions == sorted(positions)
