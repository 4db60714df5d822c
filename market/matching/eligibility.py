"""One product's offers as arrays, to test many offers against one order at once."""

from __future__ import annotations

import numpy as np

from market.matching.book import Book, Order


class OfferTable:
    def __init__(self, book: Book) -> None:
        self.offers = sorted(book.offers, key=lambda offer: offer.id)
        self.book = book
        self.id = np.array([offer.id for offer in self.offers], dtype=np.int64)
        self.cooperative_id = np.array([offer.cooperative_id for offer in self.offers], dtype=np.int64)
        self.grade = np.array([offer.grade for offer in self.offers], dtype=np.int64)
        self.kg = np.array([offer.kg for offer in self.offers], dtype=np.int64)
        self.ask = np.array([offer.ask for offer in self.offers], dtype=np.int64)
        self.start = np.array([offer.start for offer in self.offers], dtype=np.int64)
        self.end = np.array([offer.end for offer in self.offers], dtype=np.int64)
        self.origin = np.array([offer.origin for offer in self.offers], dtype=np.int64)
        shape = (len(book.freight), len(book.freight[0]) if book.freight else 0)
        self._freight = np.array(book.freight, dtype=np.int64).reshape(shape)
        # A book has a few destinations and grades, and many orders for each: worked out once each.
        self._freight_to: dict[int, np.ndarray] = {}
        self._grade_ok: dict[int, np.ndarray] = {}

    def freight_to(self, destination: int) -> np.ndarray:
        if destination not in self._freight_to:
            freight = self._freight[self.origin, destination] if len(self.offers) else np.zeros(0, dtype=np.int64)
            self._freight_to[destination] = _read_only(freight)
        return self._freight_to[destination]

    def grade_ok(self, order: Order) -> np.ndarray:
        if order.min_grade not in self._grade_ok:
            self._grade_ok[order.min_grade] = _read_only(self.grade >= order.min_grade)
        return self._grade_ok[order.min_grade]

    def window_ok(self, order: Order) -> np.ndarray:
        return (self.start <= order.end) & (order.start <= self.end)

    def value(self, order: Order, price: int | None = None) -> np.ndarray:
        paid = order.bid if price is None else price
        return paid - self.ask - self.freight_to(order.destination)

    def eligible(self, order: Order, price: int | None = None) -> np.ndarray:
        """Grade, window and positive value; the product is the book's."""
        return self.grade_ok(order) & self.window_ok(order) & (self.value(order, price) > 0)


def _read_only(array: np.ndarray) -> np.ndarray:
    """Shared between orders: an in-place change by one would change it for the next."""
    array.flags.writeable = False
    return array
