"""audit hash chain, append-only

The audit log becomes one hash chain (`prev_hash`, `hash`; see market/services/audit.py)
that the database will not let anyone UPDATE or DELETE.

1. Add `prev_hash` and `hash`, empty at first.
2. Data migration: hash the events already there, in id order, a thousand at a time, with
   the application's own `event_hash` (one definition of the hash: the migrated chain is
   exactly what `market audit verify` recomputes). It reads and writes in pages, so a large
   log needs no more memory than a small one.
3. Make both columns NOT NULL and `prev_hash` UNIQUE (the chain cannot fork).
4. Triggers that raise on UPDATE or DELETE of an audit event, on PostgreSQL (one plpgsql
   function) and on SQLite (RAISE(ABORT)). TRUNCATE is not blocked (row triggers do not see
   it); a production deployment closes that with roles, see the README.

On SQLite, a later `batch_alter_table("audit_event")` recreates the table and drops its
triggers: such a migration must create them again (`create_append_only_triggers`).
The data migration needs a live database (it does not run in offline `--sql` mode).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 03:26:33.288315
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from market.services.audit import GENESIS_HASH, event_hash

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 1000

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
audit_event = sa.table(
    "audit_event",
    sa.column("id", sa.Integer()),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
    sa.column("account_id", sa.Integer()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.Integer()),
    sa.column("before", _JSON),
    sa.column("after", _JSON),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)

_POSTGRESQL_TRIGGER = [
    """
    CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_event is append-only: % is not allowed', TG_OP
            USING HINT = 'audit events are only ever inserted, by market.services.audit';
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
    CREATE TRIGGER audit_event_no_{operation.lower()} BEFORE {operation} ON audit_event
    BEGIN
        SELECT RAISE(ABORT, 'audit_event is append-only: {operation} is not allowed');
    END
    """
    for operation in ("UPDATE", "DELETE")
]


def create_append_only_triggers() -> None:
    statements = _POSTGRESQL_TRIGGER if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")


def hash_existing_events() -> None:
    """Chain the events written before this migration, in id order, one page at a time."""
    bind = op.get_bind()
    columns = [column for column in audit_event.c if column.name not in ("prev_hash", "hash")]
    update = (
        sa.update(audit_event)
        .where(audit_event.c.id == sa.bindparam("event_id"))
        .values(prev_hash=sa.bindparam("new_prev_hash"), hash=sa.bindparam("new_hash"))
    )
    last_id, previous_hash = None, GENESIS_HASH
    while True:
        page = sa.select(*columns).order_by(audit_event.c.id).limit(PAGE)
        if last_id is not None:
            page = page.where(audit_event.c.id > last_id)
        rows = bind.execute(page).mappings().all()
        if not rows:
            return
        changes = []
        for row in rows:
            digest = event_hash({**row, "prev_hash": previous_hash})
            changes.append({"event_id": row["id"], "new_prev_hash": previous_hash, "new_hash": digest})
            previous_hash = digest
        bind.execute(update, changes)
        last_id = rows[-1]["id"]


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    hash_existing_events()

    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_event_prev_hash"), ["prev_hash"])

    create_append_only_triggers()


def downgrade() -> None:
    drop_append_only_triggers()
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_event_prev_hash"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
