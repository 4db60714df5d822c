"""Redis restarted (without persistence) while runs are queued and running: every run takes effect once.

Redis forgets every message when it restarts without persistence: the queued runs' `matching.run`,
the running run's `matching.solve_product`. Nothing in Celery sends them again; the sweep does
(`matching.sweep`, from beat every MATCH_SWEEP_INTERVAL_SECONDS and from each worker as it starts).

And a solve in hand when Redis goes away: Celery cancels it (SIGTERM to its pool process), which
finishes it first and commits (`workers.shutdown`).
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import text

from market.app import create_app
from market.config import load_settings
from market.db import session_scope
from market.models.common import Product
from market.services import matching
from tests.api.helpers import offer_body, order_body
from tests.reliability.checks import (
    add_agreement,
    assert_conserved,
    assert_proposed_once,
    in_transaction,
    request_run,
    seed_big_book,
    solve_in_progress,
    statuses,
    wait_settled,
    wait_until,
)
from workers import make_celery

PRODUCTS = ("apple", "vegetable", "potato", "apple", "egg", "vegetable")


def resends(engine, run_ids: list[int]) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT COUNT(*) FROM audit_event WHERE object_type = 'match_run' AND action = 'match_run.resend'"
                " AND object_id = ANY(:ids)"
            ),
            {"ids": run_ids},
        ).scalar_one()


def test_runs_queued_and_running_when_redis_restarts_take_effect_once(
    engine, settings, client, world, launch_worker, private_redis, report, caplog
):
    book = seed_big_book(engine, size=5_000)
    add_agreement(client, world)
    worker = launch_worker(redis_url=private_redis.url, MATCH_SWEEP_GRACE_SECONDS="3")
    beat, beat_log = launch_worker.beat(
        redis_url=private_redis.url, queue=worker.queue, MATCH_SWEEP_INTERVAL_SECONDS="1"
    )
    worker.wait_ready()
    report(f"book: {book}; private Redis at {private_redis.url}, no persistence; worker (1 process) and beat")
    report("sweep: beat every 1 s, a run is stalled after 3 s without news (MATCH_SWEEP_GRACE_SECONDS=3)")
    api = create_app(
        settings.model_copy(
            update={"redis_url": private_redis.url, "celery_queue": worker.queue, "max_active_runs_per_admin": 20}
        )
    )
    http = api.test_client()
    try:
        runs = []
        for product in PRODUCTS:
            response = http.post("/api/v1/match-runs", json={"product": product}, headers=world.admin)
            assert response.status_code == 202, response.json
            runs.append(response.json["id"])
        report(f"requested {len(runs)} runs over the API: {dict(zip(runs, PRODUCTS, strict=True))}")

        def solving():
            pids = worker.pool_pids()
            return True if pids and in_transaction(engine, worker.database_ports(pids[0])) else None

        wait_until(solving, what="a run being solved", timeout=30, logs=(worker.log,))
        private_redis.kill()
        down = time.monotonic()
        report(f"Redis killed while a run was being solved; runs then: {statuses(engine, runs)}")

        late = []
        with caplog.at_level("WARNING", logger="market.api.v1.match_runs"):
            for product in ("potato", "apple"):
                began = time.monotonic()
                response = http.post("/api/v1/match-runs", json={"product": product}, headers=world.admin)
                assert response.status_code == 202 and response.json["status"] == "queued", response.json
                late.append(response.json["id"])
                report(
                    f"with Redis down, run {late[-1]} ({product}) requested: 202 queued in "
                    f"{time.monotonic() - began:.1f}s"
                )
        for run_id in late:
            assert f"match run {run_id} stays queued: the task queue is unreachable" in caplog.text
        runs += late
        time.sleep(max(0.0, 2 - (time.monotonic() - down)))
        private_redis.start()
        report(f"Redis back, empty, after {time.monotonic() - down:.1f}s; runs: {statuses(engine, runs)}")
        back = time.monotonic()
        outcome = wait_settled(engine, runs, timeout=90, logs=(worker.log, beat_log))
        report(f"all settled {time.monotonic() - back:.1f}s after Redis came back: {outcome}")
    finally:
        api.extensions["market.engine"].dispose()

    assert outcome == {"proposed": len(runs)}
    for run_id in runs:
        done = assert_proposed_once(engine, run_id)
        report(
            f"run {run_id}: proposed once after {done.attempts} start(s): {done.contracts} contracts "
            f"(report: {done.reported_contracts}), {done.kg / 1000:.3f} t"
        )
    totals = assert_conserved(engine)
    sent_again = resends(engine, runs)
    sweeps = worker.text().count("Task matching.sweep[")
    report(f"the sweep sent runs again {sent_again} times over {sweeps} sweeps; conservation holds: {totals}")
    assert sent_again >= 1
    assert "Sending due task sweep-stalled-match-runs (matching.sweep)" in beat_log.read_text()


def test_a_worker_sweeps_when_it_starts(engine, client, world, launch_worker, report):
    """A run begun by a worker that is gone, and one queued while no worker or Redis was there, are
    both sent again by the next worker as it starts (worker_ready), with no beat running."""
    client.post("/api/v1/offers", json=offer_body(tonnes="50", min_price_per_tonne="5000"), headers=world.coop)
    client.post("/api/v1/orders", json=order_body(tonnes="30", max_price_per_tonne="8000"), headers=world.buyer)
    running = request_run(engine, Product.apple)
    with session_scope(engine) as session:
        assert matching.begin_match_run(session, run_id=running) == [Product.apple]
    queued = request_run(engine, None)
    time.sleep(1.5)
    worker = launch_worker(MATCH_SWEEP_GRACE_SECONDS="1")
    outcome = wait_settled(engine, [running, queued], timeout=60, logs=(worker.log,))
    assert outcome == {"proposed": 2}
    for run_id in (running, queued):
        done = assert_proposed_once(engine, run_id)
        report(f"run {run_id}: proposed once after {done.attempts} start(s), {done.contracts} contracts")
    assert resends(engine, [running, queued]) == 2
    assert "matching.sweep" in worker.text() and "sweep: 2 stalled match runs sent again" in worker.text()


def test_beat_sweeps_every_minute_by_default_and_as_configured():
    default = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15"))
    (entry,) = [e for e in default.conf.beat_schedule.values() if e["task"] == "matching.sweep"]
    assert entry["schedule"] == timedelta(minutes=1)
    fast = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15", match_sweep_interval_seconds=5))
    assert [e["schedule"] for e in fast.conf.beat_schedule.values() if e["task"] == "matching.sweep"] == [
        timedelta(seconds=5)
    ]
    off = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15", match_sweep_interval_seconds=0))
    assert not [e for e in off.conf.beat_schedule.values() if e["task"] == "matching.sweep"]
    for app in (default, fast, off):
        app.close()


def test_a_solve_in_hand_when_redis_goes_away_finishes_and_commits(
    engine, world, launch_worker, private_redis, tmp_path, report
):
    worker, run_id, events = solve_in_progress(engine, launch_worker, tmp_path, seconds=3, redis_url=private_redis.url)
    private_redis.kill()
    wait_until(
        lambda: True if "Terminating it instead." in worker.text() else None,
        what="Celery cancelling the solve",
        timeout=30,
        logs=(worker.log,),
    )
    assert "solved" not in events(), "the solve was over before Celery cancelled it"
    wait_until(lambda: statuses(engine, [run_id]).get("proposed"), what="the run", timeout=30, logs=(worker.log,))
    report(f"Redis killed mid-solve; Celery cancelled the solve; its events: {events()}; the run: proposed")
    assert events() == ["locked", "solved"]
    assert_proposed_once(engine, run_id)
    assert_conserved(engine)
