"""Match runs on a real Celery worker process, through real Redis, against the test database."""

import time

from sqlmodel import func, select

from market.app import create_app
from market.config import load_settings
from market.db import session_scope
from market.models import AuditEvent, Contract, MatchRunPart
from market.models.common import Product
from market.models.match_run import MatchRunCreate
from market.services import matching
from market.services.actors import Actor
from tests.api.helpers import offer_body, order_body
from tests.api.test_match_runs import _book
from tests.conftest import World


def _celery_app(database_url: str, worker) -> object:
    settings = load_settings(
        database_url=database_url,
        redis_url=worker.client.conf.broker_url,
        celery_queue=worker.queue,
        secret_key="test",
    )
    return create_app(settings)


def _wait(client, headers, run_id, worker, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/v1/match-runs/{run_id}", headers=headers).json
        if run["status"] not in ("queued", "running"):
            return run
        assert worker.process.poll() is None, "the worker died"
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {timeout}s"
        time.sleep(0.1)


def test_the_api_enqueues_and_a_real_worker_proposes(database_url, start_worker, world: World, client):
    worker = start_worker()
    lot, eggs, agreement, call_off, market, too_cheap = _book(client, world)
    app = _celery_app(database_url, worker)
    api = app.test_client()

    response = api.post("/api/v1/match-runs", json={}, headers=world.admin)
    assert response.status_code == 202 and response.json["status"] == "queued"
    run = _wait(api, world.admin, response.json["id"], worker)
    assert run["status"] == "proposed", run
    assert run["report"]["totals"]["tonnes"] == "100"
    assert sorted(run["report"]["products"]) == sorted(p.value for p in Product)

    assert api.post(f"/api/v1/match-runs/{run['id']}/approve", headers=world.admin).json["status"] == "approved"
    contracts = api.get("/api/v1/contracts", headers=world.coop).json
    assert contracts["count"] == 2 and {c["status"] for c in contracts["data"]} == {"confirmed"}
    assert api.get(f"/api/v1/agreements/{agreement['id']}", headers=world.buyer).json["tonnes_contracted"] == "60"
    # The worker, not this process, did the solving.
    assert "matching.solve_product" in worker.log.read_text()


def test_a_run_delivered_twice_makes_one_set_of_contracts(database_url, start_worker, world: World, client, engine):
    worker = start_worker()
    _book(client, world)
    with session_scope(engine) as session:
        run_id = matching.request_match_run(session, actor=Actor.system("test"), data=MatchRunCreate()).id
    # The same message twice, as Redis redelivers after a visibility timeout or a lost worker.
    worker.call("matching.run", run_id)
    worker.call("matching.run", run_id)
    deadline = time.monotonic() + 90
    while True:
        with session_scope(engine) as session:
            run = matching.get_match_run(session, actor=Actor.system("test"), run_id=run_id)
            if run.status.value not in ("queued", "running"):
                break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run.status.value == "proposed"
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).where(Contract.match_run_id == run_id)).one() == 2
        assert session.exec(select(func.count()).where(MatchRunPart.match_run_id == run_id)).one() == len(Product)
        proposals = session.exec(select(func.count()).where(AuditEvent.action == "match_run.propose")).one()
        assert proposals == 1


def test_scheduled_runs_request_and_run_one_product(database_url, start_worker, world: World, client, engine):
    worker = start_worker(MATCH_AUTO_APPROVE="true")
    client.post("/api/v1/offers", json=offer_body(tonnes="10", min_price_per_tonne="5000"), headers=world.coop)
    client.post("/api/v1/orders", json=order_body(tonnes="10", max_price_per_tonne="8000"), headers=world.buyer)
    run_id = worker.call("matching.scheduled_run", "apple")
    deadline = time.monotonic() + 90
    while True:
        with session_scope(engine) as session:
            status = matching.get_match_run(session, actor=Actor.system("test"), run_id=run_id).status.value
        if status not in ("queued", "running", "proposed"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status == "approved"
    with session_scope(engine) as session:
        contract = session.exec(select(Contract).where(Contract.match_run_id == run_id)).one()
        assert contract.status.value == "confirmed" and contract.quantity_kg == 10_000
