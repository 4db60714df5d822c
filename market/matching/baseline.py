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

from collections.abc import Callable
from functools import partial

import numpy as np

from market.matching.book import DEFAULT_POLICY, Allocation, Book, Line, Offer, Order, Policy
from market.matching.engine import open_market_price


def first_come_first_served(book: Book, policy: Policy = DEFAULT_POLICY) -> Allocation:
    offers = sorted(book.offers, key=lambda offer: offer.id)
    left = [offer.kg for offer in offers]
    terms = {agreement.id: agreement for agreement in book.agreements}
    agreement_left = {agreement.id: agreement.kg for agreement in book.agreements}
    allocation = Allocation(lines=[])
    price_lists = _PriceLists(offers, book)
    price_of = partial(open_market_price, policy.pricing)

    for order in sorted(book.orders, key=lambda order: (order.agreement_id is None, order.id)):
        if order.agreement_id is None:
            cheapest = price_lists.open_market(order.destination, order.min_grade)
            _fill(order, order.kg, order.bid, cheapest, offers, left, price_of, None, allocation.lines)
        elif order.agreement_id in terms:
            agreement = terms[order.agreement_id]
            cheapest = price_lists.own(agreement.cooperative_id, order.destination)
            wanted = min(order.kg, agreement_left[agreement.id])
            filled = _fill(
                order, wanted, agreement.price, cheapest, offers, left, price_of, agreement.price, allocation.lines
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
    price_of: Callable[[int, int], int],
    agreement_price: int | None,
    lines: list[Line],
) -> int:
    """Fill `order` up to `wanted` kg from the offers cheapest first; the kg filled. Every later offer
    costs as much or more, so the first one too dear for `paid` ends the walk.

    Each line is what `engine.make_line` makes, from the position's delivered price: freight is it
    less the ask, surplus `paid` less it, the price the agreement's or the policy's (`price_of`)."""
    ranked, prices, jump, count = cheapest.ranked, cheapest.prices, cheapest.jump, len(cheapest.ranked)
    grades, starts, ends = cheapest.grades, cheapest.starts, cheapest.ends
    min_grade, start, end = order.min_grade, order.start, order.end
    order_id = order.id
    agreement_id = order.agreement_id if agreement_price is not None else None
    filled, position = 0, 0
    while filled < wanted and position < count:
        i = ranked[position]
        if left[i] == 0:
            # A run of sold-out offers: passed once, then jumped over from where it began.
            began = position
            while position < count and left[ranked[position]] == 0:
                ahead = jump[position]
                position = ahead if ahead > position else position + 1
            jump[began] = position
            continue
        delivered = prices[position]
        if paid <= delivered:
            break
        if grades[position] < min_grade or starts[position] > end or start > ends[position]:
            position += 1
            continue
        position += 1
        kg = min(wanted - filled, left[i])
        left[i] -= kg
        filled += kg
        offer = offers[i]
        price = agreement_price if agreement_price is not None else price_of(delivered, paid)
        lines.append(Line(offer.id, order_id, agreement_id, kg, price, delivered - offer.ask, paid - delivered))
    return filled


class _Ranked:
    """Offers by delivered price (ask + freight to one destination), cheapest first, ties to the older
    offer, with each position's price, grade and window beside it.

    Sold-out offers stay in the list, but a walk jumps over them: `jump[p]`, when greater than p, is a
    later position with every offer from p up to it sold out (offers never come back)."""

    def __init__(self, ranked: list[int], prices: list[int], grades: list[int], starts: list[int], ends: list[int]):
        self.ranked, self.prices, self.grades, self.starts, self.ends = ranked, prices, grades, starts, ends
        self.jump = list(range(len(ranked)))


class _PriceLists:
    """The ranked offers an order walks: per (destination, minimum grade) the offers of that grade or
    better, for the open market; per (cooperative, destination) the cooperative's own, for agreements.
    Ranked with numpy (a stable sort of the offers in id order), each list once, when first needed."""

    def __init__(self, offers: list[Offer], book: Book) -> None:
        self.ask = np.array([offer.ask for offer in offers], dtype=np.int64)
        self.origin = np.array([offer.origin for offer in offers], dtype=np.int64)
        self.grade = np.array([offer.grade for offer in offers], dtype=np.int64)
        self.start = np.array([offer.start for offer in offers], dtype=np.int64)
        self.end = np.array([offer.end for offer in offers], dtype=np.int64)
        self.cooperative_id = np.array([offer.cooperative_id for offer in offers], dtype=np.int64)
        shape = (len(book.freight), len(book.freight[0]) if book.freight else 0)
        self.freight = np.array(book.freight, dtype=np.int64).reshape(shape)
        self.lists: dict[tuple[int, int], _Ranked] = {}
        self.own_lists: dict[tuple[int, int], _Ranked] = {}

    def _ranked(self, admitted: np.ndarray, destination: int) -> _Ranked:
        """The `admitted` offers by delivered price; the sort is stable, so equal prices stay in id order."""
        indices = np.flatnonzero(admitted)
        if not indices.size:
            return _Ranked([], [], [], [], [])  # no offers at all: the freight table may have no columns either
        delivered = self.ask[indices] + self.freight[self.origin[indices], destination]
        ranked = indices[np.argsort(delivered, kind="stable")]
        return _Ranked(
            ranked.tolist(),
            np.sort(delivered, kind="stable").tolist(),
            self.grade[ranked].tolist(),
            self.start[ranked].tolist(),
            self.end[ranked].tolist(),
        )

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
