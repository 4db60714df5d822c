"""maintenance.purge_idempotency_keys and maintenance.seal_audit_log, run by a real worker process
through Redis (and the seal sent by a real beat process)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from market.config import load_settings
from market.db import make_engine, session_scope
from market.models import IdempotencyRecord
from market.models.account import AccountCreate
from market.models.common import Role, utcnow
from market.services.accounts import create_account
from market.services.actors import Actor
from market.services.audit import append_events, verify_chain
from tests.workers.processes import running, venv_env, wait_for

pytestmark = pytest.mark.redis

# Hours since each key was stored. The worker runs with IDEMPOTENCY_TTL_HOURS=24, so
# "yesterday-and-a-bit" goes too: it would survive the default of 48, which shows the
# task reads its TTL from the worker's settings.
AGES = {"last-month": 24 * 30, "yesterday-and-a-bit": 30, "this-morning": 20, "just-now": 0}


def test_purge_forgets_expired_keys_and_keeps_fresh_ones(database_url, start_worker):
    engine = make_engine(load_settings(database_url=database_url))
    now = utcnow()
    with session_scope(engine) as session:
        account, _ = create_account(
            session, actor=Actor.system("test"), data=AccountCreate(role=Role.admin, name="office")
        )
        for key, hours in AGES.items():
            session.add(
                IdempotencyRecord(
                    account_id=account.id,
                    key=key,
                    endpoint="POST /api/v1/offers",
                    request_hash="0" * 64,
                    status_code=201,
                    response_body={"id": 1},
                    created_at=now - timedelta(hours=hours),
                )
            )

    worker = start_worker(IDEMPOTENCY_TTL_HOURS="24")
    assert worker.call("maintenance.purge_idempotency_keys") == 2

    with session_scope(engine) as session:
        kept = sorted(session.exec(select(IdempotencyRecord.key)).all())
    assert kept == ["just-now", "this-morning"]

    # Delivered a second time (acks_late allows that), it finds nothing more to forget.
    assert worker.call("maintenance.purge_idempotency_keys") == 0
    engine.dispose()


def _append(engine, count: int) -> None:
    with session_scope(engine) as session:
        append_events(
            session, [{"actor": "system:test", "action": "test.step", "object_type": "test"} for _ in range(count)]
        )


def _chain(engine):
    with Session(engine) as session:
        return verify_chain(session)


def test_seal_chains_the_committed_events_once(database_url, start_worker):
    engine = make_engine(load_settings(database_url=database_url))
    _append(engine, 30)
    assert _chain(engine).unsealed == 30
    worker = start_worker()
    assert worker.call("maintenance.seal_audit_log") == 30
    check = _chain(engine)
    assert check.intact and (check.events, check.unsealed) == (30, 0)
    # Delivered a second time, it finds nothing left to seal.
    assert worker.call("maintenance.seal_audit_log") == 0
    engine.dispose()


def test_beat_has_the_worker_seal_new_events_within_its_interval(database_url, start_worker, tmp_path):
    engine = make_engine(load_settings(database_url=database_url))
    worker = start_worker()
    beat_log = tmp_path / "beat.log"
    argv = ["celery", "-A", "workers.app", "beat", "--loglevel=INFO", "--schedule", str(tmp_path / "beat")]
    env = venv_env(
        {"DATABASE_URL": database_url, "REDIS_URL": worker.client.conf.broker_url, "CELERY_QUEUE": worker.queue},
        AUDIT_SEAL_INTERVAL_SECONDS="1",
        MATCH_SWEEP_INTERVAL_SECONDS="0",
    )
    with running(argv, env=env, log=beat_log) as beat:
        for batch in (5, 7):  # two rounds: beat keeps sending it
            _append(engine, batch)
            wait_for(
                lambda: True if _chain(engine).unsealed == 0 else None,
                process=beat,
                log=beat_log,
                what="beat's seal, carried out by the worker",
                timeout=30,
            )
    check = _chain(engine)
    assert check.intact and check.events == 12
    assert "maintenance.seal_audit_log" in beat_log.read_text()
    engine.dispose()
