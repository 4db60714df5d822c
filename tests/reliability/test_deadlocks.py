"""Deadlocks and serialization failures: psycopg raises them as OperationalError, the tasks (and the
in-process runner) try the step again in a fresh transaction, and the API answers 503 with Retry-After.

The deadlocks here are real: a second session takes, in the opposite order, the two locks a solve (or
a request) takes, and PostgreSQL breaks the cycle by aborting one of them. The victim is the one whose
deadlock_timeout runs out first; the other session sets its own to 20 s, so it is never that one.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from market.jobs import run_match_in_process
from market.models import SupplyOffer
from market.models.common import Product
from market.services import matching
from tests.api.helpers import offer_body
from tests.api.test_match_runs import _book
from tests.conftest import _libpq
from tests.reliability.checks import assert_conserved, assert_proposed_once, request_run, wait_settled, wait_until
from workers.tasks import matching as matching_tasks

WAITING = (
    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND wait_event_type = 'Lock' AND wait_event = %s"
)


def wait_for_waiter(session: psycopg.Connection, wait_event: str) -> None:
    wait_until(
        lambda: session.execute(WAITING, [wait_event]).fetchone()[0] or None,
        what=f"a session waiting on a {wait_event} lock",
        timeout=30,
    )


def test_a_deadlock_inside_a_solve_is_retried_and_the_run_finishes(
    database_url, engine, client, world, launch_worker, report
):
    lot, *_ = _book(client, world)
    # The solve writes the apple lock row first and the offer's row last; this session the other way round.
    other = psycopg.connect(_libpq(database_url))
    other.execute("SET deadlock_timeout = '20s'")
    other.execute("UPDATE supply_offer SET updated_at = updated_at WHERE id = %s", [lot["id"]])
    monitor = psycopg.connect(_libpq(database_url), autocommit=True)
    worker = launch_worker(PGOPTIONS="-c deadlock_timeout=2s")
    worker.wait_ready()
    run_id = request_run(engine, Product.apple)
    worker.send("matching.run", run_id)
    wait_for_waiter(monitor, "transactionid")  # the solve, at the offer's row

    def take_the_lock_row():
        other.execute(
            "INSERT INTO matching_lock (product, locked_at) VALUES ('apple', now())"
            " ON CONFLICT (product) DO UPDATE SET locked_at = excluded.locked_at"
        )

    taker = threading.Thread(target=take_the_lock_row)
    taker.start()
    taker.join(timeout=30)
    assert not taker.is_alive(), "the cycle was not broken"
    other.rollback()
    other.close()
    monitor.close()
    outcome = wait_settled(engine, [run_id], logs=(worker.log,))
    done = assert_proposed_once(engine, run_id)
    log = worker.text()
    report(
        f"solve deadlocked against another session: worker log has {log.count('DeadlockDetected')} "
        f"DeadlockDetected, {log.count('retry: Retry in')} retries; run {run_id} {outcome} with "
        f"{done.contracts} contracts (report: {done.reported_contracts})"
    )
    assert "DeadlockDetected" in log and "matching.solve_product" in log and "retry: Retry in" in log
    assert done.contracts == 2
    assert_conserved(engine)


def test_a_deadlock_in_a_request_is_a_503_with_retry_after(database_url, client, world, caplog, report):
    lot = client.post("/api/v1/offers", json=offer_body(tonnes="10"), headers=world.coop).json
    # Withdrawing locks the offer's row, then its audit event's foreign key takes a share lock on the
    # account's row; this session the other way round.
    other = psycopg.connect(_libpq(database_url))
    other.execute("SET deadlock_timeout = '20s'")
    other.execute("SELECT id FROM account FOR UPDATE")
    monitor = psycopg.connect(_libpq(database_url), autocommit=True)
    answers = []

    def withdraw():
        answers.append(client.post(f"/api/v1/offers/{lot['id']}/withdraw", headers=world.coop))

    request = threading.Thread(target=withdraw)
    with caplog.at_level("ERROR", logger="market.api.problems"):
        request.start()
        wait_for_waiter(monitor, "transactionid")
        other.execute("SELECT id FROM supply_offer WHERE id = %s FOR UPDATE", [lot["id"]])
        request.join(timeout=30)
    other.rollback()
    other.close()
    monitor.close()
    (answer,) = answers
    report(f"withdraw deadlocked: {answer.status_code} {answer.content_type} Retry-After "
           f"{answer.headers.get('Retry-After')}: {answer.json}")  # fmt: skip
    assert answer.status_code == 503 and answer.content_type == "application/problem+json"
    assert answer.headers["Retry-After"] == "5" and answer.json["status"] == 503
    assert "deadlock detected" in caplog.text
    # Nothing was half done: the offer is still open, and withdrawing again works.
    assert client.get(f"/api/v1/offers/{lot['id']}", headers=world.coop).json["status"] == "open"
    assert client.post(f"/api/v1/offers/{lot['id']}/withdraw", headers=world.coop).status_code == 200


def test_serialization_failures_and_deadlocks_are_operational_errors_the_tasks_retry(engine, client, world):
    for name in ("DeadlockDetected", "SerializationFailure", "LockNotAvailable", "AdminShutdown"):
        assert issubclass(getattr(psycopg.errors, name), psycopg.OperationalError), name
    client.post("/api/v1/offers", json=offer_body(), headers=world.coop)
    # A real serialization failure, through SQLAlchemy: it arrives as sqlalchemy's OperationalError.
    with engine.connect() as first, engine.connect() as second:
        first = first.execution_options(isolation_level="REPEATABLE READ")
        first.begin()
        first.execute(select(SupplyOffer.id)).all()
        second.execute(text("UPDATE supply_offer SET updated_at = updated_at"))
        second.commit()
        with pytest.raises(OperationalError) as caught:
            first.execute(text("UPDATE supply_offer SET updated_at = updated_at"))
        first.rollback()
    assert isinstance(caught.value.orig, psycopg.errors.SerializationFailure)
    assert isinstance(caught.value, matching_tasks.RETRYABLE)
    for task in (matching_tasks.run_match, matching_tasks.solve_product, matching_tasks.finish_run):
        assert OperationalError in task.autoretry_for and task.max_retries == 5, task.name


def test_the_in_process_runner_tries_a_step_again_after_a_deadlock(engine, client, world, monkeypatch, caplog):
    _book(client, world)
    run_id = request_run(engine, None)
    real_solve = matching.solve_product
    failures = []

    def deadlock_once(session, *, run_id, product):
        if product == Product.apple and not failures:
            failures.append(product)
            raise OperationalError("UPDATE supply_offer …", {}, psycopg.errors.DeadlockDetected("deadlock detected"))
        return real_solve(session, run_id=run_id, product=product)

    monkeypatch.setattr(matching, "solve_product", deadlock_once)
    with caplog.at_level("WARNING", logger="market.jobs"):
        run_match_in_process(engine, run_id)
    assert failures == [Product.apple]
    assert f"match run {run_id}: apple: DeadlockDetected; trying again (1 of 5)" in caplog.text
    assert assert_proposed_once(engine, run_id).contracts == 2
