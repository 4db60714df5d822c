"""Supply offers: posted by a cooperative, browsed by buyers, withdrawn by their owner."""

from __future__ import annotations

from sqlmodel import Session, select

from market.models import Cooperative, SupplyOffer
from market.models.common import OfferStatus, Product, Role, utcnow
from market.models.offer import OfferCreate
from market.services.actors import Actor
from market.services.audit import record_event, snapshot
from market.services.errors import Conflict, NotFound
from market.services.listing import PageRequest, fetch_page
from market.units import tonnes_to_kg, yuan_to_fen

# What buyers may browse: lots that still have tonnes to sell.
BROWSABLE = (OfferStatus.open, OfferStatus.partially_matched)


def create_offer(session: Session, *, actor: Actor, data: OfferCreate) -> tuple[SupplyOffer, Cooperative]:
    actor.require(Role.cooperative)
    cooperative = session.get(Cooperative, actor.cooperative_id)
    if cooperative is None:
        raise NotFound("the account's cooperative no longer exists")
    if data.reference is not None and _reference_taken(session, cooperative.id, data.reference):
        raise Conflict("an offer with this reference exists", [("reference", "already used by this cooperative")])
    offer = SupplyOffer(
        cooperative_id=cooperative.id,
        reference=data.reference,
        product=data.product,
        variety=data.variety,
        grade=data.grade,
        brand=data.brand,
        quantity_kg=tonnes_to_kg(data.tonnes),
        min_price_fen=yuan_to_fen(data.min_price_per_tonne),
        available_from=data.available_from,
        available_until=data.available_until,
    )
    session.add(offer)
    session.flush()
    record_event(session, actor=actor, action="offer.create", row=offer)
    return offer, cooperative


def _reference_taken(session: Session, cooperative_id: int, reference: str) -> bool:
    statement = select(SupplyOffer.id).where(
        SupplyOffer.cooperative_id == cooperative_id, SupplyOffer.reference == reference
    )
    return session.exec(statement).first() is not None


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
