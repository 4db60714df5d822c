"""Demand orders: posted by a buyer (on the open market or called off against an agreement)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Executable, bindparam, null, or_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from market.db import as_loaded
from market.models import Buyer, DemandOrder, PurchaseAgreement
from market.models.common import OrderStatus, Product, Role, utcnow
from market.models.order import OrderCreate
from market.places import Place, find_destination
from market.services.actors import Actor
from market.services.audit import audit_written, event_values, record_event, snapshot, with_its_event
from market.services.bulk import destination_columns
from market.services.errors import Conflict, Invalid, NotFound
from market.services.listing import PageRequest, fetch_page
from market.units import kg_to_tonnes, tonnes_to_kg, yuan_to_fen

# What cooperatives may browse: orders that still want tonnes.
BROWSABLE = (OrderStatus.open, OrderStatus.partially_matched)


def create_order(session: Session, *, actor: Actor, data: OrderCreate) -> DemandOrder:
    actor.require(Role.buyer)
    place = None if data.destination is None else find_destination(data.destination)
    if data.agreement_id is None and (data.destination is None or place is not None):
        return _create_open_market_order(session, actor=actor, data=data, place=place)
    buyer = session.get(Buyer, actor.buyer_id)
    if buyer is None:
        raise NotFound("the account's buyer no longer exists")
    if data.reference is not None and _reference_taken(session, buyer.id, data.reference):
        raise Conflict("an order with this reference exists", [("reference", "already used by this buyer")])
    order = DemandOrder(
        buyer_id=buyer.id,
        reference=data.reference,
        product=data.product,
        min_grade=data.min_grade,
        quantity_kg=tonnes_to_kg(data.tonnes),
        max_price_fen=yuan_to_fen(data.max_price_per_tonne),
        deliver_from=data.deliver_from,
        deliver_until=data.deliver_until,
        **_destination(data.destination, buyer),
    )
    if data.agreement_id is not None:
        agreement = _call_off(session, actor=actor, buyer=buyer, order=order, agreement_id=data.agreement_id)
        order.agreement_id = agreement.id
    session.add(order)
    session.flush()
    record_event(session, actor=actor, action="order.create", row=order)
    return order


_ORDERS = DemandOrder.__table__  # type: ignore[attr-defined]
_BUYERS = Buyer.__table__  # type: ignore[attr-defined]
_DESTINATION = ("destination", "destination_zh", "destination_latitude", "destination_longitude")


def _create_open_market_order(session: Session, *, actor: Actor, data: OrderCreate, place: Place | None) -> DemandOrder:
    """create_order for the common case, an open-market order to a known place, in one statement:

        INSERT INTO demand_order (...) SELECT <the order>, <the buyer's city when no destination>
        FROM buyer WHERE buyer.id = :buyer ON CONFLICT (buyer_id, reference) DO NOTHING RETURNING ...

    instead of reading the buyer, looking the reference up and flushing an ORM object (three
    round trips, and the unit of work's CPU). No row back means no buyer or a used reference:
    only then is one more query made, to say which, with create_order's errors. The audit event
    is the one record_event writes; on PostgreSQL the same statement writes it (a second CTE),
    built by the database from the row as stored.
    """
    now = utcnow()
    values: dict[str, object] = {
        "buyer_id": actor.buyer_id,
        "agreement_id": None,
        "reference": data.reference,
        "product": data.product,
        "min_grade": data.min_grade,
        "quantity_kg": tonnes_to_kg(data.tonnes),
        "contracted_kg": 0,
        "cancelled_kg": 0,
        "max_price_fen": yuan_to_fen(data.max_price_per_tonne),
        "deliver_from": data.deliver_from,
        "deliver_until": data.deliver_until,
        "status": OrderStatus.open,
        "created_at": now,
        "updated_at": now,
    }
    if place is not None:
        values |= dict(zip(_DESTINATION, (place.name, place.name_zh, place.latitude, place.longitude), strict=True))
    dialect = session.get_bind().dialect.name
    statement = _open_market_insert(dialect, place is None, data.reference is not None)
    audited_here = dialect == "postgresql"
    parameters = {"buyer": actor.buyer_id, **values} | (event_values(actor, now) if audited_here else {})
    row = session.execute(statement, parameters).first()
    if row is None:
        if session.get(Buyer, actor.buyer_id) is None:
            raise NotFound("the account's buyer no longer exists")
        raise Conflict("an order with this reference exists", [("reference", "already used by this buyer")])
    values |= row._asdict()
    # As if loaded: in the session, and an UPDATE (not a second INSERT) if the caller changes it.
    order = as_loaded(DemandOrder, values)
    session.add(order)
    audit_written(session, actor=actor, action="order.create", table=_ORDERS, row=values)
    return order


# The columns _create_open_market_order gives itself (all but the id and the destination, which may
# come from the buyer's row), in the order the statement takes them; derived as offers' are.
_GIVEN = tuple(column.name for column in _ORDERS.c if column.name not in ("id", *_DESTINATION))


@cache
def _open_market_insert(dialect: str, to_buyer_city: bool, with_reference: bool) -> Executable:
    """The one statement of `_create_open_market_order`, built once per shape: its values are bound
    parameters named as the columns (the buyer's id as `buyer`)."""
    selected = [bindparam(name, type_=_ORDERS.c[name].type) for name in _GIVEN]
    if to_buyer_city:  # delivered to the buyer's own city, as create_order does
        selected += [_BUYERS.c.city, null(), _BUYERS.c.latitude, _BUYERS.c.longitude]
    else:
        selected += [bindparam(name, type_=_ORDERS.c[name].type) for name in _DESTINATION]
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    source = select(*selected).where(_BUYERS.c.id == bindparam("buyer"))
    statement = upsert(_ORDERS).from_select([*_GIVEN, *_DESTINATION], source)
    if with_reference:
        statement = statement.on_conflict_do_nothing(index_elements=["buyer_id", "reference"])
    if dialect != "postgresql":
        return statement.returning(_ORDERS.c.id, *(_ORDERS.c[name] for name in _DESTINATION))
    # The order and its audit event in one round trip: WITH t AS (INSERT ... RETURNING *),
    # event AS (INSERT INTO audit_event ... SELECT ... FROM t) SELECT id, destination FROM t.
    written, event = with_its_event(statement, _ORDERS, "order.create")
    return select(written.c.id, *(written.c[name] for name in _DESTINATION)).add_cte(event)


def _reference_taken(session: Session, buyer_id: int, reference: str) -> bool:
    statement = select(DemandOrder.id).where(DemandOrder.buyer_id == buyer_id, DemandOrder.reference == reference)
    return session.exec(statement).first() is not None


def _destination(name: str | None, buyer: Buyer) -> dict[str, object]:
    columns = destination_columns(name, buyer)
    if columns is None:
        raise Invalid.field("destination", "unknown destination: see GET /api/v1/destinations")
    return columns


def _call_off(
    session: Session, *, actor: Actor, buyer: Buyer, order: DemandOrder, agreement_id: int
) -> PurchaseAgreement:
    """Count the order against its agreement, which must have the tonnes left."""
    agreement = session.exec(
        select(PurchaseAgreement).where(PurchaseAgreement.id == agreement_id).with_for_update()
    ).first()
    if agreement is None or agreement.buyer_id != buyer.id:
        raise Invalid.field("agreement_id", "no such agreement")
    if agreement.product != order.product:
        raise Invalid.field("product", f"the agreement is for {agreement.product.value}")
    if order.deliver_from < agreement.valid_from:
        raise Invalid.field("deliver_from", f"before the agreement starts ({agreement.valid_from})")
    if order.deliver_until > agreement.valid_until:
        raise Invalid.field("deliver_until", f"after the agreement ends ({agreement.valid_until})")
    if order.max_price_fen < agreement.price_fen:
        raise Invalid.field("max_price_per_tonne", "below the agreement's price")
    if order.quantity_kg > agreement.remaining_kg:
        raise Conflict(
            f"agreement {agreement.id} has {kg_to_tonnes(agreement.remaining_kg)} t left to call off",
            [("tonnes", f"at most {kg_to_tonnes(agreement.remaining_kg)} t remain on the agreement")],
        )
    _change_called_off(session, actor, agreement, order.quantity_kg, "agreement.call_off")
    return agreement


def _change_called_off(session: Session, actor: Actor, agreement: PurchaseAgreement, kg: int, action: str) -> None:
    before = snapshot(agreement)
    agreement.called_off_kg += kg
    agreement.updated_at = utcnow()
    session.add(agreement)
    session.flush()
    record_event(session, actor=actor, action=action, row=agreement, before=before)


def _visible(actor: Actor):
    """Admins see every order, a buyer its own, a cooperative the open market plus its agreements' call-offs."""
    statement = select(DemandOrder)
    if actor.role == Role.buyer:
        return statement.where(DemandOrder.buyer_id == actor.buyer_id)
    if actor.role == Role.cooperative:
        own_agreements = select(PurchaseAgreement.id).where(PurchaseAgreement.cooperative_id == actor.cooperative_id)
        return statement.where(
            DemandOrder.status.in_(BROWSABLE),
            or_(DemandOrder.agreement_id.is_(None), DemandOrder.agreement_id.in_(own_agreements)),
        )
    return statement


def list_orders(
    session: Session,
    *,
    actor: Actor,
    page: PageRequest,
    status: OrderStatus | None = None,
    product: Product | None = None,
) -> tuple[list[DemandOrder], int]:
    statement = _visible(actor)
    if status is not None:
        statement = statement.where(DemandOrder.status == status)
    if product is not None:
        statement = statement.where(DemandOrder.product == product)
    return fetch_page(session, statement, page, DemandOrder.id)


def get_order(session: Session, *, actor: Actor, order_id: int, for_update: bool = False) -> DemandOrder:
    statement = _visible(actor).where(DemandOrder.id == order_id)
    if for_update:
        statement = statement.with_for_update()
    order = session.exec(statement).first()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def cancel_order(session: Session, *, actor: Actor, order_id: int) -> DemandOrder:
    """Cancel what is still unmatched; an agreement gets the cancelled tonnes back to call off again."""
    actor.require(Role.buyer, Role.admin)
    order = get_order(session, actor=actor, order_id=order_id, for_update=True)
    if order.status not in BROWSABLE or order.remaining_kg == 0:
        raise Conflict(f"order {order_id} is {order.status.value}: nothing is left to cancel")
    before = snapshot(order)
    remainder = order.remaining_kg
    if order.agreement_id is not None:
        agreement = session.exec(
            select(PurchaseAgreement).where(PurchaseAgreement.id == order.agreement_id).with_for_update()
        ).one()
        _change_called_off(session, actor, agreement, -remainder, "agreement.release")
    order.cancelled_kg += remainder
    order.status = OrderStatus.cancelled
    order.updated_at = utcnow()
    session.add(order)
    session.flush()
    record_event(session, actor=actor, action="order.cancel", row=order, before=before)
    return order
