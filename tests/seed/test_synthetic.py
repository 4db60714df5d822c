"""The synthetic book: realistic, deterministic for a seed, and repeatable without name clashes.

Realistic includes the prices: asks at the farm gate, bids delivered, so whether a pair is
worth trading depends on the freight between the cooperative's township and the destination.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from market.config import load_settings
from market.db import make_engine, session_scope
from market.models import AuditEvent, Buyer, Cooperative, DemandOrder, SupplyOffer
from market.models.common import Grade, OfferStatus, OrderStatus, Product
from market.places import DESTINATIONS, ORIGINS, find_origin
from seed import synthetic
from seed.scenario import load_scenario
from seed.synthetic import generate_book
from tests.seed.books import freight

SIZE = 2000
SEED = 7

LATITUDES = (26.9, 27.7)
LONGITUDES = (103.3, 104.0)


def _generate(engine, *, size: int = SIZE, random_seed: int = SEED, progress=None) -> dict[str, int]:
    with session_scope(engine) as session:
        return generate_book(session, size=size, random_seed=random_seed, progress=progress)


def _offer_sequence(engine) -> list[tuple]:
    with session_scope(engine) as session:
        return [
            (str(product), str(grade), kg, fen, available_from)
            for product, grade, kg, fen, available_from in session.execute(
                select(
                    SupplyOffer.product,
                    SupplyOffer.grade,
                    SupplyOffer.quantity_kg,
                    SupplyOffer.min_price_fen,
                    SupplyOffer.available_from,
                ).order_by(SupplyOffer.id)
            )
        ]


def _order_digest(engine) -> str:
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                DemandOrder.product,
                DemandOrder.min_grade,
                DemandOrder.quantity_kg,
                DemandOrder.max_price_fen,
                DemandOrder.deliver_from,
                DemandOrder.deliver_until,
                DemandOrder.destination,
            ).order_by(DemandOrder.id)
        ).all()
    return hashlib.sha256(repr([tuple(str(value) for value in row) for row in rows]).encode()).hexdigest()


@pytest.fixture
def fresh_sqlite(sqlite_template, tmp_path):
    """A second, empty database to generate the same book into."""
    path = tmp_path / "second.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(load_settings(database_url=f"sqlite:///{path}"))
    yield engine
    engine.dispose()


def test_counts(engine):
    counts = _generate(engine)
    assert counts == {"cooperatives": 20, "buyers": 10, "offers": SIZE, "orders": SIZE}
    with session_scope(engine) as session:
        for model, expected in ((Cooperative, 20), (Buyer, 10), (SupplyOffer, SIZE), (DemandOrder, SIZE)):
            assert session.execute(select(func.count()).select_from(model)).scalar_one() == expected


def test_parties_scale_with_the_book(engine):
    counts = _generate(engine, size=10_000)
    assert counts["cooperatives"] == 40
    assert counts["buyers"] == 20


def test_deterministic_for_a_seed(engine, fresh_sqlite):
    _generate(engine)
    _generate(fresh_sqlite)
    assert _offer_sequence(engine) == _offer_sequence(fresh_sqlite)
    assert _order_digest(engine) == _order_digest(fresh_sqlite)


def test_another_seed_gives_another_book(engine, fresh_sqlite):
    _generate(engine, random_seed=1)
    _generate(fresh_sqlite, random_seed=2)
    assert _offer_sequence(engine) != _offer_sequence(fresh_sqlite)


def test_every_product_and_every_township(engine):
    _generate(engine)
    with session_scope(engine) as session:
        assert set(session.execute(select(SupplyOffer.product).distinct()).scalars()) == set(Product)
        assert set(session.execute(select(DemandOrder.product).distinct()).scalars()) == set(Product)
        assert set(session.execute(select(SupplyOffer.grade).distinct()).scalars()) == set(Grade)
        assert set(session.execute(select(DemandOrder.min_grade).distinct()).scalars()) == set(Grade)
        townships = set(session.execute(select(Cooperative.township).distinct()).scalars())
        cooperatives = session.execute(select(Cooperative)).scalars().all()
        buyers = session.execute(select(Buyer)).scalars().all()
    assert len(townships) >= 20
    for cooperative in cooperatives:
        assert cooperative.county == "Zhaoyang District"
        # Every cooperative is in one of the townships lots are reckoned to leave from.
        township = find_origin(cooperative.township, cooperative.township_zh)
        assert township is not None, cooperative.township
        assert (cooperative.township, cooperative.township_zh) == (township.name, township.name_zh)
        assert abs(cooperative.latitude - township.latitude) <= 0.02
        assert abs(cooperative.longitude - township.longitude) <= 0.02
        assert 0 <= cooperative.poor_households <= cooperative.member_households
        assert LATITUDES[0] <= cooperative.latitude <= LATITUDES[1]
        assert LONGITUDES[0] <= cooperative.longitude <= LONGITUDES[1]
    eastern = {(place.latitude, place.longitude) for key, place in DESTINATIONS.items() if key != "kunming"}
    for buyer in buyers:
        assert (buyer.latitude, buyer.longitude) in eastern


def test_rows_are_well_formed(engine):
    _generate(engine)
    places = {place.name: place for place in DESTINATIONS.values()}
    with session_scope(engine) as session:
        offers = session.execute(select(SupplyOffer)).scalars().all()
        orders = session.execute(select(DemandOrder)).scalars().all()
    for offer in offers:
        assert offer.status == OfferStatus.open
        assert (offer.contracted_kg, offer.withdrawn_kg, offer.reference) == (0, 0, None)
        assert isinstance(offer.quantity_kg, int) and offer.quantity_kg > 0
        assert isinstance(offer.min_price_fen, int) and offer.min_price_fen > 0
        assert offer.min_price_fen % 100 == 0  # whole yuan
        assert offer.available_from.weekday() == 0
        weeks, days = divmod((offer.available_until - offer.available_from).days + 1, 7)
        assert days == 0 and 1 <= weeks <= 8
        assert offer.brand in (None, "昭阳红", "高原红", "昭福", "红云")
    for order in orders:
        assert order.status == OrderStatus.open
        assert (order.contracted_kg, order.cancelled_kg) == (0, 0)
        assert (order.reference, order.agreement_id) == (None, None)
        assert isinstance(order.quantity_kg, int) and order.quantity_kg > 0
        assert isinstance(order.max_price_fen, int) and order.max_price_fen > 0
        assert order.deliver_from.weekday() == 0
        weeks, days = divmod((order.deliver_until - order.deliver_from).days + 1, 7)
        assert days == 0 and 1 <= weeks <= 8
        place = places[order.destination]
        assert (order.destination_zh, order.destination_latitude, order.destination_longitude) == (
            place.name_zh,
            place.latitude,
            place.longitude,
        )


def test_townships_are_the_places_lots_leave_from():
    assert synthetic.SPECIALTIES.keys() == ORIGINS.keys()
    assert synthetic.TOWNSHIPS == tuple(ORIGINS.values())
    for products in synthetic.SPECIALTIES.values():
        assert products and set(products) <= set(Product)


def _medians(session, column, product_column) -> dict[Product, int]:
    """Median price per product, in yuan per tonne."""
    medians = {}
    for product in Product:
        prices = sorted(session.execute(select(column).where(product_column == product)).scalars())
        medians[product] = prices[len(prices) // 2] // 100
    return medians


def test_prices_are_product_specific_asks_farm_gate_and_bids_delivered(engine):
    _generate(engine)
    with session_scope(engine) as session:
        asks = _medians(session, SupplyOffer.min_price_fen, SupplyOffer.product)
        bids = _medians(session, DemandOrder.max_price_fen, DemandOrder.product)
    # At the farm gate, in Zhaoyang.
    assert 4_500 <= asks[Product.apple] <= 6_000
    assert 1_200 <= asks[Product.vegetable] <= 2_200
    assert 800 <= asks[Product.potato] <= 1_300
    assert 6_500 <= asks[Product.egg] <= 8_000
    assert 50_000 <= asks[Product.sichuan_pepper] <= 70_000
    # Delivered in the east: freight is 550 to 1,000 yuan a tonne, 1,100 to 1,900 cold-chain.
    assert 6_000 <= bids[Product.apple] <= 8_500
    assert 2_000 <= bids[Product.vegetable] <= 3_500
    assert 1_500 <= bids[Product.potato] <= 2_400
    assert 8_000 <= bids[Product.egg] <= 10_500
    assert 55_000 <= bids[Product.sichuan_pepper] <= 80_000


def test_about_half_of_the_pairs_that_could_trade_are_worth_it_after_freight(engine):
    """Of the pairs that could trade (same product, grade good enough, windows meeting), 40-70% leave a surplus.

    The surplus is the delivered bid less the farm-gate ask and the freight from the cooperative's
    township to the order's destination: the rule the matcher trades by.
    """
    _generate(engine)
    with session_scope(engine) as session:
        cooperatives = {cooperative.id: cooperative for cooperative in session.execute(select(Cooperative)).scalars()}
        offers = session.execute(select(SupplyOffer)).scalars().all()
        orders = session.execute(select(DemandOrder).order_by(DemandOrder.id).limit(300)).scalars().all()
    by_product: dict[Product, list[SupplyOffer]] = {}
    for offer in offers:
        by_product.setdefault(offer.product, []).append(offer)
    pairs = compatible = worth = without_freight = 0
    for order in orders:
        freight_from: dict[int, int] = {}  # per cooperative, to this order's destination
        for offer in by_product[order.product]:
            pairs += 1
            if not (
                offer.grade.satisfies(order.min_grade)
                and offer.available_from <= order.deliver_until
                and order.deliver_from <= offer.available_until
            ):
                continue
            compatible += 1
            if offer.cooperative_id not in freight_from:
                cooperative = cooperatives[offer.cooperative_id]
                freight_from[offer.cooperative_id] = freight(offer.product, cooperative, order)
            worth += order.max_price_fen - offer.min_price_fen - freight_from[offer.cooperative_id] > 0
            without_freight += order.max_price_fen > offer.min_price_fen
    assert 0.03 < compatible / pairs < 0.5
    assert 0.4 < worth / compatible < 0.7
    # Bids are delivered prices: were freight free, most compatible pairs would trade.
    assert without_freight / compatible > 0.8


def test_supply_exceeds_demand_a_little(engine):
    _generate(engine)
    with session_scope(engine) as session:
        supply = int(session.execute(select(func.sum(SupplyOffer.quantity_kg))).scalar_one())
        demand = int(session.execute(select(func.sum(DemandOrder.quantity_kg))).scalar_one())
    assert demand < supply < demand * 3 // 2


def test_one_audit_event_per_batch(engine):
    _generate(engine)
    with session_scope(engine) as session:
        events = session.execute(select(AuditEvent)).scalars().all()
    assert len(events) == 1
    event = events[0]
    assert (event.action, event.actor, event.object_type, event.account_id) == (
        "seed.synthetic",
        "system:seed",
        "supply_offer",
        None,
    )
    assert event.after == {"offers": SIZE, "orders": SIZE, "random_seed": SEED}


def test_a_second_batch_does_not_collide(engine):
    _generate(engine)
    _generate(engine)  # the same seed again: the same book, under new names
    _generate(engine, random_seed=SEED + 1)
    with session_scope(engine) as session:
        names = list(session.execute(select(Cooperative.name)).scalars())
        buyer_names = list(session.execute(select(Buyer.name)).scalars())
        offers = session.execute(select(func.count()).select_from(SupplyOffer)).scalar_one()
        batches = session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "seed.synthetic")
        ).scalar_one()
    assert len(names) == len(set(names)) == 60
    assert len(buyer_names) == len(set(buyer_names)) == 30
    assert offers == 3 * SIZE
    assert batches == 3


def test_on_top_of_the_scenario(engine):
    with session_scope(engine) as session:
        scenario = load_scenario(session)
    counts = _generate(engine)
    with session_scope(engine) as session:
        offers = session.execute(select(func.count()).select_from(SupplyOffer)).scalar_one()
        cooperatives = session.execute(select(func.count()).select_from(Cooperative)).scalar_one()
    assert offers == scenario["offers"] + counts["offers"]
    assert cooperatives == scenario["cooperatives"] + counts["cooperatives"]
    # The scenario still loads as already loaded.
    with session_scope(engine) as session:
        assert set(load_scenario(session).values()) == {0}


def test_progress_reports_every_chunk(engine, monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_SIZE", 300)
    reports: list[int] = []
    _generate(engine, size=1000, progress=reports.append)
    assert reports == [300, 300, 300, 100] * 2
    with session_scope(engine) as session:
        assert session.execute(select(func.count()).select_from(DemandOrder)).scalar_one() == 1000


def test_size_must_be_positive(engine):
    with session_scope(engine) as session, pytest.raises(ValueError):
        generate_book(session, size=0, random_seed=1)


def test_windows_lie_in_the_season(engine):
    _generate(engine)
    last = synthetic.SEASON_START + timedelta(weeks=synthetic.SEASON_WEEKS + 8)
    with session_scope(engine) as session:
        earliest = session.execute(select(func.min(SupplyOffer.available_from))).scalar_one()
        latest = session.execute(select(func.max(DemandOrder.deliver_until))).scalar_one()
    assert synthetic.SEASON_START <= earliest
    assert latest <= last
