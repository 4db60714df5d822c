"""Deliveries: the cooperative ships against a contract, the buyer accepts at the weighbridge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, idempotent, page_of, respond, settings
from market.api.serialize import contract_out, delivery_out
from market.api.v1.contracts import contracts_api
from market.clock import office_today
from market.models.common import DeliveryStatus, Page, QueryId, Role, as_utc
from market.models.contract import ContractClose, ContractPublic, DeliveryAccept, DeliveryCreate, DeliveryPublic
from market.services import ledger

deliveries_api = v1_blueprint(
    "deliveries", "/deliveries", "Deliveries", "Tonnes shipped against contracts, and what the buyer accepted."
)


class DeliveryQuery(PageQuery):
    contract_id: QueryId | None = None
    status: DeliveryStatus | None = None


class HistoryEvent(BaseModel):
    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@contracts_api.post("/<int:id>/deliveries", responses={201: DeliveryPublic})
@allow(Role.cooperative, Role.admin)
@idempotent
def record_delivery(path: IdPath, body: DeliveryCreate):
    """Record tonnes shipped against a confirmed contract (at most the contracted tonnes plus the tolerance)."""
    delivery = ledger.record_delivery(
        db(),
        actor=current_actor(),
        contract_id=path.id,
        data=body,
        tolerance_percent=settings().delivery_tolerance_percent,
        today=office_today(),
    )
    return respond(delivery_out(delivery), 201)


@contracts_api.post("/<int:id>/close", responses={200: ContractPublic})
@allow(Role.admin)
def close_contract(path: IdPath, body: ContractClose):
    """Close a contract short, with a reason: the tonnes never accepted go back to the order."""
    return respond(
        contract_out(ledger.close_contract(db(), actor=current_actor(), contract_id=path.id, reason=body.reason))
    )


@contracts_api.get("/<int:id>/history", responses={200: Page[HistoryEvent]})
@allow(Role.admin, Role.cooperative, Role.buyer)
def contract_history(path: IdPath):
    """The contract's history from the audit log: proposal, review, deliveries, acceptance, closing."""
    events = ledger.contract_history(db(), actor=current_actor(), contract_id=path.id)
    items = [
        HistoryEvent(
            occurred_at=as_utc(event.occurred_at),
            actor=event.actor,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            before=event.before,
            after=event.after,
        ).model_dump(mode="json")
        for event in events
    ]
    return respond(page_of(items, len(items)))


@deliveries_api.get("", responses={200: Page[DeliveryPublic]})
@allow(Role.admin, Role.cooperative, Role.buyer)
def list_deliveries(query: DeliveryQuery):
    """Admins: every delivery. Parties: those on their own contracts."""
    rows, count = ledger.list_deliveries(
        db(), actor=current_actor(), page=query.page(), contract_id=query.contract_id, status=query.status
    )
    return respond(page_of([delivery_out(row) for row in rows], count))


@deliveries_api.get("/<int:id>", responses={200: DeliveryPublic})
@allow(Role.admin, Role.cooperative, Role.buyer)
def get_delivery(path: IdPath):
    """One delivery."""
    return respond(delivery_out(ledger.get_delivery(db(), actor=current_actor(), delivery_id=path.id)))


@deliveries_api.post("/<int:id>/accept", responses={200: DeliveryPublic})
@allow(Role.buyer, Role.admin)
@idempotent
def accept_delivery(path: IdPath, body: DeliveryAccept):
    """Accept a delivery: accepted tonnes x the contract price is revenue; the rest is rejected, with a reason."""
    delivery = ledger.accept_delivery(
        db(),
        actor=current_actor(),
        delivery_id=path.id,
        data=body,
        tolerance_percent=settings().delivery_tolerance_percent,
    )
    return respond(delivery_out(delivery))
