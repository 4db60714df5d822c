"""What every fault test checks afterwards, in SQL: tonnes conserved, each run written once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Engine

from market.db import session_scope
from market.models.common import Product
from market.models.match_run import MatchRunCreate
from market.services import matching
from market.services.actors import Actor
from seed.synthetic import generate_book
from tests.api.helpers import agreement_body, offer_body, order_body
from tests.workers.processes import log_tail

T = TypeVar("T")

OFFICE = Actor.system("test")
ACTIVE = ("queued", "running")

# Live contracts hold tonnes; cancelled ones gave them back.
_LIVE = "c.status <> 'cancelled'"

CONSERVATION = {
    "offer": f"""
        SELECT o.id, o.quantity_kg, o.contracted_kg, o.withdrawn_kg,
               COALESCE(SUM(c.quantity_kg) FILTER (WHERE {_LIVE}), 0) AS live
        FROM supply_offer o LEFT JOIN contract c ON c.offer_id = o.id
        GROUP BY o.id
        HAVING COALESCE(SUM(c.quantity_kg) FILTER (WHERE {_LIVE}), 0) <> o.contracted_kg
            OR o.contracted_kg + o.withdrawn_kg > o.quantity_kg""",
    "order": f"""
        SELECT o.id, o.quantity_kg, o.contracted_kg, o.cancelled_kg,
               COALESCE(SUM(c.quantity_kg) FILTER (WHERE {_LIVE}), 0) AS live
        FROM demand_order o LEFT JOIN contract c ON c.order_id = o.id
        GROUP BY o.id
        HAVING COALESCE(SUM(c.quantity_kg) FILTER (WHERE {_LIVE}), 0) <> o.contracted_kg
            OR o.contracted_kg + o.cancelled_kg > o.quantity_kg""",
    "agreement": f"""
        SELECT a.id, a.quantity_kg, a.called_off_kg, a.contracted_kg,
               COALESCE(SUM(c.quantity_kg) FILTER (WHERE {_LIVE}), 0) AS live
        FROM purchase_agreement a LEFT JOIN contract c ON c.agreement_id = a.id
        GROUP BY a.id
        HAVING COALESCE(SUM(c.quantity_kg) FILTER (WHERE {_LIVE}), 0) <> a.contracted_kg
            OR a.contracted_kg > a.called_off_kg OR a.called_off_kg > a.quantity_kg""",
    "duplicate contract": """
        SELECT match_run_id, offer_id, order_id, COUNT(*) FROM contract
        GROUP BY match_run_id, offer_id, order_id HAVING COUNT(*) > 1""",
}


@dataclass
class Totals:
    offers: int
    orders: int
    agreements: int
    contracts: int
    live_contracts: int
    live_tonnes: float


def assert_conserved(engine: Engine) -> Totals:
    """Contracted never exceeds an offer's, an order's or an agreement's tonnes; counters match the
    contracts that hold them; no (run, offer, order) twice. Returns what was checked."""
    with engine.connect() as connection:
        for what, query in CONSERVATION.items():
            broken = connection.execute(text(query)).all()
            assert broken == [], f"{what}: {broken[:5]}"
        row = connection.execute(
            text(
                f"""SELECT (SELECT COUNT(*) FROM supply_offer), (SELECT COUNT(*) FROM demand_order),
                   (SELECT COUNT(*) FROM purchase_agreement), (SELECT COUNT(*) FROM contract),
                   (SELECT COUNT(*) FROM contract c WHERE {_LIVE}),
                   (SELECT COALESCE(SUM(quantity_kg), 0) FROM contract c WHERE {_LIVE}) / 1000.0"""
            )
        ).one()
    return Totals(*row[:5], float(row[5]))


@dataclass
class RunOutcome:
    run_id: int
    status: str
    attempts: int
    contracts: int
    kg: int
    reported_contracts: int | None
    proposals: int


def run_outcome(engine: Engine, run_id: int) -> RunOutcome:
    with engine.connect() as connection:
        status, attempts, report = connection.execute(
            text("SELECT status, attempts, report FROM match_run WHERE id = :id"), {"id": run_id}
        ).one()
        contracts, kg = connection.execute(
            text(
                f"SELECT COUNT(*), COALESCE(SUM(quantity_kg), 0) FROM contract c WHERE match_run_id = :id AND {_LIVE}"
            ),
            {"id": run_id},
        ).one()
        proposals = connection.execute(
            text(
                "SELECT COUNT(*) FROM audit_event WHERE object_type = 'match_run' AND object_id = :id"
                " AND action = 'match_run.propose'"
            ),
            {"id": run_id},
        ).scalar_one()
    reported = None if report is None else report["totals"]["contracts"]
    return RunOutcome(run_id, status, attempts, contracts, int(kg), reported, proposals)


def assert_proposed_once(engine: Engine, run_id: int) -> RunOutcome:
    """Proposed (or decided after), by one `match_run.propose`, holding exactly the contracts its report counts."""
    outcome = run_outcome(engine, run_id)
    assert outcome.status in ("proposed", "approved", "rejected"), outcome
    assert outcome.proposals == 1, outcome
    if outcome.status != "rejected":
        assert outcome.contracts == outcome.reported_contracts, outcome
    return outcome


def statuses(engine: Engine, run_ids: list[int]) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT status, COUNT(*) FROM match_run WHERE id = ANY(:ids) GROUP BY status"), {"ids": run_ids}
        ).all()
    return dict(sorted((status, count) for status, count in rows))


def settled(engine: Engine, run_ids: list[int]) -> dict[str, int] | None:
    """The runs' statuses once none is queued or running; None before."""
    counts = statuses(engine, run_ids)
    return None if any(status in counts for status in ACTIVE) else counts


def wait_until(check: Callable[[], T | None], *, what: str, timeout: float, logs: tuple[Path, ...] = ()) -> T:
    """Poll `check` until it returns something other than None, or fail with the logs' tails."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome is not None:
            return outcome
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {path.name}\n{log_tail(path, 60)}" for path in logs)
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{tails}")
        time.sleep(0.05)


def wait_settled(
    engine: Engine, run_ids: list[int], *, timeout: float = 60, logs: tuple[Path, ...] = ()
) -> dict[str, int]:
    """Wait until none of the runs is queued or running; their statuses then."""
    return wait_until(lambda: settled(engine, run_ids), what=f"runs {run_ids} settling", timeout=timeout, logs=logs)


def request_run(engine: Engine, product: Product | None = Product.apple) -> int:
    with session_scope(engine) as session:
        return matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate(product=product)).id


def reject(engine: Engine, run_id: int) -> None:
    """Give a proposed run's tonnes back, so the next run sees the whole book again."""
    with session_scope(engine) as session:
        matching.reject_match_run(session, actor=OFFICE, run_id=run_id)


def seed_big_book(engine: Engine, *, size: int, random_seed: int = 2020) -> dict[str, int]:
    with session_scope(engine) as session:
        return generate_book(session, size=size, random_seed=random_seed)


def add_agreement(client, world) -> dict:
    """An apple agreement with a call-off on top of the book, so the agreement stage runs too."""
    client.post("/api/v1/offers", json=offer_body(tonnes="200", min_price_per_tonne="5000.00"), headers=world.coop)
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, tonnes="150", price_per_tonne="7800.00"),
        headers=world.admin,
    ).json
    client.post(
        "/api/v1/orders",
        json=order_body(tonnes="150", max_price_per_tonne="7800.00", agreement_id=agreement["id"]),
        headers=world.buyer,
    )
    return agreement


def open_transactions(engine: Engine) -> int:
    """Write transactions open in this database right now, other than ours: a worker mid-step."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
            )
        ).scalar_one()


def in_transaction(engine: Engine, client_ports: list[int]) -> bool:
    """Whether a backend serving one of these client ports has a write transaction open."""
    if not client_ports:
        return False
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE client_port = ANY(:ports) AND backend_xid IS NOT NULL"
                ),
                {"ports": client_ports},
            ).scalar_one()
        )


def lock_waiters(engine: Engine) -> int:
    """Sessions of this database waiting for a lock right now."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def solve_in_progress(engine: Engine, launch_worker, tmp_path: Path, seconds: int, **worker_options: str):
    """A worker (one pool process) in the middle of a run's solve, which holds its transaction open
    `seconds` longer (tests.reliability.slow_solve); the worker, the run and the solve's events so far."""
    seed_big_book(engine, size=500)
    trace = tmp_path / "trace.jsonl"
    worker = launch_worker(
        concurrency=1,
        include=("tests.reliability.slow_solve",),
        SLOW_SOLVE_SECONDS=str(seconds),
        RELIABILITY_TRACE=str(trace),
        **worker_options,
    )
    worker.wait_ready()
    run_id = request_run(engine, Product.apple)
    worker.send("matching.run", run_id)

    def events() -> list[str]:
        return [json.loads(line)["event"] for line in trace.read_text().splitlines()] if trace.exists() else []

    wait_until(lambda: True if "locked" in events() else None, what="the solve", timeout=60, logs=(worker.log,))
    time.sleep(0.5)  # inside the solve's transaction
    assert "solved" not in events()
    return worker, run_id, events
