"""The open-market order's one-statement path hands back a row built as if loaded: the same as the ORM
loads it, and an UPDATE (not a second INSERT) when the caller changes it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, inspect, select
from sqlmodel import Session

from market.db import session_scope
from market.models import AuditEvent, DemandOrder
from market.models.common import Grade, Product, as_utc
from market.models.order import OrderCreate
from market.services import orders
from market.services.actors import Actor
from market.services.audit import snapshot


def _utc(row: dict) -> dict:
    return row | {name: as_utc(row[name]) for name in ("created_at", "updated_at")}


def _order() -> OrderCreate:
    return OrderCreate(
        product=Product.apple,
        min_grade=Grade.second,
        tonnes=Decimal("36.5"),
        max_price_per_tonne=Decimal("7500.00"),
        deliver_from=date(2020, 10, 5),
        deliver_until=date(2020, 11, 1),
        destination="dongguan-shijie",
        reference="po-1",
    )


def test_the_created_order_is_the_row_as_loaded_and_changes_to_it_are_updates(engine, world):
    buyer = Actor(role="buyer", label="account:bench", account_id=None, buyer_id=world.buyer_id)
    with session_scope(engine) as session:
        created = orders.create_order(session, actor=buyer, data=_order())
        state = inspect(created)
        assert state.persistent and not session.dirty and not session.new
        given = created.model_dump()
        created.reference = "po-1-renamed"
    with Session(engine) as session:
        loaded = session.get(DemandOrder, created.id)
        # (SQLite hands times back without their zone; they are UTC.)
        assert _utc(loaded.model_dump()) == _utc(given) | {"reference": "po-1-renamed"}
        assert session.scalar(select(func.count()).select_from(DemandOrder)) == 1
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.object_type == "demand_order")).all()
    assert event.after == snapshot(loaded) | {"reference": "po-1"}
