"""Supply offers: posted by a cooperative, browsed by buyers, withdrawn by their owner."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Executable, bindparam
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from market.db import as_loaded
from market.models import Cooperative, SupplyOffer
from market.models.common import OfferStatus, Product, Role, utcnow
from market.models.offer import OfferCreate
from market.services.actors import Actor
from market.services.audit import audit_written, event_values, record_event, snapshot, with_its_event
from market.services.errors import Conflict, NotFound
from market.services.listing import PageRequest, fetch_page
from market.units import tonnes_to_kg, yuan_to_fen

# What buyers may browse: lots that still have tonnes to sell.
BROWSABLE = (OfferStatus.open, OfferStatus.partially_matched)


_OFFERS = SupplyOffer.__table__  # type: ignore[attr-defined]
_COOPERATIVES = Cooperative.__table__  # type: ignore[attr-defined]


def create_offer(session: Session, *, actor: Actor, data: OfferCreate) -> tuple[SupplyOffer, Cooperative]:
    """A cooperative's lot, in one statement (as an open-market order is):

        INSERT INTO supply_offer (...) SELECT <the lot> FROM cooperative WHERE cooperative.id = :cooperative
        ON CONFLICT (cooperative_id, reference) DO NOTHING RETURNING ...

    No row back means no cooperative or a used reference: only then is one more query made, to say
    which. On PostgreSQL the same statement writes the audit event, built by the database from the
    row as stored, and reads the cooperative back for the answer."""
    actor.require(Role.cooperative)
    if actor.cooperative_id is None:
        raise NotFound("the account names no cooperative")
    now = utcnow()
    values = offer_row(data, actor.cooperative_id, now)
    postgresql = session.get_bind().dialect.name == "postgresql"
    statement = _offer_insert(postgresql, data.reference is not None)
    parameters = {"cooperative": actor.cooperative_id, **values} | (event_values(actor, now) if postgresql else {})
    row = session.execute(statement, parameters).first()
    if row is None:
        if session.get(Cooperative, actor.cooperative_id) is None:
            raise NotFound("the account's cooperative no longer exists")
        raise Conflict("an offer with this reference exists", [("reference", "already used by this cooperative")])
    written = row._asdict()
    values["id"] = written.pop(_OFFER_ID)
    # As if loaded: in the session, and an UPDATE (not a second INSERT) if the caller changes it.
    offer = as_loaded(SupplyOffer, values)
    session.add(offer)
    # The cooperative as read by the statement, for the answer; not added to the session, which may
    # hold it already.
    cooperative = as_loaded(Cooperative, written) if postgresql else session.get(Cooperative, actor.cooperative_id)
    audit_written(session, actor=actor, action="offer.create", table=_OFFERS, row=values)
    return offer, cooperative


def offer_row(data: OfferCreate, cooperative_id: int, now: datetime) -> dict[str, Any]:
    """A new lot's row, every column but its id: for one offer, and for each of a batch or an import."""
    return {
        "cooperative_id": cooperative_id,
        "reference": data.reference,
        "product": data.product,
        "variety": data.variety,
        "grade": data.grade,
        "brand": data.brand,
        "quantity_kg": tonnes_to_kg(data.tonnes),
        "contracted_kg": 0,
        "withdrawn_kg": 0,
        "min_price_fen": yuan_to_fen(data.min_price_per_tonne),
        "available_from": data.available_from,
        "available_until": data.available_until,
        "status": OfferStatus.open,
        "created_at": now,
        "updated_at": now,
    }


# The columns create_offer gives itself (all but the id: `offer_row`), in the order the statement takes them.
_GIVEN = tuple(column.name for column in _OFFERS.c if column.name != "id")
_OFFER_ID = "offer_id"  # the new offer's id, beside the cooperative's columns in the statement's row


@cache
def _offer_insert(postgresql: bool, with_reference: bool) -> Executable:
    """The one statement of `create_offer`, built once per shape: its values are bound parameters
    named as the columns (the cooperative's id as `cooperative`)."""
    selected = [bindparam(name, type_=_OFFERS.c[name].type) for name in _GIVEN]
    source = select(*selected).where(_COOPERATIVES.c.id == bindparam("cooperative"))
    statement = (postgresql_insert if postgresql else sqlite_insert)(_OFFERS).from_select(_GIVEN, source)
    if with_reference:
        statement = statement.on_conflict_do_nothing(index_elements=["cooperative_id", "reference"])
    if not postgresql:
        return statement.returning(_OFFERS.c.id.label(_OFFER_ID))
    # WITH t AS (INSERT ... RETURNING *), event AS (INSERT INTO audit_event ... SELECT ... FROM t)
    # SELECT t.id, cooperative.* FROM t JOIN cooperative: the lot, its event and its cooperative at once.
    written, event = with_its_event(statement, _OFFERS, "offer.create")
    return (
        select(written.c.id.label(_OFFER_ID), *_COOPERATIVES.c)
        .join_from(written, _COOPERATIVES, _COOPERATIVES.c.id == written.c.cooperative_id)
        .add_cte(event)
    )


def _visible(actor: Actor):
    """The offers this actor may see: admins all, a cooperative its own, a buyer the open market."""
    statement = select(SupplyOffer, Cooperative).join(Cooperative, Cooperative.id == SupplyOffer.cooperative_id)
    if actor.role == Role.cooperative:
        return statement.where(SupplyOffer.cooperative_id == actor.cooperative_id)
    if actor.role == Role.buyer:
        return statement.where(SupplyOffer.status.in_(BROWSABLE))
    return statement


def list_offers(
    session: Session,
    *,
    actor: Actor,
    page: PageRequest,
    status: OfferStatus | None = None,
    product: Product | None = None,
) -> tuple[list[tuple[SupplyOffer, Cooperative]], int]:
    statement = _visible(actor)
    if status is not None:
        statement = statement.where(SupplyOffer.status == status)
    if product is not None:
        statement = statement.where(SupplyOffer.product == product)
    return fetch_page(session, statement, page, SupplyOffer.id)


def get_offer(
    session: Session, *, actor: Actor, offer_id: int, for_update: bool = False
) -> tuple[SupplyOffer, Cooperative]:
    statement = _visible(actor).where(SupplyOffer.id == offer_id)
    if for_update:
        statement = statement.with_for_update(of=SupplyOffer)
    row = session.exec(statement).first()
    if row is None:
        raise NotFound(f"offer {offer_id} not found")
    return row[0], row[1]


def withdraw_offer(session: Session, *, actor: Actor, offer_id: int) -> tuple[SupplyOffer, Cooperative]:
    """Take the unmatched remainder off the market; tonnes already contracted stay contracted."""
    actor.require(Role.cooperative, Role.admin)
    offer, cooperative = get_offer(session, actor=actor, offer_id=offer_id, for_update=True)
    if offer.status not in BROWSABLE or offer.remaining_kg == 0:
        raise Conflict(f"offer {offer_id} is {offer.status.value}: nothing is left to withdraw")
    before = snapshot(offer)
    offer.withdrawn_kg += offer.remaining_kg
    offer.status = OfferStatus.withdrawn
    offer.updated_at = utcnow()
    session.add(offer)
    session.flush()
    record_event(session, actor=actor, action="offer.withdraw", row=offer, before=before)
    return offer, cooperative
