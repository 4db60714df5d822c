"""Two to eight runs started at once on one product: one solves at a time, the others wait and find the
tonnes taken; no constraint ever fires.

A worker with four pool processes (tests.reliability.slow_solve adds 0.3 s to each solve, inside its
transaction, and traces when each solve got the product's lock row and when it was done) takes all
the runs' tasks at once. A thread samples pg_stat_activity meanwhile for sessions waiting on a lock.
"""

from __future__ import annotations

import json
import threading
import time

from market.models.common import Product
from tests.reliability.checks import (
    add_agreement,
    assert_conserved,
    assert_proposed_once,
    lock_waiters,
    reject,
    request_run,
    seed_big_book,
    wait_settled,
)

ROUNDS = (2, 4, 8, 3)
PROBLEMS = ("IntegrityError", "CheckViolation", "UniqueViolation", "ForeignKeyViolation", "Traceback")


def test_runs_started_together_on_one_product_take_turns(engine, client, world, launch_worker, tmp_path, report):
    book = seed_big_book(engine, size=3_000)
    add_agreement(client, world)
    path = tmp_path / "trace.jsonl"
    worker = launch_worker(
        concurrency=4, include=("tests.reliability.slow_solve",), SLOW_SOLVE_SECONDS="0.3", RELIABILITY_TRACE=str(path)
    )
    worker.wait_ready()
    report(f"book: {book} and an apple agreement; worker: 4 processes; rounds of {ROUNDS} apple runs at once")
    whole = None
    for size in ROUNDS:
        runs = [request_run(engine, Product.apple) for _ in range(size)]
        waiting = [0]
        sampling = threading.Event()

        def sample(waiting=waiting, sampling=sampling):
            while not sampling.is_set():
                waiting[0] = max(waiting[0], lock_waiters(engine))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        began = time.monotonic()
        for run_id in runs:
            worker.send("matching.run", run_id)
        try:
            outcome = wait_settled(engine, runs, timeout=90, logs=(worker.log,))
        finally:
            sampling.set()
            sampler.join()
        seconds = time.monotonic() - began
        assert outcome == {"proposed": size}, outcome

        events = [json.loads(line) for line in path.read_text().splitlines()]
        events = [event for event in events if event["run"] in runs]
        held = {}
        for event in events:
            key = (event["pid"], event["run"])
            if event["event"] == "locked":
                held[key] = [event["t"], None]
            else:
                held[key][1] = event["t"]
        spans = sorted(span for span in held.values())
        assert all(end is not None for _, end in spans), spans
        overlaps = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
        assert overlaps == [], f"two solves of apple held the lock at once: {overlaps}"

        outcomes = {run_id: assert_proposed_once(engine, run_id) for run_id in runs}
        first = min(runs, key=lambda run_id: min(e["t"] for e in events if e["run"] == run_id))
        took = {run_id: outcome.contracts for run_id, outcome in outcomes.items()}
        report(
            f"{size} runs at once: settled in {seconds:.1f}s; up to {waiting[0]} sessions waited on a lock; "
            f"{len(spans)} solves held the apple lock one after another; contracts per run {took} "
            f"(run {first} went first)"
        )
        assert took[first] > 0 and all(count == 0 for run_id, count in took.items() if run_id != first)
        whole = whole or took[first]
        assert took[first] == whole, "the same book gave a different answer"
        assert_conserved(engine)
        for run_id in runs:
            reject(engine, run_id)
    log = worker.text()
    found = {problem: log.count(problem) for problem in PROBLEMS}
    retries = log.count("retry: Retry in")
    report(f"worker log: {found}; retries after deadlocks or serialization failures: {retries}")
    assert not any(found.values()), log[-5000:]
