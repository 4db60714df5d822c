"""kill -9 a worker's pool process in the middle of match runs, twenty times over a large book.

Four workers, each with one prefork pool process and a product of its own (so their solves do not
queue behind one another's lock row), run match runs over a book of 10,000 offers and 10,000 orders.
A process is killed only while its own PostgreSQL backend has a write transaction open (the solve
holds its product's lock row): the test finds the backend by the process's client port. Each run
is killed up to three times, each time in the process that took the redelivered task.

Celery notices a killed pool process at its pool's next check (every 5 s) unless the process has
just started, so one kill costs a few seconds: four workers side by side keep the test short.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field

from market.db import session_scope
from market.models.common import Product
from market.services import matching
from tests.reliability.checks import (
    OFFICE,
    add_agreement,
    assert_conserved,
    assert_proposed_once,
    in_transaction,
    reject,
    request_run,
    seed_big_book,
    settled,
    wait_settled,
    wait_until,
)

KILLS = 20
KILLS_PER_RUN = 3
BOOK_SIZE = 10_000
PRODUCTS = (Product.apple, Product.vegetable, Product.potato, Product.egg)  # solves of 0.5 to 2 s here


@dataclass
class Tally:
    product: Product
    kills: int = 0
    retried: int = 0
    runs: list[int] = field(default_factory=list)
    contracts: set[int] = field(default_factory=set)
    error: BaseException | None = None


def kill_runs(engine, worker, tally: Tally, kills: int, report, rng: random.Random) -> None:
    """Request runs of one product on one worker and kill its pool process mid-solve `kills` times."""
    while tally.kills < kills:
        run_id = request_run(engine, tally.product)
        tally.runs.append(run_id)
        began = time.monotonic()
        worker.send("matching.run", run_id)
        killed: list[str] = []
        while len(killed) < KILLS_PER_RUN and tally.kills < kills:
            (child,) = wait_until(lambda: worker.pool_pids() or None, what="the pool process", timeout=30)

            def solving_or_done(child=child, run_id=run_id):
                if in_transaction(engine, worker.database_ports(child)):
                    return "solving"
                return settled(engine, [run_id])

            if solving_or_done() != "solving":
                seen = wait_until(solving_or_done, what=f"run {run_id} solving", timeout=30, logs=(worker.log,))
                if seen != "solving":
                    break  # it finished before we struck
            time.sleep(rng.uniform(0, 0.3))
            if not in_transaction(engine, worker.database_ports(child)):
                continue
            os.kill(child, signal.SIGKILL)
            tally.kills += 1
            killed.append(f"{time.monotonic() - began:.1f}s")
            # The pool replaces the process, and the task comes back (acks_late + reject_on_worker_lost).
            wait_until(
                lambda child=child: True if worker.pool_pids() not in ([], [child]) else None,
                what="a new pool process",
                timeout=30,
                logs=(worker.log,),
            )
        outcome = wait_settled(engine, [run_id], logs=(worker.log,))
        if outcome.get("failed"):
            tally.retried += 1
            with session_scope(engine) as session:
                matching.retry_match_run(session, actor=OFFICE, run_id=run_id)
            worker.send("matching.run", run_id)
            wait_settled(engine, [run_id], logs=(worker.log,))
        done = assert_proposed_once(engine, run_id)
        tally.contracts.add(done.contracts)
        report(
            f"{tally.product.value} run {run_id}: killed mid-solve at {', '.join(killed) or 'never'}; "
            f"{done.status} after {done.attempts} start(s), {time.monotonic() - began:.1f}s: "
            f"{done.contracts} contracts, {done.kg / 1000:.3f} t (report: {done.reported_contracts})"
        )
        assert worker.process.poll() is None, "the worker itself died"
        if tally.kills < kills:
            reject(engine, run_id)  # give the tonnes back: the next run solves the whole book again


def test_a_pool_process_killed_mid_run_loses_and_doubles_nothing(engine, client, world, launch_worker, report):
    book = seed_big_book(engine, size=BOOK_SIZE)
    add_agreement(client, world)
    report(f"book: {book}, plus an apple agreement of 150 t called off in full")
    workers = [launch_worker(concurrency=1) for _ in PRODUCTS]
    for worker in workers:
        worker.wait_ready()
    report(f"{len(workers)} workers, prefork with 1 pool process each, one per product: {[p.value for p in PRODUCTS]}")
    tallies = [Tally(product) for product in PRODUCTS]
    shares = [KILLS // len(PRODUCTS) + (index < KILLS % len(PRODUCTS)) for index in range(len(PRODUCTS))]

    def work(worker, tally: Tally, kills: int, seed: int) -> None:
        try:
            kill_runs(engine, worker, tally, kills, report, random.Random(seed))
        except BaseException as exc:  # raised below, in the test's thread
            tally.error = exc

    threads = [
        threading.Thread(target=work, args=(worker, tally, kills, index))
        for index, (worker, tally, kills) in enumerate(zip(workers, tallies, shares, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    for tally in tallies:
        if tally.error is not None:
            raise tally.error
    for tally in tallies:
        assert len(tally.contracts) == 1, f"{tally.product}: the same book gave different answers {tally.contracts}"
    totals = assert_conserved(engine)
    logs = "".join(worker.text() for worker in workers)
    kills = sum(tally.kills for tally in tallies)
    report(
        f"{kills} kills over {sum(len(t.runs) for t in tallies)} runs, each run written once "
        f"({', '.join(f'{t.product.value}: {len(t.runs)} runs of {min(t.contracts)} contracts' for t in tallies)}), "
        f"{sum(t.retried for t in tallies)} needed a retry; the workers' logs show "
        f"{logs.count('Task handler raised error: WorkerLostError')} tasks lost with their process and "
        f"{logs.count('exited with')} processes replaced; conservation holds: {totals}"
    )
    assert kills == KILLS
    assert "IntegrityError" not in logs and "CheckViolation" not in logs
