from tests.api.helpers import agreement_body, field_names


def test_admin_records_an_agreement_with_progress_fields(client, world):
    response = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, reference="ZY-2020-APL-001"),
        headers=world.admin,
    )
    assert response.status_code == 201, response.json
    agreement = response.json
    assert agreement["tonnes"] == "3000" and agreement["price_per_tonne"] == "7200.00"
    assert (agreement["tonnes_called_off"], agreement["tonnes_contracted"], agreement["tonnes_delivered"]) == (
        "0",
        "0",
        "0",
    )
    assert agreement["tonnes_remaining"] == "3000"

    duplicate = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, reference="ZY-2020-APL-001"),
        headers=world.admin,
    )
    assert duplicate.status_code == 409 and field_names(duplicate) == {"reference"}


def test_only_admins_record_agreements(client, world):
    for headers in (world.coop, world.buyer):
        response = client.post(
            "/api/v1/agreements", json=agreement_body(world.buyer_id, world.coop_id), headers=headers
        )
        assert response.status_code == 403


def test_invalid_agreements_name_the_field(client, world):
    cases = [
        (agreement_body(999, world.coop_id), "buyer_id"),
        (agreement_body(world.buyer_id, 999), "cooperative_id"),
        (agreement_body(world.buyer_id, world.coop_id, tonnes="0"), "tonnes"),
        (agreement_body(world.buyer_id, world.coop_id, price_per_tonne="0.001"), "price_per_tonne"),
        (agreement_body(world.buyer_id, world.coop_id, valid_from="2021-04-01"), "valid_until"),
        (agreement_body(world.buyer_id, world.coop_id, tonnes_called_off="5"), "tonnes_called_off"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/agreements", json=body, headers=world.admin)
        assert response.status_code == 422, (body, response.json)
        assert field_names(response) == {field}
    assert client.get("/api/v1/agreements", headers=world.admin).json["count"] == 0


def test_parties_see_their_own_agreements_only(client, world):
    ours = client.post(
        "/api/v1/agreements", json=agreement_body(world.buyer_id, world.coop_id), headers=world.admin
    ).json
    theirs = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.other_buyer_id, world.other_coop_id, product="egg"),
        headers=world.admin,
    ).json

    assert client.get("/api/v1/agreements", headers=world.admin).json["count"] == 2
    for headers in (world.buyer, world.coop):
        listing = client.get("/api/v1/agreements", headers=headers).json
        assert [item["id"] for item in listing["data"]] == [ours["id"]]
        assert client.get(f"/api/v1/agreements/{theirs['id']}", headers=headers).status_code == 404
    assert client.get("/api/v1/agreements?product=egg", headers=world.admin).json["count"] == 1
