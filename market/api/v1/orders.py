"""/api/v1/orders: buyers post orders; cooperatives browse the open ones (without the maximum price)."""

from __future__ import annotations

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, idempotent, page_of, respond
from market.api.serialize import order_out, orders_batch_json
from market.models.bulk import OrderBatchCreate, OrderBatchPublic
from market.models.common import OrderStatus, Page, Product, Role
from market.models.order import OrderCreate, OrderPublic
from market.services import bulk, orders

orders_api = v1_blueprint(
    "orders",
    "/orders",
    "Orders",
    "Demand orders. A buyer sees its own; a cooperative browses open orders without their maximum price.",
)


class OrderQuery(PageQuery):
    status: OrderStatus | None = None
    product: Product | None = None


@orders_api.post("", responses={201: OrderPublic})
@allow(Role.buyer)
@idempotent
def create_order(body: OrderCreate):
    """Post an order, on the open market or called off against a purchase agreement (`agreement_id`)."""
    actor = current_actor()
    return respond(order_out(orders.create_order(db(), actor=actor, data=body), actor), 201)


@orders_api.post("/batch", responses={201: OrderBatchPublic})
@allow(Role.buyer)
@idempotent
def create_orders_batch(body: OrderBatchCreate):
    """Post up to 1,000 orders at once, each item exactly the body of POST /api/v1/orders.

    All or nothing: if any item is wrong, nothing is created and the problem's `errors` name
    each one as `items[3].tonnes` (422; 409 when every error is a clash with stored data: a
    reference already used, or more tonnes than an agreement has left). Call-offs count down
    their agreement's remaining tonnes across the batch, in item order. Otherwise 201 with the
    created orders in the items' order. Send an Idempotency-Key header to make retries safe.
    """
    actor = current_actor()
    return respond(orders_batch_json(bulk.create_orders(db(), actor=actor, items=body.items), actor), 201)


@orders_api.get("", responses={200: Page[OrderPublic]})
@allow(Role.admin, Role.cooperative, Role.buyer)
def list_orders(query: OrderQuery):
    """Admins: every order. Buyers: their own. Cooperatives: the open market and their agreements' call-offs."""
    actor = current_actor()
    rows, count = orders.list_orders(db(), actor=actor, page=query.page(), status=query.status, product=query.product)
    return respond(page_of([order_out(order, actor) for order in rows], count))


@orders_api.get("/<int:id>", responses={200: OrderPublic})
@allow(Role.admin, Role.cooperative, Role.buyer)
def get_order(path: IdPath):
    """One order, as the caller may see it."""
    actor = current_actor()
    return respond(order_out(orders.get_order(db(), actor=actor, order_id=path.id), actor))


@orders_api.post("/<int:id>/cancel", responses={200: OrderPublic})
@allow(Role.admin, Role.buyer)
def cancel_order(path: IdPath):
    """Cancel the unmatched remainder; called-off tonnes go back to the agreement."""
    actor = current_actor()
    return respond(order_out(orders.cancel_order(db(), actor=actor, order_id=path.id), actor))
