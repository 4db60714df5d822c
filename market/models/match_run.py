"""Match runs: one round of the matcher over the open book, reviewed by an admin.

Filled in by the matching engine; the table is laid down with the foundation so
the schema does not need reshaping when it arrives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from market.models.common import (
    JSONDocument,
    MatchRunStatus,
    PricePolicy,
    Product,
    Timestamp,
    enum_type,
    utcnow,
)


class MatchRun(SQLModel, table=True):
    __tablename__ = "match_run"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts"),
        Index(None, "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: MatchRunStatus = Field(default=MatchRunStatus.queued, sa_type=enum_type(MatchRunStatus))
    # None: every product.
    product: Product | None = Field(default=None, sa_type=enum_type(Product))
    policy: PricePolicy = Field(default=PricePolicy.midpoint, sa_type=enum_type(PricePolicy))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    requested_by_id: int | None = Field(default=None, foreign_key="account.id")
    decided_by_id: int | None = Field(default=None, foreign_key="account.id")
    task_id: str | None = Field(default=None, max_length=64)
    attempts: int = Field(default=0)
    report: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    started_at: datetime | None = Field(default=None, sa_type=Timestamp)
    finished_at: datetime | None = Field(default=None, sa_type=Timestamp)
    decided_at: datetime | None = Field(default=None, sa_type=Timestamp)
