"""Every console form carries a CSRF token; a POST without a valid one is a 400 that changes nothing.

The JSON API is never CSRF-checked: it authenticates each request by its bearer token.
"""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from market.db import session_scope
from market.models import Contract, MatchRun
from market.models.common import ContractStatus, MatchRunStatus
from tests.admin.conftest import csrf_token, text, wait_for_run
from tests.conftest import bearer


def _state(engine, run_id: int) -> tuple[MatchRunStatus, set[ContractStatus], int]:
    with session_scope(engine) as session:
        run = session.get(MatchRun, run_id)
        statuses = set(session.exec(select(Contract.status).where(Contract.match_run_id == run_id)).all())
        runs = session.exec(select(func.count()).select_from(MatchRun)).one()
    return run.status, statuses, runs


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("token", [None, "", "forged-token", "other-session"])
def test_a_decision_without_a_valid_token_is_refused_and_changes_nothing(
    admin_client, app, market, engine, action, token
):
    before = _state(engine, market.run_id)
    assert before[:2] == (MatchRunStatus.proposed, {ContractStatus.proposed})
    if token == "other-session":  # a real token, but minted for another browser's session
        token = csrf_token(app.test_client())
    data = {} if token is None else {"csrf_token": token}
    response = admin_client.post(f"/admin/runs/{market.run_id}/{action}", data=data)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "表单已过期或并非来自本控制台，因此未做任何更改。" in text(response)
    assert _state(engine, market.run_id) == before


def test_requesting_a_run_needs_the_token(admin_client, market, engine):
    before = _state(engine, market.run_id)
    response = admin_client.post("/admin/runs", data={"policy": "midpoint", "poverty_weight_per_tonne": "0"})
    assert response.status_code == 400
    assert _state(engine, market.run_id) == before  # no run was requested


def test_signing_in_and_out_and_switching_language_need_the_token(client, market):
    assert client.post("/admin/sign-in", data={"token": market.admin_token}).status_code == 400
    assert client.get("/admin/").status_code == 302  # not signed in
    assert client.post("/admin/language", data={"lang": "en"}).status_code == 400
    assert 'lang="zh-CN"' in text(client.get("/admin/sign-in"))

    client.post("/admin/sign-in", data={"token": market.admin_token, "csrf_token": csrf_token(client)})
    assert client.post("/admin/sign-out").status_code == 400
    assert client.get("/admin/").status_code == 200  # still signed in


def test_every_form_on_the_review_page_carries_the_token(admin_client, market):
    page = text(admin_client.get(f"/admin/runs/{market.run_id}"))
    forms = page.count("<form")
    assert forms == page.count('method="post"') + page.count('method="get"')
    assert page.count('name="csrf_token"') == page.count('method="post"') == 4  # language, sign out, approve, reject


def test_the_json_api_is_not_csrf_checked(admin_client, client, market, engine):
    """The API, in the same app as the console, still takes bearer-token POSTs with no CSRF token."""
    response = client.post(f"/api/v1/match-runs/{market.run_id}/approve", headers=bearer(market.admin_token))
    assert response.status_code == 200 and response.json["status"] == "approved"
    body = client.post("/api/v1/match-runs", json={"policy": "bid"}, headers=bearer(market.admin_token))
    assert body.status_code == 202
    assert wait_for_run(engine, body.json["id"]) == MatchRunStatus.proposed
