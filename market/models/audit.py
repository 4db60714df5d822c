"""The audit log (who changed what, before and after) and remembered Idempotency-Keys.

The audit log is one hash chain: each sealed event stores its position in the chain (`seq`),
the SHA-256 of the event before it and its own hash over its fields and that link
(`market.services.audit` writes events and seals them). An event is inserted unsealed and
sealed shortly after; the database refuses every other UPDATE, and every DELETE (triggers
from migration 0006).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from market.models.common import JSONDocument, Timestamp, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index(None, "object_type", "object_id"),
        # The sealer's queue: the events not yet in the chain, found without reading the chain.
        Index("ix_audit_event_unsealed", "id", postgresql_where=text("seq IS NULL"), sqlite_where=text("seq IS NULL")),
        # Sealing sets all three at once; an event has all of them or none.
        CheckConstraint(
            "(seq IS NULL) = (prev_hash IS NULL) AND (seq IS NULL) = (hash IS NULL)", name="sealed_together"
        ),
    )

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
    # The event's place in the chain, 1, 2, 3, ...: set when it is sealed (None until then).
    seq: int | None = Field(default=None, unique=True)
    # The hash of the event before it in the chain (64 zeros for the first); unique, so the chain cannot fork.
    prev_hash: str | None = Field(default=None, max_length=64, unique=True)
    # SHA-256 (hex) of this event's fields and prev_hash: see `market.services.audit.event_hash`.
    hash: str | None = Field(default=None, max_length=64)


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
