import re
from datetime import timedelta

from sqlmodel import func, select

from market.db import session_scope
from market.models import AuditEvent, DemandOrder, IdempotencyRecord, SupplyOffer
from market.models.common import utcnow
from tests.api.helpers import agreement_body, field_names, offer_body, order_body


def _count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_same_key_and_body_replays_the_first_answer(client, world, engine):
    headers = world.coop | {"Idempotency-Key": "lot-2020-001"}
    first = client.post("/api/v1/offers", json=offer_body(), headers=headers)
    second = client.post("/api/v1/offers", json=offer_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json == first.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count(engine, SupplyOffer) == 1
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).where(AuditEvent.action == "offer.create")).one() == 1


def test_same_key_with_another_body_is_422_and_creates_nothing(client, world, engine):
    headers = world.coop | {"Idempotency-Key": "lot-2020-002"}
    client.post("/api/v1/offers", json=offer_body(), headers=headers)
    response = client.post("/api/v1/offers", json=offer_body(tonnes="99"), headers=headers)
    assert response.status_code == 422 and field_names(response) == {"Idempotency-Key"}
    assert _count(engine, SupplyOffer) == 1


def test_keys_belong_to_one_account(client, world, engine):
    key = {"Idempotency-Key": "shared-key"}
    mine = client.post("/api/v1/offers", json=offer_body(), headers=world.coop | key)
    theirs = client.post("/api/v1/offers", json=offer_body(), headers=world.other_coop | key)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json["id"] != theirs.json["id"]
    assert _count(engine, SupplyOffer) == 2


def test_a_failed_request_does_not_burn_its_key(client, world, engine):
    headers = world.coop | {"Idempotency-Key": "retry-me"}
    assert client.post("/api/v1/offers", json=offer_body(tonnes="0"), headers=headers).status_code == 422
    assert client.post("/api/v1/offers", json=offer_body(), headers=headers).status_code == 201
    assert _count(engine, IdempotencyRecord) == 1


def test_orders_and_agreements_are_idempotent_too(client, world, engine):
    order_headers = world.buyer | {"Idempotency-Key": "po-77"}
    first = client.post("/api/v1/orders", json=order_body(), headers=order_headers)
    again = client.post("/api/v1/orders", json=order_body(), headers=order_headers)
    assert first.json == again.json and _count(engine, DemandOrder) == 1

    body = agreement_body(world.buyer_id, world.coop_id)
    agreement_headers = world.admin | {"Idempotency-Key": "agreement-1"}
    first = client.post("/api/v1/agreements", json=body, headers=agreement_headers)
    again = client.post("/api/v1/agreements", json=body, headers=agreement_headers)
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert client.get("/api/v1/agreements", headers=world.admin).json["count"] == 1


def test_a_key_is_bound_to_its_endpoint(client, world):
    headers = world.admin | {"Idempotency-Key": "k"}
    client.post("/api/v1/agreements", json=agreement_body(world.buyer_id, world.coop_id), headers=headers)
    # The admin cannot post offers anyway; use the buyer for a second endpoint with one key.
    buyer_key = world.buyer | {"Idempotency-Key": "k2"}
    assert client.post("/api/v1/orders", json=order_body(), headers=buyer_key).status_code == 201
    with session_scope(client.application.extensions["market.engine"]) as session:
        record = session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "k2")).one()
        assert record.endpoint == "POST /api/v1/orders"


def test_keys_are_remembered_for_the_ttl_then_forgotten(client, world, engine):
    headers = world.coop | {"Idempotency-Key": "old-key"}
    first = client.post("/api/v1/offers", json=offer_body(), headers=headers)
    with session_scope(engine) as session:
        record = session.exec(select(IdempotencyRecord)).one()
        record.created_at = utcnow() - timedelta(hours=47)
        session.add(record)
    assert client.post("/api/v1/offers", json=offer_body(), headers=headers).json == first.json
    with session_scope(engine) as session:
        record = session.exec(select(IdempotencyRecord)).one()
        record.created_at = utcnow() - timedelta(hours=49)
        session.add(record)
    fresh = client.post("/api/v1/offers", json=offer_body(), headers=headers)
    assert fresh.status_code == 201 and fresh.json["id"] != first.json["id"]
    assert _count(engine, IdempotencyRecord) == 1


def test_malformed_keys_are_refused(client, world, engine, app):
    # The rule the document shows for the header is the rule the server applies.
    header = app.api_doc["paths"]["/api/v1/offers"]["post"]["parameters"][0]["schema"]
    for key in ("", "x" * 256, "tab\there", "voilà", "x" * 255 + "é"):
        response = client.post("/api/v1/offers", json=offer_body(), headers=world.coop | {"Idempotency-Key": key})
        assert response.status_code == 422 and field_names(response) == {"Idempotency-Key"}, key
        assert not (re.fullmatch(header["pattern"], key) and len(key) <= header["maxLength"]), key
    assert _count(engine, SupplyOffer) == 0
    for key in ("a", "lot 2020/001", "x" * 255):
        assert re.fullmatch(header["pattern"], key)
        response = client.post("/api/v1/offers", json=offer_body(), headers=world.coop | {"Idempotency-Key": key})
        assert response.status_code == 201, (key, response.json)


def test_a_concurrent_retry_with_the_same_key_is_409_and_creates_one_row(client, world, engine, monkeypatch):
    import threading

    from market.services import offers

    first_inside, release_first = threading.Event(), threading.Event()
    real_create = offers.create_offer

    def slow_create(*args, **kwargs):
        if threading.current_thread().name == "first":
            first_inside.set()
            release_first.wait(timeout=30)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(offers, "create_offer", slow_create)
    headers = world.coop | {"Idempotency-Key": "double-tap"}
    results = {}
    first = threading.Thread(
        name="first",
        target=lambda: results.update(first=client.post("/api/v1/offers", json=offer_body(), headers=headers)),
    )
    first.start()
    assert first_inside.wait(timeout=30)
    results["second"] = client.post("/api/v1/offers", json=offer_body(), headers=headers)
    release_first.set()
    first.join(timeout=30)

    assert results["second"].status_code == 201
    assert results["first"].status_code == 409
    assert field_names(results["first"]) == {"Idempotency-Key"}
    assert _count(engine, SupplyOffer) == 1
    # The retry that lost the race can now simply be replayed.
    assert client.post("/api/v1/offers", json=offer_body(), headers=headers).json == results["second"].json
