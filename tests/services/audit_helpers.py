"""Reading the audit chain as stored, and tampering with it the way only a database superuser can."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from market.models import AuditEvent
from market.services.audit import GENESIS_HASH, ChainCheck, seal_and_verify, snapshot


def stored_chain(engine: Engine) -> list[tuple[int, str | None, str | None]]:
    """(id, prev_hash, hash) of every audit event: the sealed ones in chain order, then the unsealed by id."""
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text("SELECT id, prev_hash, hash FROM audit_event ORDER BY seq NULLS LAST, id")
            )
        ]


def assert_one_linear_chain(engine: Engine) -> int:
    """Every event sealed, at positions 1..N without gaps, each pointing at the one before: the chain
    never forked. Returns N."""
    with engine.connect() as connection:
        chain = connection.execute(text("SELECT seq, id, prev_hash, hash FROM audit_event ORDER BY seq NULLS LAST, id"))
        chain = [tuple(row) for row in chain]
    assert [seq for seq, _, _, _ in chain] == list(range(1, len(chain) + 1))
    previous = GENESIS_HASH
    for _, event_id, prev_hash, digest in chain:
        assert prev_hash == previous, f"event {event_id} does not follow the event before it"
        previous = digest
    return len(chain)


def sealed_and_checked(engine: Engine) -> ChainCheck:
    """Seal everything committed, then verify the whole chain: the check covers every event there is."""
    _, check = seal_and_verify(engine)
    assert check.unsealed == 0
    return check


def tamper(engine: Engine, statement: str, **params) -> None:
    """Run an UPDATE or DELETE on audit_event past the append-only triggers.

    PostgreSQL: as the superuser the tests connect as, `session_replication_role = replica`
    switches ordinary triggers off for this transaction. SQLite has no such switch: drop the
    triggers, run the statement and create them again, in one transaction.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(statement), params)
            return
        triggers = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_event'")
        ).all()
        assert len(triggers) == 2, triggers
        for name, _ in triggers:
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(text(statement), params)
        for _, sql in triggers:
            connection.execute(text(sql))


def created_as_stored(
    session: Session, action: str, model: type, object_type: str, posted: list[int], account_id: int
) -> list[tuple[AuditEvent, Any]]:
    """The `action` events, each with the row of `model` it created: one per `posted` id, in that order,
    each of `object_type` and by `account_id`, with the stored row's snapshot as `after`, no `before`,
    and not yet sealed (that is done later, off the request)."""
    events = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()
    assert [event.object_id for event in events] == posted
    created = []
    for event in events:
        row = session.get(model, event.object_id)
        assert event.after == snapshot(row) and event.before is None
        assert (event.object_type, event.account_id) == (object_type, account_id)
        assert event.occurred_at is not None and event.seq is None
        created.append((event, row))
    return created
