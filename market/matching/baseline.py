"""First come, first served: what a typical marketplace does, for the report to compare against.

Agreement call-offs are served first, as in the optimiser, then every order in the order
it arrived (by id), each filled from the cheapest eligible offers delivered (ask + freight,
then the older offer first).

Cheapest-first is walked without comparing every order with every offer: for each
destination and grade the offers are sorted once by delivered price, an order walks the
lists of the grades it accepts in price order, and stops at the first offer too dear for
its bid. Offers sold out are dropped from the front of the lists for good.
"""

from __future__ import annotations

import heapq
from collections import defaultdict

from market.matching.book import DEFAULT_POLICY, Allocation, Book, Offer, Order, Policy
from market.matching.engine import make_line
from market.matching.network import overlaps


def first_come_first_served(book: Book, policy: Policy = DEFAULT_POLICY) -> Allocation:
    offers = sorted(book.offers, key=lambda offer: offer.id)
    left = [offer.kg for offer in offers]
    terms = {agreement.id: agreement for agreement in book.agreements}
    agreement_left = {agreement.id: agreement.kg for agreement in book.agreements}
    allocation = Allocation(lines=[])
    price_lists = _PriceLists(offers, book)

    for order in sorted(book.orders, key=lambda order: (order.agreement_id is None, order.id)):
        if order.agreement_id is None:
            wanted, price, candidates = order.kg, None, price_lists.walk(order, left)
        elif order.agreement_id in terms:
            agreement = terms[order.agreement_id]
            wanted, price = min(order.kg, agreement_left[agreement.id]), agreement.price
            own = [i for i, offer in enumerate(offers) if offer.cooperative_id == agreement.cooperative_id]
            candidates = iter(sorted(own, key=lambda i: (price_lists.delivered(i, order.destination), offers[i].id)))
        else:
            continue
        filled = 0
        for i in candidates:
            if filled == wanted:
                break
            offer = offers[i]
            paid = order.bid if price is None else price
            if paid - price_lists.delivered(i, order.destination) <= 0:
                break  # every later candidate costs as much or more
            if left[i] == 0 or offer.grade < order.min_grade or not overlaps(offer, order):
                continue
            kg = min(wanted - filled, left[i])
            left[i] -= kg
            filled += kg
            allocation.lines.append(make_line(offer, order, kg, book, policy, price))
        if order.agreement_id is not None:
            agreement_left[order.agreement_id] -= filled
    return allocation


class _PriceLists:
    """Per (destination, grade), the offers of that grade by delivered price, cheapest first."""

    def __init__(self, offers: list[Offer], book: Book) -> None:
        self.offers = offers
        self.book = book
        self.lists: dict[tuple[int, int], list[int]] = {}
        self.fronts: dict[tuple[int, int], int] = defaultdict(int)
        self.by_grade: dict[int, list[int]] = defaultdict(list)
        for i, offer in enumerate(offers):
            self.by_grade[offer.grade].append(i)

    def delivered(self, i: int, destination: int) -> int:
        offer = self.offers[i]
        return offer.ask + self.book.freight[offer.origin][destination]

    def _list(self, destination: int, grade: int) -> list[int]:
        key = (destination, grade)
        if key not in self.lists:
            self.lists[key] = sorted(
                self.by_grade[grade], key=lambda i: (self.delivered(i, destination), self.offers[i].id)
            )
        return self.lists[key]

    def walk(self, order: Order, left: list[int]):
        """Offers for this order, cheapest delivered first, across every grade it accepts."""
        heads = []
        for grade in range(order.min_grade, 4):
            key = (order.destination, grade)
            ranked = self._list(*key)
            front = self.fronts[key]
            while front < len(ranked) and left[ranked[front]] == 0:
                front += 1  # sold out: gone for every later order too
            self.fronts[key] = front
            if front < len(ranked):
                i = ranked[front]
                heads.append((self.delivered(i, order.destination), self.offers[i].id, key, front))
        heapq.heapify(heads)
        while heads:
            _, _, key, position = heapq.heappop(heads)
            ranked = self.lists[key]
            yield ranked[position]
            if position + 1 < len(ranked):
                i = ranked[position + 1]
                heapq.heappush(heads, (self.delivered(i, order.destination), self.offers[i].id, key, position + 1))
