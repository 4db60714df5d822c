"""The two ways back for a run: the sweep (a run stalled in queued or running is sent again) and the
retry endpoint (a failed run is queued again), at the service and the API."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlmodel import Session

from market.db import session_scope
from market.jobs import run_match_in_process
from market.models import AuditEvent, Contract, MatchRun
from market.models.common import Product
from market.services import matching
from tests.api.test_match_runs import _book
from tests.reliability.checks import assert_conserved, request_run, wait_until

GRACE = timedelta(seconds=0.5)


def sweep(engine, grace: timedelta = GRACE) -> list[int]:
    with session_scope(engine) as session:
        return matching.sweep_match_runs(session, grace=grace)


def test_the_sweep_sends_again_only_runs_stalled_active_and_not_being_worked_on(engine, client, world, report):
    _book(client, world)
    queued = request_run(engine, Product.egg)
    running = request_run(engine, Product.apple)
    with session_scope(engine) as session:
        matching.begin_match_run(session, run_id=running)
    proposed = request_run(engine, Product.potato)
    run_match_in_process(engine, proposed)
    failed = request_run(engine, Product.vegetable)
    with session_scope(engine) as session:
        matching.fail_match_run(session, run_id=failed, error="test")

    assert sweep(engine, timedelta(hours=1)) == []
    time.sleep(0.6)
    assert sweep(engine) == [queued, running]
    assert sweep(engine) == [], "the sweep's own event is news: not again within the grace period"
    time.sleep(0.6)
    # A solve holds its run's row until it commits: the sweep leaves that run alone, however old its news.
    with Session(engine) as solving:
        solving.execute(select(MatchRun).where(MatchRun.id == running).with_for_update(read=True)).one()
        assert sweep(engine) == [queued]
    time.sleep(0.6)
    assert sweep(engine) == [queued, running]
    with session_scope(engine) as session:
        events = session.execute(
            select(AuditEvent.object_id, func.count())
            .where(AuditEvent.action == "match_run.resend")
            .group_by(AuditEvent.object_id)
            .order_by(AuditEvent.object_id)
        ).all()
    report(f"resend events per run: {events} (queued {queued}, running {running}, proposed, failed left alone)")
    assert [tuple(row) for row in events] == [(queued, 3), (running, 2)]


def _wait_for(client, world, run_id: int, status: str) -> dict:
    def reached():
        run = client.get(f"/api/v1/match-runs/{run_id}", headers=world.admin).json
        return run if run["status"] == status else None

    return wait_until(reached, what=f"run {run_id} {status}", timeout=30)


def test_a_failed_run_is_retried_over_the_api_and_proposes_afresh(engine, client, world, monkeypatch, report):
    _book(client, world)
    run_id = request_run(engine, None)
    real_solve = matching.solve_product

    def solve_then_break(session, *, run_id, product):
        if product == Product.egg:
            raise RuntimeError("the solver ran out of patience")
        return real_solve(session, run_id=run_id, product=product)

    monkeypatch.setattr(matching, "solve_product", solve_then_break)
    run_match_in_process(engine, run_id)  # apple written and proposed, then egg fails: apple's contracts cancelled
    monkeypatch.undo()
    failed = client.get(f"/api/v1/match-runs/{run_id}", headers=world.admin).json
    assert failed["status"] == "failed" and "out of patience" in failed["error"] and failed["attempts"] == 1

    for who in (world.coop, world.buyer):
        assert client.post(f"/api/v1/match-runs/{run_id}/retry", headers=who).status_code == 403
    assert client.post("/api/v1/match-runs/999999/retry", headers=world.admin).status_code == 404
    response = client.post(f"/api/v1/match-runs/{run_id}/retry", headers=world.admin)
    assert response.status_code == 202, response.json
    queued = response.json
    assert (queued["status"], queued["error"], queued["attempts"], queued["started_at"]) == ("queued", None, 1, None)
    done = _wait_for(client, world, run_id, "proposed")
    assert done["attempts"] == 2 and done["report"]["totals"]["contracts"] == 2

    again = client.post(f"/api/v1/match-runs/{run_id}/retry", headers=world.admin)
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert "only a failed run can be retried" in again.json["detail"]
    with session_scope(engine) as session:
        contracts = [
            status.value for status in session.scalars(select(Contract.status).where(Contract.match_run_id == run_id))
        ]
        actions = dict(
            session.execute(
                select(AuditEvent.action, func.count())
                .where(AuditEvent.action.in_(("match_run.retry", "contract.discard", "match_run.propose")))
                .group_by(AuditEvent.action)
            ).all()
        )
    report(f"run {run_id}: failed, retried, proposed; contracts now {contracts}; audit {actions}")
    assert contracts == ["proposed", "proposed"]
    assert actions == {"match_run.retry": 1, "contract.discard": 2, "match_run.propose": 1}
    assert_conserved(engine)


def test_a_retried_run_that_cannot_be_queued_stays_queued(settings, engine, client, world, caplog):
    from market.app import create_app

    run_id = request_run(engine, Product.apple)
    with session_scope(engine) as session:
        matching.fail_match_run(session, run_id=run_id, error="test")
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        with caplog.at_level("WARNING", logger="market.api.v1.match_runs"):
            response = app.test_client().post(f"/api/v1/match-runs/{run_id}/retry", headers=world.admin)
    finally:
        app.extensions["market.engine"].dispose()
    assert response.status_code == 202 and response.json["status"] == "queued"
    assert f"match run {run_id} stays queued" in caplog.text
    with engine.connect() as connection:
        assert connection.execute(text("SELECT status FROM match_run WHERE id = :id"), {"id": run_id}).scalar() == (
            "queued"
        )


def test_the_retry_endpoint_is_documented(client):
    document = client.get("/api/openapi.json").json
    operation = document["paths"]["/api/v1/match-runs/{id}/retry"]["post"]
    assert "202" in operation["responses"] and "409" in operation["responses"]
    assert "Allowed roles: admin." in operation["description"]
