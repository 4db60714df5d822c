"""Contracts (one matched offer-order pair at one price) and the deliveries recorded against them.

Written by match runs and the fulfilment ledger; laid down with the foundation so
the schema does not need reshaping when they arrive.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from market.models.common import (
    ContractStatus,
    Day,
    DecimalText,
    DeliveryStatus,
    Fen,
    Grade,
    Kilograms,
    Product,
    RequestModel,
    Timestamp,
    TonnesIn,
    TonnesOut,
    YuanOut,
    enum_type,
    utcnow,
)


class Contract(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("quantity_kg > 0", name="quantity_positive"),
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("value_fen >= 0 AND transport_fen >= 0 AND earned_fen >= 0", name="money_non_negative"),
        CheckConstraint("shipped_kg >= 0 AND accepted_kg >= 0 AND accepted_kg <= shipped_kg", name="delivered"),
        # A run writes each pair once, however often its task is delivered. Also the index that finds
        # a run's contracts (match_run_id leads it).
        UniqueConstraint("match_run_id", "offer_id", "order_id"),
        # The cooperative and buyer are the lot's and the order's, checked with them in one lookup
        # each (migration 0007).
        ForeignKeyConstraint(["offer_id", "cooperative_id"], ["supply_offer.id", "supply_offer.cooperative_id"]),
        ForeignKeyConstraint(["order_id", "buyer_id"], ["demand_order.id", "demand_order.buyer_id"]),
        Index(None, "status", "product"),
    )

    id: int | None = Field(default=None, primary_key=True)
    match_run_id: int = Field(foreign_key="match_run.id")
    # Not indexed alone: no query looks contracts up by lot or order, and lots and orders are never
    # deleted (migration 0008).
    offer_id: int
    order_id: int
    agreement_id: int | None = Field(default=None, foreign_key="purchase_agreement.id", index=True)
    cooperative_id: int = Field(index=True)
    buyer_id: int = Field(index=True)
    product: Product = Field(sa_type=enum_type(Product))
    grade: Grade = Field(sa_type=enum_type(Grade))
    quantity_kg: int = Field(sa_type=Kilograms)
    # Fen per tonne.
    price_fen: int = Field(sa_type=Fen)
    # quantity x price, rounded to the fen once, here.
    value_fen: int = Field(sa_type=Fen)
    # Estimated freight for the whole contract, in fen.
    transport_fen: int = Field(default=0, sa_type=Fen)
    # When the goods should move: where the offer's and the order's windows meet.
    # Indexed for reports over a period (contracted tonnes are dated by it): migration 0005.
    deliver_from: date | None = Field(default=None, index=True)
    deliver_until: date | None = None
    shipped_kg: int = Field(default=0, sa_type=Kilograms)
    accepted_kg: int = Field(default=0, sa_type=Kilograms)
    # Revenue earned so far: accepted kg x price, rounded to the fen on the running total.
    earned_fen: int = Field(default=0, sa_type=Fen, sa_column_kwargs={"server_default": "0"})
    status: ContractStatus = Field(default=ContractStatus.proposed, sa_type=enum_type(ContractStatus))
    close_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)


class Delivery(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("shipped_kg > 0", name="shipped_positive"),
        CheckConstraint(
            "accepted_kg IS NULL"
            " OR (accepted_kg >= 0 AND rejected_kg >= 0 AND accepted_kg + rejected_kg <= shipped_kg)",
            name="accepted_within_shipped",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    shipped_kg: int = Field(sa_type=Kilograms)
    # Indexed for reports over a period (delivered tonnes are dated by it): migration 0005.
    shipped_on: date = Field(index=True)
    # Weighbridge ticket number.
    ticket: str | None = Field(default=None, max_length=64)
    accepted_kg: int | None = Field(default=None, sa_type=Kilograms)
    rejected_kg: int | None = Field(default=None, sa_type=Kilograms)
    reject_reason: str | None = Field(default=None, max_length=500)
    # What this delivery added to its contract's earned revenue, once the buyer has accepted.
    revenue_fen: int | None = Field(default=None, sa_type=Fen)
    status: DeliveryStatus = Field(default=DeliveryStatus.shipped, sa_type=enum_type(DeliveryStatus))
    recorded_by_id: int | None = Field(default=None, foreign_key="account.id")
    accepted_by_id: int | None = Field(default=None, foreign_key="account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    accepted_at: datetime | None = Field(default=None, sa_type=Timestamp)


class ContractPublic(BaseModel):
    id: int
    match_run_id: int
    offer_id: int
    order_id: int
    agreement_id: int | None
    cooperative_id: int
    buyer_id: int
    product: Product
    grade: Grade
    tonnes: TonnesOut
    price_per_tonne: YuanOut = PydanticField(description="Delivered price the buyer pays the cooperative.")
    value: YuanOut = PydanticField(description="tonnes x price_per_tonne, rounded to the fen.")
    transport_cost: YuanOut = PydanticField(description="Estimated freight for the whole contract.")
    deliver_from: date | None
    deliver_until: date | None
    tonnes_shipped: TonnesOut
    tonnes_accepted: TonnesOut
    revenue_earned: YuanOut = PydanticField(description="Sum over accepted deliveries of tonnes x price.")
    status: ContractStatus
    close_reason: str | None
    created_at: datetime
    updated_at: datetime


TonnesOrNoneIn = Annotated[
    Decimal,
    PydanticField(
        ge=0,
        le=100_000,
        decimal_places=3,
        allow_inf_nan=False,
        description="Tonnes as a decimal string, to the kilogram; zero allowed.",
        examples=["19.84"],
    ),
    DecimalText,
]


class DeliveryCreate(RequestModel):
    tonnes: TonnesIn = PydanticField(description="Tonnes shipped, as on the weighbridge ticket.")
    shipped_on: Day
    ticket: str | None = PydanticField(default=None, min_length=1, max_length=64, description="Weighbridge ticket.")


class DeliveryAccept(RequestModel):
    accepted_tonnes: TonnesOrNoneIn
    rejected_tonnes: TonnesOrNoneIn | None = PydanticField(
        default=None, description="Defaults to what was shipped and not accepted."
    )
    reason: str | None = PydanticField(
        default=None, min_length=1, max_length=500, description="Required when anything is rejected."
    )


class ContractClose(RequestModel):
    reason: str = PydanticField(min_length=1, max_length=500, examples=["Hail damaged the rest of the lot."])


class DeliveryPublic(BaseModel):
    id: int
    contract_id: int
    tonnes_shipped: TonnesOut
    shipped_on: date
    ticket: str | None
    tonnes_accepted: TonnesOut | None
    tonnes_rejected: TonnesOut | None
    reason: str | None
    revenue: YuanOut | None = PydanticField(description="Accepted tonnes x the contract's price, once accepted.")
    status: DeliveryStatus
    created_at: datetime
    accepted_at: datetime | None
