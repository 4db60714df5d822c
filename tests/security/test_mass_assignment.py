"""No mass assignment: a client cannot set what the server owns. Every POST in the OpenAPI document,
sent a body that is valid except for one field the server owns (status, id, owner ids, prices and
counters set by matching and deliveries, role, token, timestamps), answers 422 naming that field
and writes nothing; actions that take no body refuse one the same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.security.conftest import Caller, Market, Thing, table_fingerprint, tell
from tests.security.document import Operation, operations, properties, valid_body

# What only the server sets. A request schema may declare one of these only on an admin-only endpoint
# (an agreement's parties and price, an account's role and link), never where a tenant could set it.
SERVER_OWNED: dict[str, Any] = {
    "id": 1,
    "status": "approved",
    "cooperative_id": 1,
    "buyer_id": 1,
    "role": "admin",
    "token": "mkt_chosen-by-the-client",
    "token_hash": "0" * 64,
    "token_prefix": "mkt_",
    "price_per_tonne": "1.00",
    "value": "1.00",
    "transport_cost": "0.00",
    "revenue": "1.00",
    "revenue_earned": "1.00",
    "tonnes_contracted": "1",
    "tonnes_withdrawn": "0",
    "tonnes_cancelled": "0",
    "tonnes_remaining": "1",
    "tonnes_called_off": "0",
    "tonnes_delivered": "1",
    "tonnes_shipped": "1",
    "tonnes_accepted": "1",
    "match_run_id": 1,
    "offer_id": 1,
    "order_id": 1,
    "requested_by_id": 1,
    "decided_by_id": 1,
    "recorded_by_id": 1,
    "accepted_by_id": 1,
    "quantity_kg": 1000,
    "contracted_kg": 0,
    "shipped_kg": 0,
    "accepted_kg": 0,
    "earned_fen": 0,
    "price_fen": 100,
    "attempts": 0,
    "report": {},
    "error": None,
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "accepted_at": "2020-01-01T00:00:00Z",
    "revoked_at": None,
}
# Set by the client when it creates a thing, and by nobody afterwards: refused on every other body.
CREATION_ONLY: dict[str, Any] = {
    "min_price_per_tonne": "1.00",
    "max_price_per_tonne": "99999.00",
    "tonnes": "1",
    "product": "apple",
    "agreement_id": 1,
    "reference": "mine",
}
OPEN_STATES = ("open", "shipped", "in_delivery", "confirmed", "proposed")


def _caller_and_object(market: Market, operation: Operation) -> tuple[Caller, Thing | None]:
    """The caller the endpoint is for (a tenant where it may call), and an object of its own, open if any."""
    callers = [c for c in market.callers if c.role in operation.roles]
    caller = next((c for c in callers if c.role != "admin"), callers[0])
    if operation.path_kind is None:
        return caller, None
    own = [t for t in market.things[operation.path_kind] if market.is_party(caller, t)]
    own.sort(key=lambda t: t.data.get("status") not in OPEN_STATES)
    assert own, f"{caller.name} owns no {operation.path_kind} to try {operation} on"
    return caller, own[0]


def test_every_post_refuses_fields_the_server_owns(client, market, engine, database_url):
    document = client.get("/api/openapi.json").json
    a, x = market.caller("coop A"), market.caller("buyer X")
    posts = [operation for operation in operations(document) if operation.method == "post"]
    before = table_fingerprint(engine)
    tried: Counter[str] = Counter()
    for operation in posts:
        declared = properties(document, operation.body_schema) if operation.body_schema else set()
        owned = declared & set(SERVER_OWNED)
        assert not owned or operation.admin_only, f"{operation} lets a tenant set {sorted(owned)}"
        base = (
            valid_body(operation.body_schema, cooperative_id=a.cooperative_id, buyer_id=x.buyer_id)
            if (operation.body_schema)
            else {}
        )
        caller, thing = _caller_and_object(market, operation)
        url = operation.url(None if thing is None else thing.id)
        for field, value in (SERVER_OWNED | CREATION_ONLY).items():
            if field in declared:
                continue
            response = client.post(url, json=base | {field: value}, headers=caller.headers)
            assert response.status_code == 422, (
                str(operation),
                caller.name,
                field,
                response.status_code,
                response.json,
            )
            assert response.content_type == "application/problem+json"
            assert {error["field"] for error in response.json["errors"]} == {field}, (str(operation), response.json)
            tried[str(operation)] += 1
    assert table_fingerprint(engine) == before, "a refused body wrote something"
    assert len(tried) == len(posts)
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    tell(
        f"mass-assignment-{backend}",
        [
            f"mass assignment [{backend}]: {len(posts)} POST operations, {sum(tried.values())} bodies, all 422"
            f" naming the field; {min(tried.values())}-{max(tried.values())} fields per operation"
        ],
    )


def test_an_action_without_a_body_refuses_one_but_takes_an_empty_object(client, market):
    coop = market.caller("coop A")
    offer = next(t for t in market.things["offer"] if market.is_party(coop, t) and t.data["status"] == "open")
    url = f"/api/v1/offers/{offer.id}/withdraw"
    for body, fields in (
        ({"status": "open", "tonnes_withdrawn": "0"}, {"status", "tonnes_withdrawn"}),
        ([1], {"body"}),
    ):
        response = client.post(url, json=body, headers=coop.headers)
        assert response.status_code == 422 and {e["field"] for e in response.json["errors"]} == fields
    assert client.get(f"/api/v1/offers/{offer.id}", headers=coop.headers).json["status"] == "open"
    assert client.post(url, json={}, headers=coop.headers).status_code == 200
