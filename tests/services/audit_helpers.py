"""Reading the audit chain as stored, and tampering with it the way only a database superuser can."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

from market.services.audit import GENESIS_HASH


def stored_chain(engine: Engine) -> list[tuple[int, str, str]]:
    """(id, prev_hash, hash) of every audit event, in id order."""
    with engine.connect() as connection:
        return [
            tuple(row) for row in connection.execute(text("SELECT id, prev_hash, hash FROM audit_event ORDER BY id"))
        ]


def assert_one_linear_chain(engine: Engine) -> int:
    """Ids 1..N without gaps, each event pointing at the one before: the chain never forked."""
    chain = stored_chain(engine)
    assert [event_id for event_id, _, _ in chain] == list(range(1, len(chain) + 1))
    previous = GENESIS_HASH
    for event_id, prev_hash, digest in chain:
        assert prev_hash == previous, f"event {event_id} does not follow the event before it"
        previous = digest
    return len(chain)


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
