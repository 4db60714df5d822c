"""The 2020 season's deliveries for the demo: every confirmed contract shipped and accepted.

Each contract ships in one or two loads inside its delivery window, through the same ledger
services a cooperative clerk and a buyer's weighbridge would use. Every fifth load has a
little bruised fruit rejected at the weighbridge; the cooperative ships the same weight again
the next day (within the shipping tolerance), so every contract is delivered in full.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from market.models import Contract
from market.models.common import ContractStatus, Role
from market.models.contract import DeliveryAccept, DeliveryCreate
from market.services.actors import Actor
from market.services.ledger import accept_delivery, record_delivery
from market.units import KG_PER_TONNE

# Rejected at the weighbridge on every fifth load: half a percent, bruised in transit.
REJECTED_SHARE = Decimal("0.005")


def deliver_contracts(session: Session, *, tolerance_percent: int, today: date) -> dict[str, int]:
    """Ship and accept every confirmed contract in full (less the odd rejection); returns counts."""
    contracts = session.exec(
        select(Contract).where(Contract.status == ContractStatus.confirmed).order_by(Contract.id)
    ).all()
    loads = 0
    for contract in contracts:
        clerk = Actor(role=Role.cooperative, label="system:seed", cooperative_id=contract.cooperative_id)
        weighbridge = Actor(role=Role.buyer, label="system:seed", buyer_id=contract.buyer_id)
        first_day = contract.deliver_from or today
        window = max(((contract.deliver_until or first_day) - first_day).days, 0)
        halves = [contract.quantity_kg // 2, contract.quantity_kg - contract.quantity_kg // 2]
        parts = [contract.quantity_kg] if contract.quantity_kg < 20 * KG_PER_TONNE else halves
        for number, kg in enumerate(parts):
            shipped_on = min(first_day + timedelta(days=window * number // len(parts)), today)
            loads += 1
            rejected = int(kg * REJECTED_SHARE) if loads % 5 == 0 else 0
            ship = (clerk, weighbridge, contract.id, tolerance_percent, today)
            _load(session, *ship, kg=kg, rejected=rejected, shipped_on=shipped_on, ticket=f"{number + 1}")
            if rejected:
                loads += 1
                replacement = min(shipped_on + timedelta(days=1), today)
                _load(session, *ship, kg=rejected, rejected=0, shipped_on=replacement, ticket=f"{number + 1}R")
    return {"contracts": len(contracts), "deliveries": loads}


def _load(
    session: Session,
    clerk: Actor,
    weighbridge: Actor,
    contract_id: int,
    tolerance_percent: int,
    today: date,
    *,
    kg: int,
    rejected: int,
    shipped_on: date,
    ticket: str,
) -> None:
    """One truck: the clerk records it, the buyer's weighbridge accepts it (less what it rejects)."""
    delivery = record_delivery(
        session,
        actor=clerk,
        contract_id=contract_id,
        data=DeliveryCreate(
            tonnes=Decimal(kg) / KG_PER_TONNE,
            shipped_on=shipped_on,
            ticket=f"WB-{shipped_on:%Y%m%d}-{contract_id:05d}-{ticket}",
        ),
        tolerance_percent=tolerance_percent,
        today=today,
    )
    accept_delivery(
        session,
        actor=weighbridge,
        delivery_id=delivery.id,
        data=DeliveryAccept(
            accepted_tonnes=Decimal(kg - rejected) / KG_PER_TONNE,
            reason="bruised in transit" if rejected else None,
        ),
        tolerance_percent=tolerance_percent,
    )
