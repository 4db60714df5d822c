"""Without Celery there is no beat: each serving process seals the audit log itself, from a thread
that its first request starts. With Celery, beat's task does it (tests/workers/tasks/test_maintenance.py)."""

from __future__ import annotations

import time

from sqlmodel import Session

from market.app import create_app
from market.services.audit import verify_chain
from tests.api.helpers import order_body


def _chain(engine):
    with Session(engine) as session:
        return verify_chain(session)


def _sealed_within(engine, seconds: float):
    deadline = time.monotonic() + seconds
    while (check := _chain(engine)).unsealed and time.monotonic() < deadline:
        time.sleep(0.1)
    return check


def test_without_celery_the_serving_process_seals_every_interval(settings, world, engine):
    waiting = _chain(engine).unsealed
    assert waiting > 0  # the world's accounts and parties, written by the tests' own app, which does not seal
    app = create_app(settings.model_copy(update={"audit_seal_interval_seconds": 1}))
    client = app.test_client()
    try:
        assert client.get("/api/v1/me", headers=world.buyer).status_code == 200
        first = _sealed_within(engine, 20)
        assert first.intact and (first.events, first.unsealed) == (waiting, 0)
        order = client.post("/api/v1/orders", json=order_body(), headers=world.buyer)
        assert order.status_code == 201
        second = _sealed_within(engine, 20)
        assert second.intact and (second.events, second.unsealed) == (waiting + 1, 0)
    finally:
        app.extensions["market.jobs"].shutdown()


def test_with_celery_or_an_interval_of_zero_the_serving_process_leaves_sealing_alone(settings, world, engine):
    waiting = _chain(engine).unsealed
    for changes in (
        {"redis_url": "redis://127.0.0.1:1/0", "audit_seal_interval_seconds": 1},
        {"audit_seal_interval_seconds": 0},
    ):
        app = create_app(settings.model_copy(update=changes))
        assert app.test_client().get("/api/v1/me", headers=world.buyer).status_code == 200
        time.sleep(2.5)  # two and a half turns of the interval
        app.extensions["market.jobs"].shutdown()
        assert _chain(engine).unsealed == waiting
