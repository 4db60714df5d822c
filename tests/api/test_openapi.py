import re

from market.config import load_settings


def test_the_document_describes_every_v1_endpoint_from_the_validating_models(client):
    document = client.get("/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, method in (
        ("/api/v1/offers", "post"),
        ("/api/v1/offers", "get"),
        ("/api/v1/offers/{id}", "get"),
        ("/api/v1/offers/{id}/withdraw", "post"),
        ("/api/v1/orders", "post"),
        ("/api/v1/orders/{id}/cancel", "post"),
        ("/api/v1/agreements", "post"),
        ("/api/v1/agreements", "get"),
        ("/api/v1/cooperatives", "post"),
        ("/api/v1/buyers/{id}", "get"),
        ("/api/v1/accounts", "post"),
    ):
        operation = paths[path][method]
        assert operation["security"] == [{"bearerAuth": []}]
        problem = operation["responses"]["422"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}
    schemas = document["components"]["schemas"]
    offer_create = schemas["OfferCreate"]
    assert offer_create["additionalProperties"] is False
    assert set(offer_create["required"]) == {
        "product",
        "grade",
        "tonnes",
        "min_price_per_tonne",
        "available_from",
        "available_until",
    }
    assert "status" not in offer_create["properties"] and "cooperative_id" not in offer_create["properties"]
    # Tonnes and prices: a number within bounds, or decimal text in ASCII digits.
    number, text = offer_create["properties"]["tonnes"]["anyOf"]
    assert (number["exclusiveMinimum"], number["maximum"]) == (0, 100_000)
    assert re.fullmatch(text["pattern"], "12.5") and not re.fullmatch(text["pattern"], "1_000")
    assert schemas["MatchRunCreate"]["properties"]["poverty_weight_per_tonne"]["anyOf"][0]["maximum"] == 100_000
    # Text: the control characters the server refuses (tab and line breaks are text).
    for text in (offer_create["properties"]["variety"]["anyOf"][0], schemas["CooperativeCreate"]["properties"]["name"]):
        assert re.fullmatch(text["pattern"], "Red\tFuji 红富士\n") and not re.fullmatch(text["pattern"], "Red\x01Fuji")
    assert set(schemas["Product"]["enum"]) == {"apple", "vegetable", "egg", "sichuan_pepper", "potato"}
    assert set(schemas["Problem"]["properties"]) == {"type", "title", "status", "detail", "errors"}
    query = {p["name"] for p in paths["/api/v1/offers"]["get"]["parameters"]}
    assert {"limit", "offset", "status", "product"} <= query
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_document_declares_the_idempotency_key_where_it_is_honoured(client):
    document = client.get("/api/openapi.json").json
    declared = {
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    # The creates a client may retry (the @idempotent views).
    honoured = {
        ("/api/v1/offers", "post"),
        ("/api/v1/offers/batch", "post"),
        ("/api/v1/orders", "post"),
        ("/api/v1/orders/batch", "post"),
        ("/api/v1/agreements", "post"),
        ("/api/v1/contracts/{id}/deliveries", "post"),
        ("/api/v1/deliveries/{id}/accept", "post"),
    }
    assert declared == honoured
    assert ("/api/v1/offers", "get") not in declared
    # Their success answers say how a replay is marked; no other operation's do.
    replay_marked = {
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if any("Idempotent-Replayed" in (answer.get("headers") or {}) for answer in operation["responses"].values())
    }
    assert replay_marked == honoured
    for path, method in honoured:
        answers = document["paths"][path][method]["responses"]
        assert all("Idempotent-Replayed" in answer["headers"] for status, answer in answers.items() if status < "300")


def test_the_document_states_the_one_eligibility_rule_matching_uses(client):
    description = " ".join(client.get("/api/openapi.json").json["info"]["description"].split())
    assert "share at least one calendar day (both ends inclusive)" in description
    assert "the offer's grade is at least the order's minimum grade" in description


def test_the_docs_page_works_offline(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page loads its assets"
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset
        assert client.get("/api/" + asset).status_code == 200, asset


def test_healthz_reports_database_and_in_process_mode(client):
    health = client.get("/healthz").json
    assert health["status"] == "ok"
    assert health["database"]["ok"] is True
    assert health["broker"]["mode"] == "in-process"


def test_healthz_is_503_when_the_broker_is_unreachable(settings):
    from market.app import create_app

    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["broker"] == {"ok": False, "detail": "ConnectionError", "mode": "celery"}
    assert response.json["database"]["ok"] is True


def test_healthz_is_503_when_the_database_is_unreachable():
    from market.app import create_app

    settings = load_settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", redis_url="")
    response = create_app(settings).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"]["ok"] is False and response.json["status"] == "unavailable"
