"""Purchase agreements: a season's tonnage agreed between one buyer and one cooperative.

The buyer calls orders off against it; those orders are served by that cooperative
at the agreement's price before the open market.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from market.models.common import (
    MAX_ID,
    Day,
    Fen,
    InvalidField,
    Kilograms,
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


class PurchaseAgreement(SQLModel, table=True):
    __tablename__ = "purchase_agreement"
    __table_args__ = (
        CheckConstraint("quantity_kg > 0", name="quantity_positive"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("valid_from <= valid_until", name="window"),
        # Conservation: orders call off no more than was agreed, and contracts
        # cover no more than was called off.
        CheckConstraint("called_off_kg >= 0 AND called_off_kg <= quantity_kg", name="called_off"),
        CheckConstraint("contracted_kg >= 0 AND contracted_kg <= called_off_kg", name="contracted"),
        CheckConstraint("delivered_kg >= 0 AND earned_fen >= 0", name="delivered"),
        UniqueConstraint("reference"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str | None = Field(default=None, max_length=64)
    buyer_id: int = Field(foreign_key="buyer.id", index=True)
    cooperative_id: int = Field(foreign_key="cooperative.id", index=True)
    product: Product = Field(sa_type=enum_type(Product))
    quantity_kg: int = Field(sa_type=Kilograms)
    # Fen per tonne.
    price_fen: int = Field(sa_type=Fen)
    valid_from: date
    valid_until: date
    called_off_kg: int = Field(default=0, sa_type=Kilograms)
    contracted_kg: int = Field(default=0, sa_type=Kilograms)
    delivered_kg: int = Field(default=0, sa_type=Kilograms)
    # Revenue earned on the agreement's accepted deliveries.
    earned_fen: int = Field(default=0, sa_type=Fen, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)

    @property
    def remaining_kg(self) -> int:
        """What may still be called off."""
        return self.quantity_kg - self.called_off_kg


class AgreementCreate(RequestModel):
    buyer_id: WholeNumber = PydanticField(ge=1, le=MAX_ID)
    cooperative_id: WholeNumber = PydanticField(ge=1, le=MAX_ID)
    product: Product
    tonnes: TonnesIn
    price_per_tonne: PriceIn
    valid_from: Day
    valid_until: Day
    reference: str | None = PydanticField(
        default=None, min_length=1, max_length=64, description="The office's agreement number; unique."
    )

    @model_validator(mode="after")
    def _window(self) -> AgreementCreate:
        if self.valid_from > self.valid_until:
            raise InvalidField("valid_until", "must not be before valid_from")
        return self


class AgreementPublic(BaseModel):
    id: int
    reference: str | None
    buyer_id: int
    cooperative_id: int
    product: Product
    tonnes: TonnesOut
    price_per_tonne: YuanOut
    valid_from: date
    valid_until: date
    tonnes_called_off: TonnesOut
    tonnes_contracted: TonnesOut
    tonnes_delivered: TonnesOut
    tonnes_remaining: TonnesOut = PydanticField(description="Tonnes that may still be called off.")
    revenue: YuanOut = PydanticField(description="Earned on accepted deliveries.")
    fulfilled_share: str = PydanticField(description="tonnes_delivered / tonnes, four decimals.", examples=["0.4500"])
    days_left: int = PydanticField(description="Days until valid_until (0 once it has passed).")
    behind_pace: bool = PydanticField(
        description="Delivered share trails the share of the validity period already gone by more than 10 points."
    )
    created_at: datetime
    updated_at: datetime
