"""audit log: events are inserted unsealed and sealed into the chain after

Until now every transaction that wrote an audit event took one lock for the whole log, read the
chain's head, and hashed its events onto it; the lock was held until commit, so commits that
audit anything ran one at a time (measured: POST /api/v1/orders at 40% of a trivial GET's
requests per second, and 63% of it once commits no longer waited for the disk). Now writers only
insert; a sealer (`market.services.audit.seal_events`, the Celery beat task
`maintenance.seal_audit_log`, and `market audit verify`) takes the lock alone and chains what
has been committed since its last turn, in id order.

1. `seq` (the event's position in the chain; UNIQUE), and `prev_hash`, `hash` may be NULL
   until an event is sealed; a CHECK keeps the three set or unset together.
2. The events already chained keep their hashes; their positions are 1..N in id order.
3. A partial index on the unsealed events: the sealer's queue.
4. PostgreSQL: the id sequence moves past the ids the old writer chose itself.
5. The triggers now let exactly one UPDATE through: sealing an unsealed event, which sets
   seq, prev_hash and hash and changes nothing else. Every other UPDATE, and every DELETE,
   is still refused.

Downgrade chains every event again in id order, as 0004 did (the sealer may have chained a
transaction that committed late after events with higher ids), and restores 0004's triggers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:10:00.000000
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0004's triggers and its id-order chaining, for the downgrade.
previous = importlib.import_module("market.migrations.versions.0004_audit_hash_chain_append_only")

_HASH_TYPE = sqlmodel.sql.sqltypes.AutoString(length=64)
_CONTENT = ("id", "occurred_at", "account_id", "actor", "action", "object_type", "object_id", "before", "after")

_POSTGRESQL_TRIGGER = [
    f"""
    CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Sealing: an unsealed event gets its place and hashes, and nothing else about it changes.
        IF TG_OP = 'UPDATE'
            AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
            AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
            AND ({", ".join(f"NEW.{name}" for name in _CONTENT)})
                IS NOT DISTINCT FROM ({", ".join(f"OLD.{name}" for name in _CONTENT)})
        THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_event is append-only: % is not allowed', TG_OP
            USING HINT = 'audit events are only ever inserted, and sealed once, by market.services.audit';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
        FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
    """,
]
_SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    WHEN NOT (
        OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
        AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
        AND {" AND ".join(f"NEW.{name} IS OLD.{name}" for name in _CONTENT)}
    )
    BEGIN
        SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE is not allowed');
    END
    """,
    """
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN
        SELECT RAISE(ABORT, 'audit_event is append-only: DELETE is not allowed');
    END
    """,
]


def _create_triggers() -> None:
    statements = _POSTGRESQL_TRIGGER if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    previous.drop_append_only_triggers()
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.alter_column("prev_hash", existing_type=_HASH_TYPE, nullable=True)
        batch_op.alter_column("hash", existing_type=_HASH_TYPE, nullable=True)

    # Every event so far is chained, in id order: its position is its rank by id.
    op.execute(
        "UPDATE audit_event SET seq = ranked.position FROM "
        "(SELECT id, row_number() OVER (ORDER BY id) AS position FROM audit_event) AS ranked "
        "WHERE audit_event.id = ranked.id"
    )
    if op.get_bind().dialect.name == "postgresql":
        # The old writer chose ids itself; the sequence must start after them.
        op.execute("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), (SELECT max(id) FROM audit_event))")

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_audit_event_seq"), ["seq"])
        batch_op.create_check_constraint(
            "sealed_together", "(seq IS NULL) = (prev_hash IS NULL) AND (seq IS NULL) = (hash IS NULL)"
        )
        batch_op.create_index(
            "ix_audit_event_unsealed",
            ["id"],
            unique=False,
            postgresql_where=sa.text("seq IS NULL"),
            sqlite_where=sa.text("seq IS NULL"),
        )
    _create_triggers()


def downgrade() -> None:
    previous.drop_append_only_triggers()
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_unsealed")
        batch_op.drop_constraint(batch_op.f("ck_audit_event_sealed_together"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_audit_event_seq"), type_="unique")
        batch_op.drop_column("seq")
    # 0004 chains in id order, and the sealer may have chained a late commit after a later id.
    # Forget the old links first: the UNIQUE prev_hash would refuse a new link an old one still holds.
    op.execute("UPDATE audit_event SET prev_hash = NULL, hash = NULL")
    previous.hash_existing_events()
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=_HASH_TYPE, nullable=False)
        batch_op.alter_column("hash", existing_type=_HASH_TYPE, nullable=False)
    previous.create_append_only_triggers()
