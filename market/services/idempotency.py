"""Idempotency-Key: a retried create returns the first answer instead of creating again.

Keys are per account. The record is written in the same transaction as the row it
answers for, so either both exist or neither does; a second request racing the
first trips the unique (account, key) constraint and is told to retry.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, insert
from sqlmodel import Session, delete, select

from market.models import IdempotencyRecord
from market.models.common import as_utc, utcnow
from market.services.errors import Invalid

# The request header a retried create sends, and the answer header that marks a replay.
KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Visible ASCII, spaces only inside: the key's one rule, checked here and shown in the API document.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
_KEY = re.compile(KEY_PATTERN)

# Read and written as plain rows: a keyed request pays one lookup and one insert, without the ORM's
# identity map and unit of work around a record nothing else touches.
_RECORDS = IdempotencyRecord.__table__  # type: ignore[attr-defined]


def request_fingerprint(endpoint: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_exact)
    return hashlib.sha256(f"{endpoint}\n{canonical}".encode()).hexdigest()


def _exact(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise Invalid.field(KEY_HEADER, f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (spaces only inside)")


def find_replay(
    session: Session, *, account_id: int, key: str, endpoint: str, fingerprint: str, ttl: timedelta
) -> Row | None:
    """The stored answer for this key (its `status_code` and `response_body`), None if it is new (or
    expired), or Invalid if it was used otherwise."""
    columns = _RECORDS.c
    record = session.execute(
        select(
            columns.id,
            columns.created_at,
            columns.endpoint,
            columns.request_hash,
            columns.status_code,
            columns.response_body,
        ).where(columns.account_id == account_id, columns.key == key)
    ).first()
    if record is None:
        return None
    if as_utc(record.created_at) < utcnow() - ttl:
        session.execute(delete(_RECORDS).where(columns.id == record.id))
        return None
    if record.endpoint != endpoint or record.request_hash != fingerprint:
        raise Invalid.field(KEY_HEADER, "already used with a different request")
    return record


def remember(
    session: Session,
    *,
    account_id: int,
    key: str,
    endpoint: str,
    fingerprint: str,
    status_code: int,
    response_body: dict[str, Any],
) -> None:
    session.execute(
        insert(_RECORDS).values(
            account_id=account_id,
            key=key,
            endpoint=endpoint,
            request_hash=fingerprint,
            status_code=status_code,
            response_body=response_body,
            created_at=utcnow(),
        )
    )


def purge_expired(session: Session, *, ttl: timedelta) -> int:
    """Forget keys older than the TTL; returns how many were forgotten."""
    result = session.exec(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - ttl))
    return result.rowcount or 0
