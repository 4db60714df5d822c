"""Rows into the API's public shapes: kilograms and fen become decimal strings here and nowhere else.

What a viewer may not see is left out of the document entirely: a buyer never
receives an offer's minimum price, a cooperative never an order's maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel

from market.models import (
    Account,
    Buyer,
    Contract,
    Cooperative,
    Delivery,
    DemandOrder,
    MatchRun,
    PurchaseAgreement,
    SupplyOffer,
)
from market.models.account import AccountPublic
from market.models.agreement import AgreementPublic
from market.models.bulk import OfferBatchPublic, OrderBatchPublic
from market.models.common import Role, as_utc
from market.models.contract import ContractPublic, DeliveryPublic
from market.models.match_run import MatchRunPublic
from market.models.offer import HIDDEN_FROM_BUYERS, OfferPublic
from market.models.order import HIDDEN_FROM_COOPERATIVES, OrderPublic
from market.models.parties import BuyerPublic, CooperativePublic
from market.services.actors import Actor
from market.services.agreements import progress
from market.units import fen_to_yuan, kg_to_tonnes


def _times(row: Any) -> dict[str, Any]:
    times = {"created_at": as_utc(row.created_at)}
    if hasattr(row, "updated_at"):
        times["updated_at"] = as_utc(row.updated_at)
    return times


def cooperative_out(cooperative: Cooperative) -> dict[str, Any]:
    data = cooperative.model_dump() | _times(cooperative)
    return CooperativePublic(**data).model_dump(mode="json")


def buyer_out(buyer: Buyer) -> dict[str, Any]:
    return BuyerPublic(**(buyer.model_dump() | _times(buyer))).model_dump(mode="json")


def account_out(account: Account, **extra: Any) -> dict[str, Any]:
    data = account.model_dump(exclude={"token_hash"}) | _times(account)
    if account.revoked_at is not None:
        data["revoked_at"] = as_utc(account.revoked_at)
    return AccountPublic(**data).model_dump(mode="json") | extra


def _offer_fields(offer: SupplyOffer, cooperative: Cooperative) -> dict[str, Any]:
    """An offer's OfferPublic fields, as plain values."""
    return {
        "id": offer.id,
        "cooperative_id": offer.cooperative_id,
        "reference": offer.reference,
        "product": offer.product,
        "variety": offer.variety,
        "grade": offer.grade,
        "brand": offer.brand,
        "tonnes": kg_to_tonnes(offer.quantity_kg),
        "tonnes_contracted": kg_to_tonnes(offer.contracted_kg),
        "tonnes_withdrawn": kg_to_tonnes(offer.withdrawn_kg),
        "tonnes_remaining": kg_to_tonnes(offer.remaining_kg),
        "min_price_per_tonne": fen_to_yuan(offer.min_price_fen),
        "available_from": offer.available_from,
        "available_until": offer.available_until,
        "origin": {
            "township": cooperative.township,
            "township_zh": cooperative.township_zh,
            "county": cooperative.county,
            "latitude": cooperative.latitude,
            "longitude": cooperative.longitude,
        },
        "status": offer.status,
        **_times(offer),
    }


def _hidden_of_offers(viewer: Actor) -> frozenset[str]:
    return HIDDEN_FROM_BUYERS if viewer.role == Role.buyer else frozenset()


def offer_out(offer: SupplyOffer, cooperative: Cooperative, viewer: Actor) -> dict[str, Any]:
    public = OfferPublic(**_offer_fields(offer, cooperative))
    return public.model_dump(mode="json", exclude=set(_hidden_of_offers(viewer)))


def offers_batch_json(offers: Sequence[SupplyOffer], cooperative: Cooperative, viewer: Actor) -> bytes:
    """A batch's created offers, one cooperative's, as the JSON of OfferBatchPublic."""
    data = [_offer_fields(offer, cooperative) for offer in offers]
    return _batch_json(OfferBatchPublic, data, _hidden_of_offers(viewer))


def _order_fields(order: DemandOrder) -> dict[str, Any]:
    """An order's OrderPublic fields, as plain values."""
    return {
        "id": order.id,
        "buyer_id": order.buyer_id,
        "agreement_id": order.agreement_id,
        "reference": order.reference,
        "product": order.product,
        "min_grade": order.min_grade,
        "tonnes": kg_to_tonnes(order.quantity_kg),
        "tonnes_contracted": kg_to_tonnes(order.contracted_kg),
        "tonnes_cancelled": kg_to_tonnes(order.cancelled_kg),
        "tonnes_remaining": kg_to_tonnes(order.remaining_kg),
        "max_price_per_tonne": fen_to_yuan(order.max_price_fen),
        "deliver_from": order.deliver_from,
        "deliver_until": order.deliver_until,
        "destination": {
            "name": order.destination,
            "name_zh": order.destination_zh,
            "latitude": order.destination_latitude,
            "longitude": order.destination_longitude,
        },
        "status": order.status,
        **_times(order),
    }


def _hidden_of_orders(viewer: Actor) -> frozenset[str]:
    return HIDDEN_FROM_COOPERATIVES if viewer.role == Role.cooperative else frozenset()


def order_out(order: DemandOrder, viewer: Actor) -> dict[str, Any]:
    public = OrderPublic(**_order_fields(order))
    return public.model_dump(mode="json", exclude=set(_hidden_of_orders(viewer)))


def orders_batch_json(orders: Sequence[DemandOrder], viewer: Actor) -> bytes:
    """A batch's created orders as the JSON of OrderBatchPublic."""
    return _batch_json(OrderBatchPublic, [_order_fields(order) for order in orders], _hidden_of_orders(viewer))


def _batch_json(model: type[BaseModel], data: list[dict[str, Any]], hidden: frozenset[str]) -> bytes:
    """A batch answer validated and written by pydantic in one pass, not a document per item then
    the encoder: for a thousand items, about half the time."""
    batch = model.model_validate({"data": data, "count": len(data)})
    return batch.__pydantic_serializer__.to_json(batch, exclude={"data": {"__all__": set(hidden)}} if hidden else None)


def agreement_out(agreement: PurchaseAgreement, today: date) -> dict[str, Any]:
    pace = progress(agreement, today)
    return AgreementPublic(
        id=agreement.id,
        reference=agreement.reference,
        buyer_id=agreement.buyer_id,
        cooperative_id=agreement.cooperative_id,
        product=agreement.product,
        tonnes=kg_to_tonnes(agreement.quantity_kg),
        price_per_tonne=fen_to_yuan(agreement.price_fen),
        valid_from=agreement.valid_from,
        valid_until=agreement.valid_until,
        tonnes_called_off=kg_to_tonnes(agreement.called_off_kg),
        tonnes_contracted=kg_to_tonnes(agreement.contracted_kg),
        tonnes_delivered=kg_to_tonnes(agreement.delivered_kg),
        tonnes_remaining=kg_to_tonnes(agreement.remaining_kg),
        revenue=fen_to_yuan(agreement.earned_fen),
        fulfilled_share=str(pace.fulfilled_share),
        days_left=pace.days_left,
        behind_pace=pace.behind_pace,
        **_times(agreement),
    ).model_dump(mode="json")


def contract_out(contract: Contract) -> dict[str, Any]:
    return ContractPublic(
        id=contract.id,
        match_run_id=contract.match_run_id,
        offer_id=contract.offer_id,
        order_id=contract.order_id,
        agreement_id=contract.agreement_id,
        cooperative_id=contract.cooperative_id,
        buyer_id=contract.buyer_id,
        product=contract.product,
        grade=contract.grade,
        tonnes=kg_to_tonnes(contract.quantity_kg),
        price_per_tonne=fen_to_yuan(contract.price_fen),
        value=fen_to_yuan(contract.value_fen),
        transport_cost=fen_to_yuan(contract.transport_fen),
        deliver_from=contract.deliver_from,
        deliver_until=contract.deliver_until,
        tonnes_shipped=kg_to_tonnes(contract.shipped_kg),
        tonnes_accepted=kg_to_tonnes(contract.accepted_kg),
        revenue_earned=fen_to_yuan(contract.earned_fen),
        status=contract.status,
        close_reason=contract.close_reason,
        **_times(contract),
    ).model_dump(mode="json")


def match_run_out(run: MatchRun, *, with_report: bool = True) -> dict[str, Any]:
    data = MatchRunPublic(
        id=run.id,
        status=run.status,
        product=run.product,
        policy=run.policy,
        poverty_weight_per_tonne=fen_to_yuan(run.parameters.get("poverty_weight_fen", 0)),
        attempts=run.attempts,
        error=run.error,
        requested_by_id=run.requested_by_id,
        decided_by_id=run.decided_by_id,
        created_at=as_utc(run.created_at),
        started_at=run.started_at and as_utc(run.started_at),
        finished_at=run.finished_at and as_utc(run.finished_at),
        decided_at=run.decided_at and as_utc(run.decided_at),
        report=run.report if with_report else None,
    )
    return data.model_dump(mode="json", exclude=set() if with_report else {"report"})


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    def tonnes(kg: int | None) -> str | None:
        return None if kg is None else kg_to_tonnes(kg)

    return DeliveryPublic(
        id=delivery.id,
        contract_id=delivery.contract_id,
        tonnes_shipped=kg_to_tonnes(delivery.shipped_kg),
        shipped_on=delivery.shipped_on,
        ticket=delivery.ticket,
        tonnes_accepted=tonnes(delivery.accepted_kg),
        tonnes_rejected=tonnes(delivery.rejected_kg),
        reason=delivery.reject_reason,
        revenue=None if delivery.revenue_fen is None else fen_to_yuan(delivery.revenue_fen),
        status=delivery.status,
        created_at=as_utc(delivery.created_at),
        accepted_at=delivery.accepted_at and as_utc(delivery.accepted_at),
    ).model_dump(mode="json")
