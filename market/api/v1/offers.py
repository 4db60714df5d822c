"""/api/v1/offers: cooperatives post lots; buyers browse the open ones (without the minimum price)."""

from __future__ import annotations

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, idempotent, page_of, respond
from market.api.serialize import offer_out, offers_batch_json
from market.models.bulk import OfferBatchCreate, OfferBatchPublic
from market.models.common import OfferStatus, Page, Product, Role
from market.models.offer import OfferCreate, OfferPublic
from market.services import bulk, offers

offers_api = v1_blueprint(
    "offers",
    "/offers",
    "Offers",
    "Supply offers. A cooperative sees its own; a buyer browses open offers without their minimum price.",
)


class OfferQuery(PageQuery):
    status: OfferStatus | None = None
    product: Product | None = None


@offers_api.post("", responses={201: OfferPublic})
@allow(Role.cooperative)
@idempotent
def create_offer(body: OfferCreate):
    """Post a lot for sale. Send an Idempotency-Key header to make retries safe."""
    actor = current_actor()
    offer, cooperative = offers.create_offer(db(), actor=actor, data=body)
    return respond(offer_out(offer, cooperative, actor), 201)


@offers_api.post("/batch", responses={201: OfferBatchPublic})
@allow(Role.cooperative)
@idempotent
def create_offers_batch(body: OfferBatchCreate):
    """Post up to 1,000 lots at once, each item exactly the body of POST /api/v1/offers.

    All or nothing: if any item is wrong, nothing is created and the problem's `errors` name
    each one as `items[3].tonnes` (422; 409 when every error is a reference already used).
    Otherwise 201 with the created offers in the items' order. Send an Idempotency-Key header
    to make retries safe.
    """
    actor = current_actor()
    created, cooperative = bulk.create_offers(db(), actor=actor, items=body.items)
    return respond(offers_batch_json(created, cooperative, actor), 201)


@offers_api.get("", responses={200: Page[OfferPublic]})
@allow(Role.admin, Role.cooperative, Role.buyer)
def list_offers(query: OfferQuery):
    """Admins: every offer. Cooperatives: their own. Buyers: the open market."""
    actor = current_actor()
    rows, count = offers.list_offers(db(), actor=actor, page=query.page(), status=query.status, product=query.product)
    return respond(page_of([offer_out(offer, cooperative, actor) for offer, cooperative in rows], count))


@offers_api.get("/<int:id>", responses={200: OfferPublic})
@allow(Role.admin, Role.cooperative, Role.buyer)
def get_offer(path: IdPath):
    """One offer, as the caller may see it."""
    actor = current_actor()
    offer, cooperative = offers.get_offer(db(), actor=actor, offer_id=path.id)
    return respond(offer_out(offer, cooperative, actor))


@offers_api.post("/<int:id>/withdraw", responses={200: OfferPublic})
@allow(Role.admin, Role.cooperative)
def withdraw_offer(path: IdPath):
    """Withdraw the unmatched remainder; contracted tonnes stay contracted."""
    actor = current_actor()
    offer, cooperative = offers.withdraw_offer(db(), actor=actor, offer_id=path.id)
    return respond(offer_out(offer, cooperative, actor))
