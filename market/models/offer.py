"""Supply offers: a cooperative's lot, with the least it will take per tonne."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from market.models.common import (
    Day,
    Fen,
    Grade,
    InvalidField,
    Kilograms,
    OfferStatus,
    PriceIn,
    Product,
    RequestModel,
    Timestamp,
    TonnesIn,
    TonnesOut,
    YuanOut,
    enum_type,
    utcnow,
)


class SupplyOffer(SQLModel, table=True):
    __tablename__ = "supply_offer"
    __table_args__ = (
        CheckConstraint("quantity_kg > 0", name="quantity_positive"),
        CheckConstraint("contracted_kg >= 0 AND withdrawn_kg >= 0", name="counters_non_negative"),
        # Conservation: no more can be contracted or withdrawn than was offered.
        CheckConstraint("contracted_kg + withdrawn_kg <= quantity_kg", name="conservation"),
        CheckConstraint("min_price_fen > 0", name="price_positive"),
        CheckConstraint("available_from <= available_until", name="window"),
        # Also the index that finds a cooperative's lots (cooperative_id leads it): migration 0008.
        UniqueConstraint("cooperative_id", "reference"),
        # What a contract's composite foreign key names: its lot, and the cooperative that owns it.
        UniqueConstraint("id", "cooperative_id"),
        Index(None, "status", "product"),
    )

    id: int | None = Field(default=None, primary_key=True)
    cooperative_id: int = Field(foreign_key="cooperative.id")
    reference: str | None = Field(default=None, max_length=64)
    product: Product = Field(sa_type=enum_type(Product))
    variety: str | None = Field(default=None, max_length=64)
    grade: Grade = Field(sa_type=enum_type(Grade))
    brand: str | None = Field(default=None, max_length=64)
    quantity_kg: int = Field(sa_type=Kilograms)
    contracted_kg: int = Field(default=0, sa_type=Kilograms)
    withdrawn_kg: int = Field(default=0, sa_type=Kilograms)
    # Fen per tonne.
    min_price_fen: int = Field(sa_type=Fen)
    # Indexed for reports over a period (offered tonnes are dated by it): migration 0005.
    available_from: date = Field(index=True)
    available_until: date
    status: OfferStatus = Field(default=OfferStatus.open, sa_type=enum_type(OfferStatus))
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)

    @property
    def remaining_kg(self) -> int:
        return self.quantity_kg - self.contracted_kg - self.withdrawn_kg


class OfferCreate(RequestModel):
    product: Product
    variety: str | None = PydanticField(default=None, min_length=1, max_length=64, examples=["Red Fuji 红富士"])
    grade: Grade
    tonnes: TonnesIn
    min_price_per_tonne: PriceIn
    available_from: Day
    available_until: Day
    brand: str | None = PydanticField(default=None, min_length=1, max_length=64, examples=["昭阳红"])
    reference: str | None = PydanticField(
        default=None,
        min_length=1,
        max_length=64,
        description="The cooperative's own lot number; unique per cooperative.",
    )

    @model_validator(mode="after")
    def _window(self) -> OfferCreate:
        if self.available_from > self.available_until:
            raise InvalidField("available_until", "must not be before available_from")
        return self


class Origin(BaseModel):
    township: str
    township_zh: str | None
    county: str
    latitude: float
    longitude: float


class OfferPublic(BaseModel):
    """An offer as its cooperative and the admins see it; buyers browsing get it without the limit price."""

    id: int
    cooperative_id: int | None = PydanticField(default=None, description="Omitted when a buyer browses.")
    reference: str | None = None
    product: Product
    variety: str | None
    grade: Grade
    brand: str | None
    tonnes: TonnesOut
    tonnes_contracted: TonnesOut
    tonnes_withdrawn: TonnesOut
    tonnes_remaining: TonnesOut
    min_price_per_tonne: YuanOut | None = PydanticField(default=None, description="Never shown to buyers.")
    available_from: date
    available_until: date
    origin: Origin
    status: OfferStatus
    created_at: datetime
    updated_at: datetime


# What a buyer browsing the market may not see of an offer.
HIDDEN_FROM_BUYERS = frozenset({"cooperative_id", "reference", "min_price_per_tonne"})
