"""Why an order (or the rest of it) went unmatched, in the words the report uses."""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from market.matching.book import AgreementTerms, Allocation, Book, Order
from market.matching.eligibility import OfferTable


class Reason(StrEnum):
    no_supply_of_grade = "no_supply_of_grade"  # nothing of this product at or above the minimum grade
    windows_do_not_meet = "windows_do_not_meet"  # such supply exists, but never in the delivery window
    price_gap = "price_gap"  # in the window too, but ask + freight is not below the bid
    supply_exhausted = "supply_exhausted"  # tradeable supply existed, and went to better-paying orders


def unmatched_orders(book: Book, allocation: Allocation) -> list[tuple[Order, int, Reason]]:
    """Each order not filled in full, with the kg left and the first reason that explains it."""
    filled: dict[int, int] = {}
    for line in allocation.lines:
        filled[line.order_id] = filled.get(line.order_id, 0) + line.kg
    terms = {agreement.id: agreement for agreement in book.agreements}
    unmatched = [
        (order, order.kg - filled.get(order.id, 0))
        for order in sorted(book.orders, key=lambda order: order.id)
        if order.kg > filled.get(order.id, 0)
    ]
    open_market = [order for order, _ in unmatched if order.agreement_id not in terms]
    reasons = dict(zip((order.id for order in open_market), _WindowTable(book).reasons(open_market), strict=True))
    table = OfferTable(book) if len(open_market) < len(unmatched) else None  # for the call-offs
    result = []
    for order, left in unmatched:
        reason = reasons.get(order.id)
        if reason is None:
            assert table is not None
            reason = _agreement_reason(table, order, terms[order.agreement_id])
        result.append((order, left, reason))
    return result


def _agreement_reason(table: OfferTable, order: Order, agreement: AgreementTerms) -> Reason:
    """A call-off is served by its agreement's cooperative alone, at the agreement's price."""
    candidates = table.grade_ok(order) & (table.cooperative_id == agreement.cooperative_id)
    if not candidates.any():
        return Reason.no_supply_of_grade
    if not (candidates := candidates & table.window_ok(order)).any():
        return Reason.windows_do_not_meet
    if not (candidates & (table.value(order, agreement.price) > 0)).any():
        return Reason.price_gap
    return Reason.supply_exhausted


# Above any ask plus freight: where a window has no offer of a grade, from an origin.
_NONE = np.iinfo(np.int64).max // 4
# The reasons in the order they are tried, as _WindowTable.reasons numbers them.
_IN_ORDER = (Reason.no_supply_of_grade, Reason.windows_do_not_meet, Reason.price_gap, Reason.supply_exhausted)


class _WindowTable:
    """The open market's offers as few numbers: lots share a handful of delivery windows, origins and
    grades, so for each window, origin and grade the cheapest ask is all the reasons need. Whether
    a grade is on offer at all, in a window that meets the order's, and delivered below its bid,
    is then worked out for every order at once over those windows, not over every offer."""

    def __init__(self, book: Book) -> None:
        offers = book.offers
        self.top = 0  # the best grade on offer; 0: no offers at all
        if not offers:
            return
        grades = np.array([offer.grade for offer in offers], dtype=np.int64)
        top = int(grades.max())
        windows, window_of = np.unique(
            np.array([(offer.start, offer.end) for offer in offers], dtype=np.int64).reshape(-1, 2),
            axis=0,
            return_inverse=True,
        )
        self.starts, self.ends = windows[:, 0], windows[:, 1]
        origins = len(book.freight)
        # The cheapest ask per (grade, window, origin), then per (at least that grade, window, origin).
        cheapest_ask = np.full((top + 2, len(windows), origins), _NONE, dtype=np.int64)
        np.minimum.at(
            cheapest_ask,
            (grades, window_of.reshape(-1), np.array([offer.origin for offer in offers], dtype=np.int64)),
            np.array([offer.ask for offer in offers], dtype=np.int64),
        )
        at_least = np.minimum.accumulate(cheapest_ask[::-1], axis=0)[::-1]
        self.top = top
        self.on_offer = (at_least < _NONE).any(axis=2)  # [grade, window]
        freight = np.array(book.freight, dtype=np.int64).reshape(origins, -1)
        # The cheapest delivered price per (at least that grade, window, destination).
        self.delivered = (at_least[:, :, :, None] + freight[None, None, :, :]).min(axis=2, initial=_NONE)

    def reasons(self, orders: list[Order]) -> list[Reason]:
        if not self.top:
            return [Reason.no_supply_of_grade for _ in orders]
        grade = np.minimum(np.array([order.min_grade for order in orders], dtype=np.int64), self.top + 1)
        destination = np.array([order.destination for order in orders], dtype=np.int64)
        start = np.array([order.start for order in orders], dtype=np.int64)
        end = np.array([order.end for order in orders], dtype=np.int64)
        bid = np.array([order.bid for order in orders], dtype=np.int64)
        on_offer = self.on_offer[grade]  # [order, window]
        meets = on_offer & (self.starts[None, :] <= end[:, None]) & (start[:, None] <= self.ends[None, :])
        below_bid = meets & (self.delivered[grade, :, destination] < bid[:, None])
        reasons = np.where(
            ~on_offer.any(axis=1),
            0,
            np.where(~meets.any(axis=1), 1, np.where(~below_bid.any(axis=1), 2, 3)),
        )
        return [_IN_ORDER[index] for index in reasons.tolist()]
