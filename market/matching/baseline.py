"""First come, first served: what a typical marketplace does, for the report to compare against.

Agreement call-offs are served first, as in the optimiser, then every order in the order
it arrived (by id), each filled from the cheapest eligible offers delivered (ask + freight).
"""

from __future__ import annotations

import numpy as np

from market.matching.book import DEFAULT_POLICY, Allocation, Book, Policy
from market.matching.eligibility import OfferTable
from market.matching.engine import make_line


def first_come_first_served(book: Book, policy: Policy = DEFAULT_POLICY) -> Allocation:
    table = OfferTable(book)
    capacities = table.kg.copy()
    terms = {agreement.id: agreement for agreement in book.agreements}
    agreement_left = {agreement.id: agreement.kg for agreement in book.agreements}
    allocation = Allocation(lines=[])
    for order in sorted(book.orders, key=lambda order: (order.agreement_id is None, order.id)):
        agreement = terms.get(order.agreement_id) if order.agreement_id is not None else None
        if order.agreement_id is not None and agreement is None:
            continue
        price = None if agreement is None else agreement.price
        wanted = order.kg if agreement is None else min(order.kg, agreement_left[agreement.id])
        eligible = table.eligible(order, price) & (capacities > 0)
        if agreement is not None:
            eligible &= table.cooperative_id == agreement.cooperative_id
        candidates = np.flatnonzero(eligible)
        delivered = table.ask[candidates] + table.freight_to(order.destination)[candidates]
        filled = 0
        for i in candidates[np.lexsort((table.id[candidates], delivered))]:
            if filled == wanted:
                break
            kg = int(min(wanted - filled, capacities[i]))
            capacities[i] -= kg
            filled += kg
            allocation.lines.append(make_line(table.offers[i], order, kg, book, policy, price))
        if agreement is not None:
            agreement_left[agreement.id] -= filled
    return allocation
