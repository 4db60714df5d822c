"""Load the 2020 Zhaoyang-Dongguan scenario (seed/zhaoyang_2020.json) through the services.

Every row is created by the same service an API request would use, so it is validated
the same way and leaves its audit event. Loading is idempotent: rows are looked up by
their natural keys (cooperative and buyer name, agreement reference, offer reference per
cooperative, order reference per buyer) and skipped when they exist. The caller commits.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlmodel import Session, select

from market.models import Buyer, Cooperative, DemandOrder, PurchaseAgreement, SupplyOffer
from market.models.agreement import AgreementCreate
from market.models.common import Role
from market.models.offer import OfferCreate
from market.models.order import OrderCreate
from market.models.parties import BuyerCreate, CooperativeCreate
from market.services.actors import Actor
from market.services.agreements import create_agreement
from market.services.offers import create_offer
from market.services.orders import create_order
from market.services.parties import create_buyer, create_cooperative

SCENARIO_FILE = "zhaoyang_2020.json"
ACTOR_LABEL = "system:seed"

# Keys in the JSON that describe a record but are not part of its request body.
_COMMENTARY = ("note",)


def read_scenario() -> dict[str, Any]:
    """The scenario document, read from the installed package."""
    text = resources.files("seed").joinpath(SCENARIO_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _body(record: dict[str, Any], *links: str) -> dict[str, Any]:
    """A record without its commentary and the keys that name other records."""
    return {key: value for key, value in record.items() if key not in _COMMENTARY and key not in links}


def load_scenario(session: Session) -> dict[str, int]:
    """Create what is missing of the scenario; return how many rows of each kind were created."""
    scenario = read_scenario()
    admin = Actor.system("seed")
    created = {"cooperatives": 0, "buyers": 0, "agreements": 0, "offers": 0, "orders": 0}

    cooperative_ids: dict[str, int] = {}
    for record in scenario["cooperatives"]:
        name = record["name"]
        existing = session.exec(select(Cooperative.id).where(Cooperative.name == name)).first()
        if existing is None:
            cooperative = create_cooperative(session, actor=admin, data=CooperativeCreate(**_body(record)))
            existing = cooperative.id
            created["cooperatives"] += 1
        cooperative_ids[name] = existing

    buyer_ids: dict[str, int] = {}
    for record in scenario["buyers"]:
        name = record["name"]
        existing = session.exec(select(Buyer.id).where(Buyer.name == name)).first()
        if existing is None:
            buyer = create_buyer(session, actor=admin, data=BuyerCreate(**_body(record)))
            existing = buyer.id
            created["buyers"] += 1
        buyer_ids[name] = existing

    agreement_ids: dict[str, int] = {}
    for record in scenario["agreements"]:
        reference = record["reference"]
        taken = select(PurchaseAgreement.id).where(PurchaseAgreement.reference == reference)
        existing = session.exec(taken).first()
        if existing is None:
            data = AgreementCreate(
                **_body(record, "buyer", "cooperative"),
                buyer_id=_lookup(buyer_ids, record["buyer"], "buyer", reference),
                cooperative_id=_lookup(cooperative_ids, record["cooperative"], "cooperative", reference),
            )
            existing = create_agreement(session, actor=admin, data=data).id
            created["agreements"] += 1
        agreement_ids[reference] = existing

    for record in scenario["offers"]:
        cooperative_id = _lookup(cooperative_ids, record["cooperative"], "cooperative", record["reference"])
        taken = select(SupplyOffer.id).where(
            SupplyOffer.cooperative_id == cooperative_id, SupplyOffer.reference == record["reference"]
        )
        if session.exec(taken).first() is not None:
            continue
        clerk = Actor(role=Role.cooperative, label=ACTOR_LABEL, cooperative_id=cooperative_id)
        create_offer(session, actor=clerk, data=OfferCreate(**_body(record, "cooperative")))
        created["offers"] += 1

    for record in scenario["orders"]:
        buyer_id = _lookup(buyer_ids, record["buyer"], "buyer", record["reference"])
        taken = select(DemandOrder.id).where(
            DemandOrder.buyer_id == buyer_id, DemandOrder.reference == record["reference"]
        )
        if session.exec(taken).first() is not None:
            continue
        agreement = record.get("agreement")
        agreement_id = None
        if agreement is not None:
            agreement_id = _lookup(agreement_ids, agreement, "agreement", record["reference"])
        data = OrderCreate(**_body(record, "buyer", "agreement"), agreement_id=agreement_id)
        manager = Actor(role=Role.buyer, label=ACTOR_LABEL, buyer_id=buyer_id)
        create_order(session, actor=manager, data=data)
        created["orders"] += 1

    return created


def _lookup(ids: dict[str, int], key: str, kind: str, referrer: str) -> int:
    try:
        return ids[key]
    except KeyError:
        raise ValueError(f"{SCENARIO_FILE}: {referrer} names an unknown {kind} {key!r}") from None
