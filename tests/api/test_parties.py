from sqlmodel import select

from market.db import session_scope
from market.models import Account
from market.services.accounts import hash_token
from tests.api.helpers import cooperative_body, field_names
from tests.conftest import bearer

COOPERATIVE = cooperative_body()


def test_admin_registers_a_cooperative_and_its_clerk(client, world, engine):
    response = client.post("/api/v1/cooperatives", json=COOPERATIVE, headers=world.admin)
    assert response.status_code == 201, response.json
    cooperative = response.json
    assert cooperative["name_zh"] == "苏甲乡桂庆养殖专业合作社" and cooperative["poor_households"] == 96

    account = client.post(
        "/api/v1/accounts",
        json={"role": "cooperative", "name": "Guiqing clerk", "cooperative_id": cooperative["id"]},
        headers=world.admin,
    )
    assert account.status_code == 201
    token = account.json["token"]
    assert account.json["role"] == "cooperative" and account.json["cooperative_id"] == cooperative["id"]

    # The token works, is stored only as a hash, and is never shown again.
    assert client.get(f"/api/v1/cooperatives/{cooperative['id']}", headers=bearer(token)).json == cooperative
    with session_scope(engine) as session:
        row = session.get(Account, account.json["id"])
        assert row.token_hash == hash_token(token) and token not in row.token_hash
    listed = client.get("/api/v1/accounts", headers=world.admin).get_data(as_text=True)
    assert token not in listed and "token_hash" not in listed


def test_invalid_cooperatives_name_the_field(client, world):
    cases = [
        ({**COOPERATIVE, "poor_households": 500}, "poor_households"),
        ({**COOPERATIVE, "latitude": 91}, "latitude"),
        ({**COOPERATIVE, "member_households": -1}, "member_households"),
        ({key: value for key, value in COOPERATIVE.items() if key != "name_zh"}, "name_zh"),
        ({**COOPERATIVE, "id": 7}, "id"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/cooperatives", json=body, headers=world.admin)
        assert response.status_code == 422, (body, response.json)
        assert field in field_names(response)
    duplicate = client.post("/api/v1/cooperatives", json={**COOPERATIVE, "name": "Sayu Apple"}, headers=world.admin)
    assert duplicate.status_code == 409 and field_names(duplicate) == {"name"}


def test_accounts_must_link_to_what_their_role_needs(client, world):
    cases = [
        ({"role": "cooperative", "name": "x"}, "cooperative_id"),
        ({"role": "buyer", "name": "x", "cooperative_id": world.coop_id}, "buyer_id"),
        ({"role": "cooperative", "name": "x", "cooperative_id": world.coop_id, "buyer_id": world.buyer_id}, "buyer_id"),
        ({"role": "admin", "name": "x", "buyer_id": world.buyer_id}, "buyer_id"),
        ({"role": "cooperative", "name": "x", "cooperative_id": 999}, "cooperative_id"),
        ({"role": "buyer", "name": "x", "buyer_id": 999}, "buyer_id"),
        ({"role": "root", "name": "x"}, "role"),
        ({"role": "admin", "name": "x", "token": "mine"}, "token"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/accounts", json=body, headers=world.admin)
        assert response.status_code == 422, (body, response.json)
        assert field_names(response) == {field}


def test_each_party_sees_only_itself(client, world):
    assert client.get(f"/api/v1/cooperatives/{world.coop_id}", headers=world.coop).status_code == 200
    assert client.get(f"/api/v1/cooperatives/{world.other_coop_id}", headers=world.coop).status_code == 404
    assert client.get(f"/api/v1/buyers/{world.buyer_id}", headers=world.buyer).status_code == 200
    assert client.get(f"/api/v1/buyers/{world.other_buyer_id}", headers=world.buyer).status_code == 404
    assert client.get(f"/api/v1/cooperatives/{world.coop_id}", headers=world.buyer).status_code == 403
    assert client.get(f"/api/v1/buyers/{world.buyer_id}", headers=world.coop).status_code == 403
    assert client.get("/api/v1/cooperatives", headers=world.admin).json["count"] == 2
    assert client.get("/api/v1/buyers?limit=1", headers=world.admin).json == {
        "count": 2,
        "data": [client.get(f"/api/v1/buyers/{world.buyer_id}", headers=world.admin).json],
    }


def test_admin_account_can_create_another_admin(client, world, engine):
    response = client.post("/api/v1/accounts", json={"role": "admin", "name": "deputy"}, headers=world.admin)
    assert response.status_code == 201
    assert client.get("/api/v1/me", headers=bearer(response.json["token"])).json["role"] == "admin"
    with session_scope(engine) as session:
        assert len(session.exec(select(Account).where(Account.role == "admin")).all()) == 2
