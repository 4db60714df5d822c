"""/api/v1/cooperatives and /api/v1/buyers: registered by the cooperation office."""

from __future__ import annotations

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, page_of, respond
from market.api.serialize import buyer_out, cooperative_out
from market.models.common import Page, Role
from market.models.parties import BuyerCreate, BuyerPublic, CooperativeCreate, CooperativePublic
from market.services import parties

cooperatives_api = v1_blueprint(
    "cooperatives", "/cooperatives", "Cooperatives", "Producer cooperatives of Zhaoyang: the sellers."
)
buyers_api = v1_blueprint("buyers", "/buyers", "Buyers", "Eastern buyers: the demand side.")


@cooperatives_api.post("", responses={201: CooperativePublic})
@allow(Role.admin)
def create_cooperative(body: CooperativeCreate):
    """Register a cooperative."""
    cooperative = parties.create_cooperative(db(), actor=current_actor(), data=body)
    return respond(cooperative_out(cooperative), 201)


@cooperatives_api.get("", responses={200: Page[CooperativePublic]})
@allow(Role.admin)
def list_cooperatives(query: PageQuery):
    """List cooperatives."""
    rows, count = parties.list_cooperatives(db(), actor=current_actor(), page=query.page())
    return respond(page_of([cooperative_out(row) for row in rows], count))


@cooperatives_api.get("/<int:id>", responses={200: CooperativePublic})
@allow(Role.admin, Role.cooperative)
def get_cooperative(path: IdPath):
    """One cooperative: admins see any, a cooperative account its own."""
    cooperative = parties.get_cooperative(db(), actor=current_actor(), cooperative_id=path.id)
    return respond(cooperative_out(cooperative))


@buyers_api.post("", responses={201: BuyerPublic})
@allow(Role.admin)
def create_buyer(body: BuyerCreate):
    """Register a buyer."""
    buyer = parties.create_buyer(db(), actor=current_actor(), data=body)
    return respond(buyer_out(buyer), 201)


@buyers_api.get("", responses={200: Page[BuyerPublic]})
@allow(Role.admin)
def list_buyers(query: PageQuery):
    """List buyers."""
    rows, count = parties.list_buyers(db(), actor=current_actor(), page=query.page())
    return respond(page_of([buyer_out(row) for row in rows], count))


@buyers_api.get("/<int:id>", responses={200: BuyerPublic})
@allow(Role.admin, Role.buyer)
def get_buyer(path: IdPath):
    """One buyer: admins see any, a buyer account its own."""
    buyer = parties.get_buyer(db(), actor=current_actor(), buyer_id=path.id)
    return respond(buyer_out(buyer))
