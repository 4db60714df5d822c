"""Match runs on a real Celery worker process, through real Redis, against the test database."""

import json
import time
import urllib.error
import urllib.request

from sqlmodel import func, select

from market.db import session_scope
from market.models import AuditEvent, Contract, MatchRunPart
from market.models.common import Product
from market.models.match_run import MatchRunCreate
from market.services import matching
from market.services.actors import Actor
from tests.api.helpers import agreement_body, offer_body, order_body
from tests.api.test_match_runs import _book
from tests.conftest import World
from tests.workers.processes import free_port, running, venv_env, wait_for


class Http:
    """A little JSON client for a real server."""

    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self, method: str, path: str, headers: dict[str, str], body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def test_over_http_the_api_enqueues_and_a_real_worker_proposes(database_url, start_worker, world: World, tmp_path):
    worker = start_worker()
    port = free_port()
    env = venv_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": worker.client.conf.broker_url,
            "CELERY_QUEUE": worker.queue,
            "SECRET_KEY": "test",
        }
    )
    log = tmp_path / "serve.log"
    with running(["market", "serve", "--port", str(port), "--workers", "2"], env=env, log=log) as server:
        http = Http(f"http://127.0.0.1:{port}")

        def healthy():
            try:
                return http("GET", "/healthz", {})[1]
            except OSError:
                return None

        health = wait_for(healthy, process=server, log=log, what="market serve")
        assert health["broker"] == {"ok": True, "detail": "ok", "mode": "celery"}

        assert (
            http("POST", "/api/v1/offers", world.coop, offer_body(tonnes="100", min_price_per_tonne="5000"))[0] == 201
        )
        status, agreement = http(
            "POST",
            "/api/v1/agreements",
            world.admin,
            agreement_body(world.buyer_id, world.coop_id, tonnes="60", price_per_tonne="7800"),
        )
        assert status == 201
        status, call_off = http(
            "POST",
            "/api/v1/orders",
            world.buyer,
            order_body(tonnes="60", max_price_per_tonne="7800", agreement_id=agreement["id"]),
        )
        assert status == 201
        assert (
            http("POST", "/api/v1/orders", world.other_buyer, order_body(tonnes="70", max_price_per_tonne="8000"))[0]
            == 201
        )

        status, run = http("POST", "/api/v1/match-runs", world.admin, {})
        assert status == 202 and run["status"] == "queued"

        def settled():
            current = http("GET", f"/api/v1/match-runs/{run['id']}", world.admin)[1]
            return current if current["status"] not in ("queued", "running") else None

        run = wait_for(settled, process=worker.process, log=worker.log, what="the match run", timeout=90)
        assert run["status"] == "proposed", run
        assert run["report"]["totals"]["tonnes"] == "100"
        assert run["report"]["by_agreement"][0]["fulfilled_share"] == "1.0000"

        status, approved = http("POST", f"/api/v1/match-runs/{run['id']}/approve", world.admin, {})
        assert status == 200 and approved["status"] == "approved"
        status, contracts = http("GET", "/api/v1/contracts", world.coop)
        assert status == 200 and contracts["count"] == 2
        assert {contract["status"] for contract in contracts["data"]} == {"confirmed"}
        status, mine = http("GET", "/api/v1/contracts", world.buyer)
        assert [contract["order_id"] for contract in mine["data"]] == [call_off["id"]]
        assert mine["data"][0]["price_per_tonne"] == "7800.00"
    # The worker, not the web server, did the solving.
    assert "matching.solve_product" in worker.log.read_text()
    assert "matching.solve_product" not in log.read_text()


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
