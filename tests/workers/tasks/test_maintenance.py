"""maintenance.purge_idempotency_keys, run by a real worker process through Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from market.config import load_settings
from market.db import make_engine, session_scope
from market.models import IdempotencyRecord
from market.models.account import AccountCreate
from market.models.common import Role, utcnow
from market.services.accounts import create_account
from market.services.actors import Actor

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
