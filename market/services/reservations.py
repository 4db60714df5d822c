"""Keeping offers, orders and agreements in step with the contracts that hold their tonnes.

Every counter moves in one set-based UPDATE per table, joined to the changes passed as one
array (or one JSON document), and each status follows from the counters in the same statement.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import BigInteger, case, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from market.db import int_array, send_without_waiting
from market.models import DemandOrder, PurchaseAgreement, SupplyOffer
from market.models.common import OfferStatus, OrderStatus, utcnow


def _by(rows: list[dict[str, Any]], key: str) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for row in rows:
        if row[key] is not None:
            totals[row[key]] += row["quantity_kg"]
    return totals


def _changes(session: Session, changes: dict[int, int]):
    """The (row_id, kg) pairs as a table the UPDATE can join: two bound values, whatever the count.

    PostgreSQL unnests two arrays; SQLite reads a JSON array with json_each. Either way one
    statement updates every row, and the statement's text does not grow with the rows.
    """
    ids, kgs = zip(*sorted(changes.items()), strict=True)
    if session.get_bind().dialect.name == "postgresql":
        return select(
            func.unnest(cast(literal(int_array(ids)), ARRAY(BigInteger))).label("row_id"),
            func.unnest(cast(literal(int_array(kgs)), ARRAY(BigInteger))).label("kg"),
        ).cte("delta")
    pairs = func.json_each(literal(json.dumps([list(pair) for pair in zip(ids, kgs, strict=True)]))).table_valued(
        "value"
    )
    return select(
        cast(func.json_extract(pairs.c.value, "$[0]"), BigInteger).label("row_id"),
        cast(func.json_extract(pairs.c.value, "$[1]"), BigInteger).label("kg"),
    ).cte("delta")


def _apply(session: Session, table, changes: dict[int, int], assignments, wait: bool = True) -> None:
    """One set-based UPDATE ... FROM the changes; `assignments(kg)` gives its SET clause. Unless `wait`,
    it is left running in the database (`send_without_waiting`)."""
    if not changes:
        return
    delta = _changes(session, changes)
    statement = update(table).where(table.c.id == delta.c.row_id).values(**assignments(delta.c.kg))
    if wait:
        session.execute(statement)
    else:
        send_without_waiting(session, statement, rows=len(changes))


def reserve(session: Session, rows: list[dict[str, Any]], *, sign: int, wait: bool = True) -> None:
    """Add (sign +1) or release (sign -1) contracted kg on offers, orders and agreements, with their statuses.

    `rows` carry offer_id (None: leave the lot alone), order_id, agreement_id and quantity_kg.
    Unless `wait`, adding leaves its UPDATEs running in the database while the caller goes on (a
    CHECK they break is raised at the connection's next use, `market.db.send_without_waiting`).

    Kg released from a lot that was withdrawn (or an order cancelled) in the meantime stays
    withdrawn (cancelled); a cancelled call-off's kg go back to its agreement.
    """
    now = utcnow()
    offer = SupplyOffer.__table__.c
    order = DemandOrder.__table__.c
    agreement = PurchaseAgreement.__table__.c
    offers = {row_id: sign * total for row_id, total in _by(rows, "offer_id").items()}
    orders = {row_id: sign * total for row_id, total in _by(rows, "order_id").items()}
    agreements = {row_id: sign * total for row_id, total in _by(rows, "agreement_id").items()}

    offer_withdrawn = offer.status == OfferStatus.withdrawn.value
    _apply(
        session,
        SupplyOffer.__table__,
        offers,
        lambda kg: {
            "contracted_kg": offer.contracted_kg + kg,
            "withdrawn_kg": offer.withdrawn_kg + case((offer_withdrawn, -kg), else_=0),
            "status": case(
                (offer_withdrawn, OfferStatus.withdrawn.value),
                (offer.contracted_kg + kg == 0, OfferStatus.open.value),
                (offer.quantity_kg - offer.contracted_kg - kg - offer.withdrawn_kg == 0, OfferStatus.matched.value),
                else_=OfferStatus.partially_matched.value,
            ),
            "updated_at": now,
        },
        wait=wait,
    )
    # Contracted before called-off: the agreement's CHECK holds contracted <= called off at every step.
    _apply(
        session,
        PurchaseAgreement.__table__,
        agreements,
        lambda kg: {
            "contracted_kg": agreement.contracted_kg + kg,
            "updated_at": now,
        },
        wait=wait,
    )
    order_cancelled = order.status == OrderStatus.cancelled.value
    if sign < 0:
        # Before the orders change: the kg a cancelled call-off releases return to its agreement.
        touched = _changes(session, orders)
        cancelled = set(
            session.execute(
                select(order.id).join(touched, touched.c.row_id == order.id).where(order_cancelled)
            ).scalars()
        )
        released: dict[int, int] = defaultdict(int)
        for row in rows:
            if row["order_id"] in cancelled and row["agreement_id"] is not None:
                released[row["agreement_id"]] += row["quantity_kg"]
        _apply(
            session,
            PurchaseAgreement.__table__,
            released,
            lambda kg: {
                "called_off_kg": agreement.called_off_kg - kg,
                "updated_at": now,
            },
        )
    _apply(
        session,
        DemandOrder.__table__,
        orders,
        lambda kg: {
            "contracted_kg": order.contracted_kg + kg,
            "cancelled_kg": order.cancelled_kg + case((order_cancelled, -kg), else_=0),
            "status": case(
                (order_cancelled, OrderStatus.cancelled.value),
                (order.contracted_kg + kg == 0, OrderStatus.open.value),
                (order.quantity_kg - order.contracted_kg - kg - order.cancelled_kg == 0, OrderStatus.matched.value),
                else_=OrderStatus.partially_matched.value,
            ),
            "updated_at": now,
        },
        wait=wait,
    )
