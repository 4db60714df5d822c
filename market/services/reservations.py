"""Keeping offers, orders and agreements in step with the contracts that hold their tonnes.

Every counter moves in one set-based UPDATE per table (one statement with many rows), and
each status follows from the counters in the same statement.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, case, select, update
from sqlmodel import Session

from market.models import DemandOrder, PurchaseAgreement, SupplyOffer
from market.models.common import OfferStatus, OrderStatus, utcnow


def _by(rows: list[dict[str, Any]], key: str) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for row in rows:
        if row[key] is not None:
            totals[row[key]] += row["quantity_kg"]
    return totals


def reserve(session: Session, rows: list[dict[str, Any]], *, sign: int) -> None:
    """Add (sign +1) or release (sign -1) contracted kg on offers, orders and agreements, with their statuses.

    `rows` carry offer_id (None: leave the lot alone), order_id, agreement_id and quantity_kg.

    Kg released from a lot that was withdrawn (or an order cancelled) in the meantime stays
    withdrawn (cancelled); a cancelled call-off's kg go back to its agreement.
    """
    now = utcnow()
    offer = SupplyOffer.__table__.c
    order = DemandOrder.__table__.c
    agreement = PurchaseAgreement.__table__.c
    kg = bindparam("kg")
    offers = [{"row_id": row_id, "kg": sign * total} for row_id, total in sorted(_by(rows, "offer_id").items())]
    orders = [{"row_id": row_id, "kg": sign * total} for row_id, total in sorted(_by(rows, "order_id").items())]
    agreements = [{"row_id": row_id, "kg": sign * total} for row_id, total in sorted(_by(rows, "agreement_id").items())]
    offer_withdrawn = offer.status == OfferStatus.withdrawn.value
    if offers:
        session.execute(
            update(SupplyOffer.__table__)
            .where(offer.id == bindparam("row_id"))
            .values(
                contracted_kg=offer.contracted_kg + kg,
                withdrawn_kg=offer.withdrawn_kg + case((offer_withdrawn, -kg), else_=0),
                status=case(
                    (offer_withdrawn, OfferStatus.withdrawn.value),
                    (offer.contracted_kg + kg == 0, OfferStatus.open.value),
                    (offer.quantity_kg - offer.contracted_kg - kg - offer.withdrawn_kg == 0, OfferStatus.matched.value),
                    else_=OfferStatus.partially_matched.value,
                ),
                updated_at=now,
            ),
            offers,
        )
    if agreements:
        # Contracted before called-off: the agreement's CHECK holds contracted <= called off at every step.
        session.execute(
            update(PurchaseAgreement.__table__)
            .where(agreement.id == bindparam("row_id"))
            .values(contracted_kg=agreement.contracted_kg + kg, updated_at=now),
            agreements,
        )
    order_cancelled = order.status == OrderStatus.cancelled.value
    if sign < 0:
        # Before the orders change: the kg a cancelled call-off releases return to its agreement.
        released = defaultdict(int)
        cancelled = set(
            session.execute(
                select(order.id).where(order.id.in_([o["row_id"] for o in orders]), order_cancelled)
            ).scalars()
        )
        for row in rows:
            if row["order_id"] in cancelled and row["agreement_id"] is not None:
                released[row["agreement_id"]] += row["quantity_kg"]
        if released:
            session.execute(
                update(PurchaseAgreement.__table__)
                .where(agreement.id == bindparam("row_id"))
                .values(called_off_kg=agreement.called_off_kg - bindparam("kg"), updated_at=now),
                [{"row_id": row_id, "kg": total} for row_id, total in sorted(released.items())],
            )
    if orders:
        session.execute(
            update(DemandOrder.__table__)
            .where(order.id == bindparam("row_id"))
            .values(
                contracted_kg=order.contracted_kg + kg,
                cancelled_kg=order.cancelled_kg + case((order_cancelled, -kg), else_=0),
                status=case(
                    (order_cancelled, OrderStatus.cancelled.value),
                    (order.contracted_kg + kg == 0, OrderStatus.open.value),
                    (order.quantity_kg - order.contracted_kg - kg - order.cancelled_kg == 0, OrderStatus.matched.value),
                    else_=OrderStatus.partially_matched.value,
                ),
                updated_at=now,
            ),
            orders,
        )
