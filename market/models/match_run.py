"""Match runs: one round of the matcher over the open book, reviewed by an admin.

Filled in by the matching engine; the table is laid down with the foundation so
the schema does not need reshaping when it arrives.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from market.models.common import (
    DecimalText,
    JSONDocument,
    MatchRunStatus,
    PricePolicy,
    Product,
    RequestModel,
    Timestamp,
    YuanOut,
    enum_type,
    utcnow,
)
from market.models.match_report import MatchReport


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
    # Its audit events carry the report's digest, not a copy (market.services.audit.DIGEST).
    report: dict[str, Any] | None = Field(
        default=None, sa_type=JSONDocument, sa_column_kwargs={"info": {"audit": "digest"}}
    )
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    started_at: datetime | None = Field(default=None, sa_type=Timestamp)
    finished_at: datetime | None = Field(default=None, sa_type=Timestamp)
    decided_at: datetime | None = Field(default=None, sa_type=Timestamp)


class MatchRunPart(SQLModel, table=True):
    """One product's share of a run: written with its contracts, so a task delivered twice finds it done."""

    __tablename__ = "match_run_part"
    __table_args__ = (UniqueConstraint("match_run_id", "product"),)

    id: int | None = Field(default=None, primary_key=True)
    match_run_id: int = Field(foreign_key="match_run.id")
    product: Product = Field(sa_type=enum_type(Product))
    summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)


class MatchingLock(SQLModel, table=True):
    """One row per product, written first by every solve of that product.

    The write takes the row's lock until the solve commits, so two runs never solve
    the same product at once: the second waits, then sees the first one's reservations.
    """

    __tablename__ = "matching_lock"

    product: Product = Field(sa_type=enum_type(Product), primary_key=True)
    match_run_id: int | None = Field(default=None, foreign_key="match_run.id")
    locked_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)


class MatchRunCreate(RequestModel):
    # Every field has a default: the body may be left out (market.api.http.MarketRequest reads it as {}).
    model_config = ConfigDict(openapi_extra={"required": False})  # type: ignore[typeddict-unknown-key]

    product: Product | None = PydanticField(default=None, description="One product, or every product when omitted.")
    policy: PricePolicy = PydanticField(
        default=PricePolicy.midpoint,
        description="midpoint: the seller nets its ask plus half the surplus; ask: the seller nets its ask; "
        "bid: the buyer pays its bid.",
    )
    poverty_weight_per_tonne: Annotated[
        Decimal, PydanticField(ge=0, le=100_000, decimal_places=2, allow_inf_nan=False), DecimalText
    ] = PydanticField(
        default=Decimal(0),
        description="Yuan per tonne added to the objective for trades of a cooperative, times its share of "
        "registered poor households. 0 maximises plain gains from trade.",
        examples=["200.00"],
    )


class MatchRunPublic(BaseModel):
    id: int
    status: MatchRunStatus
    product: Product | None
    policy: PricePolicy
    poverty_weight_per_tonne: YuanOut
    attempts: int
    error: str | None
    requested_by_id: int | None
    decided_by_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    decided_at: datetime | None
    report: MatchReport | None = PydanticField(default=None, description="Once the run has proposed its contracts.")
