"""A snapshot of the market for `market demo`: open supply and demand by product, and the agreements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from market.models import Buyer, Cooperative, DemandOrder, PurchaseAgreement, SupplyOffer
from market.services.offers import BROWSABLE as OPEN_OFFERS
from market.services.orders import BROWSABLE as OPEN_ORDERS
from market.units import fen_from_kg_fen


def _open_book(session: Session, model, remaining, price, open_statuses) -> list[dict[str, Any]]:
    """Per product: lots, open kg, and what the open kg are worth at each lot's limit price."""
    rows = session.exec(
        select(model.product, func.count(), func.sum(remaining), func.sum(remaining * price))
        .where(model.status.in_(open_statuses))
        .group_by(model.product)
        .order_by(model.product)
    ).all()
    return [
        {"product": product, "lots": lots, "kg": int(kg), "value_fen": fen_from_kg_fen(kg_fen)}
        for product, lots, kg, kg_fen in rows
    ]


def market_summary(session: Session) -> dict[str, Any]:
    """Figures in kg and fen; the caller formats them."""
    offer_remaining = SupplyOffer.quantity_kg - SupplyOffer.contracted_kg - SupplyOffer.withdrawn_kg
    order_remaining = DemandOrder.quantity_kg - DemandOrder.contracted_kg - DemandOrder.cancelled_kg
    agreements = session.exec(
        select(PurchaseAgreement, Buyer, Cooperative)
        .join(Buyer, Buyer.id == PurchaseAgreement.buyer_id)
        .join(Cooperative, Cooperative.id == PurchaseAgreement.cooperative_id)
        .order_by(PurchaseAgreement.id)
    ).all()
    cooperatives, poor_households = session.exec(
        select(func.count(), func.coalesce(func.sum(Cooperative.poor_households), 0))
    ).one()
    return {
        "cooperatives": cooperatives,
        "poor_households": int(poor_households),
        "buyers": session.exec(select(func.count()).select_from(Buyer)).one(),
        "supply": _open_book(
            session,
            SupplyOffer,
            offer_remaining,
            SupplyOffer.min_price_fen,
            OPEN_OFFERS,
        ),
        "demand": _open_book(
            session,
            DemandOrder,
            order_remaining,
            DemandOrder.max_price_fen,
            OPEN_ORDERS,
        ),
        "agreements": [
            {
                "reference": agreement.reference,
                "buyer": buyer.name,
                "buyer_zh": buyer.name_zh,
                "cooperative": cooperative.name,
                "cooperative_zh": cooperative.name_zh,
                "product": agreement.product,
                "kg": agreement.quantity_kg,
                "price_fen": agreement.price_fen,
                "called_off_kg": agreement.called_off_kg,
                "contracted_kg": agreement.contracted_kg,
                "delivered_kg": agreement.delivered_kg,
            }
            for agreement, buyer, cooperative in agreements
        ],
    }
