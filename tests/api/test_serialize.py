"""A batch's answer, written by pydantic in one pass, is the single create's documents item for item,
with the same fields hidden from the same viewers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from market.api.serialize import offer_out, offers_batch_json, order_out, orders_batch_json
from market.models import Cooperative, DemandOrder, SupplyOffer
from market.models.common import Grade, OfferStatus, OrderStatus, Product, Role
from market.models.offer import HIDDEN_FROM_BUYERS
from market.models.order import HIDDEN_FROM_COOPERATIVES
from market.services.actors import Actor

WHEN = datetime(2026, 12, 6, 8, 30, 15, 120000, tzinfo=UTC)


def _viewer(role: Role) -> Actor:
    return Actor(role=role, label=f"{role.value}:1")


def _orders() -> list[DemandOrder]:
    return [
        DemandOrder(
            id=7 + n,
            buyer_id=3,
            agreement_id=None if n else 11,
            reference=f"PO-{n}" if n != 1 else None,
            product=Product.apple,
            min_grade=Grade.first,
            quantity_kg=40_200 + n,
            contracted_kg=1_000 * n,
            cancelled_kg=1,
            max_price_fen=530_001,
            deliver_from=date(2026, 9, 14),
            deliver_until=date(2026, 11, 8),
            destination="dongguan-shijie",
            destination_zh="东莞石碣",
            destination_latitude=23.1047,
            destination_longitude=113.8189,
            status=OrderStatus.open,
            created_at=WHEN,
            updated_at=WHEN.replace(microsecond=0),
        )
        for n in range(3)
    ]


def _offers() -> tuple[list[SupplyOffer], Cooperative]:
    cooperative = Cooperative(
        id=5, name="Sujiayuan apples", name_zh="苏家院苹果合作社", township="Sujiayuan", township_zh="苏家院",
        county="Zhaoyang", latitude=27.3, longitude=103.7, poor_households=120,
    )  # fmt: skip
    offers = [
        SupplyOffer(
            id=20 + n,
            cooperative_id=5,
            reference=f"lot-{n}",
            product=Product.apple,
            variety="Red Fuji 红富士",
            grade=Grade.premium,
            brand=None if n else "昭阳红",
            quantity_kg=120_505,
            contracted_kg=505 * n,
            withdrawn_kg=0,
            min_price_fen=530_000 + n,
            available_from=date(2026, 9, 1),
            available_until=date(2026, 10, 31),
            status=OfferStatus.open,
            created_at=WHEN,
            updated_at=WHEN,
        )
        for n in range(2)
    ]
    return offers, cooperative


def test_an_order_batch_is_the_single_documents_for_every_viewer():
    orders = _orders()
    for role in (Role.buyer, Role.admin, Role.cooperative):
        viewer = _viewer(role)
        answer = json.loads(orders_batch_json(orders, viewer))
        assert answer == {"data": [order_out(order, viewer) for order in orders], "count": 3}
    seen_by_cooperative = json.loads(orders_batch_json(orders, _viewer(Role.cooperative)))["data"][0]
    assert HIDDEN_FROM_COOPERATIVES.isdisjoint(seen_by_cooperative) and "tonnes_remaining" in seen_by_cooperative
    assert json.loads(orders_batch_json(orders, _viewer(Role.buyer)))["data"][0]["max_price_per_tonne"] == "5300.01"


def test_an_offer_batch_is_the_single_documents_for_every_viewer():
    offers, cooperative = _offers()
    for role in (Role.cooperative, Role.admin, Role.buyer):
        viewer = _viewer(role)
        answer = json.loads(offers_batch_json(offers, cooperative, viewer))
        assert answer == {"data": [offer_out(offer, cooperative, viewer) for offer in offers], "count": 2}
    seen_by_buyer = json.loads(offers_batch_json(offers, cooperative, _viewer(Role.buyer)))["data"][1]
    assert HIDDEN_FROM_BUYERS.isdisjoint(seen_by_buyer) and seen_by_buyer["origin"]["township_zh"] == "苏家院"
