"""The audit log: every create and state change leaves an AuditEvent in the same transaction.

The log is append-only and tamper-evident. Events form one hash chain in id order: each
stores `prev_hash`, the hash of the event before it (64 zeros for the first), and `hash`,
the SHA-256 of its own fields and `prev_hash` (`event_hash`). Changing, removing or
inserting an event breaks the chain at that point, which `verify_chain` finds.

Every write goes through `append_events` (`record_event` for one row), which keeps the
chain linear when many transactions append at once: it takes one lock for the whole
log, reads the chain's head, and only then numbers and hashes the new events. The lock
is held until the transaction ends, so appends (and whatever a transaction does after
its first append) are serialised. A UNIQUE index on `prev_hash` backs this up in the
database: a second event claiming the same predecessor is refused, never forked.
The database also refuses UPDATE and DELETE on `audit_event` (triggers, migration 0004).
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, Numeric, Table, select, text
from sqlalchemy import Enum as SAEnum
from sqlmodel import Session, SQLModel

from market.db import JsonText, insert_rows
from market.models import AuditEvent
from market.models.common import as_utc, json_safe, utcnow
from market.services.actors import Actor

log = logging.getLogger("market.audit")

# Never copied into the audit log.
_SECRET_COLUMNS = frozenset({"token_hash"})

# The prev_hash of the first event.
GENESIS_HASH = "0" * 64
# The key of the PostgreSQL advisory lock that serialises appends: b"auditlog" as a 64-bit integer.
APPEND_LOCK_KEY = int.from_bytes(b"auditlog", "big")

# What a caller says about an event; the chain adds id, prev_hash and hash.
_EVENT_FIELDS = frozenset(
    {"occurred_at", "account_id", "actor", "action", "object_type", "object_id", "before", "after"}
)
_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]


def snapshot(row: SQLModel) -> dict[str, Any]:
    """A row's stored columns, as JSON-safe values."""
    columns = row.__table__.columns  # type: ignore[attr-defined]
    return json_safe({c.name: getattr(row, c.name) for c in columns if c.name not in _SECRET_COLUMNS})


def row_dict_snapshot(table: Table) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A fast `snapshot` of rows of `table` given as dicts of every column (as written, before
    reading them back): the same keys in the same order, and the JSON-safe values `json_safe` gives."""
    converters: list[tuple[str, Callable[[Any], Any] | None]] = []
    for column in table.columns:
        if column.name in _SECRET_COLUMNS:
            continue
        if isinstance(column.type, SAEnum):
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
    return as_utc(moment).astimezone(UTC).isoformat(timespec="microseconds")


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


def _take_append_lock(session: Session) -> None:
    """Hold the log's append lock until this transaction ends, so the head read next is the real head."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
    else:
        # SQLite has one writer at a time. Appending nothing takes that write lock now (and opens
        # the transaction), before the head is read, so no other writer can append in between.
        session.execute(text("INSERT INTO audit_event (id) SELECT NULL WHERE 0"))


def _head(session: Session) -> tuple[int, str]:
    """The last event's id and hash; (0, GENESIS_HASH) for an empty log."""
    row = session.execute(select(_TABLE.c.id, _TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)).first()
    return (0, GENESIS_HASH) if row is None else (row.id, row.hash)


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


def _compact_json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _plain_event_parts(event: Mapping[str, Any], before: str, after: str) -> tuple[str, str] | None:
    """The canonical JSON `event_hash` hashes, but for id, occurred_at and prev_hash, which are known
    only under the append lock: the text before the id and the text between it and occurred_at. None
    unless every field is plain, where json.dumps (sort_keys, compact) spells the document as
    canonical_json does; before's and after's JSON text is made once, and sent to the database as it is."""
    fields = tuple(event.get(name) for name in ("account_id", "actor", "action", "object_type", "object_id"))
    # Any str (a table's quoted_name too) is spelt by json.dumps as canonical_json spells it.
    if not all(isinstance(value, str) or _is_plain_value(value) for value in fields):
        return None
    account_id, actor, action, object_type, object_id = map(json.dumps, fields)
    return (
        f'{{"account_id":{account_id},"action":{action},"actor":{actor},"after":{after},"before":{before},"id":',
        f',"object_id":{object_id},"object_type":{object_type},"occurred_at":',
    )


def _joined(parts: tuple[str, str], event_id: int, occurred_at_json: str, prev_hash: str) -> str:
    return f'{parts[0]}{event_id}{parts[1]}{occurred_at_json},"prev_hash":{json.dumps(prev_hash)}}}'


def append_events(session: Session, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Append events to the chain in this order, in one statement; return them as stored.

    Each event gives actor, action, object_type and optionally occurred_at (default now),
    account_id, object_id, before and after. The chain assigns id, prev_hash and hash.
    Pending ORM changes are flushed first, so a row's change is written before its event.

    What does not depend on the chain's head (the documents as stored, their JSON text) is made
    before the append lock is taken, so other transactions wait for the lock as little as possible.
    """
    if not events:
        return []
    for event in events:
        if not _EVENT_FIELDS.issuperset(event):
            unknown = set(event) - _EVENT_FIELDS
            raise ValueError(f"not audit event fields: {', '.join(sorted(unknown))}")
    prepared = []  # (event, before as stored, after as stored, their JSON text or None, the text's parts or None)
    for event in events:
        before, after = event.get("before"), event.get("after")
        if (before is None or _is_plain(before)) and (after is None or _is_plain(after)):
            before = None if before is None else dict(before)
            after = None if after is None else dict(after)
            texts = (_compact_json(before), _compact_json(after))
            prepared.append((event, before, after, texts, _plain_event_parts(event, *texts)))
        else:
            prepared.append((event, _as_stored(before), _as_stored(after), None, None))
    session.flush()
    _take_append_lock(session)
    head_id, head_hash = _head(session)
    now = utcnow()  # under the lock: times default to the order of the chain
    rows: list[dict[str, Any]] = []
    given_time, occurred_at, occurred_json = None, now, ""  # a batch's events mostly share one time
    for event, before, after, _, parts in prepared:
        head_id += 1
        moment = event.get("occurred_at") or now
        if moment is not given_time:
            given_time, occurred_at = moment, as_utc(moment).astimezone(UTC)
            occurred_json = json.dumps(_iso_utc(occurred_at))
        row = {
            "id": head_id,
            "occurred_at": occurred_at,
            "account_id": event.get("account_id"),
            "actor": event["actor"],
            "action": event["action"],
            "object_type": event["object_type"],
            "object_id": event.get("object_id"),
            "before": before,
            "after": after,
            "prev_hash": head_hash,
        }
        if parts is None:
            head_hash = event_hash(row)
        else:
            text = _joined(parts, head_id, occurred_json, head_hash)
            head_hash = hashlib.sha256(text.encode("ascii")).hexdigest()
        row["hash"] = head_hash
        rows.append(row)
    if session.get_bind().dialect.name == "postgresql":
        insert_rows(
            session,
            _TABLE,
            [
                row | {"before": _json_or(row["before"], texts[0]), "after": _json_or(row["after"], texts[1])}
                if texts is not None
                else row
                for row, (_, _, _, texts, _) in zip(rows, prepared, strict=True)
            ],
        )
    else:
        insert_rows(session, _TABLE, rows)
    return rows


def _json_or(document: Any, text: str) -> Any:
    """For COPY: the document's JSON text (NULL stays NULL)."""
    return None if document is None else JsonText(text)


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
    """What `verify_chain` found: how many events link up, and the first that does not."""

    events: int
    head_id: int | None
    head_hash: str
    broken_id: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def verify_chain(session: Session, *, batch_size: int = 1000) -> ChainCheck:
    """Walk the log in id order, recompute every hash, and stop at the first broken link.

    Reads `batch_size` events at a time (keyset pagination on id), so memory does not grow
    with the log. A chain cut off at its end cannot be told from a shorter chain: compare
    `head_hash` with one recorded earlier to detect that.
    """
    count, previous_id, previous_hash = 0, None, GENESIS_HASH
    while True:
        statement = select(_TABLE).order_by(_TABLE.c.id).limit(batch_size)
        if previous_id is not None:
            statement = statement.where(_TABLE.c.id > previous_id)
        rows = session.execute(statement).mappings().all()
        if not rows:
            return ChainCheck(events=count, head_id=previous_id, head_hash=previous_hash)
        for row in rows:
            problem = _link_problem(row, previous_id, previous_hash)
            if problem is not None:
                return ChainCheck(count, previous_id, previous_hash, broken_id=row["id"], problem=problem)
            count, previous_id, previous_hash = count + 1, row["id"], row["hash"]


def _link_problem(row: Mapping[str, Any], previous_id: int | None, previous_hash: str) -> str | None:
    if row["prev_hash"] != previous_hash:
        if previous_id is None:
            return (
                f"it is the first event but its prev_hash is {_short(row['prev_hash'])}, not the genesis "
                "hash (000…): the events before it were removed"
            )
        missing = (
            f"events {previous_id + 1}..{row['id'] - 1} are missing"
            if row["id"] > previous_id + 1
            else "an event between them was removed or inserted"
        )
        return (
            f"its prev_hash {_short(row['prev_hash'])} is not the hash of event {previous_id} "
            f"({_short(previous_hash)}): {missing}, or event {previous_id} was rewritten with a new hash"
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
