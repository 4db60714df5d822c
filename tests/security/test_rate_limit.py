"""The per-account rate limit (memory and Redis), and the cap on match runs per admin."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import redis

from market.app import create_app
from market.config import ConfigError, load_settings
from market.db import session_scope
from market.jobs import run_match_in_process
from market.models.account import AccountCreate
from market.models.common import Role
from market.services.accounts import create_account
from market.services.actors import Actor
from tests.api.helpers import offer_body, order_body
from tests.conftest import REDIS_URL, bearer, require_service
from tests.security.conftest import NoJobs


def limited_app(settings, **changes):
    app = create_app(settings.model_copy(update=changes))
    app.extensions["market.jobs"] = NoJobs()
    return app


def _is_429(response) -> int:
    assert response.status_code == 429, (response.status_code, response.data)
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 429 and "RATE_LIMIT" in response.json["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def test_each_account_has_its_own_budget_and_429_says_when_to_retry(settings, world):
    app = limited_app(settings, rate_limit="4 per 2 second")
    client = app.test_client()
    started = time.monotonic()
    statuses = [client.get("/api/v1/me", headers=world.coop).status_code for _ in range(4)]
    statuses.append(client.get("/api/v1/offers", headers=world.coop).status_code)
    assert statuses == [200, 200, 200, 200, 429]
    retry_after = _is_429(client.get("/api/v1/me", headers=world.coop))
    assert retry_after <= 2
    # A 403 counts too: the budget is the account's, whatever it asks for.
    assert client.get("/api/v1/match-runs", headers=world.buyer).status_code == 403

    # Keyed by the account, not the address: another account on the same client is untouched.
    assert [client.get("/api/v1/me", headers=world.other_buyer).status_code for _ in range(4)] == [200] * 4
    # Health, the OpenAPI document, the docs and bad tokens are not limited (a bad token is a 401).
    for _ in range(6):
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/openapi.json").status_code == 200
        assert client.get("/api/docs").status_code == 200
        assert client.get("/api/v1/me", headers=bearer("mkt_nobody")).status_code == 401

    # The window resets: after Retry-After the account may call again.
    time.sleep(max(0.0, started + retry_after - time.monotonic()))
    deadline = time.monotonic() + 3
    while client.get("/api/v1/me", headers=world.coop).status_code == 429:
        assert time.monotonic() < deadline, "the limit did not reset after its window"
        time.sleep(0.1)
    # The suite's apps have RATE_LIMIT="" (tests/security/conftest.py): no limiter at all.
    assert "market.limiter" not in create_app(settings).extensions


def _redis_or_skip() -> redis.Redis:
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    return connection


@pytest.mark.redis
def test_two_app_instances_on_one_redis_count_together(settings, world):
    connection = _redis_or_skip()
    first = limited_app(settings, redis_url=REDIS_URL, rate_limit="6 per 2 second")
    second = limited_app(settings, redis_url=REDIS_URL, rate_limit="6 per 2 second")
    prefix = first.extensions["market.limiter"]._key_prefix
    assert prefix == second.extensions["market.limiter"]._key_prefix
    for key in connection.scan_iter(f"LIMITS:*{prefix}*"):  # only this database's counters
        connection.delete(key)

    clients = [first.test_client(), second.test_client()]
    started = time.monotonic()
    statuses = [clients[i % 2].get("/api/v1/me", headers=world.admin).status_code for i in range(6)]
    assert statuses == [200] * 6  # three on each instance
    retry_after = _is_429(clients[0].get("/api/v1/me", headers=world.admin))
    _is_429(clients[1].get("/api/v1/me", headers=world.admin))
    assert any(connection.scan_iter(f"LIMITS:*{prefix}*account:*")), "the counters live in Redis"
    assert clients[1].get("/api/v1/me", headers=world.coop).status_code == 200

    # The window ends within Retry-After (rounded to whole seconds); allow for a loaded machine.
    time.sleep(max(0.0, started + retry_after - time.monotonic()))
    deadline = time.monotonic() + 3
    while clients[1].get("/api/v1/me", headers=world.admin).status_code == 429:
        assert time.monotonic() < deadline, "the limit did not reset after its window"
        time.sleep(0.1)
    for key in connection.scan_iter(f"LIMITS:*{prefix}*"):
        connection.delete(key)


def test_with_redis_unreachable_the_api_keeps_serving_and_logs_it(settings, world, caplog):
    """Fail open on Redis: nothing is refused because of it; each process counts in memory meanwhile."""
    app = limited_app(settings, redis_url="redis://127.0.0.1:1/0", rate_limit="3 per 10 second")
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        assert [client.get("/api/v1/me", headers=world.admin).status_code for _ in range(3)] == [200] * 3
    assert any("storage unreachable" in record.getMessage() for record in caplog.records)
    _is_429(client.get("/api/v1/me", headers=world.admin))


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RATE_LIMIT", "lots"), ("RATE_LIMIT", "10/fortnight"), ("MAX_ACTIVE_RUNS_PER_ADMIN", "0")],
)
def test_a_bad_limit_setting_is_one_config_error(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"^{variable} is invalid: "):
        load_settings()


# --- runs per admin ---------------------------------------------------------------------------


def _new_admin(engine, name: str) -> dict[str, str]:
    with session_scope(engine) as session:
        _, token = create_account(session, actor=Actor.system("test"), data=AccountCreate(role=Role.admin, name=name))
    return bearer(token)


def test_an_admin_may_have_at_most_n_runs_queued_or_running(settings, world, engine):
    app = limited_app(settings, max_active_runs_per_admin=2)
    client = app.test_client()
    client.post("/api/v1/offers", json=offer_body(tonnes="10", min_price_per_tonne="5000"), headers=world.coop)
    client.post("/api/v1/orders", json=order_body(tonnes="10", max_price_per_tonne="8000"), headers=world.buyer)

    runs = [client.post("/api/v1/match-runs", json={}, headers=world.admin) for _ in range(2)]
    assert [run.status_code for run in runs] == [202, 202]
    refused = client.post("/api/v1/match-runs", json={"product": "apple"}, headers=world.admin)
    assert refused.status_code == 409 and refused.content_type == "application/problem+json"
    assert "MAX_ACTIVE_RUNS_PER_ADMIN=2" in refused.json["detail"]
    assert refused.json["errors"] == [
        {"field": "max_active_runs_per_admin", "message": "at most 2 runs queued or running per admin"}
    ]
    # The cap is per admin: another admin still may.
    assert client.post("/api/v1/match-runs", json={}, headers=_new_admin(engine, "second office")).status_code == 202

    # Once one of the first admin's runs has run (proposed), there is room for one more.
    run_match_in_process(engine, runs[0].json["id"])
    assert client.get(f"/api/v1/match-runs/{runs[0].json['id']}", headers=world.admin).json["status"] == "proposed"
    assert client.post("/api/v1/match-runs", json={}, headers=world.admin).status_code == 202
    assert client.post("/api/v1/match-runs", json={}, headers=world.admin).status_code == 409
    listed = client.get("/api/v1/match-runs?status=queued", headers=world.admin).json
    assert listed["count"] == 3  # two of the first admin's, one of the second's


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_two_requests_at_once_cannot_both_pass_the_cap(settings, world, engine):
    """The admin's row lock: on PostgreSQL two requests really run at once (SQLite has one writer)."""
    app = limited_app(settings, max_active_runs_per_admin=1)
    admin = _new_admin(engine, "racing office")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def request() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/match-runs", json={}, headers=admin).status_code)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [202, 409]
