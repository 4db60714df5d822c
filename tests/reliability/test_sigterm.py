"""SIGTERM a worker during a burst of runs requested over HTTP; a new worker finishes them all, once each.

SIGTERM is a warm shutdown: the worker takes no new task, lets the one in hand finish, and gives the
messages it had reserved back to Redis (they are acks_late, so still unacknowledged). A new worker on
the same queue takes them; it also sweeps as it starts, in case anything was lost.
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.checks import (
    assert_conserved,
    assert_proposed_once,
    seed_big_book,
    statuses,
    wait_settled,
    wait_until,
)
from tests.workers.processes import free_port, running, venv_env
from tests.workers.tasks.test_matching import Http

PRODUCTS = ("apple", "vegetable", "potato", "egg", "sichuan_pepper")
RUNS = 10


@pytest.mark.parametrize("target", ["main process", "process group"])
def test_sigterm_during_a_burst_loses_and_doubles_no_run(
    target, database_url, engine, world, launch_worker, shared_redis, tmp_path, report
):
    """`main process`: as `docker stop` or `kill PID`; `process group`: as systemd (KillMode=control-group),
    which sends SIGTERM to the pool processes too."""
    book = seed_big_book(engine, size=5_000)
    worker = launch_worker(concurrency=1)
    port = free_port()
    env = venv_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": shared_redis,
            "CELERY_QUEUE": worker.queue,
            "SECRET_KEY": "test",
            "RATE_LIMIT": "",
            "MAX_ACTIVE_RUNS_PER_ADMIN": str(RUNS),
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

        wait_until(healthy, what="market serve", timeout=60, logs=(log,))
        assert server.poll() is None
        worker.wait_ready()
        report(f"book: {book}; market serve (2 gunicorn workers) queues on {worker.queue}; worker: 1 process")
        runs = []
        for index in range(RUNS):
            status, run = http("POST", "/api/v1/match-runs", world.admin, {"product": PRODUCTS[index % 5]})
            assert status == 202, run
            runs.append(run["id"])
        report(f"{RUNS} runs requested over HTTP: {runs}")

        def some_done_some_not():
            counts = statuses(engine, runs)
            done = counts.get("proposed", 0)
            return counts if done >= 2 and done <= RUNS - 4 else None

        at_signal = wait_until(some_done_some_not, what="a burst half done", timeout=60, logs=(worker.log,))
        seconds = worker.sigterm(group=target == "process group")
        report(f"SIGTERM to the {target} while {at_signal}; the worker stopped after {seconds:.1f}s with exit status "
               f"{worker.process.returncode}; runs then: {statuses(engine, runs)}")  # fmt: skip
        assert worker.process.returncode == 0
        assert "Warm shutdown" in worker.text()
        left = statuses(engine, runs)
        assert left.get("queued", 0) + left.get("running", 0) > 0, "nothing was left for the next worker"

        began = time.monotonic()
        second = launch_worker(queue=worker.queue, concurrency=1)
        outcome = wait_settled(engine, runs, timeout=90, logs=(second.log,))
        report(f"a new worker on the same queue settled them in {time.monotonic() - began:.1f}s: {outcome}")

    assert outcome == {"proposed": RUNS}
    for run_id in runs:
        done = assert_proposed_once(engine, run_id)
        report(f"run {run_id}: proposed once after {done.attempts} start(s), {done.contracts} contracts")
    totals = assert_conserved(engine)
    report(f"requested {RUNS}, proposed {outcome['proposed']}, each once; conservation holds: {totals}")
