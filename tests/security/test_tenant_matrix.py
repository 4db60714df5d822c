"""Tenants are walled: every endpoint in the OpenAPI document, called by every account against the
objects of other tenants, answers 403 or 404 and never shows their data; non-admins get 403 on
every admin-only endpoint; lists and reports hold only the caller's own rows.

The matrix is built from the document (paths, methods, allowed roles, query enums, request
bodies) and from the `market` fixture's objects, so a new endpoint is covered as it appears.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from market.models.offer import HIDDEN_FROM_BUYERS
from market.models.order import HIDDEN_FROM_COOPERATIVES
from tests.api.helpers import order_body
from tests.security.conftest import Caller, Market, table_fingerprint, tell
from tests.security.document import (
    KIND_OF_SEGMENT,
    Operation,
    enum_values,
    leaked,
    operations,
    properties,
    response_text,
    valid_body,
)


class Matrix:
    def __init__(self, client, market: Market, document: dict) -> None:
        self.client, self.market, self.document = client, market, document
        self.by_status: Counter[int] = Counter()
        self.by_case: Counter[str] = Counter()
        self.calls = 0
        a, x = market.caller("coop A"), market.caller("buyer X")
        self.body_ids = {"cooperative_id": a.cooperative_id, "buyer_id": x.buyer_id}

    def call(self, caller: Caller, operation: Operation, url: str, *, query=None, body=None, case: str):
        kwargs = {"headers": caller.headers, "query_string": query or {}}
        if operation.method != "get" and body is not None:
            kwargs["json"] = body
        response = getattr(self.client, operation.method)(url, **kwargs)
        self.calls += 1
        self.by_status[response.status_code] += 1
        self.by_case[case] += 1
        where = f"{caller.name}: {operation.method.upper()} {url} {query or ''} -> {response.status_code}"
        assert response.status_code < 500, where
        # Whatever the answer, it shows nothing private of a tenant the caller is no party to.
        secrets = self.market.foreign_secrets(caller)
        found = leaked(response_text(response), secrets)
        assert not found, f"{where} shows {[(s, secrets[s].kind, secrets[s].id) for s in found]}"
        return response

    def body_for(self, operation: Operation):
        return None if operation.body_schema is None else valid_body(operation.body_schema, **self.body_ids)

    # --- operations on one object: /x/{id}, /x/{id}/action -----------------------------------------

    def on_objects(self, operation: Operation, caller: Caller) -> None:
        kind = operation.path_kind
        things = self.market.things[kind]
        assert things, f"the market fixture has no {kind} to try {operation} on"
        for thing in things:
            url = operation.url(thing.id)
            if caller.role not in operation.roles:
                response = self.call(caller, operation, url, body=self.body_for(operation), case="role refused")
                assert response.status_code == 403, f"{caller.name} {operation} {thing.id}: {response.status_code}"
            elif self.market.is_party(caller, thing):
                if operation.method != "get":
                    self.by_case["own write not tried"] += 1
                    continue
                response = self.call(caller, operation, url, case="own object")
                assert response.status_code == 200, f"{caller.name} reads its own {kind} {thing.id}: {response.json}"
            elif operation.method == "get" and self.market.market_view(caller, thing):
                response = self.call(caller, operation, url, case="open market view")
                assert response.status_code == 200, (caller.name, str(operation), thing.id, response.json)
                hidden = HIDDEN_FROM_BUYERS if kind == "offer" else HIDDEN_FROM_COOPERATIVES
                assert not hidden & set(response.json), f"{caller.name} sees {hidden & set(response.json)} of {url}"
            else:
                response = self.call(caller, operation, url, body=self.body_for(operation), case="other tenant's")
                assert response.status_code in (403, 404), (
                    f"{caller.name} {operation} on {kind} {thing.id} of {sorted(thing.parties)}: "
                    f"{response.status_code} {response.json}"
                )

    # --- lists, reports and creates: no {id} in the path --------------------------------------------

    def on_collection(self, operation: Operation, caller: Caller) -> None:
        if caller.role not in operation.roles:
            response = self.call(caller, operation, operation.url(), body=self.body_for(operation), case="role refused")
            assert response.status_code == 403, f"{caller.name} {operation}: {response.status_code}"
            return
        if operation.method == "get":
            for query in self.queries(operation):
                response = self.call(caller, operation, operation.url(), query=query, case="list or report")
                assert response.status_code == 200, (caller.name, str(operation), query, response.json)
                self.check_rows(caller, operation, response)
            return
        self.foreign_references(operation, caller)

    def queries(self, operation: Operation) -> list[dict[str, str]]:
        """No filter; then each enum value of each query parameter; then each object for each *_id filter."""
        queries: list[dict[str, str]] = [{}]
        for parameter in operation.query:
            name = parameter["name"]
            for value in enum_values(self.document, parameter["schema"]):
                queries.append({name: value})
            kind = name.removesuffix("_id")
            if name.endswith("_id") and kind in self.market.things:
                queries += [{name: str(thing.id)} for thing in self.market.things[kind]]
        return queries

    def check_rows(self, caller: Caller, operation: Operation, response) -> None:
        """Each row of a list is one of the caller's own or the open market's."""
        kind = KIND_OF_SEGMENT.get(operation.segment)
        if kind is None or response.mimetype != "application/json" or "data" not in response.json:
            return
        known = {thing.id: thing for thing in self.market.things[kind]}
        for row in response.json["data"]:
            thing = known.get(row["id"])
            assert thing is not None, f"{operation} lists a {kind} {row['id']} the fixture did not make"
            assert self.market.is_party(caller, thing) or self.market.market_view(caller, thing), (
                f"{caller.name}: {operation} lists {kind} {thing.id} of {sorted(thing.parties)}"
            )
            if not self.market.is_party(caller, thing):
                hidden = HIDDEN_FROM_BUYERS if kind == "offer" else HIDDEN_FROM_COOPERATIVES
                assert not hidden & set(row), f"{caller.name} sees {hidden & set(row)} in {operation}"

    def foreign_references(self, operation: Operation, caller: Caller) -> None:
        """A create naming another tenant's object by id (an order's agreement_id, say) is refused."""
        if caller.role == "admin" or operation.body_schema is None:
            self.by_case["own create not tried"] += 1
            return
        base = self.body_for(operation)
        for field in sorted(properties(self.document, operation.body_schema)):
            kind = field.removesuffix("_id")
            if not field.endswith("_id") or kind not in self.market.things:
                continue
            for thing in self.market.things[kind]:
                if self.market.is_party(caller, thing):
                    continue
                response = self.call(
                    caller, operation, operation.url(), body=base | {field: thing.id}, case="other tenant's reference"
                )
                named = response.status_code == 422 and field in {e["field"] for e in response.json["errors"]}
                assert response.status_code in (403, 404) or named, (
                    f"{caller.name} {operation} with {field}={thing.id}: {response.status_code} {response.json}"
                )


def test_every_endpoint_refuses_every_other_tenant(client, market, engine, database_url):
    document = client.get("/api/openapi.json").json
    matrix = Matrix(client, market, document)
    ops = operations(document)
    before = table_fingerprint(engine)
    for operation in ops:
        for caller in market.callers:
            if operation.path_kind is None:
                matrix.on_collection(operation, caller)
            else:
                matrix.on_objects(operation, caller)
    # Nothing any of that tried wrote anything.
    assert table_fingerprint(engine) == before

    # Non-admins get 403 on every admin-only endpoint (counted above; stated here on its own).
    admin_only = [operation for operation in ops if operation.admin_only]
    assert len(admin_only) >= 10
    for operation in admin_only:
        for caller in market.callers[1:]:
            url = operation.url(market.things[operation.path_kind][0].id if operation.path_kind else None)
            assert (
                matrix.call(caller, operation, url, body=matrix.body_for(operation), case="admin only").status_code
                == 403
            )

    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    objects = sum(len(items) for items in market.things.values())
    lines = [
        f"tenant matrix [{backend}]: {len(ops)} operations x {len(market.callers)} callers x {objects} objects:"
        f" {matrix.calls} calls",
        "  by status: " + ", ".join(f"{status}: {count}" for status, count in sorted(matrix.by_status.items())),
        "  by case:   " + ", ".join(f"{case}: {count}" for case, count in sorted(matrix.by_case.items())),
    ]
    tell(f"tenant-matrix-{backend}", lines)
    assert matrix.by_status[404] > 50 and matrix.by_status[403] > 100 and matrix.by_case["open market view"] > 0


def _sum(values) -> Decimal:
    return sum((Decimal(value) for value in values), Decimal(0))


def test_reports_hold_only_the_callers_own_rows(client, market):
    for caller in market.callers:
        mine = market.contracts_of(caller)
        offers = [thing for thing in market.things["offer"] if market.is_party(caller, thing)]
        if caller.role == "buyer":
            offers = []
        allowed = {
            "cooperative": {c.data["cooperative_id"] for c in mine} | {o.data["cooperative_id"] for o in offers},
            "buyer": {c.data["buyer_id"] for c in mine},
            "agreement": {c.data["agreement_id"] for c in mine if c.data["agreement_id"] is not None},
        }
        for group_by, ids in allowed.items():
            report = client.get(f"/api/v1/reports/summary?group_by={group_by}", headers=caller.headers).json
            keys = {int(row["key"]) for row in report["rows"]}
            assert keys == ids, (caller.name, group_by, keys, ids)
        if caller.party is not None:
            own = caller.cooperative_id if caller.role == "cooperative" else caller.buyer_id
            assert allowed[caller.role] == {own}, (caller.name, allowed)

        # The totals are the sums over the caller's own contracts, deliveries and lots: nobody else's.
        totals = client.get("/api/v1/reports/summary", headers=caller.headers).json["totals"]
        expected = {
            "tonnes_offered": _sum(Decimal(o.data["tonnes"]) - Decimal(o.data["tonnes_withdrawn"]) for o in offers),
            "tonnes_contracted": _sum(c.data["tonnes"] for c in mine),
            "tonnes_delivered": _sum(c.data["tonnes_accepted"] for c in mine),
            "revenue_contracted": _sum(c.data["value"] for c in mine),
            "revenue_earned": _sum(c.data["revenue_earned"] for c in mine),
        }
        assert {key: Decimal(value) for key, value in totals.items()} == expected, caller.name
        poverty = client.get("/api/v1/reports/poverty", headers=caller.headers).json
        assert Decimal(poverty["totals"]["revenue_earned"]) == expected["revenue_earned"], caller.name


def test_the_fixture_gives_every_tenant_something_of_each_kind(market: Market):
    """The matrix means something only if each tenant owns objects of every kind it can own."""
    for caller in market.callers[1:]:
        owned = {kind for kind, items in market.things.items() for thing in items if market.is_party(caller, thing)}
        expected = {"contract", "delivery", "agreement", caller.role}
        expected |= {"offer"} if caller.role == "cooperative" else {"order"}
        assert expected <= owned, (caller.name, owned)
    statuses = {thing.data["status"] for thing in market.things["offer"] + market.things["order"]}
    assert {"open", "withdrawn", "cancelled", "matched"} <= statuses
    assert {thing.data["status"] for thing in market.things["delivery"]} == {"shipped", "accepted"}


def test_another_tenants_idempotency_key_replays_nothing(client, market):
    """Replays are per account: the same key and body from another buyer create its own order."""
    x, y = market.caller("buyer X"), market.caller("buyer Y")
    body = order_body(reference="same-key-order", max_price_per_tonne="7999.37")
    headers = {"Idempotency-Key": "shared-key-2020-001"}
    first = client.post("/api/v1/orders", json=body, headers=x.headers | headers)
    again = client.post("/api/v1/orders", json=body, headers=x.headers | headers)
    assert first.status_code == again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    other = client.post("/api/v1/orders", json=body, headers=y.headers | headers)
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert other.json["id"] != first.json["id"] and other.json["buyer_id"] == y.buyer_id
