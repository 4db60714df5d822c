"""The audit log: every create and state change leaves an AuditEvent in the same transaction.

The log is append-only and tamper-evident. Events form one hash chain: each sealed event has
its position (`seq`, 1, 2, 3, ...), `prev_hash`, the hash of the event before it (64 zeros for
the first), and `hash`, the SHA-256 of its own fields and `prev_hash` (`event_hash`). Changing,
removing or inserting a sealed event breaks the chain at that point, which `verify_chain` finds.

Writing and chaining are two steps, so that writers never wait for each other:

- `append_events` (`record_event` for one row) inserts events unsealed, in the writer's own
  transaction, with ids from the table's sequence. No lock, no read of the chain.
- `seal_events` chains what has been committed since the last seal, in id order. It takes one
  lock for the whole log, so sealers run one at a time and the chain stays linear (a UNIQUE
  `prev_hash` and a UNIQUE `seq` back this up in the database). Celery beat seals every
  AUDIT_SEAL_INTERVAL_SECONDS (`maintenance.seal_audit_log`); `market audit verify` seals first.

The database refuses DELETE, and every UPDATE but sealing an unsealed event without changing it
(triggers, migration 0006). Between its commit and its seal an event is guarded by those
triggers only: someone who can switch them off (a database superuser) could change it unseen.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import logging
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CTE,
    Date,
    DateTime,
    Float,
    Insert,
    Numeric,
    Table,
    bindparam,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from market.db import (
    COPY_FROM_ROWS,
    JsonText,
    draw_ids,
    insert_rows,
    insert_rows_with_ids,
    int_array,
    send_without_waiting,
    session_scope,
    settle,
)
from market.models import AuditEvent
from market.models.common import as_utc, in_utc, json_safe, utcnow
from market.services.actors import Actor

log = logging.getLogger("market.audit")

# Never copied into the audit log.
_SECRET_COLUMNS = frozenset({"token_hash"})
# A column declared with info={"audit": DIGEST} holds a large document the row keeps for itself (a
# match run's report): events carry its `document_digest`, which attests it, rather than copies of it.
DIGEST = "digest"

# The prev_hash of the first event.
GENESIS_HASH = "0" * 64
# The key of the PostgreSQL advisory lock that serialises sealers: b"auditlog" as a 64-bit integer.
SEAL_LOCK_KEY = int.from_bytes(b"auditlog", "big")
# Events sealed per transaction: a batch takes about a tenth of a second to hash and write.
SEAL_BATCH = 10_000

# What a caller says about an event; append_events adds the id, the sealer seq, prev_hash and hash.
_EVENT_FIELDS = frozenset(
    {"occurred_at", "account_id", "actor", "action", "object_type", "object_id", "before", "after"}
)
_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]


def snapshot(row: SQLModel) -> dict[str, Any]:
    """A row's stored columns, as JSON-safe values (a digested column as its `document_digest`)."""
    names, digested = _audited_columns(row.__table__)  # type: ignore[attr-defined]
    values = {name: getattr(row, name) for name in names}
    for name in digested:
        values[name] = document_digest(values[name])
    return json_safe(values)


def document_digest(document: Any) -> dict[str, Any] | None:
    """What an event holds of a digested column: the SHA-256 of the document as JSON (keys sorted, no
    spaces, ASCII) and that text's length; None stays None."""
    if document is None:
        return None
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return {"sha256": hashlib.sha256(text.encode("ascii")).hexdigest(), "bytes": len(text)}


@functools.cache
def _audited_columns(table: Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of the columns an event copies (secrets left out) and of those among them it digests."""
    names = tuple(column.name for column in table.columns if column.name not in _SECRET_COLUMNS)
    digested = tuple(column.name for column in table.columns if column.info.get("audit") == DIGEST)
    return names, digested


def row_dict_snapshot(table: Table) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A fast `snapshot` of rows of `table` given as dicts of every column (as written, before
    reading them back): the same keys in the same order, and the JSON-safe values `json_safe` gives."""
    converters: list[tuple[str, Callable[[Any], Any] | None]] = []
    for column in table.columns:
        if column.name in _SECRET_COLUMNS:
            continue
        if column.info.get("audit") == DIGEST:
            converters.append((column.name, document_digest))
        elif isinstance(column.type, SAEnum):
            converters.append((column.name, _enum_value))
        elif isinstance(column.type, DateTime):
            converters.append((column.name, _iso_time))
        elif isinstance(column.type, Date):
            converters.append((column.name, date.isoformat))
        elif isinstance(column.type, Numeric):
            converters.append((column.name, _decimal_text))
        else:
            converters.append((column.name, None))

    def snapshot_row(row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: row[name] if convert is None or row[name] is None else convert(row[name])
            for name, convert in converters
        }

    return snapshot_row


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _decimal_text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


_last_time: tuple[Any, str] = (None, "")


def _iso_time(value: datetime) -> str:
    """As json_safe writes a time; a batch's rows share one timestamp, so it is converted once."""
    global _last_time
    seen, text = _last_time  # one read: another thread may replace the pair meanwhile
    if value is not seen:
        text = as_utc(value).isoformat()
        _last_time = (value, text)
    return text


# --- the hash ------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces, ASCII only, numbers in plain decimal.

    Numbers are written as the shortest plain decimal of their value (1.0 as 1, 1e20 as
    100000000000000000000), because PostgreSQL's JSONB keeps numbers as NUMERIC and may hand
    a float back as an int: the hash must not depend on which database stored the event.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _plain_number(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("JSON object keys must be strings")
        return "{" + ",".join(json.dumps(key) + ":" + canonical_json(value[key]) for key in sorted(value)) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _plain_number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError("JSON has no NaN or infinity")
    digits = format(Decimal(repr(value)), "f")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return "0" if digits in ("-0", "") else digits


def _iso_utc(moment: datetime) -> str:
    return in_utc(moment).isoformat(timespec="microseconds")


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an event's fields and prev_hash, as the canonical JSON of one object.

    The object's keys: id, occurred_at (UTC, ISO 8601 with microseconds), account_id, actor,
    action, object_type, object_id, before, after, prev_hash.
    """
    document = {
        "id": event["id"],
        "occurred_at": _iso_utc(event["occurred_at"]),
        "account_id": event["account_id"],
        "actor": event["actor"],
        "action": event["action"],
        "object_type": event["object_type"],
        "object_id": event["object_id"],
        "before": event["before"],
        "after": event["after"],
        "prev_hash": event["prev_hash"],
    }
    text = _fast_canonical_json(document) if _floatless_and_shallow(document) else canonical_json(document)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _floatless_and_shallow(document: Mapping[str, Any]) -> bool:
    """True when json.dumps spells `document` exactly as canonical_json does: plain values (floats
    only where the two spell them alike), and nothing nested deeper than before/after's own values."""
    return all(_is_plain(value) if type(value) is dict else _is_plain_value(value) for value in document.values())


def _is_plain_value(value: Any) -> bool:
    kind = type(value)
    return kind in _PLAIN_TYPES or (kind is float and _spelt_alike(value))


def _spelt_alike(value: float) -> bool:
    """json.dumps writes a float as its repr; canonical_json as its plain decimal. They agree unless the
    repr has an exponent (1e-05), is not finite, or ends in ".0" (23.0, -0.0), as latitudes never do."""
    text = float.__repr__(value)
    return "e" not in text and "n" not in text and not text.endswith(".0")


def _fast_canonical_json(document: Mapping[str, Any]) -> str:
    # The C encoder: sorted keys, no spaces, ASCII escapes, as canonical_json writes them.
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


# --- appending -----------------------------------------------------------------------------


_PLAIN = (str, int, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)
_PLAIN_OR_FLOAT = _PLAIN_TYPES | {float}
_KEY_TYPES = frozenset({str})


def _is_plain(document: Any) -> bool:
    """A dict of string keys and plain values (floats only as json.dumps and canonical_json both spell
    them, nothing nested): stored and spelt as it is."""
    if type(document) is not dict or not _KEY_TYPES.issuperset(map(type, document)):
        return False
    kinds = set(map(type, document.values()))
    if kinds <= _PLAIN_TYPES:
        return True
    return kinds <= _PLAIN_OR_FLOAT and all(_spelt_alike(v) for v in document.values() if type(v) is float)


def _as_stored(document: Any) -> Any:
    """A before/after document as the database gives it back: plain JSON types, string keys."""
    if document is None:
        return None
    if _is_plain(document):
        return dict(document)  # already what the database would give back (snapshots usually are)
    return json.loads(json.dumps(document, allow_nan=False))


def _json_text(document: Any) -> Any:
    """A document for COPY: its JSON text, written once here by the C encoder (NULL stays NULL)."""
    return None if document is None else JsonText(json.dumps(document, separators=(",", ":"), allow_nan=False))


@dataclass(frozen=True, slots=True)
class StoredRow:
    """An event's `after`: a row of `table` this transaction has just written, given as the dict of
    every column it was written from (its id included). Its document is the row's `snapshot`. In
    a large batch on PostgreSQL the database builds that document from the stored row itself
    (`append_events`), so the writer spends nothing per row on it; otherwise it is made here."""

    table: Table
    row: Mapping[str, Any]

    def document(self) -> dict[str, Any]:
        return _dict_snapshot(self.table)(self.row)


_dict_snapshot = functools.cache(row_dict_snapshot)


def append_events(session: Session, events: Sequence[Mapping[str, Any]], *, wait: bool = True) -> list[dict[str, Any]]:
    """Insert events, unsealed, in this order; return them with their ids.

    Each event gives actor, action, object_type and optionally occurred_at (default now),
    account_id, object_id, before and after (JSON documents, or for `after` a `StoredRow`; what
    json.dumps cannot write, or NaN, is refused). The table's sequence assigns ids; `seal_events`
    later assigns seq, prev_hash and hash (None in what this returns, whose before and after are
    the documents as given). Pending ORM changes are flushed first, so a row's change is written
    before its event.

    PostgreSQL, from COPY_FROM_ROWS events: the ids are drawn at once, events whose `after` is a
    `StoredRow` (and `before` None) are written by one INSERT ... SELECT per table that builds
    each document from the stored row (`_snapshot_sql`), the others by COPY; unless `wait`, the
    last INSERT is left running while the caller goes on (`market.db.send_without_waiting`: it is
    waited for before the connection's next use). Otherwise one INSERT ... RETURNING.
    """
    if not events:
        return []
    for event in events:
        if not _EVENT_FIELDS.issuperset(event):
            unknown = set(event) - _EVENT_FIELDS
            raise ValueError(f"not audit event fields: {', '.join(sorted(unknown))}")
    session.flush()
    copied = session.get_bind().dialect.name == "postgresql" and len(events) >= COPY_FROM_ROWS
    document = _json_text if copied else _as_stored
    now = utcnow()
    rows: list[dict[str, Any]] = []
    from_stored_rows: list[int] = []  # positions of the events the database writes the documents of
    given_time, occurred_at = None, now  # a batch's events mostly share one time
    for position, event in enumerate(events):
        moment = event.get("occurred_at") or now
        if moment is not given_time:
            given_time, occurred_at = moment, in_utc(moment)
        after = event.get("after")
        if type(after) is StoredRow:
            # The database builds the document unless a column is digested (that is done here).
            if copied and event.get("before") is None and not _audited_columns(after.table)[1]:
                from_stored_rows.append(position)
                after = None
            else:
                after = after.document()
        rows.append(
            {
                "occurred_at": occurred_at,
                "account_id": event.get("account_id"),
                "actor": event["actor"],
                "action": event["action"],
                "object_type": event["object_type"],
                "object_id": event.get("object_id"),
                "before": document(event.get("before")),
                "after": document(after),
            }
        )
    if from_stored_rows:
        for row, new_id in zip(rows, draw_ids(session, _TABLE, len(rows)), strict=True):
            row["id"] = new_id
        built = set(from_stored_rows)
        insert_rows(session, _TABLE, [row for position, row in enumerate(rows) if position not in built])
        _insert_stored_row_events(session, [(rows[p], events[p]["after"]) for p in from_stored_rows], wait=wait)
    else:
        insert_rows_with_ids(session, _TABLE, rows)
    unsealed = {"seq": None, "prev_hash": None, "hash": None}
    return [
        {**row, "before": event.get("before"), "after": event.get("after"), **unsealed}
        for row, event in zip(rows, events, strict=True)
    ]


def _insert_stored_row_events(
    session: Session, events: list[tuple[dict[str, Any], StoredRow]], *, wait: bool = True
) -> None:
    """Write events (their ids drawn) whose `after` the database builds from the stored rows: one
    INSERT ... SELECT per table and shared event fields, joined to the event and row ids as two arrays.
    Unless `wait`, the last one is left running (`send_without_waiting`)."""
    groups: dict[tuple[Any, ...], tuple[Table, list[int], list[int]]] = {}
    for row, stored in events:
        key = (stored.table.name, *_shared_fields(row))
        _, event_ids, object_ids = groups.setdefault(key, (stored.table, [], []))
        event_ids.append(row["id"])
        object_ids.append(stored.row["id"])
    for (_, occurred_at, account_id, actor, action, object_type), (table, event_ids, object_ids) in groups.items():
        shared = (occurred_at, account_id, actor, action, object_type)
        _send_stored_row_events(session, table, event_ids, object_ids, shared)
    if wait:
        settle(session)


def _send_stored_row_events(
    session: Session, table: Table, event_ids: list[int], object_ids: list[int], shared: tuple[Any, ...]
) -> None:
    """One INSERT ... SELECT, left running, of the events `event_ids` about the rows `object_ids` of
    `table`, each `after` built from the stored row; `shared`: their occurred_at, account_id, actor, action
    and object_type."""
    occurred_at, account_id, actor, action, object_type = shared
    send_without_waiting(
        session,
        "INSERT INTO audit_event (id, occurred_at, account_id, actor, action, object_type, object_id, after) "
        "SELECT e.id, %(occurred_at)s, %(account_id)s, %(actor)s, %(action)s, %(object_type)s, t.id, "
        f"{_snapshot_sql(table)} "
        "FROM unnest(%(event_ids)s::bigint[], %(object_ids)s::bigint[]) AS e(id, object_id) "
        f'JOIN "{table.name}" AS t ON t.id = e.object_id '
        # The rows' id range, which the primary key finds: without it the join may read the whole
        # table (its statistics know nothing yet of the rows this transaction has just written).
        "WHERE t.id BETWEEN %(lowest)s AND %(highest)s",
        {
            "occurred_at": occurred_at,
            "account_id": account_id,
            "actor": str(actor),
            "action": str(action),
            "object_type": str(object_type),
            "event_ids": int_array(event_ids),
            "object_ids": int_array(object_ids),
            "lowest": min(object_ids),
            "highest": max(object_ids),
        },
        rows=len(event_ids),
    )


def append_row_events(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, actor: Actor, action: str, wait: bool = True
) -> None:
    """One event per row of `table` this transaction has just written (each given as the dict it was
    written from, its id included), `after` the stored row, all at one time by one actor: what
    `append_events` writes for such events. On PostgreSQL, from COPY_FROM_ROWS rows, without making
    an event record per row: the ids are drawn and one INSERT ... SELECT builds the rest."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS or _audited_columns(table)[1]:
        append_events(session, [create_event(actor, action, table, row) for row in rows], wait=wait)
        return
    session.flush()
    event_ids = draw_ids(session, _TABLE, len(rows))
    occurred_at = utcnow()
    shared = (occurred_at, actor.account_id, actor.label, action, table.name)
    _send_stored_row_events(session, table, event_ids, [row["id"] for row in rows], shared)
    if wait:
        settle(session)


def create_event(actor: Actor, action: str, table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """The event record_event would write for a row just written from `row` (its id included): its
    stored columns as `after` (a `StoredRow`)."""
    return {
        "account_id": actor.account_id,
        "actor": actor.label,
        "action": action,
        "object_type": table.name,
        "object_id": row["id"],
        "before": None,
        "after": StoredRow(table, row),
    }


_shared_fields = operator.itemgetter("occurred_at", "account_id", "actor", "action", "object_type")

# The CTE name `events_of_written` expects: `_snapshot_sql` spells its columns over the row `t`.
WRITTEN = "t"


def events_of_written(table: Table, written: CTE, action: str) -> Insert:
    """PostgreSQL: an INSERT of one event per row `written` returns (a data-modifying CTE over `table`,
    named WRITTEN, returning every column), each `after` built by the database from the row as stored,
    as `append_row_events` builds it. Its occurred_at, account_id and actor are bound by `event_values`.
    Used as a CTE of the statement that writes the row, the row and its event take one round trip."""
    if _audited_columns(table)[1]:
        raise ValueError(f"{table.name} has digested columns: its events are made by append_events")
    return insert(_TABLE).from_select(
        ["occurred_at", "account_id", "actor", "action", "object_type", "object_id", "after"],
        select(
            bindparam("event_occurred_at", type_=_TABLE.c.occurred_at.type),
            bindparam("event_account_id", type_=_TABLE.c.account_id.type),
            bindparam("event_actor", type_=_TABLE.c.actor.type),
            literal(action, type_=_TABLE.c.action.type),
            literal(table.name, type_=_TABLE.c.object_type.type),
            written.c.id,
            literal_column(_snapshot_sql(table)),
        ).select_from(written),
    )


def with_its_event(statement: Insert, table: Table, action: str) -> tuple[CTE, CTE]:
    """PostgreSQL: `statement`, an INSERT into `table`, as the CTE WRITTEN returning every column, and
    the INSERT of its rows' events (`events_of_written`) as a second CTE. A SELECT over the first with
    the second added (`add_cte`) writes the rows and their events in one round trip."""
    written = statement.returning(*table.c).cte(WRITTEN)
    return written, events_of_written(table, written, action).cte("event")


def audit_written(session: Session, *, actor: Actor, action: str, table: Table, row: Mapping[str, Any]) -> None:
    """What record_event does for a row written by a `with_its_event` statement, which wrote its event
    on PostgreSQL: elsewhere the event from `row` (every column, its id included); the log line."""
    if session.get_bind().dialect.name != "postgresql":
        append_events(session, [create_event(actor, action, table, row)])
    log.info("%s %s %s %s", actor.label, action, table.name, row["id"])


def event_values(actor: Actor, occurred_at: datetime) -> dict[str, Any]:
    """The bound values of an `events_of_written` statement."""
    return {
        "event_occurred_at": in_utc(occurred_at),
        "event_account_id": actor.account_id,
        "event_actor": actor.label,
    }


@functools.cache
def _snapshot_sql(table: Table) -> str:
    """SQL (over the row `t`) for the JSONB document `snapshot` makes of a row of `table`, spelt as
    `json_safe` spells it: times as UTC ISO 8601 with microseconds unless they are zero, dates
    ISO, decimals as strings, enums as their values; the same columns."""
    pairs = []
    for column in table.columns:
        if column.name in _SECRET_COLUMNS:
            continue
        value = f't."{column.name}"'
        if isinstance(column.type, DateTime):
            utc = f"({value} AT TIME ZONE 'UTC')"
            value = (
                f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') """
                f"|| CASE WHEN date_trunc('second', {utc}) = {utc} THEN '' ELSE to_char({utc}, '.US') END "
                "|| '+00:00'"
            )
        elif isinstance(column.type, Date):
            value = f"to_char({value}, 'YYYY-MM-DD')"
        elif isinstance(column.type, Numeric) and not isinstance(column.type, Float):
            value = f"{value}::text"
        pairs.append(f"'{column.name}', {value}")
    # jsonb_build_object takes at most 100 arguments: wider tables are built in parts and joined.
    parts = [pairs[start : start + 50] for start in range(0, len(pairs), 50)]
    return " || ".join(f"jsonb_build_object({', '.join(part)})" for part in parts)


def record_event(
    session: Session,
    *,
    actor: Actor,
    action: str,
    row: SQLModel,
    before: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record `action` on `row` (its id assigned by a flush), with its state before and after.

    Returns the event as stored; it is written already and is not attached to the session.
    """
    object_type = row.__tablename__  # type: ignore[attr-defined]
    object_id = getattr(row, "id", None)
    if object_id is None:
        session.flush()
        object_id = getattr(row, "id", None)
    (stored,) = append_events(
        session,
        [
            {
                "account_id": actor.account_id,
                "actor": actor.label,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "before": before,
                "after": snapshot(row),
            }
        ],
    )
    log.info("%s %s %s %s", actor.label, action, object_type, object_id)
    return AuditEvent(**stored)


# --- sealing -------------------------------------------------------------------------------


def _take_seal_lock(session: Session) -> None:
    """Hold the log's seal lock until this transaction ends, so the head read next is the real head."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK_KEY})
    else:
        # SQLite has one writer at a time. Inserting nothing takes that write lock now (and opens
        # the transaction), before the head is read, so no other writer can seal in between.
        session.execute(text("INSERT INTO audit_event (id) SELECT NULL WHERE 0"))


def _head(session: Session) -> tuple[int, str]:
    """The last sealed event's position and hash; (0, GENESIS_HASH) before the first seal."""
    row = session.execute(
        select(_TABLE.c.seq, _TABLE.c.hash).where(_TABLE.c.seq.is_not(None)).order_by(_TABLE.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (row.seq, row.hash)


_CONTENT_COLUMNS = [column for column in _TABLE.c if column.name not in ("seq", "prev_hash", "hash")]


def seal_events(session: Session, *, limit: int = SEAL_BATCH) -> int:
    """Chain up to `limit` committed unsealed events after the chain's head, in id order; return how many.

    Holds the seal lock until the transaction ends: commit soon (`seal_all` does, per batch).
    """
    _take_seal_lock(session)
    position, previous_hash = _head(session)
    rows = (
        session.execute(select(*_CONTENT_COLUMNS).where(_TABLE.c.seq.is_(None)).order_by(_TABLE.c.id).limit(limit))
        .mappings()
        .all()
    )
    if not rows:
        return 0
    ids, positions, links, digests = [], [], [], []
    for row in rows:
        position += 1
        digest = event_hash({**row, "prev_hash": previous_hash})
        ids.append(row["id"])
        positions.append(position)
        links.append(previous_hash)
        digests.append(digest)
        previous_hash = digest
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the batch; `seq IS NULL` makes a second seal of the same event a no-op, caught below.
        sealed = session.execute(
            text(
                "UPDATE audit_event AS e SET seq = s.seq, prev_hash = s.prev_hash, hash = s.hash "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:positions AS bigint[]), CAST(:links AS text[]), "
                "CAST(:digests AS text[])) AS s(id, seq, prev_hash, hash) WHERE e.id = s.id AND e.seq IS NULL"
            ),
            {"ids": ids, "positions": positions, "links": links, "digests": digests},
        ).rowcount
    else:
        sealed = session.execute(
            _TABLE.update()
            .where(_TABLE.c.id == bindparam("event_id"), _TABLE.c.seq.is_(None))
            .values(seq=bindparam("new_seq"), prev_hash=bindparam("new_prev_hash"), hash=bindparam("new_hash")),
            [
                {"event_id": i, "new_seq": n, "new_prev_hash": link, "new_hash": digest}
                for i, n, link, digest in zip(ids, positions, links, digests, strict=True)
            ],
        ).rowcount
    if sealed != len(ids):
        raise RuntimeError(f"sealed {sealed} of {len(ids)} audit events: another sealer ran without the seal lock")
    return len(ids)


def seal_all(engine: Engine, *, batch: int = SEAL_BATCH) -> int:
    """Seal every event committed so far, `batch` per transaction; return how many were sealed."""
    total = 0
    while True:
        with session_scope(engine) as session:
            sealed = seal_events(session, limit=batch)
        total += sealed
        if sealed < batch:
            return total


def seal_and_verify(engine: Engine) -> tuple[int, ChainCheck]:
    """Seal everything committed, then walk the whole chain: how many were sealed, and what the walk found."""
    sealed = seal_all(engine)
    with Session(engine) as session:
        return sealed, verify_chain(session)


# --- reading and verifying -----------------------------------------------------------------


def events_about(session: Session, object_type: str, object_ids) -> list[AuditEvent]:
    """The audit events of these objects (ids, or a subquery of them), oldest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id.in_(object_ids))
            .order_by(AuditEvent.id)
        ).all()
    )


@dataclass(frozen=True)
class ChainCheck:
    """What `verify_chain` found: how many sealed events link up, the first that does not, and how
    many are still waiting to be sealed."""

    events: int
    head_id: int | None
    head_hash: str
    broken_id: int | None = None
    problem: str | None = None
    unsealed: int = 0

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def verify_chain(session: Session, *, batch_size: int = 1000) -> ChainCheck:
    """Walk the sealed events in chain order, recompute every hash, and stop at the first broken link.

    Reads `batch_size` events at a time (keyset pagination on seq), so memory does not grow
    with the log. A chain cut off at its end cannot be told from a shorter chain: compare
    `head_hash` with one recorded earlier to detect that. Unsealed events are counted, not
    checked: `seal_all` first to check everything committed.
    """
    unsealed = session.execute(select(func.count()).where(_TABLE.c.seq.is_(None))).scalar_one()
    count, previous_seq, previous_id, previous_hash = 0, 0, None, GENESIS_HASH
    while True:
        statement = select(_TABLE).where(_TABLE.c.seq > previous_seq).order_by(_TABLE.c.seq).limit(batch_size)
        rows = session.execute(statement).mappings().all()
        if not rows:
            return ChainCheck(events=count, head_id=previous_id, head_hash=previous_hash, unsealed=unsealed)
        for row in rows:
            problem = _link_problem(row, previous_seq, previous_id, previous_hash)
            if problem is not None:
                return ChainCheck(
                    count, previous_id, previous_hash, broken_id=row["id"], problem=problem, unsealed=unsealed
                )
            count, previous_seq, previous_id, previous_hash = count + 1, row["seq"], row["id"], row["hash"]


def _link_problem(row: Mapping[str, Any], previous_seq: int, previous_id: int | None, previous_hash: str) -> str | None:
    if row["prev_hash"] != previous_hash:
        if previous_id is None:
            return (
                f"it is the first event but its prev_hash is {_short(row['prev_hash'])}, not the genesis "
                "hash (000…): the events before it were removed"
            )
        missing = (
            f"the events at chain positions {previous_seq + 1}..{row['seq'] - 1} are missing"
            if row["seq"] > previous_seq + 1
            else "an event between them was removed or inserted"
        )
        return (
            f"its prev_hash {_short(row['prev_hash'])} is not the hash of event {previous_id} "
            f"({_short(previous_hash)}): {missing}, or event {previous_id} was rewritten with a new hash"
        )
    if row["seq"] != previous_seq + 1:
        return (
            f"it is at chain position {row['seq']} but follows event {previous_id} at position {previous_seq}: "
            "its position was rewritten"
        )
    try:
        computed = event_hash(row)
    except (KeyError, TypeError, ValueError) as exc:
        return f"its contents cannot be hashed ({exc})"
    if computed != row["hash"]:
        return (
            f"its contents do not match its hash (stored {_short(row['hash'])}, recomputed {_short(computed)}): "
            "the row was changed after it was written"
        )
    return None


def _short(digest: str | None) -> str:
    return "NULL" if digest is None else f"{digest[:12]}…"
