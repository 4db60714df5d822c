"""First come, first served: what a typical marketplace does, for the report to compare against.

Agreement call-offs are served first, as in the optimiser, then every order in the order
it arrived (by id), each filled from the cheapest eligible offers delivered (ask + freight,
then the older offer first).

Cheapest-first is walked without comparing every order with every offer: the offers are
ranked once per destination by delivered price, each minimum grade (and, for agreements,
each cooperative) keeps the offers it admits in that order, and an order walks its list
and stops at the first offer too dear for its bid.
Offers sold out are jumped over: a run of them is passed once, then skipped in one step.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from market.matching.book import DEFAULT_POLICY, Allocation, Book, Line, Offer, Order, Policy
from market.matching.engine import open_market_price

# The sentinel closing every ranked list: kg that never run out, at a price above any bid (bids are
# 64-bit integers at most).
_SENTINEL_KG = 1
_SENTINEL_PRICE = 2**63


def first_come_first_served(book: Book, policy: Policy = DEFAULT_POLICY) -> Allocation:
    offers = sorted(book.offers, key=lambda offer: offer.id)
    left = [offer.kg for offer in offers] + [_SENTINEL_KG]
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
            cheapest = price_lists.own(agreement.cooperative_id, order.destination, order.min_grade)
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
    ranked, prices, jump = cheapest.ranked, cheapest.prices, cheapest.jump
    starts, ends = cheapest.starts, cheapest.ends
    start, end = order.start, order.end
    order_id = order.id
    agreement_id = order.agreement_id if agreement_price is not None else None
    filled, position = 0, 0
    # No bounds check: the list's sentinel stops every walk.
    while filled < wanted:
        i = ranked[position]
        if left[i] == 0:
            # A run of sold-out offers: passed once, then jumped over from where it began.
            began = position
            while True:
                ahead = jump[position]
                position = ahead if ahead > position else position + 1
                i = ranked[position]
                if left[i]:
                    break
            jump[began] = position
        delivered = prices[position]
        if paid <= delivered:
            break
        if starts[position] > end or start > ends[position]:
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
    offer, with each position's price and window beside it. Every offer in it is of a grade the orders
    walking it take.

    Sold-out offers stay in the list, but a walk jumps over them: `jump[p]`, when greater than p, is a
    later position with every offer from p up to it sold out (offers never come back). The last
    position is the sentinel, `sentinel` (the index past the offers) at `_SENTINEL_PRICE`."""

    def __init__(self, ranked: list[int], prices: list[int], starts: list[int], ends: list[int], sentinel: int):
        self.ranked, self.prices = ranked + [sentinel], prices + [_SENTINEL_PRICE]
        self.starts, self.ends = starts, ends
        self.jump = list(range(len(self.ranked)))


class _PriceLists:
    """The ranked offers an order walks: per (destination, minimum grade) the offers of that grade or
    better, for the open market; per (cooperative, destination, minimum grade) the cooperative's own,
    for agreements. Each list made once, when first needed, from its destination's ranking."""

    def __init__(self, offers: list[Offer], book: Book) -> None:
        self.ask = np.array([offer.ask for offer in offers], dtype=np.int64)
        self.origin = np.array([offer.origin for offer in offers], dtype=np.int64)
        self.grade = np.array([offer.grade for offer in offers], dtype=np.int64)
        self.start = np.array([offer.start for offer in offers], dtype=np.int64)
        self.end = np.array([offer.end for offer in offers], dtype=np.int64)
        self.cooperative_id = np.array([offer.cooperative_id for offer in offers], dtype=np.int64)
        shape = (len(book.freight), len(book.freight[0]) if book.freight else 0)
        self.freight = np.array(book.freight, dtype=np.int64).reshape(shape)
        self.by_destination: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.lists: dict[tuple[int, int], _Ranked] = {}
        self.own_lists: dict[tuple[int, int, int], _Ranked] = {}

    def _ranked(self, admitted: np.ndarray, destination: int) -> _Ranked:
        """The `admitted` offers (a mask over all offers) by delivered price to `destination`."""
        if not len(self.ask):
            return _Ranked([], [], [], [], 0)  # no offers at all: the freight table may have no columns either
        if destination not in self.by_destination:
            # Every offer ranked once per destination; a stable sort of offers in id order, so equal
            # prices stay oldest first. A list is the ranking with the offers it does not admit left out.
            delivered = self.ask + self.freight[self.origin, destination]
            ranking = np.argsort(delivered, kind="stable")
            self.by_destination[destination] = ranking, delivered[ranking]
        ranking, prices = self.by_destination[destination]
        kept = admitted[ranking]
        ranked = ranking[kept]
        return _Ranked(
            ranked.tolist(),
            prices[kept].tolist(),
            self.start[ranked].tolist(),
            self.end[ranked].tolist(),
            sentinel=len(self.ask),
        )

    def open_market(self, destination: int, min_grade: int) -> _Ranked:
        key = (destination, min_grade)
        if key not in self.lists:
            self.lists[key] = self._ranked(self.grade >= min_grade, destination)
        return self.lists[key]

    def own(self, cooperative_id: int, destination: int, min_grade: int) -> _Ranked:
        key = (cooperative_id, destination, min_grade)
        if key not in self.own_lists:
            admitted = (self.cooperative_id == cooperative_id) & (self.grade >= min_grade)
            self.own_lists[key] = self._ranked(admitted, destination)
        return self.own_lists[key]
