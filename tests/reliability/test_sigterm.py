"""SIGTERM a worker during a burst of runs requested over HTTP; a new worker finishes them all, once each.
And SIGTERM in the middle of a solve: the solve finishes and commits before the worker stops.

SIGTERM is a warm shutdown: the worker takes no new task, lets the one in hand finish, and gives the
messages it had reserved back to Redis (they are acks_late, so still unacknowledged). A new worker on
the same queue takes them; it also sweeps as it starts, in case anything was lost. Sent to the process
group, SIGTERM reaches the pool process too, which finishes its task before it leaves (`workers.shutdown`).
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.reliability.checks import (
    assert_conserved,
    assert_proposed_once,
    run_outcome,
    seed_big_book,
    solve_in_progress,
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


SOLVED = re.compile(r"Task matching\.solve_product\[[^]]+\] succeeded in")


@pytest.mark.parametrize("target", ["main process", "process group"])
def test_sigterm_in_the_middle_of_a_solve_lets_it_finish_and_commit(
    target, database_url, engine, world, launch_worker, shared_redis, tmp_path, report
):
    """Interrupted inside its transaction, the solve would roll back and the run stay running."""
    worker, run_id, events = solve_in_progress(engine, launch_worker, tmp_path, seconds=2)
    seconds = worker.sigterm(group=target == "process group")
    outcome = run_outcome(engine, run_id)
    report(f"SIGTERM to the {target} mid-solve; the worker stopped after {seconds:.1f}s with exit status "
           f"{worker.process.returncode}; the run then: {outcome}")  # fmt: skip
    assert worker.process.returncode == 0
    assert events() == ["locked", "solved"]
    assert SOLVED.search(worker.text())
    assert outcome.status == "proposed", outcome
    assert_proposed_once(engine, run_id)

    # Sent to the group, the pool process leaves before it reports the task done: Celery acknowledges
    # the message when the result store says the task succeeded, or else sends it again. Either way the
    # next worker (it takes what is queued before its own sweep) writes nothing twice.
    second = launch_worker(queue=worker.queue, concurrency=1)

    def taken() -> bool | None:
        text = second.text()
        swept = re.search(r"Task matching\.sweep\[[^]]+\] succeeded in", text)
        solved = "Task matching.solve_product[" not in text or SOLVED.search(text)
        return True if swept and solved else None

    wait_until(taken, what="the next worker", timeout=60, logs=(second.log,))
    assert run_outcome(engine, run_id) == outcome
    assert_conserved(engine)


def test_a_second_sigterm_stops_the_solve_at_once_and_the_next_worker_does_it(
    database_url, engine, world, launch_worker, shared_redis, tmp_path, report
):
    """The escape from a task that would not end: the pool process's second SIGTERM acts as billiard's
    handler does, the solve's transaction rolls back, and its message goes to the next worker."""
    worker, run_id, events = solve_in_progress(engine, launch_worker, tmp_path, seconds=5)
    (pool,) = worker.pool_pids()
    os.killpg(worker.process.pid, signal.SIGTERM)
    time.sleep(0.5)
    os.kill(pool, signal.SIGTERM)
    worker.process.wait(timeout=60)
    report(f"two SIGTERMs mid-solve; the worker stopped with exit status {worker.process.returncode}; "
           f"the run then: {statuses(engine, [run_id])}")  # fmt: skip
    assert events() == ["locked"]
    assert statuses(engine, [run_id]) == {"running": 1}

    second = launch_worker(queue=worker.queue, concurrency=1)
    assert wait_settled(engine, [run_id], timeout=60, logs=(second.log,)) == {"proposed": 1}
    assert_proposed_once(engine, run_id)
    assert_conserved(engine)
