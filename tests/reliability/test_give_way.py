"""A run's smaller products give way to its largest: on a real worker, every product but the one with the
most open lots and orders is solved at GIVE_WAY_NICENESS, and the pool process keeps its own priority.

tests.reliability.slow_solve traces the nice value of the thread that solved each product.
"""

from __future__ import annotations

import json
import sys

import pytest
from sqlalchemy import func, select

from market.db import session_scope
from market.models import DemandOrder, SupplyOffer
from market.models.common import Product
from tests.reliability.checks import request_run, seed_big_book, wait_settled
from workers.tasks.matching import GIVE_WAY_NICENESS

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="a nice value is a thread's own only on Linux"
)


def _open_rows(engine) -> dict[str, int]:
    """Open lots and orders per product, counted here (the book is freshly seeded: all of them open)."""
    counts: dict[str, int] = dict.fromkeys((product.value for product in Product), 0)
    with session_scope(engine) as session:
        for model in (SupplyOffer, DemandOrder):
            for product, count in session.execute(select(model.product, func.count()).group_by(model.product)):
                counts[Product(product).value] += count
    return counts


def _solved_nice(path, run_id: int) -> dict[str, int]:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    solved = [event for event in events if event["run"] == run_id and event["event"] == "solved"]
    return {event["product"]: event["nice"] for event in solved}


def test_every_product_but_the_largest_is_solved_at_a_lower_priority(engine, launch_worker, tmp_path, report):
    seed_big_book(engine, size=800)
    open_rows = _open_rows(engine)
    largest = max(open_rows, key=open_rows.get)
    assert sorted(open_rows.values())[-1] > sorted(open_rows.values())[-2], f"no single largest book: {open_rows}"
    path = tmp_path / "trace.jsonl"
    # One pool process: it solves every product, niced or not, one after another.
    worker = launch_worker(concurrency=1, include=("tests.reliability.slow_solve",), RELIABILITY_TRACE=str(path))
    worker.wait_ready()

    run_id = request_run(engine, product=None)
    worker.send("matching.run", run_id)
    assert wait_settled(engine, [run_id], timeout=90, logs=(worker.log,)) == {"proposed": 1}
    nice = _solved_nice(path, run_id)
    report(f"open lots and orders {open_rows}; nice values of the solves {nice}")
    base = nice[largest]
    assert set(nice) == set(open_rows)
    assert {product: value - base for product, value in nice.items() if product != largest} == {
        product: GIVE_WAY_NICENESS for product in open_rows if product != largest
    }

    # The same pool process, which has solved niced products, solves a run's only product at its own priority.
    smaller = min(open_rows, key=open_rows.get)
    alone = request_run(engine, product=Product(smaller))
    worker.send("matching.run", alone)
    assert wait_settled(engine, [alone], timeout=90, logs=(worker.log,)) == {"proposed": 1}
    assert _solved_nice(path, alone) == {smaller: base}
