"""Migration 0004 chains the audit events written before it, and makes the log append-only;
0006 lets writers insert events unsealed, for the sealer to chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from market.config import load_settings
from market.db import make_engine, session_scope
from market.migrate import downgrade, upgrade
from market.models import AuditEvent
from market.services.audit import GENESIS_HASH, append_events, event_hash, seal_all, verify_chain
from tests.services.audit_helpers import stored_chain

START = datetime(2020, 9, 1, 8, 0, tzinfo=UTC)
# Ids with gaps, as a PostgreSQL sequence leaves them after rolled-back transactions.
OLD_EVENTS = [
    {"id": 1, "after": {"name": "Sayu Apple", "latitude": 27.43, "poor_households": 120}},
    {"id": 2, "after": {"tonnes_kg": 120500, "brand": "昭阳红", "ratio": 1.0, "huge": 1e20}},
    {"id": 5, "before": {"status": "open"}, "after": {"status": "withdrawn", "nested": [{"b": 1, "a": None}]}},
    {"id": 9, "after": None},
]


@pytest.fixture
def engine_at_0003(database_url):
    engine = make_engine(load_settings(database_url=database_url))
    downgrade(database_url, "0003")
    yield engine
    upgrade(database_url)  # whatever happened, leave the database at head for the next test
    engine.dispose()


def test_existing_events_are_chained_in_id_order(database_url, engine_at_0003):
    engine = engine_at_0003
    table = AuditEvent.__table__
    with engine.begin() as connection:
        for number, event in enumerate(OLD_EVENTS):
            connection.execute(
                insert(table).values(
                    occurred_at=START + timedelta(hours=number),
                    actor="system:seed",
                    action="old.event",
                    object_type="test",
                    object_id=event["id"],
                    **event,
                )
            )
    upgrade(database_url)

    chain = stored_chain(engine)
    assert [event_id for event_id, _, _ in chain] == [1, 2, 5, 9]
    with Session(engine) as session:
        check = verify_chain(session)
        rows = [event.model_dump() for event in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert check.intact and check.events == 4
    previous = GENESIS_HASH
    for row in rows:
        assert row["prev_hash"] == previous and row["hash"] == event_hash(row)
        previous = row["hash"]

    # 0006 numbered the chain 1..4 in id order.
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, seq FROM audit_event ORDER BY id")).all() == [
            (1, 1), (2, 2), (5, 3), (9, 4)
        ]  # fmt: skip

    # New events take ids after the old ones (the PostgreSQL sequence was moved past them), and once
    # sealed continue the same chain; the log is now append-only.
    with session_scope(engine) as session:
        (new,) = append_events(session, [{"actor": "system:test", "action": "new.event", "object_type": "test"}])
    assert (new["id"], new["seq"], new["prev_hash"]) == (10, None, None)
    assert seal_all(engine) == 1
    assert stored_chain(engine)[-1][:2] == (10, previous)
    with Session(engine) as session:
        assert verify_chain(session).events == 5
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET actor = 'x' WHERE id = 1"))


def test_downgrade_removes_the_triggers(database_url, engine_at_0003):
    with engine_at_0003.begin() as connection:
        connection.execute(text("UPDATE audit_event SET actor = 'x'"))
        connection.execute(text("DELETE FROM audit_event"))


def _raw_event(connection, event_id: int) -> None:
    """An event with an id of its own, as a transaction that drew its id early and committed late leaves it."""
    connection.execute(
        insert(AuditEvent.__table__).values(
            id=event_id, occurred_at=START, actor="system:test", action="late.event", object_type="test"
        )
    )


def test_downgrade_from_0006_chains_again_in_id_order(database_url, engine):
    with engine.begin() as connection:
        _raw_event(connection, 5)
    assert seal_all(engine) == 1
    with engine.begin() as connection:
        _raw_event(connection, 3)
    assert seal_all(engine) == 1
    with engine.connect() as connection:  # sealed in commit order: event 5 first
        assert connection.execute(text("SELECT id, seq FROM audit_event ORDER BY seq")).all() == [(5, 1), (3, 2)]

    downgrade(database_url, "0005")
    try:
        # 0004's chain runs in id order, as 0004's `market audit verify` walks it.
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM audit_event ORDER BY id")).mappings().all()
        assert [row["id"] for row in rows] == [3, 5] and "seq" not in rows[0]
        previous = GENESIS_HASH
        for row in rows:
            as_read = {**row, "occurred_at": START, "before": None, "after": None}  # raw SQL reads them as text
            assert row["prev_hash"] == previous and row["hash"] == event_hash(as_read)
            previous = row["hash"]
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE audit_event SET actor = 'x' WHERE id = 3"))
    finally:
        upgrade(database_url)
    with Session(engine) as session:
        check = verify_chain(session)
    assert check.intact and (check.events, check.head_id) == (2, 5)
