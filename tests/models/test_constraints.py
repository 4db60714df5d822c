"""Conservation is enforced by the database itself, so no code path (or second worker) can break it."""

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from market.db import session_scope
from market.models import Buyer, Cooperative, DemandOrder, PurchaseAgreement, SupplyOffer


@pytest.fixture
def rows(engine):
    with session_scope(engine) as session:
        cooperative = Cooperative(
            name="c",
            name_zh="c",
            township="t",
            county="z",
            latitude=27.4,
            longitude=103.6,
            member_households=10,
            poor_households=5,
        )
        buyer = Buyer(name="b", name_zh="b", city="Dongguan", latitude=23.0, longitude=113.7)
        session.add_all([cooperative, buyer])
        session.flush()
        offer = SupplyOffer(
            cooperative_id=cooperative.id,
            product="apple",
            grade="first",
            quantity_kg=1000,
            min_price_fen=100,
            available_from=date(2020, 9, 1),
            available_until=date(2020, 9, 30),
        )
        agreement = PurchaseAgreement(
            buyer_id=buyer.id,
            cooperative_id=cooperative.id,
            product="apple",
            quantity_kg=5000,
            price_fen=100,
            valid_from=date(2020, 9, 1),
            valid_until=date(2020, 12, 31),
        )
        session.add_all([offer, agreement])
        session.flush()
        order = DemandOrder(
            buyer_id=buyer.id,
            product="apple",
            min_grade="second",
            quantity_kg=1000,
            max_price_fen=100,
            deliver_from=date(2020, 9, 1),
            deliver_until=date(2020, 9, 30),
            destination="Dongguan",
            destination_latitude=23.0,
            destination_longitude=113.7,
        )
        session.add(order)
        session.flush()
        return {"offer": offer.id, "order": order.id, "agreement": agreement.id}


@pytest.mark.parametrize(
    "model, key, changes",
    [
        (SupplyOffer, "offer", {"contracted_kg": 1001}),
        (SupplyOffer, "offer", {"contracted_kg": 600, "withdrawn_kg": 401}),
        (SupplyOffer, "offer", {"contracted_kg": -1}),
        (SupplyOffer, "offer", {"status": "lost"}),
        (SupplyOffer, "offer", {"available_until": date(2020, 8, 1)}),
        (DemandOrder, "order", {"contracted_kg": 700, "cancelled_kg": 301}),
        (DemandOrder, "order", {"max_price_fen": 0}),
        (PurchaseAgreement, "agreement", {"called_off_kg": 5001}),
        (PurchaseAgreement, "agreement", {"called_off_kg": 100, "contracted_kg": 101}),
    ],
)
def test_the_database_refuses_to_break_conservation(engine, rows, model, key, changes):
    # Plain SQL, past every Python-side check: only the database's constraints stand in the way.
    assignments = ", ".join(f"{name} = :{name}" for name in changes)
    statement = text(f"UPDATE {model.__tablename__} SET {assignments} WHERE id = :id")
    with pytest.raises(IntegrityError):
        with engine.begin() as connection:
            connection.execute(statement, {**changes, "id": rows[key]})


def test_the_limits_themselves_are_allowed(engine, rows):
    with session_scope(engine) as session:
        offer = session.get(SupplyOffer, rows["offer"])
        offer.contracted_kg, offer.withdrawn_kg = 600, 400
        agreement = session.get(PurchaseAgreement, rows["agreement"])
        agreement.called_off_kg = agreement.contracted_kg = 5000
        session.add_all([offer, agreement])
