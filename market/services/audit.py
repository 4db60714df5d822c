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

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session, SQLModel

from market.db import insert_rows
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
    """True when json.dumps spells `document` exactly as canonical_json does: no floats (which
    canonical_json writes its own way), and nothing nested deeper than before/after's own values."""
    for value in document.values():
        kind = type(value)
        if kind is float or kind is list:
            return False
        if kind is dict:
            for inner in value.values():
                if type(inner) in (float, dict, list):
                    return False
    return True


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


def _as_stored(document: Any) -> Any:
    """A before/after document as the database gives it back: plain JSON types, string keys."""
    if document is None:
        return None
    if type(document) is dict and all(type(key) is str and type(value) in _PLAIN for key, value in document.items()):
        return dict(document)  # already what the database would give back (snapshots usually are)
    return json.loads(json.dumps(document, allow_nan=False))


def append_events(session: Session, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Append events to the chain in this order, in one statement; return them as stored.

    Each event gives actor, action, object_type and optionally occurred_at (default now),
    account_id, object_id, before and after. The chain assigns id, prev_hash and hash.
    Pending ORM changes are flushed first, so a row's change is written before its event.
    """
    if not events:
        return []
    for event in events:
        unknown = set(event) - _EVENT_FIELDS
        if unknown:
            raise ValueError(f"not audit event fields: {', '.join(sorted(unknown))}")
    session.flush()
    _take_append_lock(session)
    head_id, head_hash = _head(session)
    now = utcnow()  # under the lock: times default to the order of the chain
    rows: list[dict[str, Any]] = []
    for event in events:
        head_id += 1
        row = {
            "id": head_id,
            "occurred_at": as_utc(event.get("occurred_at") or now).astimezone(UTC),
            "account_id": event.get("account_id"),
            "actor": event["actor"],
            "action": event["action"],
            "object_type": event["object_type"],
            "object_id": event.get("object_id"),
            "before": _as_stored(event.get("before")),
            "after": _as_stored(event.get("after")),
            "prev_hash": head_hash,
        }
        row["hash"] = head_hash = event_hash(row)
        rows.append(row)
    insert_rows(session, _TABLE, rows)
    return rows


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
