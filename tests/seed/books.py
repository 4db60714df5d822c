"""Build the matcher's books from the database, one per product, for tests of seeded data.

The same rules the matching service applies: a lot leaves from its cooperative's township
(`market.places.find_origin`, or the cooperative's own coordinates when the township is not
one of Zhaoyang's), an order goes to its destination (resolved when it was posted: a known
place, or the buyer's own coordinates when it named none), freight per tonne between them
comes from `market.matching.transport`, and an order called off against an agreement is
served at the agreement's price.
"""

from __future__ import annotations

from sqlmodel import Session, select

from market.matching import AgreementTerms, Book, Offer, Order
from market.matching.transport import freight_fen_per_tonne
from market.models import Cooperative, DemandOrder, PurchaseAgreement, SupplyOffer
from market.models.common import Grade, OfferStatus, OrderStatus, Product
from market.places import find_origin

GRADE_RANK = {Grade.premium: 3, Grade.first: 2, Grade.second: 1}
OPEN_OFFERS = (OfferStatus.open, OfferStatus.partially_matched)
OPEN_ORDERS = (OrderStatus.open, OrderStatus.partially_matched)

Point = tuple[float, float]


def origin_of(cooperative: Cooperative) -> Point:
    """Where a cooperative's lots leave from: its township, or its own coordinates."""
    place = find_origin(cooperative.township, cooperative.township_zh)
    if place is None:
        return (cooperative.latitude, cooperative.longitude)
    return (place.latitude, place.longitude)


def destination_of(order: DemandOrder) -> Point:
    """Where an order is delivered: the place it named, or its buyer's own coordinates (stored when posted)."""
    return (order.destination_latitude, order.destination_longitude)


def freight(product: Product, cooperative: Cooperative, order: DemandOrder) -> int:
    """Fen per tonne to carry this product from the cooperative's township to the order's destination."""
    return freight_fen_per_tonne(product.value, origin_of(cooperative), destination_of(order))


def build_books(session: Session) -> dict[Product, Book]:
    """One book per product with open offers or orders: open kg, limit prices, freight and agreements."""
    cooperatives = {cooperative.id: cooperative for cooperative in session.exec(select(Cooperative))}
    offers = session.exec(select(SupplyOffer).where(SupplyOffer.status.in_(OPEN_OFFERS)).order_by(SupplyOffer.id)).all()
    orders = session.exec(select(DemandOrder).where(DemandOrder.status.in_(OPEN_ORDERS)).order_by(DemandOrder.id)).all()
    agreements = session.exec(select(PurchaseAgreement).order_by(PurchaseAgreement.id)).all()

    books: dict[Product, Book] = {}
    for product in Product:
        product_offers = [offer for offer in offers if offer.product == product and offer.remaining_kg > 0]
        product_orders = [order for order in orders if order.product == product and order.remaining_kg > 0]
        if not product_offers and not product_orders:
            continue
        origins: dict[Point, int] = {}
        destinations: dict[Point, int] = {}
        book_offers = []
        for offer in product_offers:
            cooperative = cooperatives[offer.cooperative_id]
            origin = origins.setdefault(origin_of(cooperative), len(origins))
            book_offers.append(
                Offer(
                    id=offer.id,
                    cooperative_id=offer.cooperative_id,
                    grade=GRADE_RANK[offer.grade],
                    kg=offer.remaining_kg,
                    ask=offer.min_price_fen,
                    start=offer.available_from.toordinal(),
                    end=offer.available_until.toordinal(),
                    origin=origin,
                    poor_households=cooperative.poor_households,
                    member_households=cooperative.member_households,
                )
            )
        book_orders = []
        for order in product_orders:
            destination = destinations.setdefault(destination_of(order), len(destinations))
            book_orders.append(
                Order(
                    id=order.id,
                    buyer_id=order.buyer_id,
                    min_grade=GRADE_RANK[order.min_grade],
                    kg=order.remaining_kg,
                    bid=order.max_price_fen,
                    start=order.deliver_from.toordinal(),
                    end=order.deliver_until.toordinal(),
                    destination=destination,
                    agreement_id=order.agreement_id,
                )
            )
        matrix = tuple(
            tuple(freight_fen_per_tonne(product.value, origin, destination) for destination in destinations)
            for origin in origins
        )
        terms = tuple(
            # What has been called off and is not yet contracted is what the matcher may still fill.
            AgreementTerms(
                id=agreement.id,
                cooperative_id=agreement.cooperative_id,
                price=agreement.price_fen,
                kg=agreement.called_off_kg - agreement.contracted_kg,
            )
            for agreement in agreements
            if agreement.product == product
        )
        books[product] = Book(offers=tuple(book_offers), orders=tuple(book_orders), freight=matrix, agreements=terms)
    return books
