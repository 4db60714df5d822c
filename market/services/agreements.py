"""Purchase agreements: brokered by the cooperation office between one buyer and one cooperative."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, select

from market.models import Buyer, Cooperative, PurchaseAgreement
from market.models.agreement import AgreementCreate
from market.models.common import Product, Role
from market.services.actors import Actor
from market.services.audit import record_event
from market.services.errors import Conflict, Invalid, NotFound
from market.services.listing import PageRequest, fetch_page
from market.units import tonnes_to_kg, yuan_to_fen


def create_agreement(session: Session, *, actor: Actor, data: AgreementCreate) -> PurchaseAgreement:
    actor.require(Role.admin)
    if session.get(Buyer, data.buyer_id) is None:
        raise Invalid.field("buyer_id", "no such buyer")
    if session.get(Cooperative, data.cooperative_id) is None:
        raise Invalid.field("cooperative_id", "no such cooperative")
    if data.reference is not None:
        taken = select(PurchaseAgreement.id).where(PurchaseAgreement.reference == data.reference)
        if session.exec(taken).first() is not None:
            raise Conflict("an agreement with this reference exists", [("reference", "already used")])
    agreement = PurchaseAgreement(
        reference=data.reference,
        buyer_id=data.buyer_id,
        cooperative_id=data.cooperative_id,
        product=data.product,
        quantity_kg=tonnes_to_kg(data.tonnes),
        price_fen=yuan_to_fen(data.price_per_tonne),
        valid_from=data.valid_from,
        valid_until=data.valid_until,
    )
    session.add(agreement)
    session.flush()
    record_event(session, actor=actor, action="agreement.create", row=agreement)
    return agreement


def _visible(actor: Actor):
    """Admins see every agreement; each party sees the ones it signed."""
    statement = select(PurchaseAgreement)
    if actor.role == Role.buyer:
        return statement.where(PurchaseAgreement.buyer_id == actor.buyer_id)
    if actor.role == Role.cooperative:
        return statement.where(PurchaseAgreement.cooperative_id == actor.cooperative_id)
    return statement


def list_agreements(
    session: Session, *, actor: Actor, page: PageRequest, product: Product | None = None
) -> tuple[list[PurchaseAgreement], int]:
    statement = _visible(actor)
    if product is not None:
        statement = statement.where(PurchaseAgreement.product == product)
    return fetch_page(session, statement, page, PurchaseAgreement.id)


def get_agreement(session: Session, *, actor: Actor, agreement_id: int) -> PurchaseAgreement:
    agreement = session.exec(_visible(actor).where(PurchaseAgreement.id == agreement_id)).first()
    if agreement is None:
        raise NotFound(f"agreement {agreement_id} not found")
    return agreement


# How far the delivered share may trail the share of the season gone before an agreement is behind.
PACE_MARGIN = Decimal("0.10")


@dataclass(frozen=True)
class Progress:
    fulfilled_share: Decimal
    days_left: int
    behind_pace: bool


def progress(agreement: PurchaseAgreement, today: date) -> Progress:
    """How far along an agreement is on `today`, and whether deliveries keep pace with the calendar."""
    delivered = Decimal(agreement.delivered_kg) / agreement.quantity_kg
    season = (agreement.valid_until - agreement.valid_from).days + 1
    elapsed = min(max((today - agreement.valid_from).days + 1, 0), season)
    expected = Decimal(elapsed) / season
    return Progress(
        fulfilled_share=delivered.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
        days_left=max((agreement.valid_until - today).days, 0),
        behind_pace=delivered < expected - PACE_MARGIN,
    )
