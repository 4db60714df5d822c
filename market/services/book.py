"""Reading one product's open book into the matching core's plain values, in three queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from market.matching import AgreementTerms, Book, Offer, Order
from market.matching.transport import freight_fen_per_tonne
from market.models import Cooperative, DemandOrder, PurchaseAgreement, SupplyOffer
from market.models.common import Grade, Product
from market.places import Place, find_origin
from market.services.offers import BROWSABLE as OPEN_OFFERS
from market.services.orders import BROWSABLE as OPEN_ORDERS

GRADE_RANK = {grade: grade.rank for grade in Grade}
GRADE_OF_RANK = {grade.rank: grade for grade in Grade}


def load_book(session: Session, product: Product) -> Book:
    """Open offers and orders of `product` with kg left, the agreements they call off, and freight."""
    # Plain column queries on the session's connection: the ORM's row handling has nothing to add here.
    connection = session.connection()
    offer_remaining = SupplyOffer.quantity_kg - SupplyOffer.contracted_kg - SupplyOffer.withdrawn_kg
    offer_rows = connection.execute(
        select(
            SupplyOffer.id,
            SupplyOffer.cooperative_id,
            SupplyOffer.grade,
            offer_remaining,
            SupplyOffer.min_price_fen,
            SupplyOffer.available_from,
            SupplyOffer.available_until,
            Cooperative.township,
            Cooperative.township_zh,
            Cooperative.latitude,
            Cooperative.longitude,
            Cooperative.poor_households,
            Cooperative.member_households,
        )
        .join(Cooperative, Cooperative.id == SupplyOffer.cooperative_id)
        .where(
            SupplyOffer.product == product,
            SupplyOffer.status.in_(OPEN_OFFERS),
            offer_remaining > 0,
        )
        .order_by(SupplyOffer.id)
    ).all()
    order_remaining = DemandOrder.quantity_kg - DemandOrder.contracted_kg - DemandOrder.cancelled_kg
    order_rows = connection.execute(
        select(
            DemandOrder.id,
            DemandOrder.buyer_id,
            DemandOrder.min_grade,
            order_remaining,
            DemandOrder.max_price_fen,
            DemandOrder.deliver_from,
            DemandOrder.deliver_until,
            DemandOrder.destination_latitude,
            DemandOrder.destination_longitude,
            DemandOrder.agreement_id,
        )
        .where(
            DemandOrder.product == product,
            DemandOrder.status.in_(OPEN_ORDERS),
            order_remaining > 0,
        )
        .order_by(DemandOrder.id)
    ).all()
    agreement_ids = sorted({row.agreement_id for row in order_rows if row.agreement_id is not None})
    agreements = (
        connection.execute(
            select(
                PurchaseAgreement.id,
                PurchaseAgreement.cooperative_id,
                PurchaseAgreement.price_fen,
                PurchaseAgreement.called_off_kg - PurchaseAgreement.contracted_kg,
            )
            .where(PurchaseAgreement.id.in_(agreement_ids))
            .order_by(PurchaseAgreement.id)
        ).all()
        if agreement_ids
        else []
    )

    # A lot leaves from its township's collection point (or its cooperative, off the map).
    origin_points: dict[object, tuple[float, float]] = {}
    offer_origin_keys = []
    places: dict[tuple[str, str | None], Place | None] = {}  # a book names its few townships again and again
    for row in offer_rows:
        named = (row.township, row.township_zh)
        place = places[named] if named in places else places.setdefault(named, find_origin(*named))
        key = place.key if place else ("cooperative", row.cooperative_id)
        origin_points.setdefault(key, (place.latitude, place.longitude) if place else (row.latitude, row.longitude))
        offer_origin_keys.append(key)
    origin_keys = sorted(origin_points, key=str)
    origin_index = {key: index for index, key in enumerate(origin_keys)}
    destination_points = sorted({(row.destination_latitude, row.destination_longitude) for row in order_rows})
    destination_index = {point: index for index, point in enumerate(destination_points)}
    freight = tuple(
        tuple(freight_fen_per_tonne(product.value, origin_points[key], point) for point in destination_points)
        for key in origin_keys
    )

    # Rows unpacked by position and tuples made by position, in the fields' order: a book holds tens of
    # thousands of each, and reading a row's columns by name costs more than the rest of the loop.
    offers = tuple(
        Offer(
            offer_id,
            cooperative_id,
            GRADE_RANK[grade],
            int(kg),
            ask,
            available_from.toordinal(),
            available_until.toordinal(),
            origin_index[key],
            poor_households,
            member_households,
        )
        for (
            offer_id,
            cooperative_id,
            grade,
            kg,
            ask,
            available_from,
            available_until,
            *_,
            poor_households,
            member_households,
        ), key in zip(offer_rows, offer_origin_keys, strict=True)
    )
    orders = tuple(
        Order(
            order_id,
            buyer_id,
            GRADE_RANK[min_grade],
            int(kg),
            bid,
            deliver_from.toordinal(),
            deliver_until.toordinal(),
            destination_index[(latitude, longitude)],
            agreement_id,
        )
        for order_id, buyer_id, min_grade, kg, bid, deliver_from, deliver_until, latitude, longitude, agreement_id in (
            order_rows
        )
    )
    terms = tuple(AgreementTerms(id=row[0], cooperative_id=row[1], price=row[2], kg=int(row[3])) for row in agreements)
    return Book(offers=offers, orders=orders, freight=freight, agreements=terms)
