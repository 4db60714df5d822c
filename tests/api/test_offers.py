from sqlmodel import func, select

from market.db import session_scope
from market.models import AuditEvent, SupplyOffer
from tests.api.helpers import field_names, offer_body


def test_cooperative_posts_an_offer_and_reads_it_back_exactly(client, world, engine):
    response = client.post("/api/v1/offers", json=offer_body(tonnes="120.505"), headers=world.coop)
    assert response.status_code == 201, response.json
    offer = response.json
    assert offer["status"] == "open"
    assert offer["tonnes"] == "120.505"
    assert offer["tonnes_remaining"] == "120.505"
    assert offer["min_price_per_tonne"] == "6800.00"
    assert offer["cooperative_id"] == world.coop_id
    assert offer["origin"]["township"] == "Sayu"
    with session_scope(engine) as session:
        row = session.get(SupplyOffer, offer["id"])
        assert (row.quantity_kg, row.min_price_fen) == (120_505, 680_000)
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "offer.create")).one()
        assert event.object_id == offer["id"] and event.after["quantity_kg"] == 120_505

    again = client.get(f"/api/v1/offers/{offer['id']}", headers=world.coop)
    assert again.status_code == 200 and again.json == offer


def test_json_numbers_are_read_exactly_not_as_floats(client, world):
    response = client.post(
        "/api/v1/offers",
        data='{"product":"egg","grade":"premium","tonnes":0.1,"min_price_per_tonne":9800.1,'
        '"available_from":"2020-09-01","available_until":"2020-09-30"}',
        headers=world.coop | {"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.json
    assert response.json["tonnes"] == "0.1"
    assert response.json["min_price_per_tonne"] == "9800.10"


def test_invalid_offers_name_the_field_and_write_nothing(client, world, engine):
    cases = [
        (offer_body(tonnes="0"), "tonnes"),
        (offer_body(tonnes="-5"), "tonnes"),
        (offer_body(tonnes="1.0001"), "tonnes"),
        (offer_body(tonnes="100000.001"), "tonnes"),
        (offer_body(tonnes="NaN"), "tonnes"),
        (offer_body(tonnes="lots"), "tonnes"),
        (offer_body(tonnes=True), "tonnes"),
        (offer_body(min_price_per_tonne="6800.001"), "min_price_per_tonne"),
        (offer_body(min_price_per_tonne="1000000.01"), "min_price_per_tonne"),
        (offer_body(min_price_per_tonne="0"), "min_price_per_tonne"),
        (offer_body(available_from="2021-01-01", available_until="2020-12-31"), "available_until"),
        (offer_body(available_from="2020-02-30"), "available_from"),
        (offer_body(product="durian"), "product"),
        (offer_body(grade="supreme"), "grade"),
        (offer_body(status="matched"), "status"),
        (offer_body(id=99), "id"),
        (offer_body(cooperative_id=world.other_coop_id), "cooperative_id"),
        (offer_body(tonnes_remaining="5"), "tonnes_remaining"),
        ({k: v for k, v in offer_body().items() if k != "grade"}, "grade"),
        (offer_body(brand=""), "brand"),
        (offer_body(variety="x" * 65), "variety"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/offers", json=body, headers=world.coop)
        assert response.status_code == 422, (body, response.json)
        assert response.content_type == "application/problem+json"
        assert field in field_names(response), (body, response.json)
        problem = response.json
        assert set(problem) == {"type", "title", "status", "detail", "errors"} and problem["status"] == 422
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 0
        assert session.exec(select(func.count()).where(AuditEvent.action == "offer.create")).one() == 0


def test_a_body_that_is_not_an_object_is_422_naming_the_body(client, world):
    response = client.post("/api/v1/offers", json=[offer_body()], headers=world.coop)
    assert response.status_code == 422
    assert field_names(response) == {"body"}


def test_only_cooperatives_post_offers(client, world):
    for headers in (world.buyer, world.admin):
        response = client.post("/api/v1/offers", json=offer_body(), headers=headers)
        assert response.status_code == 403
        assert response.content_type == "application/problem+json"


def test_buyers_browse_open_offers_without_the_minimum_price(client, world):
    mine = client.post("/api/v1/offers", json=offer_body(), headers=world.coop).json
    theirs = client.post("/api/v1/offers", json=offer_body(product="egg"), headers=world.other_coop).json
    withdrawn = client.post("/api/v1/offers", json=offer_body(), headers=world.coop).json
    assert client.post(f"/api/v1/offers/{withdrawn['id']}/withdraw", headers=world.coop).status_code == 200

    listing = client.get("/api/v1/offers", headers=world.buyer).json
    assert listing["count"] == 2
    assert {item["id"] for item in listing["data"]} == {mine["id"], theirs["id"]}
    for item in listing["data"]:
        assert "min_price_per_tonne" not in item
        assert "cooperative_id" not in item
        assert item["origin"]["township"] in ("Sayu", "Sujiayuan")
        assert item["brand"] == "昭阳红"

    single = client.get(f"/api/v1/offers/{mine['id']}", headers=world.buyer)
    assert single.status_code == 200 and "min_price_per_tonne" not in single.json
    # A lot that left the market is no longer visible to buyers at all.
    assert client.get(f"/api/v1/offers/{withdrawn['id']}", headers=world.buyer).status_code == 404


def test_a_cooperative_sees_only_its_own_offers(client, world):
    mine = client.post("/api/v1/offers", json=offer_body(), headers=world.coop).json
    theirs = client.post("/api/v1/offers", json=offer_body(), headers=world.other_coop).json

    listing = client.get("/api/v1/offers", headers=world.coop).json
    assert [item["id"] for item in listing["data"]] == [mine["id"]]
    assert listing["data"][0]["min_price_per_tonne"] == "6800.00"

    response = client.get(f"/api/v1/offers/{theirs['id']}", headers=world.coop)
    assert response.status_code == 404
    assert str(theirs["id"]) in response.json["detail"]
    # Withdrawing someone else's offer looks exactly like withdrawing one that does not exist.
    foreign = client.post(f"/api/v1/offers/{theirs['id']}/withdraw", headers=world.coop)
    missing = client.post("/api/v1/offers/999999/withdraw", headers=world.coop)
    assert foreign.status_code == missing.status_code == 404
    assert client.get(f"/api/v1/offers/{theirs['id']}", headers=world.other_coop).json["status"] == "open"


def test_admins_see_every_offer_with_prices(client, world):
    client.post("/api/v1/offers", json=offer_body(), headers=world.coop)
    client.post("/api/v1/offers", json=offer_body(), headers=world.other_coop)
    listing = client.get("/api/v1/offers", headers=world.admin).json
    assert listing["count"] == 2
    assert all(item["min_price_per_tonne"] == "6800.00" for item in listing["data"])


def test_withdraw_takes_the_remainder_once(client, world, engine):
    offer = client.post("/api/v1/offers", json=offer_body(tonnes="50"), headers=world.coop).json
    response = client.post(f"/api/v1/offers/{offer['id']}/withdraw", headers=world.coop)
    assert response.status_code == 200
    assert response.json["status"] == "withdrawn"
    assert response.json["tonnes_withdrawn"] == "50"
    assert response.json["tonnes_remaining"] == "0"

    again = client.post(f"/api/v1/offers/{offer['id']}/withdraw", headers=world.coop)
    assert again.status_code == 409
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).where(AuditEvent.action == "offer.withdraw")).one() == 1
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "offer.withdraw")).one()
        assert event.before["status"] == "open" and event.after["status"] == "withdrawn"


def test_withdraw_keeps_contracted_tonnes(client, world, engine):
    offer = client.post("/api/v1/offers", json=offer_body(tonnes="50"), headers=world.coop).json
    with session_scope(engine) as session:  # as a match run would leave it
        row = session.get(SupplyOffer, offer["id"])
        row.contracted_kg = 20_000
        row.status = "partially_matched"
        session.add(row)
    response = client.post(f"/api/v1/offers/{offer['id']}/withdraw", headers=world.coop)
    assert response.status_code == 200
    assert (response.json["tonnes_contracted"], response.json["tonnes_withdrawn"]) == ("20", "30")


def test_buyers_cannot_withdraw_offers(client, world):
    offer = client.post("/api/v1/offers", json=offer_body(), headers=world.coop).json
    assert client.post(f"/api/v1/offers/{offer['id']}/withdraw", headers=world.buyer).status_code == 403


def test_lists_filter_by_status_and_product_and_page(client, world):
    ids = [
        client.post("/api/v1/offers", json=offer_body(product=product), headers=world.coop).json["id"]
        for product in ("apple", "egg", "apple", "potato", "apple")
    ]
    client.post(f"/api/v1/offers/{ids[0]}/withdraw", headers=world.coop)

    apples = client.get("/api/v1/offers?product=apple", headers=world.coop).json
    assert apples["count"] == 3
    open_apples = client.get("/api/v1/offers?product=apple&status=open", headers=world.coop).json
    assert [item["id"] for item in open_apples["data"]] == [ids[2], ids[4]]

    page = client.get("/api/v1/offers?limit=2&offset=1", headers=world.coop).json
    assert page["count"] == 5 and [item["id"] for item in page["data"]] == ids[1:3]

    for query, field in (
        ("status=lost", "status"),
        ("product=durian", "product"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("limit=ten", "limit"),
        ("colour=red", "colour"),
    ):
        response = client.get(f"/api/v1/offers?{query}", headers=world.coop)
        assert response.status_code == 422, query
        assert field in field_names(response)


def test_page_size_is_capped(client, world, app):
    app.config["MARKET_SETTINGS"] = app.config["MARKET_SETTINGS"].model_copy(update={"max_page_size": 3})
    for _ in range(5):
        client.post("/api/v1/offers", json=offer_body(), headers=world.coop)
    page = client.get("/api/v1/offers?limit=100000", headers=world.coop).json
    assert page["count"] == 5 and len(page["data"]) == 3


def test_each_posted_offer_is_audited_as_stored(client, world, engine):
    from market.models import Account
    from tests.services.audit_helpers import created_as_stored, sealed_and_checked

    bodies = [
        offer_body(),  # with variety and brand, no reference
        offer_body(reference="LOT-1", variety=None, brand=None, grade="second"),
        offer_body(reference="LOT-2", tonnes="0.001", min_price_per_tonne="0.01"),
    ]
    posted = []
    for body in bodies:
        response = client.post("/api/v1/offers", json=body, headers=world.coop)
        assert response.status_code == 201, response.json
        assert response.json["origin"]["township"] == "Sayu"  # the cooperative, read back with the lot
        posted.append(response.json["id"])
    with session_scope(engine) as session:
        account = session.exec(select(Account).where(Account.cooperative_id == world.coop_id)).first()
        created = created_as_stored(session, "offer.create", SupplyOffer, "supply_offer", posted, account.id)
        for (_, offer), body in zip(created, bodies, strict=True):
            assert (offer.reference, offer.variety, offer.grade.value) == (
                body.get("reference"),
                body.get("variety"),
                body["grade"],
            )
    assert sealed_and_checked(engine).intact


def test_a_reference_used_twice_is_refused_and_writes_nothing(client, world, engine):
    first = client.post("/api/v1/offers", json=offer_body(reference="LOT-7"), headers=world.coop)
    assert first.status_code == 201, first.json
    again = client.post("/api/v1/offers", json=offer_body(reference="LOT-7", tonnes="3"), headers=world.coop)
    assert again.status_code == 409, again.json
    assert field_names(again) == {"reference"}
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 1
        assert (
            session.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "offer.create")).one()
            == 1
        )
    # A reference is the cooperative's own: another cooperative may use the same one.
    other = client.post("/api/v1/offers", json=offer_body(reference="LOT-7"), headers=world.other_coop)
    assert other.status_code == 201, other.json
    assert other.json["cooperative_id"] == world.other_coop_id and other.json["origin"]["township"] == "Sujiayuan"
