"""First come, first served: what a typical marketplace does, for the report to compare against.

Agreement call-offs are served first, as in the optimiser, then every order in the order
it arrived (by id), each filled from the cheapest eligible offers delivered (ask + freight,
then the older offer first).

Cheapest-first is walked without comparing every order with every offer: for each
destination and minimum grade the offers it admits are ranked once by delivered price, an
order walks its list in that order and stops at the first offer too dear for its bid.
Offers sold out are jumped over: a run of them is passed once, then skipped in one step.
"""

from __future__ import annotations

import numpy as np

from market.matching.book import DEFAULT_POLICY, Allocation, Book, Offer, Order, Policy
from market.matching.engine import make_line


def first_come_first_served(book: Book, policy: Policy = DEFAULT_POLICY) -> Allocation:
    offers = sorted(book.offers, key=lambda offer: offer.id)
    left = [offer.kg for offer in offers]
    terms = {agreement.id: agreement for agreement in book.agreements}
    agreement_left = {agreement.id: agreement.kg for agreement in book.agreements}
    allocation = Allocation(lines=[])
    price_lists = _PriceLists(offers, book)

    for order in sorted(book.orders, key=lambda order: (order.agreement_id is None, order.id)):
        if order.agreement_id is None:
            cheapest = price_lists.open_market(order.destination, order.min_grade)
            _fill(order, order.kg, order.bid, cheapest, offers, left, book, policy, None, allocation)
        elif order.agreement_id in terms:
            agreement = terms[order.agreement_id]
            cheapest = price_lists.own(agreement.cooperative_id, order.destination)
            wanted = min(order.kg, agreement_left[agreement.id])
            filled = _fill(
                order, wanted, agreement.price, cheapest, offers, left, book, policy, agreement.price, allocation
            )
            agreement_left[agreement.id] -= filled
    return allocation


def _fill(
    order: Order,
    wanted: int,
    paid: int,
    cheapest: _Ranked,
    offers: list[Offer],
    left: list[int],
    book: Book,
    policy: Policy,
    agreement_price: int | None,
    allocation: Allocation,
) -> int:
    """Fill `order` up to `wanted` kg from the offers cheapest first; the kg filled. Every later offer
    costs as much or more, so the first one too dear for `paid` ends the walk."""
    ranked, prices, count = cheapest.ranked, cheapest.prices, len(cheapest.ranked)
    min_grade, start, end = order.min_grade, order.start, order.end
    filled, position = 0, 0
    while filled < wanted and position < count:
        i = ranked[position]
        if left[i] == 0:
            position = cheapest.skip_sold_out(position, left)
            continue
        if paid - prices[position] <= 0:
            break
        position += 1
        offer = offers[i]
        if offer.grade < min_grade or offer.start > end or start > offer.end:
            continue
        kg = min(wanted - filled, left[i])
        left[i] -= kg
        filled += kg
        allocation.lines.append(make_line(offer, order, kg, book, policy, agreement_price))
    return filled


class _Ranked:
    """Offers by delivered price (ask + freight to one destination), cheapest first, ties to the older offer.

    Sold-out offers stay in the list, but a walk jumps over them: `jump[p]`, when greater than p, is a
    later position with every offer from p up to it sold out (a link, shortened as it is followed)."""

    def __init__(self, ranked: list[int], prices: list[int]) -> None:
        self.ranked = ranked
        self.prices = prices
        self.jump = list(range(len(ranked)))

    def skip_sold_out(self, position: int, left: list[int]) -> int:
        """The first position from `position` on whose offer is not sold out (or the end)."""
        ranked, jump, count = self.ranked, self.jump, len(self.ranked)
        passed = []
        while position < count and left[ranked[position]] == 0:
            passed.append(position)
            position = max(jump[position], position + 1)
        for sold_out in passed:
            jump[sold_out] = position
        return position


class _PriceLists:
    """The ranked offers an order walks: per (destination, minimum grade) the offers of that grade or
    better, for the open market; per (cooperative, destination) the cooperative's own, for agreements.
    Ranked with numpy (a stable sort of the offers in id order), each list once, when first needed."""

    def __init__(self, offers: list[Offer], book: Book) -> None:
        self.ask = np.array([offer.ask for offer in offers], dtype=np.int64)
        self.origin = np.array([offer.origin for offer in offers], dtype=np.int64)
        self.grade = np.array([offer.grade for offer in offers], dtype=np.int64)
        self.cooperative_id = np.array([offer.cooperative_id for offer in offers], dtype=np.int64)
        shape = (len(book.freight), len(book.freight[0]) if book.freight else 0)
        self.freight = np.array(book.freight, dtype=np.int64).reshape(shape)
        self.lists: dict[tuple[int, int], _Ranked] = {}
        self.own_lists: dict[tuple[int, int], _Ranked] = {}

    def _ranked(self, admitted: np.ndarray, destination: int) -> _Ranked:
        """The `admitted` offers by delivered price; the sort is stable, so equal prices stay in id order."""
        indices = np.flatnonzero(admitted)
        if not indices.size:
            return _Ranked([], [])  # no offers at all: the freight table may have no columns either
        delivered = self.ask[indices] + self.freight[self.origin[indices], destination]
        order = np.argsort(delivered, kind="stable")
        return _Ranked(indices[order].tolist(), delivered[order].tolist())

    def open_market(self, destination: int, min_grade: int) -> _Ranked:
        key = (destination, min_grade)
        if key not in self.lists:
            self.lists[key] = self._ranked(self.grade >= min_grade, destination)
        return self.lists[key]

    def own(self, cooperative_id: int, destination: int) -> _Ranked:
        key = (cooperative_id, destination)
        if key not in self.own_lists:
            self.own_lists[key] = self._ranked(self.cooperative_id == cooperative_id, destination)
        return self.own_lists[key]
