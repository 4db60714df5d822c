"""Headers and query strings are validated without building a JSON schema per request."""

from __future__ import annotations

from pydantic.json_schema import GenerateJsonSchema

from market.api.http import IdempotencyHeader, PageQuery
from market.api.v1.orders import OrderQuery
from market.api.v1.reports import SummaryQuery
from tests.api.helpers import order_body


def _collections(app) -> list[str]:
    """Every GET of the API without a path parameter: each query model it has is validated."""
    rules = app.url_map.iter_rules()
    return sorted(r.rule for r in rules if r.rule.startswith("/api/v1/") and "GET" in r.methods and not r.arguments)


def _requests(client, world, round_: int, collections: list[str]) -> None:
    keyed = world.buyer | {"Idempotency-Key": f"order-{round_}"}
    assert client.post("/api/v1/orders", json=order_body(reference=f"PO-{round_}"), headers=keyed).status_code == 201
    assert client.get("/api/v1/orders?limit=5&status=open", headers=world.buyer).status_code == 200
    assert client.get("/api/v1/reports/summary?group_by=product", headers=world.admin).status_code == 200
    for path in collections:
        assert client.get(path, headers=world.admin).status_code == 200, path


def test_a_request_builds_no_json_schema_once_each_model_has_been_used(app, client, world, monkeypatch):
    collections = _collections(app)
    assert {"/api/v1/contracts", "/api/v1/match-runs", "/api/v1/reports/poverty"} <= set(collections)
    _requests(client, world, 0, collections)
    built = []
    generate = GenerateJsonSchema.generate

    def counted(self, *args, **kwargs):
        built.append(args[0].get("cls") if args else None)
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(GenerateJsonSchema, "generate", counted)
    for round_ in (1, 2, 3):
        _requests(client, world, round_, collections)
    assert built == []


def test_each_caller_gets_its_own_copy_of_the_schema():
    for model in (IdempotencyHeader, PageQuery, OrderQuery, SummaryQuery):
        first = model.model_json_schema()
        first["properties"].clear()
        again = model.model_json_schema()
        assert again is not first and again["properties"], model
        # Any other arguments (the OpenAPI document's) are served by pydantic as before.
        assert model.model_json_schema(mode="serialization")["properties"].keys() == again["properties"].keys()
    assert "status" in OrderQuery.model_json_schema()["properties"]
    assert "status" not in PageQuery.model_json_schema()["properties"]
