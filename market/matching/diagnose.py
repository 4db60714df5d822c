"""Why an order (or the rest of it) went unmatched, in the words the report uses."""

from __future__ import annotations

from enum import StrEnum

from market.matching.book import Allocation, Book, Order
from market.matching.eligibility import OfferTable


class Reason(StrEnum):
    no_supply_of_grade = "no_supply_of_grade"  # nothing of this product at or above the minimum grade
    windows_do_not_meet = "windows_do_not_meet"  # such supply exists, but never in the delivery window
    price_gap = "price_gap"  # in the window too, but ask + freight is not below the bid
    supply_exhausted = "supply_exhausted"  # tradeable supply existed, and went to better-paying orders


def unmatched_orders(book: Book, allocation: Allocation) -> list[tuple[Order, int, Reason]]:
    """Each order not filled in full, with the kg left and the first reason that explains it."""
    table = OfferTable(book)
    filled: dict[int, int] = {}
    for line in allocation.lines:
        filled[line.order_id] = filled.get(line.order_id, 0) + line.kg
    terms = {agreement.id: agreement for agreement in book.agreements}
    result = []
    for order in sorted(book.orders, key=lambda order: order.id):
        left = order.kg - filled.get(order.id, 0)
        if left <= 0:
            continue
        agreement = terms.get(order.agreement_id) if order.agreement_id is not None else None
        candidates = table.grade_ok(order)
        if agreement is not None:
            candidates = candidates & (table.cooperative_id == agreement.cooperative_id)
        if not candidates.any():
            reason = Reason.no_supply_of_grade
        elif not (candidates := candidates & table.window_ok(order)).any():
            reason = Reason.windows_do_not_meet
        elif not (candidates & (table.value(order, agreement.price if agreement else None) > 0)).any():
            reason = Reason.price_gap
        else:
            reason = Reason.supply_exhausted
        result.append((order, left, reason))
    return result
