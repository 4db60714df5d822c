"""POST /api/v1/offers/batch and /orders/batch: many creates in one request, all or nothing."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import func, select

from market.db import session_scope
from market.models import AuditEvent, DemandOrder, IdempotencyRecord, PurchaseAgreement, SupplyOffer
from market.models.bulk import MAX_BATCH_ITEMS
from market.services.audit import snapshot
from tests.api.helpers import agreement_body, field_names, offer_body, order_body
from tests.services.audit_helpers import sealed_and_checked

OFFERS, ORDERS = "/api/v1/offers/batch", "/api/v1/orders/batch"


def _count(engine, model, *where) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def _agreement(client, world, buyer_id=None, **changes) -> dict:
    body = agreement_body(buyer_id or world.buyer_id, world.coop_id, **changes)
    response = client.post("/api/v1/agreements", json=body, headers=world.admin)
    assert response.status_code == 201, response.json
    return response.json


def _errors(response) -> list[tuple[str, str]]:
    return [(error["field"], error["message"]) for error in response.json["errors"]]


def test_a_batch_of_offers_is_created_in_order_as_single_creates_would_be(client, world, engine):
    items = [
        offer_body(tonnes="120.505", reference="lot-1"),
        offer_body(product="egg", grade="premium", tonnes="0.001", min_price_per_tonne="9800.10", brand=None),
        offer_body(variety="Gala 嘎啦", min_price_per_tonne="5300", reference="lot-3"),
    ]
    response = client.post(OFFERS, json={"items": items}, headers=world.coop)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["count"] == 3 and len(body["data"]) == 3
    ids = [offer["id"] for offer in body["data"]]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [o["tonnes"] for o in body["data"]] == ["120.505", "0.001", "120.5"]
    assert [o["min_price_per_tonne"] for o in body["data"]] == ["6800.00", "9800.10", "5300.00"]
    assert [o["reference"] for o in body["data"]] == ["lot-1", None, "lot-3"]
    assert {o["cooperative_id"] for o in body["data"]} == {world.coop_id}
    # The same shape, field for field, as the single create and GET answer.
    for offer in body["data"]:
        assert client.get(f"/api/v1/offers/{offer['id']}", headers=world.coop).json == offer
    single = client.post("/api/v1/offers", json=items[0] | {"reference": "lot-4"}, headers=world.coop).json
    assert set(single) == set(body["data"][0])

    with session_scope(engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "offer.create").order_by(AuditEvent.id)
        ).all()
        assert [e.object_id for e in events] == [*ids, single["id"]]
        # Each event is what record_event writes for the row: its stored columns, as stored.
        for event in events:
            row = session.get(SupplyOffer, event.object_id)
            assert event.after == snapshot(row) and event.before is None
            assert event.actor == events[-1].actor and event.account_id is not None
        assert session.get(SupplyOffer, ids[0]).quantity_kg == 120_505
    assert sealed_and_checked(engine).intact


def test_a_batch_of_orders_is_created_with_destinations_as_single_creates(client, world, engine):
    items = [order_body(reference="po-1"), order_body(destination="石碣", tonnes="12.345"), order_body(product="egg")]
    response = client.post(ORDERS, json={"items": items}, headers=world.buyer)
    assert response.status_code == 201, response.json
    data = response.json["data"]
    assert [o["destination"]["name"] for o in data] == ["Dongguan", "Shijie, Dongguan", "Dongguan"]
    assert [o["tonnes"] for o in data] == ["100", "12.345", "100"]
    assert {o["buyer_id"] for o in data} == {world.buyer_id}
    for order in data:
        assert client.get(f"/api/v1/orders/{order['id']}", headers=world.buyer).json == order
    with session_scope(engine) as session:
        for order in data:
            event = session.exec(
                select(AuditEvent).where(AuditEvent.object_type == "demand_order", AuditEvent.object_id == order["id"])
            ).one()
            assert event.action == "order.create"
            assert event.after == snapshot(session.get(DemandOrder, order["id"]))
    assert sealed_and_checked(engine).intact


def test_one_bad_item_refuses_the_whole_batch_naming_every_bad_item(client, world, engine):
    items = [
        offer_body(),
        offer_body(tonnes="0"),
        offer_body(),
        offer_body(available_from="2021-01-01", available_until="2020-12-31"),
        offer_body(status="matched", min_price_per_tonne="1.001"),
    ]
    response = client.post(OFFERS, json={"items": items}, headers=world.coop)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert _errors(response) == [
        ("items[1].tonnes", "Input should be greater than 0"),
        ("items[3].available_until", "must not be before available_from"),
        ("items[4].min_price_per_tonne", "Decimal input should have no more than 2 decimal places"),
        ("items[4].status", "unknown field"),
    ]
    assert _count(engine, SupplyOffer) == 0
    assert _count(engine, AuditEvent, AuditEvent.action == "offer.create") == 0

    orders = [order_body(), order_body(deliver_until="2020-09-01"), order_body(min_grade="best"), order_body()]
    response = client.post(ORDERS, json={"items": orders}, headers=world.buyer)
    assert response.status_code == 422
    assert field_names(response) == {"items[1].deliver_until", "items[2].min_grade"}
    assert _count(engine, DemandOrder) == 0


def test_rules_that_need_the_database_are_checked_for_every_item_before_anything_is_written(client, world, engine):
    theirs = _agreement(client, world, buyer_id=world.other_buyer_id)
    items = [
        order_body(agreement_id=theirs["id"]),  # another buyer's agreement: as unknown as a missing one
        order_body(destination="atlantis"),
        order_body(),
        order_body(agreement_id=999_999),
    ]
    response = client.post(ORDERS, json={"items": items}, headers=world.buyer)
    assert response.status_code == 422
    assert _errors(response) == [
        ("items[0].agreement_id", "no such agreement"),
        ("items[1].destination", "unknown destination: see GET /api/v1/destinations"),
        ("items[3].agreement_id", "no such agreement"),
    ]
    assert _count(engine, DemandOrder) == 0
    assert client.get(f"/api/v1/agreements/{theirs['id']}", headers=world.admin).json["tonnes_called_off"] == "0"


def test_references_are_unique_per_party_across_the_batch_and_the_stored_rows(client, world, engine):
    assert client.post("/api/v1/offers", json=offer_body(reference="lot-1"), headers=world.coop).status_code == 201
    # Only a clash with stored data: 409, as the single create answers.
    taken = client.post(OFFERS, json={"items": [offer_body(), offer_body(reference="lot-1")]}, headers=world.coop)
    assert taken.status_code == 409
    assert _errors(taken) == [("items[1].reference", "already used by this cooperative")]
    # Twice in one batch is a fault of the request: 422, and with a clash as well, still 422.
    twice = client.post(
        OFFERS,
        json={"items": [offer_body(reference="lot-2"), offer_body(reference="lot-1"), offer_body(reference="lot-2")]},
        headers=world.coop,
    )
    assert twice.status_code == 422
    assert _errors(twice) == [
        ("items[1].reference", "already used by this cooperative"),
        ("items[2].reference", "repeats the reference of items[0]"),
    ]
    # Another cooperative may use the same references.
    other = client.post(OFFERS, json={"items": [offer_body(reference="lot-1")]}, headers=world.other_coop)
    assert other.status_code == 201
    assert _count(engine, SupplyOffer) == 2


def test_call_offs_count_down_the_agreement_across_the_batch(client, world, engine):
    agreement = _agreement(client, world, tonnes="1000")
    url = f"/api/v1/agreements/{agreement['id']}"
    too_much = [
        order_body(tonnes="600", agreement_id=agreement["id"]),
        order_body(tonnes="300", agreement_id=agreement["id"]),
    ]
    too_much.append(order_body(tonnes="100.001", agreement_id=agreement["id"]))
    response = client.post(ORDERS, json={"items": too_much}, headers=world.buyer)
    assert response.status_code == 409
    assert _errors(response) == [("items[2].tonnes", "at most 100 t remain on the agreement")]
    assert client.get(url, headers=world.admin).json["tonnes_called_off"] == "0"
    assert _count(engine, DemandOrder) == 0

    # An item refused for another reason calls nothing off: the next one still fits.
    mixed = [
        order_body(tonnes="600", agreement_id=agreement["id"], deliver_from="2020-08-01"),
        order_body(tonnes="1000", agreement_id=agreement["id"]),
    ]
    response = client.post(ORDERS, json={"items": mixed}, headers=world.buyer)
    assert response.status_code == 422 and _errors(response) == [
        ("items[0].deliver_from", "before the agreement starts (2020-09-01)")
    ]

    fits = [
        order_body(tonnes="600", agreement_id=agreement["id"]),
        order_body(),
        order_body(tonnes="400", agreement_id=agreement["id"]),
    ]
    response = client.post(ORDERS, json={"items": fits}, headers=world.buyer)
    assert response.status_code == 201, response.json
    assert [o["agreement_id"] for o in response.json["data"]] == [agreement["id"], None, agreement["id"]]
    progress = client.get(url, headers=world.admin).json
    assert (progress["tonnes_called_off"], progress["tonnes_remaining"]) == ("1000", "0")
    with session_scope(engine) as session:
        assert session.get(PurchaseAgreement, agreement["id"]).called_off_kg == 1_000_000
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action.in_(["agreement.call_off", "order.create"]))
            .order_by(AuditEvent.id)
        ).all()
        # As if posted one by one: each call-off right before its order, its before and after counted on.
        assert [e.action for e in events] == [
            "agreement.call_off", "order.create", "order.create", "agreement.call_off", "order.create",
        ]  # fmt: skip
        call_offs = [e for e in events if e.action == "agreement.call_off"]
        assert [(e.before["called_off_kg"], e.after["called_off_kg"]) for e in call_offs] == [
            (0, 600_000),
            (600_000, 1_000_000),
        ]
        assert call_offs[-1].after == snapshot(session.get(PurchaseAgreement, agreement["id"]))
    assert sealed_and_checked(engine).intact
    # Nothing is left to call off, in a batch or alone.
    alone = client.post(
        "/api/v1/orders", json=order_body(tonnes="0.001", agreement_id=agreement["id"]), headers=world.buyer
    )
    assert alone.status_code == 409


def test_a_retry_with_the_same_idempotency_key_replays_the_batch(client, world, engine):
    headers = world.buyer | {"Idempotency-Key": "batch-2020-001"}
    body = {"items": [order_body(reference=f"po-{n}") for n in range(3)]}
    first = client.post(ORDERS, json=body, headers=headers)
    again = client.post(ORDERS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert _count(engine, DemandOrder) == 3
    assert _count(engine, AuditEvent, AuditEvent.action == "order.create") == 3
    other = client.post(ORDERS, json={"items": [order_body()]}, headers=headers)
    assert other.status_code == 422 and field_names(other) == {"Idempotency-Key"}
    # A refused batch does not use its key up.
    offers = world.coop | {"Idempotency-Key": "offers-1"}
    assert client.post(OFFERS, json={"items": [offer_body(tonnes="0")]}, headers=offers).status_code == 422
    assert client.post(OFFERS, json={"items": [offer_body()]}, headers=offers).status_code == 201
    assert _count(engine, IdempotencyRecord) == 2


def test_a_thousand_items_are_taken_and_a_thousand_and_one_refused(client, world, engine):
    offers = {"items": [offer_body(reference=f"lot-{n}") for n in range(MAX_BATCH_ITEMS)]}
    response = client.post(OFFERS, json=offers, headers=world.coop)
    assert response.status_code == 201 and response.json["count"] == 1000
    assert [o["reference"] for o in response.json["data"]] == [f"lot-{n}" for n in range(1000)]
    orders = {"items": [order_body() for _ in range(MAX_BATCH_ITEMS + 1)]}
    refused = client.post(ORDERS, json=orders, headers=world.buyer)
    assert refused.status_code == 422
    assert _errors(refused) == [("items", "List should have at most 1000 items after validation, not 1001")]
    orders["items"].pop()
    assert client.post(ORDERS, json=orders, headers=world.buyer).status_code == 201
    assert (_count(engine, SupplyOffer), _count(engine, DemandOrder)) == (1000, 1000)
    # Large batches' events are built by the database on PostgreSQL: still each row's snapshot, in order.
    with session_scope(engine) as session:
        for model, action in ((SupplyOffer, "offer.create"), (DemandOrder, "order.create")):
            events = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()
            rows = session.exec(select(model).order_by(model.id)).all()
            assert [(e.object_id, e.after, e.before) for e in events] == [(r.id, snapshot(r), None) for r in rows]
    assert sealed_and_checked(engine).intact


def test_an_empty_batch_or_a_body_that_is_not_a_batch_is_422(client, world):
    for body, field in (({"items": []}, "items"), ({}, "items"), ([offer_body()], "body"), (offer_body(), "product")):
        response = client.post(OFFERS, json=body, headers=world.coop)
        assert response.status_code == 422, body
        assert field in field_names(response)


def test_only_cooperatives_post_offer_batches_and_only_buyers_order_batches(client, world, engine):
    for url, body, refused in (
        (OFFERS, {"items": [offer_body()]}, (world.admin, world.buyer)),
        (ORDERS, {"items": [order_body()]}, (world.admin, world.coop)),
    ):
        for headers in refused:
            response = client.post(url, json=body, headers=headers)
            assert response.status_code == 403 and response.content_type == "application/problem+json"
    assert (_count(engine, SupplyOffer), _count(engine, DemandOrder)) == (0, 0)


def test_a_batch_is_its_callers_own(client, world):
    mine = client.post(OFFERS, json={"items": [offer_body(), offer_body()]}, headers=world.coop).json["data"]
    for offer in mine:
        assert client.get(f"/api/v1/offers/{offer['id']}", headers=world.other_coop).status_code == 404
        # A buyer browsing sees neither the minimum price nor whose lot it is.
        seen = client.get(f"/api/v1/offers/{offer['id']}", headers=world.buyer).json
        assert "min_price_per_tonne" not in seen and "cooperative_id" not in seen


def test_the_batch_endpoints_are_documented_from_their_models(client):
    document = client.get("/api/openapi.json").json
    schemas = document["components"]["schemas"]
    for path, request, answer, item in (
        (OFFERS, "OfferBatchCreate", "OfferBatchPublic", "OfferCreate"),
        (ORDERS, "OrderBatchCreate", "OrderBatchPublic", "OrderCreate"),
    ):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(request)
        assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(answer)
        assert {"422", "409", "403"} <= set(operation["responses"])
        items = schemas[request]["properties"]["items"]
        assert items["maxItems"] == 1000 and items["minItems"] == 1
        assert items["items"]["$ref"].endswith(item)
        assert "Allowed roles" in operation["description"]


# --- POST /api/v1/orders: one statement for an open-market order --------------------------------


def test_a_single_order_answers_as_before_on_its_one_statement_path(client, world, engine):
    first = client.post("/api/v1/orders", json=order_body(reference="po-9", destination="shijie"), headers=world.buyer)
    assert first.status_code == 201
    # (The test client reads JSON numbers as Decimals.)
    assert first.json["destination"] == {
        "name": "Shijie, Dongguan",
        "name_zh": "东莞石碣镇",
        "latitude": Decimal("23.0985"),
        "longitude": Decimal("113.8035"),
    }
    again = client.post("/api/v1/orders", json=order_body(reference="po-9"), headers=world.buyer)
    assert again.status_code == 409 and _errors(again) == [("reference", "already used by this buyer")]
    # A used reference outranks an unknown destination, as it always has.
    both = client.post("/api/v1/orders", json=order_body(reference="po-9", destination="atlantis"), headers=world.buyer)
    assert both.status_code == 409
    nowhere = client.post("/api/v1/orders", json=order_body(destination="atlantis"), headers=world.buyer)
    assert nowhere.status_code == 422 and field_names(nowhere) == {"destination"}
    theirs = client.post("/api/v1/orders", json=order_body(reference="po-9"), headers=world.other_buyer)
    assert theirs.status_code == 201
    home = client.post("/api/v1/orders", json=order_body(), headers=world.buyer).json
    assert home["destination"] == {
        "name": "Dongguan",
        "name_zh": None,
        "latitude": Decimal("23.02"),
        "longitude": Decimal("113.75"),
    }
    assert client.get(f"/api/v1/orders/{home['id']}", headers=world.buyer).json == home
    with session_scope(engine) as session:
        for order in (first.json, theirs.json, home):
            event = session.exec(
                select(AuditEvent).where(AuditEvent.object_type == "demand_order", AuditEvent.object_id == order["id"])
            ).one()
            assert event.action == "order.create" and event.after == snapshot(session.get(DemandOrder, order["id"]))
    assert sealed_and_checked(engine).intact
    assert _count(engine, DemandOrder) == 3


def test_the_order_create_order_returns_is_in_the_session(engine, world):
    from market.models import Account
    from market.models.common import Role
    from market.models.order import OrderCreate
    from market.services.actors import Actor
    from market.services.orders import create_order

    with session_scope(engine) as session:
        account = session.exec(select(Account).where(Account.role == Role.buyer)).first()
        data = OrderCreate(**order_body(tonnes=Decimal("5")))
        order = create_order(session, actor=Actor.of(account), data=data)
        order.cancelled_kg = 5_000  # a caller's change is an UPDATE at the commit, not a second INSERT
    with session_scope(engine) as session:
        stored = session.exec(select(DemandOrder)).one()
        assert (stored.id, stored.cancelled_kg) == (order.id, 5_000)


def test_a_reference_taken_meanwhile_is_a_409_and_writes_nothing(client, world, engine, monkeypatch):
    """Another request may store a reference between the batch's check and its write: the database
    refuses the batch (a UNIQUE constraint), which answers 409 like any such clash, and nothing is kept."""
    from market.services import bulk

    assert client.post("/api/v1/offers", json=offer_body(reference="lot-1"), headers=world.coop).status_code == 201
    monkeypatch.setattr(bulk, "_reference_errors", lambda *args, **kwargs: [])
    response = client.post(OFFERS, json={"items": [offer_body(), offer_body(reference="lot-1")]}, headers=world.coop)
    assert response.status_code == 409 and response.content_type == "application/problem+json"
    assert _count(engine, SupplyOffer) == 1
    assert _count(engine, AuditEvent, AuditEvent.action == "offer.create") == 1


def test_a_batch_is_taken_with_the_collector_paused_and_only_a_batch(client, world, monkeypatch):
    import gc

    from market.services import bulk

    seen = []
    create_orders = bulk.create_orders

    def recorded(*args, **kwargs):
        seen.append(gc.isenabled())
        return create_orders(*args, **kwargs)

    monkeypatch.setattr(bulk, "create_orders", recorded)
    assert client.post(ORDERS, json={"items": [order_body()]}, headers=world.buyer).status_code == 201
    assert seen == [False] and gc.isenabled()
    refused = client.post(ORDERS, json={"items": [order_body(tonnes="0")]}, headers=world.buyer)
    assert refused.status_code == 422 and gc.isenabled()  # a refused batch resumes it too
    assert client.get("/api/v1/orders", headers=world.buyer).status_code == 200 and gc.isenabled()
