"""The fulfilment ledger: deliveries against confirmed contracts, their acceptance, and closing short.

A contract moves confirmed -> in_delivery -> fulfilled (the accepted tonnes come within the
tolerance of the contracted tonnes) or -> closed_short (an admin closes it with a reason; the
tonnes never accepted go back to the order). Shipped never exceeds contracted + tolerance,
accepted never exceeds shipped, and revenue is earned on accepted tonnes x the contract price,
rounded to the fen once per delivery.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from market.models import AuditEvent, Contract, Delivery, PurchaseAgreement
from market.models.common import ContractStatus, DeliveryStatus, Role, utcnow
from market.models.contract import DeliveryAccept, DeliveryCreate
from market.services.actors import Actor
from market.services.audit import events_about, record_event, snapshot
from market.services.contracts import get_contract
from market.services.errors import Conflict, Invalid, NotFound
from market.services.listing import PageRequest, fetch_page
from market.services.reservations import reserve
from market.units import kg_to_tonnes, tonnes_to_kg, value_fen

OPEN_FOR_DELIVERY = (ContractStatus.confirmed, ContractStatus.in_delivery)


def shipping_cap_kg(contract: Contract, tolerance_percent: int) -> int:
    """The most that may be shipped against a contract: contracted + tolerance, whole kg."""
    return contract.quantity_kg * (100 + tolerance_percent) // 100


def fulfilment_floor_kg(contract: Contract, tolerance_percent: int) -> int:
    """Accepting this much fulfils a contract: contracted - tolerance, rounded up to the kg."""
    return -(-contract.quantity_kg * (100 - tolerance_percent) // 100)


def _contract_for(session: Session, actor: Actor, contract_id: int) -> Contract:
    """The contract, locked, if `actor` is an admin or one of its parties; NotFound otherwise."""
    statement = select(Contract).where(Contract.id == contract_id).with_for_update()
    if actor.role == Role.cooperative:
        statement = statement.where(Contract.cooperative_id == actor.cooperative_id)
    elif actor.role == Role.buyer:
        statement = statement.where(Contract.buyer_id == actor.buyer_id)
    contract = session.exec(statement).first()
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    return contract


def record_delivery(
    session: Session, *, actor: Actor, contract_id: int, data: DeliveryCreate, tolerance_percent: int, today: date
) -> Delivery:
    """The contract's cooperative ships tonnes against it."""
    actor.require(Role.cooperative, Role.admin)
    contract = _contract_for(session, actor, contract_id)
    if contract.status not in OPEN_FOR_DELIVERY:
        raise Conflict(f"contract {contract_id} is {contract.status.value}: it takes no deliveries")
    if data.shipped_on > today:
        raise Invalid.field("shipped_on", "cannot be in the future")
    kg = tonnes_to_kg(data.tonnes)
    room = shipping_cap_kg(contract, tolerance_percent) - contract.shipped_kg
    if kg > room:
        raise Conflict(
            f"contract {contract_id} can take {kg_to_tonnes(max(room, 0))} t more",
            [("tonnes", f"at most {kg_to_tonnes(max(room, 0))} t more may be shipped ({tolerance_percent}% over)")],
        )
    delivery = Delivery(
        contract_id=contract.id,
        shipped_kg=kg,
        shipped_on=data.shipped_on,
        ticket=data.ticket,
        recorded_by_id=actor.account_id,
    )
    session.add(delivery)
    before = snapshot(contract)
    contract.shipped_kg += kg
    contract.status = ContractStatus.in_delivery
    contract.updated_at = utcnow()
    session.add(contract)
    session.flush()
    record_event(session, actor=actor, action="delivery.record", row=delivery)
    record_event(session, actor=actor, action="contract.ship", row=contract, before=before)
    return delivery


def accept_delivery(
    session: Session, *, actor: Actor, delivery_id: int, data: DeliveryAccept, tolerance_percent: int
) -> Delivery:
    """The contract's buyer takes delivery at the weighbridge: accepted tonnes earn revenue."""
    actor.require(Role.buyer, Role.admin)
    delivery = session.exec(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found")
    try:
        contract = _contract_for(session, actor, delivery.contract_id)
    except NotFound:
        raise NotFound(f"delivery {delivery_id} not found") from None
    if delivery.status != DeliveryStatus.shipped:
        raise Conflict(f"delivery {delivery_id} was already accepted")
    accepted = tonnes_to_kg(data.accepted_tonnes)
    rejected = delivery.shipped_kg - accepted if data.rejected_tonnes is None else tonnes_to_kg(data.rejected_tonnes)
    if accepted > delivery.shipped_kg:
        raise Invalid.field("accepted_tonnes", f"more than the {kg_to_tonnes(delivery.shipped_kg)} t shipped")
    # Every shipped kilogram is accounted for: what is not accepted is rejected (with a reason).
    if accepted + rejected != delivery.shipped_kg:
        raise Invalid.field(
            "rejected_tonnes",
            f"accepted and rejected must add up to the {kg_to_tonnes(delivery.shipped_kg)} t shipped",
        )
    if rejected > 0 and not data.reason:
        raise Invalid.field("reason", "say why tonnes were rejected")

    before_delivery, before_contract = snapshot(delivery), snapshot(contract)
    # Rounded on the running total, not per delivery: a contract delivered in full earns exactly its value.
    revenue = value_fen(contract.accepted_kg + accepted, contract.price_fen) - contract.earned_fen
    delivery.accepted_kg, delivery.rejected_kg, delivery.reject_reason = accepted, rejected, data.reason
    delivery.revenue_fen = revenue
    delivery.status = DeliveryStatus.accepted
    delivery.accepted_at = utcnow()
    delivery.accepted_by_id = actor.account_id
    contract.accepted_kg += accepted
    contract.earned_fen += revenue
    if contract.status == ContractStatus.in_delivery and contract.accepted_kg >= fulfilment_floor_kg(
        contract, tolerance_percent
    ):
        contract.status = ContractStatus.fulfilled
    contract.updated_at = utcnow()
    session.add_all([delivery, contract])
    if contract.agreement_id is not None:
        agreement = session.exec(
            select(PurchaseAgreement).where(PurchaseAgreement.id == contract.agreement_id).with_for_update()
        ).one()
        before_agreement = snapshot(agreement)
        agreement.delivered_kg += accepted
        agreement.earned_fen += revenue
        agreement.updated_at = utcnow()
        session.add(agreement)
        session.flush()
        record_event(session, actor=actor, action="agreement.deliver", row=agreement, before=before_agreement)
    session.flush()
    record_event(session, actor=actor, action="delivery.accept", row=delivery, before=before_delivery)
    record_event(session, actor=actor, action="contract.accept", row=contract, before=before_contract)
    return delivery


def close_contract(session: Session, *, actor: Actor, contract_id: int, reason: str) -> Contract:
    """An admin closes a contract short: the tonnes never accepted go back to the order (and its agreement)."""
    actor.require(Role.admin)
    contract = _contract_for(session, actor, contract_id)
    if contract.status not in OPEN_FOR_DELIVERY:
        raise Conflict(f"contract {contract_id} is {contract.status.value}: only an open contract can be closed")
    pending = select(Delivery.id).where(Delivery.contract_id == contract_id, Delivery.status == DeliveryStatus.shipped)
    if session.exec(pending).first() is not None:
        raise Conflict(f"contract {contract_id} has deliveries awaiting acceptance: settle them first")
    before = snapshot(contract)
    unmet = max(contract.quantity_kg - contract.accepted_kg, 0)
    if unmet:
        # The lot's tonnes stay used (shipped, or not there to ship); the buyer's demand is open again.
        row = {
            "offer_id": None,
            "order_id": contract.order_id,
            "agreement_id": contract.agreement_id,
            "quantity_kg": unmet,
        }
        reserve(session, [row], sign=-1)
    contract.status = ContractStatus.closed_short
    contract.close_reason = reason
    contract.updated_at = utcnow()
    session.add(contract)
    session.flush()
    record_event(session, actor=actor, action="contract.close_short", row=contract, before=before)
    return contract


def _visible_deliveries(actor: Actor):
    statement = select(Delivery).join(Contract, Contract.id == Delivery.contract_id)
    if actor.role == Role.cooperative:
        return statement.where(Contract.cooperative_id == actor.cooperative_id)
    if actor.role == Role.buyer:
        return statement.where(Contract.buyer_id == actor.buyer_id)
    return statement


def list_deliveries(
    session: Session,
    *,
    actor: Actor,
    page: PageRequest,
    contract_id: int | None = None,
    status: DeliveryStatus | None = None,
) -> tuple[list[Delivery], int]:
    statement = _visible_deliveries(actor)
    if contract_id is not None:
        statement = statement.where(Delivery.contract_id == contract_id)
    if status is not None:
        statement = statement.where(Delivery.status == status)
    return fetch_page(session, statement, page, Delivery.id)


def get_delivery(session: Session, *, actor: Actor, delivery_id: int) -> Delivery:
    delivery = session.exec(_visible_deliveries(actor).where(Delivery.id == delivery_id)).first()
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return delivery


def contract_history(session: Session, *, actor: Actor, contract_id: int) -> list[AuditEvent]:
    """Everything the audit log holds about a contract and its deliveries, oldest first."""
    contract = get_contract(session, actor=actor, contract_id=contract_id)
    deliveries = select(Delivery.id).where(Delivery.contract_id == contract.id)
    events = events_about(session, "contract", [contract.id]) + events_about(session, "delivery", deliveries)
    return sorted(events, key=lambda event: event.id)
