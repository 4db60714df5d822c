"""The matcher's view of the seeded data, for tests: the service's own books, and freight for one pair."""

from __future__ import annotations

from sqlmodel import Session

from market.matching import Book
from market.matching.transport import freight_fen_per_tonne
from market.models import Cooperative, DemandOrder
from market.models.common import Product
from market.places import find_origin
from market.services.book import load_book


def freight(product: Product, cooperative: Cooperative, order: DemandOrder) -> int:
    """Fen per tonne from the cooperative's township (or its own coordinates) to where the order goes."""
    place = find_origin(cooperative.township, cooperative.township_zh)
    origin = (place.latitude, place.longitude) if place else (cooperative.latitude, cooperative.longitude)
    return freight_fen_per_tonne(product.value, origin, (order.destination_latitude, order.destination_longitude))


def build_books(session: Session) -> dict[Product, Book]:
    return {product: load_book(session, product) for product in Product}
