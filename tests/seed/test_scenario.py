"""The 2020 Zhaoyang-Dongguan scenario: loaded through the services, idempotent, at the article's scale.

Prices follow the matcher's rules: an offer's ask is at its cooperative's township (farm gate),
an order's bid and an agreement's price are delivered, so a pair trades only when what the
buyer pays covers the ask and the freight between them (`market.matching.transport`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest
from sqlalchemy import func, select

from market.db import session_scope
from market.matching import Reason, match, unmatched_orders
from market.models import (
    AuditEvent,
    Buyer,
    Cooperative,
    DemandOrder,
    PurchaseAgreement,
    SupplyOffer,
    metadata,
)
from market.models.common import Grade, Product
from market.units import value_fen
from seed.scenario import load_scenario, read_scenario
from tests.seed.books import build_books, freight

# Zhaoyang District, generously boxed.
LATITUDES = (26.9, 27.7)
LONGITUDES = (103.3, 104.0)

APPLE_AGREEMENTS = {
    # reference: (buyer, cooperative, tonnes)
    "ZY-2020-APL-001": ("东莞市泽景公司", "海升集团昭阳苹果基地", 3000),
    "ZY-2020-APL-002": ("万达丰农投蔬果有限公司", "苏家院镇苹果专业合作社", 2000),
    "ZY-2020-APL-003": ("大岍农公司", "洒渔镇苹果专业合作社", 2000),
}
# The egg channel (对销渠道) has no tonnage in the article; the scenario gives it one.
EGG_CHANNEL_KG = 700 * 1000
ONE_MILLION_YUAN_IN_FEN = 100_000_000
CALLED_OFF = select(PurchaseAgreement.reference, PurchaseAgreement.called_off_kg).order_by(PurchaseAgreement.id)


def _row_counts(session) -> dict[str, int]:
    return {
        table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
        for table in metadata.sorted_tables
    }


@pytest.fixture
def loaded(engine):
    with session_scope(engine) as session:
        created = load_scenario(session)
    return created


def test_the_document_cites_the_article_and_reads_from_the_package():
    scenario = read_scenario()
    assert "中国扶贫网" in scenario["source"]
    assert "2020-09-11" in scenario["source"]
    assert "产业协作促脱贫" in scenario["source"]
    for kind in ("cooperatives", "buyers", "agreements", "offers", "orders"):
        assert scenario[kind], kind


def test_the_scenario_loads(engine, loaded):
    scenario = read_scenario()
    kinds = ("cooperatives", "buyers", "agreements", "offers", "orders")
    assert loaded == {kind: len(scenario[kind]) for kind in kinds}
    with session_scope(engine) as session:
        counts = _row_counts(session)
    assert counts["cooperative"] == loaded["cooperatives"]
    assert counts["buyer"] == loaded["buyers"]
    assert counts["purchase_agreement"] == loaded["agreements"]
    assert counts["supply_offer"] == loaded["offers"]
    assert counts["demand_order"] == loaded["orders"]


def test_a_second_load_creates_nothing_and_changes_nothing(engine, loaded):
    with session_scope(engine) as session:
        before = _row_counts(session)
        agreements_before = session.execute(CALLED_OFF).all()
    with session_scope(engine) as session:
        again = load_scenario(session)
    assert again == {"cooperatives": 0, "buyers": 0, "agreements": 0, "offers": 0, "orders": 0}
    with session_scope(engine) as session:
        assert _row_counts(session) == before
        assert session.execute(CALLED_OFF).all() == agreements_before


def test_the_three_apple_agreements_of_the_article(engine, loaded):
    with session_scope(engine) as session:
        rows = session.execute(
            select(PurchaseAgreement, Buyer.name_zh, Cooperative.name_zh)
            .join(Buyer, Buyer.id == PurchaseAgreement.buyer_id)
            .join(Cooperative, Cooperative.id == PurchaseAgreement.cooperative_id)
            .where(PurchaseAgreement.product == Product.apple)
        ).all()
    found = {agreement.reference: (buyer, coop, agreement.quantity_kg) for agreement, buyer, coop in rows}
    assert found == {ref: (buyer, coop, t * 1000) for ref, (buyer, coop, t) in APPLE_AGREEMENTS.items()}


def test_the_egg_channel_is_an_agreement(engine, loaded):
    with session_scope(engine) as session:
        agreement, buyer, cooperative = session.execute(
            select(PurchaseAgreement, Buyer.name_zh, Cooperative.name_zh)
            .join(Buyer, Buyer.id == PurchaseAgreement.buyer_id)
            .join(Cooperative, Cooperative.id == PurchaseAgreement.cooperative_id)
            .where(PurchaseAgreement.product == Product.egg)
        ).one()
    assert (buyer, cooperative) == ("东莞百康集团", "苏甲乡桂庆养殖专业合作社")


def test_orders_call_off_each_agreement_in_full_within_its_window_and_price(engine, loaded):
    with session_scope(engine) as session:
        agreements = session.execute(select(PurchaseAgreement)).scalars().all()
        assert len(agreements) == 4
        for agreement in agreements:
            call_offs = (
                session.execute(select(DemandOrder).where(DemandOrder.agreement_id == agreement.id)).scalars().all()
            )
            assert sum(order.quantity_kg for order in call_offs) == agreement.quantity_kg, agreement.reference
            assert agreement.called_off_kg == agreement.quantity_kg, agreement.reference
            for order in call_offs:
                assert order.buyer_id == agreement.buyer_id
                assert order.product == agreement.product
                assert agreement.valid_from <= order.deliver_from
                assert order.deliver_from <= order.deliver_until <= agreement.valid_until
                assert order.max_price_fen >= agreement.price_fen


def _overlaps(first: tuple[date, date], second: tuple[date, date]) -> bool:
    return first[0] <= second[1] and second[0] <= first[1]


def test_each_agreement_cooperative_offers_enough_to_fill_it(engine, loaded):
    """Allocate every call-off from its cooperative's good enough, overlapping lots that leave a surplus.

    A lot can serve a call-off when the agreement's (delivered) price exceeds the lot's farm-gate
    ask plus the freight from the cooperative's township to the call-off's destination. A greedy
    allocation that succeeds is a proof that a matcher can fill the agreement to 100%.
    """
    with session_scope(engine) as session:
        for agreement in session.execute(select(PurchaseAgreement)).scalars():
            cooperative = session.get(Cooperative, agreement.cooperative_id)
            offers = (
                session.execute(
                    select(SupplyOffer).where(
                        SupplyOffer.cooperative_id == agreement.cooperative_id,
                        SupplyOffer.product == agreement.product,
                    )
                )
                .scalars()
                .all()
            )
            left = {offer.id: offer.quantity_kg for offer in offers}
            assert sum(left.values()) >= agreement.quantity_kg, agreement.reference
            call_offs = (
                session.execute(
                    select(DemandOrder)
                    .where(DemandOrder.agreement_id == agreement.id)
                    .order_by(DemandOrder.deliver_from)
                )
                .scalars()
                .all()
            )
            for order in call_offs:
                wanted = order.quantity_kg
                usable = sorted(
                    (
                        offer
                        for offer in offers
                        if offer.grade.satisfies(order.min_grade)
                        and _overlaps(
                            (offer.available_from, offer.available_until),
                            (order.deliver_from, order.deliver_until),
                        )
                        and agreement.price_fen - offer.min_price_fen - freight(offer.product, cooperative, order) > 0
                    ),
                    key=lambda offer: offer.available_until,
                )
                for offer in usable:
                    take = min(wanted, left[offer.id])
                    left[offer.id] -= take
                    wanted -= take
                assert wanted == 0, f"{agreement.reference}: call-off {order.reference} is {wanted} kg short"


def test_the_scale_the_article_reports(engine, loaded):
    """10,000+ tonnes demanded, worth 100 to 150 million yuan if every order were filled at its limit price."""
    with session_scope(engine) as session:
        orders = session.execute(select(DemandOrder)).scalars().all()
        offers = session.execute(select(SupplyOffer)).scalars().all()
    total_kg = sum(order.quantity_kg for order in orders)
    total_fen = sum(value_fen(order.quantity_kg, order.max_price_fen) for order in orders)
    assert total_kg >= 10_000 * 1000
    assert 100 * ONE_MILLION_YUAN_IN_FEN <= total_fen <= 150 * ONE_MILLION_YUAN_IN_FEN
    # Every product is traded, and supply exceeds demand for each.
    supply: dict[Product, int] = defaultdict(int)
    demand: dict[Product, int] = defaultdict(int)
    for offer in offers:
        supply[offer.product] += offer.quantity_kg
    for order in orders:
        demand[order.product] += order.quantity_kg
    assert set(demand) == set(Product)
    for product in Product:
        assert supply[product] > demand[product], product


def test_most_open_market_pairs_are_worth_trading_after_freight(engine, loaded):
    """The delivered bid covers the farm-gate ask and the freight for most pairs of a product."""
    with session_scope(engine) as session:
        cooperatives = {cooperative.id: cooperative for cooperative in session.execute(select(Cooperative)).scalars()}
        offers = session.execute(select(SupplyOffer)).scalars().all()
        open_market = select(DemandOrder).where(DemandOrder.agreement_id.is_(None))
        orders = session.execute(open_market).scalars().all()
    pairs = [(offer, order) for offer in offers for order in orders if offer.product == order.product]
    worth = sum(
        order.max_price_fen - offer.min_price_fen - freight(offer.product, cooperatives[offer.cooperative_id], order)
        > 0
        for offer, order in pairs
    )
    assert worth > len(pairs) / 2
    # ... but not all: the limit prices matter.
    assert worth < len(pairs)
    # Without freight nearly every pair would trade: the bids are delivered prices.
    assert sum(order.max_price_fen > offer.min_price_fen for offer, order in pairs) > worth


def test_an_optimal_match_reaches_the_articles_totals(engine, loaded):
    """Matching the whole book after freight fills the agreements and comes to the article's scale.

    The three apple agreements and the egg channel are filled to 100% by their own cooperatives;
    10,000+ tonnes trade for 100 to 140 million yuan at contract prices (the article: 1.2亿元);
    and the orders left unmatched are so for the reasons the match report names.
    """
    with session_scope(engine) as session:
        books = build_books(session)
        agreements = {agreement.id: agreement for agreement in session.execute(select(PurchaseAgreement)).scalars()}
    assert set(books) == set(Product)
    total_kg = total_fen = 0
    filled: dict[int, int] = defaultdict(int)
    reasons: set[Reason] = set()
    for book in books.values():
        allocation = match(book)
        for line in allocation.lines:
            assert line.surplus > 0
            if line.agreement_id is not None:
                filled[line.agreement_id] += line.kg
        total_kg += allocation.kg
        total_fen += sum(value_fen(line.kg, line.price) for line in allocation.lines)
        reasons |= {reason for _, _, reason in unmatched_orders(book, allocation)}
    filled_by_reference = {agreement.reference: filled[agreement.id] for agreement in agreements.values()}
    assert filled_by_reference == {
        **{reference: tonnes * 1000 for reference, (_, _, tonnes) in APPLE_AGREEMENTS.items()},
        "ZY-2020-EGG-001": EGG_CHANNEL_KG,
    }
    assert total_kg >= 10_000 * 1000
    assert 100 * ONE_MILLION_YUAN_IN_FEN <= total_fen <= 140 * ONE_MILLION_YUAN_IN_FEN
    # Some open-market orders cannot trade, each for a reason an admin can act on.
    assert {Reason.price_gap, Reason.windows_do_not_meet, Reason.no_supply_of_grade} <= reasons


def test_every_row_has_its_audit_event(engine, loaded):
    with session_scope(engine) as session:
        for model, action in (
            (Cooperative, "cooperative.create"),
            (Buyer, "buyer.create"),
            (PurchaseAgreement, "agreement.create"),
            (SupplyOffer, "offer.create"),
            (DemandOrder, "order.create"),
        ):
            ids = set(session.execute(select(model.id)).scalars())
            audited = set(
                session.execute(
                    select(AuditEvent.object_id).where(
                        AuditEvent.action == action, AuditEvent.object_type == model.__tablename__
                    )
                ).scalars()
            )
            assert ids and ids == audited, action
        actors = set(session.execute(select(AuditEvent.actor)).scalars())
    assert actors == {"system:seed"}


def test_cooperatives_are_in_zhaoyang_and_count_their_poor_households(engine, loaded):
    with session_scope(engine) as session:
        cooperatives = session.execute(select(Cooperative)).scalars().all()
    for cooperative in cooperatives:
        assert cooperative.county == "Zhaoyang District"
        assert 0 < cooperative.poor_households <= cooperative.member_households, cooperative.name
        assert LATITUDES[0] <= cooperative.latitude <= LATITUDES[1], cooperative.name
        assert LONGITUDES[0] <= cooperative.longitude <= LONGITUDES[1], cooperative.name
        assert cooperative.township_zh


def test_offers_carry_the_articles_brands_and_real_grades(engine, loaded):
    with session_scope(engine) as session:
        brands = set(session.execute(select(SupplyOffer.brand)).scalars())
        grades = set(session.execute(select(SupplyOffer.grade)).scalars())
    assert brands - {None} <= {"昭阳红", "高原红", "昭福", "红云"}
    assert brands >= {"昭阳红", "高原红", "昭福", "红云"}
    assert grades == set(Grade)
