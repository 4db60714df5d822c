"""The audit log (who changed what, before and after) and remembered Idempotency-Keys.

The audit log is one hash chain: each event stores the SHA-256 of its own fields and of
the event before it (`market.services.audit` computes it, and is the only writer).
The database refuses UPDATE and DELETE on it (triggers from migration 0004).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from market.models.common import JSONDocument, Timestamp, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index(None, "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp, index=True)
    # None for the system itself (seeding, scheduled work); `actor` then says which part.
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=64)
    object_id: int | None = None
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    # The hash of the event before this one (64 zeros for the first); unique, so the chain cannot fork.
    prev_hash: str = Field(max_length=64, unique=True)
    # SHA-256 (hex) of this event's fields and prev_hash: see `market.services.audit.event_hash`.
    hash: str = Field(max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    key: str = Field(max_length=255)
    # Method and path: a key used for one endpoint cannot replay another's answer.
    endpoint: str = Field(max_length=255)
    # SHA-256 of the canonical JSON body.
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: dict[str, Any] = Field(sa_type=JSONDocument)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp, index=True)
