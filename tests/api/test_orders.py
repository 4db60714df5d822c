from sqlmodel import func, select

from market.db import session_scope
from market.models import DemandOrder, PurchaseAgreement
from tests.api.helpers import agreement_body, field_names, order_body


def test_buyer_posts_an_order_delivered_to_its_own_city_by_default(client, world):
    response = client.post("/api/v1/orders", json=order_body(tonnes="250.25"), headers=world.buyer)
    assert response.status_code == 201, response.json
    order = response.json
    assert order["status"] == "open"
    assert (order["tonnes"], order["tonnes_remaining"]) == ("250.25", "250.25")
    assert order["max_price_per_tonne"] == "7500.00"
    assert order["buyer_id"] == world.buyer_id and order["agreement_id"] is None
    assert order["destination"]["name"] == "Dongguan"


def test_a_named_destination_is_looked_up(client, world):
    for name in ("dongguan-shijie", "石碣镇", "Shijie, Dongguan"):
        response = client.post("/api/v1/orders", json=order_body(destination=name), headers=world.buyer)
        assert response.status_code == 201, response.json
        assert response.json["destination"]["name_zh"] == "东莞石碣镇"
    unknown = client.post("/api/v1/orders", json=order_body(destination="Atlantis"), headers=world.buyer)
    assert unknown.status_code == 422 and field_names(unknown) == {"destination"}
    listing = client.get("/api/v1/destinations", headers=world.buyer).json
    assert listing["count"] == len(listing["data"]) >= 10
    assert {"dongguan", "dongguan-shijie", "dongguan-shilong", "dongguan-chashan"} <= {
        p["key"] for p in listing["data"]
    }


def test_invalid_orders_name_the_field_and_write_nothing(client, world, engine):
    cases = [
        (order_body(tonnes="0"), "tonnes"),
        (order_body(tonnes="100001"), "tonnes"),
        (order_body(tonnes="0.0005"), "tonnes"),
        (order_body(max_price_per_tonne="-1"), "max_price_per_tonne"),
        (order_body(max_price_per_tonne="1000001"), "max_price_per_tonne"),
        (order_body(max_price_per_tonne="12.345"), "max_price_per_tonne"),
        (order_body(deliver_from="2020-11-01", deliver_until="2020-10-01"), "deliver_until"),
        (order_body(min_grade="best"), "min_grade"),
        (order_body(product="rice"), "product"),
        (order_body(status="open"), "status"),
        (order_body(buyer_id=world.other_buyer_id), "buyer_id"),
        (order_body(agreement_id=0), "agreement_id"),
        (order_body(agreement_id=12345), "agreement_id"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/orders", json=body, headers=world.buyer)
        assert response.status_code == 422, (body, response.json)
        assert field in field_names(response), (body, response.json)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(DemandOrder)).one() == 0


def test_only_buyers_post_orders(client, world):
    for headers in (world.coop, world.admin):
        assert client.post("/api/v1/orders", json=order_body(), headers=headers).status_code == 403


def test_cooperatives_browse_open_orders_without_the_maximum_price(client, world):
    order = client.post("/api/v1/orders", json=order_body(), headers=world.buyer).json
    cancelled = client.post("/api/v1/orders", json=order_body(), headers=world.other_buyer).json
    client.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=world.other_buyer)

    listing = client.get("/api/v1/orders", headers=world.coop).json
    assert [item["id"] for item in listing["data"]] == [order["id"]]
    item = listing["data"][0]
    assert "max_price_per_tonne" not in item and "buyer_id" not in item
    assert item["destination"]["name"] == "Dongguan" and item["tonnes_remaining"] == "100"
    single = client.get(f"/api/v1/orders/{order['id']}", headers=world.coop)
    assert single.status_code == 200 and "max_price_per_tonne" not in single.json
    assert client.get(f"/api/v1/orders/{cancelled['id']}", headers=world.coop).status_code == 404


def test_buyers_see_only_their_own_orders(client, world):
    mine = client.post("/api/v1/orders", json=order_body(), headers=world.buyer).json
    theirs = client.post("/api/v1/orders", json=order_body(), headers=world.other_buyer).json
    assert [item["id"] for item in client.get("/api/v1/orders", headers=world.buyer).json["data"]] == [mine["id"]]
    assert client.get(f"/api/v1/orders/{theirs['id']}", headers=world.buyer).status_code == 404
    assert client.post(f"/api/v1/orders/{theirs['id']}/cancel", headers=world.buyer).status_code == 404
    assert client.get(f"/api/v1/orders/{theirs['id']}", headers=world.other_buyer).json["status"] == "open"


def test_cancel_takes_the_remainder_once(client, world):
    order = client.post("/api/v1/orders", json=order_body(), headers=world.buyer).json
    response = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=world.buyer)
    assert response.status_code == 200
    assert (response.json["status"], response.json["tonnes_cancelled"]) == ("cancelled", "100")
    assert client.post(f"/api/v1/orders/{order['id']}/cancel", headers=world.buyer).status_code == 409
    assert client.post(f"/api/v1/orders/{order['id']}/cancel", headers=world.coop).status_code == 403


# --- calling off against a purchase agreement ---------------------------------------------


def _agreement(client, world, **changes):
    response = client.post(
        "/api/v1/agreements", json=agreement_body(world.buyer_id, world.coop_id, **changes), headers=world.admin
    )
    assert response.status_code == 201, response.json
    return response.json


def test_orders_call_off_against_an_agreement_up_to_its_tonnage(client, world, engine):
    agreement = _agreement(client, world, tonnes="3000")
    first = client.post(
        "/api/v1/orders", json=order_body(tonnes="1000", agreement_id=agreement["id"]), headers=world.buyer
    )
    assert first.status_code == 201, first.json
    assert first.json["agreement_id"] == agreement["id"]
    second = client.post(
        "/api/v1/orders", json=order_body(tonnes="2000", agreement_id=agreement["id"]), headers=world.buyer
    )
    assert second.status_code == 201

    progress = client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.buyer).json
    assert (progress["tonnes_called_off"], progress["tonnes_remaining"]) == ("3000", "0")

    too_much = client.post(
        "/api/v1/orders", json=order_body(tonnes="0.001", agreement_id=agreement["id"]), headers=world.buyer
    )
    assert too_much.status_code == 409 and field_names(too_much) == {"tonnes"}

    # Cancelling gives the tonnes back to call off again.
    client.post(f"/api/v1/orders/{first.json['id']}/cancel", headers=world.buyer)
    progress = client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.admin).json
    assert (progress["tonnes_called_off"], progress["tonnes_remaining"]) == ("2000", "1000")
    with session_scope(engine) as session:
        assert session.get(PurchaseAgreement, agreement["id"]).called_off_kg == 2_000_000


def test_call_offs_must_fit_the_agreement(client, world):
    agreement = _agreement(client, world, price_per_tonne="7200.00")
    other = client.post(
        "/api/v1/agreements", json=agreement_body(world.other_buyer_id, world.coop_id), headers=world.admin
    ).json
    cases = [
        (order_body(agreement_id=agreement["id"], product="egg"), "product"),
        (order_body(agreement_id=agreement["id"], deliver_from="2020-08-01"), "deliver_from"),
        (order_body(agreement_id=agreement["id"], deliver_until="2021-04-30"), "deliver_until"),
        (order_body(agreement_id=agreement["id"], max_price_per_tonne="7199.99"), "max_price_per_tonne"),
        # Another buyer's agreement is as unknown as a missing one.
        (order_body(agreement_id=other["id"]), "agreement_id"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/orders", json=body, headers=world.buyer)
        assert response.status_code == 422, (body, response.json)
        assert field_names(response) == {field}
    assert client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.admin).json["tonnes_called_off"] == "0"


def test_call_offs_are_visible_only_to_the_agreements_cooperative(client, world):
    agreement = _agreement(client, world)
    call_off = client.post("/api/v1/orders", json=order_body(agreement_id=agreement["id"]), headers=world.buyer).json
    open_market = client.post("/api/v1/orders", json=order_body(), headers=world.buyer).json

    party = {item["id"] for item in client.get("/api/v1/orders", headers=world.coop).json["data"]}
    outsider = {item["id"] for item in client.get("/api/v1/orders", headers=world.other_coop).json["data"]}
    assert party == {call_off["id"], open_market["id"]}
    assert outsider == {open_market["id"]}
    assert client.get(f"/api/v1/orders/{call_off['id']}", headers=world.other_coop).status_code == 404


def test_calling_off_and_releasing_are_audited_on_the_agreement(client, world, engine):
    from market.models import AuditEvent

    agreement = _agreement(client, world, tonnes="500")
    order = client.post(
        "/api/v1/orders", json=order_body(tonnes="200", agreement_id=agreement["id"]), headers=world.buyer
    ).json
    client.post(f"/api/v1/orders/{order['id']}/cancel", headers=world.buyer)
    with session_scope(engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.object_type == "purchase_agreement").order_by(AuditEvent.id)
        ).all()
    assert [event.action for event in events] == ["agreement.create", "agreement.call_off", "agreement.release"]
    assert [(e.before["called_off_kg"], e.after["called_off_kg"]) for e in events[1:]] == [(0, 200_000), (200_000, 0)]


def test_each_posted_order_is_audited_as_stored(client, world, engine):
    from market.models import Account
    from tests.services.audit_helpers import created_as_stored, sealed_and_checked

    bodies = [
        order_body(),  # to the buyer's own city, no reference
        order_body(reference="PO-1", destination="石碣镇"),
        order_body(reference="PO-2", tonnes="0.001", max_price_per_tonne="0.01"),
    ]
    posted = []
    for body in bodies:
        response = client.post("/api/v1/orders", json=body, headers=world.buyer)
        assert response.status_code == 201, response.json
        posted.append(response.json["id"])
    with session_scope(engine) as session:
        account = session.exec(select(Account).where(Account.buyer_id == world.buyer_id)).first()
        created_as_stored(session, "order.create", DemandOrder, "demand_order", posted, account.id)
    assert sealed_and_checked(engine).intact
