"""Random books for property tests, and an independent LP to check optima against."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from scipy.optimize import linprog

from market.matching import AgreementTerms, Book, Offer, Order


@st.composite
def books(draw, *, agreements: bool = True, max_offers: int = 7, max_orders: int = 7) -> Book:
    origins = draw(st.integers(1, 3))
    destinations = draw(st.integers(1, 3))
    freight = tuple(tuple(draw(st.integers(0, 3_000)) for _ in range(destinations)) for _ in range(origins))
    offers = []
    for index in range(draw(st.integers(0, max_offers))):
        start = draw(st.integers(0, 60))
        offers.append(
            Offer(
                id=100 + index,
                cooperative_id=draw(st.integers(1, 3)),
                grade=draw(st.integers(1, 3)),
                kg=draw(st.integers(1, 5_000)),
                ask=draw(st.integers(1_000, 9_000)),
                start=start,
                end=start + draw(st.integers(0, 30)),
                origin=draw(st.integers(0, origins - 1)),
                poor_households=draw(st.integers(0, 50)),
                member_households=50,
            )
        )
    terms = []
    if agreements:
        for index in range(draw(st.integers(0, 2))):
            terms.append(
                AgreementTerms(
                    id=900 + index,
                    cooperative_id=draw(st.integers(1, 3)),
                    price=draw(st.integers(3_000, 12_000)),
                    kg=draw(st.integers(0, 8_000)),
                )
            )
    orders = []
    for index in range(draw(st.integers(0, max_orders))):
        start = draw(st.integers(0, 60))
        agreement = draw(st.sampled_from([None, *terms])) if terms else None
        orders.append(
            Order(
                id=500 + index,
                buyer_id=draw(st.integers(1, 3)),
                min_grade=draw(st.integers(1, 3)),
                kg=draw(st.integers(1, 5_000)),
                bid=draw(st.integers(1_000, 14_000)),
                start=start,
                end=start + draw(st.integers(0, 30)),
                destination=draw(st.integers(0, destinations - 1)),
                agreement_id=agreement.id if agreement else None,
            )
        )
    return Book(offers=tuple(offers), orders=tuple(orders), freight=freight, agreements=tuple(terms))


def lp_optimum(book: Book, premium=lambda offer: 0) -> int:
    """Max sum of kg x (bid - ask - freight + premium) over eligible open-market pairs, by linear programming."""
    offers, orders = list(book.offers), [order for order in book.orders if order.agreement_id is None]
    pairs, values = [], []
    for i, offer in enumerate(offers):
        for j, order in enumerate(orders):
            value = order.bid - offer.ask - book.freight[offer.origin][order.destination]
            if offer.grade >= order.min_grade and offer.start <= order.end and order.start <= offer.end and value > 0:
                pairs.append((i, j))
                values.append(value + premium(offer))
    if not pairs:
        return 0
    rows = np.zeros((len(offers) + len(orders), len(pairs)))
    for column, (i, j) in enumerate(pairs):
        rows[i, column] = 1
        rows[len(offers) + j, column] = 1
    limits = [offer.kg for offer in offers] + [order.kg for order in orders]
    result = linprog(-np.array(values, dtype=float), A_ub=rows, b_ub=limits, bounds=(0, None), method="highs")
    assert result.status == 0
    return round(-result.fun)
