"""Demand orders: a buyer's request, with the most it will pay per tonne."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, Float, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from market.models.common import (
    MAX_ID,
    Day,
    Fen,
    Grade,
    InvalidField,
    Kilograms,
    OrderStatus,
    PriceIn,
    Product,
    RequestModel,
    Timestamp,
    TonnesIn,
    TonnesOut,
    WholeNumber,
    YuanOut,
    enum_type,
    utcnow,
)


class DemandOrder(SQLModel, table=True):
    __tablename__ = "demand_order"
    __table_args__ = (
        CheckConstraint("quantity_kg > 0", name="quantity_positive"),
        CheckConstraint("contracted_kg >= 0 AND cancelled_kg >= 0", name="counters_non_negative"),
        # Conservation: no more can be contracted or cancelled than was ordered.
        CheckConstraint("contracted_kg + cancelled_kg <= quantity_kg", name="conservation"),
        CheckConstraint("max_price_fen > 0", name="price_positive"),
        CheckConstraint("deliver_from <= deliver_until", name="window"),
        # Also the index that finds a buyer's orders (buyer_id leads it): migration 0008.
        UniqueConstraint("buyer_id", "reference"),
        # What a contract's composite foreign key names: its order, and the buyer that placed it.
        UniqueConstraint("id", "buyer_id"),
        Index(None, "status", "product"),
    )

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="buyer.id")
    # Called off against this purchase agreement: served only by its cooperative, at its price.
    agreement_id: int | None = Field(default=None, foreign_key="purchase_agreement.id", index=True)
    reference: str | None = Field(default=None, max_length=64)
    product: Product = Field(sa_type=enum_type(Product))
    min_grade: Grade = Field(sa_type=enum_type(Grade))
    quantity_kg: int = Field(sa_type=Kilograms)
    contracted_kg: int = Field(default=0, sa_type=Kilograms)
    cancelled_kg: int = Field(default=0, sa_type=Kilograms)
    # Fen per tonne.
    max_price_fen: int = Field(sa_type=Fen)
    deliver_from: date
    deliver_until: date
    destination: str = Field(max_length=120)
    destination_zh: str | None = Field(default=None, max_length=120)
    # Where transport is reckoned to; see market.places (coordinates, not quantities).
    destination_latitude: float = Field(sa_column=Column(Float, nullable=False))
    destination_longitude: float = Field(sa_column=Column(Float, nullable=False))
    status: OrderStatus = Field(default=OrderStatus.open, sa_type=enum_type(OrderStatus))
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)

    @property
    def remaining_kg(self) -> int:
        return self.quantity_kg - self.contracted_kg - self.cancelled_kg


class OrderCreate(RequestModel):
    product: Product
    min_grade: Grade
    tonnes: TonnesIn
    max_price_per_tonne: PriceIn
    deliver_from: Day
    deliver_until: Day
    destination: str | None = PydanticField(
        default=None,
        min_length=1,
        max_length=120,
        description="A known destination (GET /api/v1/destinations); the buyer's own city when omitted.",
        examples=["dongguan-shijie"],
    )
    agreement_id: WholeNumber | None = PydanticField(default=None, ge=1, le=MAX_ID)
    reference: str | None = PydanticField(
        default=None, min_length=1, max_length=64, description="The buyer's own order number; unique per buyer."
    )

    @model_validator(mode="after")
    def _window(self) -> OrderCreate:
        if self.deliver_from > self.deliver_until:
            raise InvalidField("deliver_until", "must not be before deliver_from")
        return self


class Destination(BaseModel):
    name: str
    name_zh: str | None
    latitude: float
    longitude: float


class OrderPublic(BaseModel):
    """An order as its buyer and the admins see it; cooperatives browsing get it without the limit price."""

    id: int
    buyer_id: int | None = PydanticField(default=None, description="Omitted when a cooperative browses.")
    agreement_id: int | None = None
    reference: str | None = None
    product: Product
    min_grade: Grade
    tonnes: TonnesOut
    tonnes_contracted: TonnesOut
    tonnes_cancelled: TonnesOut
    tonnes_remaining: TonnesOut
    max_price_per_tonne: YuanOut | None = PydanticField(default=None, description="Never shown to cooperatives.")
    deliver_from: date
    deliver_until: date
    destination: Destination
    status: OrderStatus
    created_at: datetime
    updated_at: datetime


# What a cooperative browsing the market may not see of an order.
HIDDEN_FROM_COOPERATIVES = frozenset({"buyer_id", "reference", "max_price_per_tonne"})
