"""The fulfilment ledger over the API: deliveries, acceptance, fulfilment and closing short."""

from datetime import date, timedelta

import pytest

from market.db import session_scope
from market.models import PurchaseAgreement
from market.services.agreements import progress
from tests.api.helpers import agreement_body, field_names, offer_body, order_body
from tests.api.test_match_runs import wait_for


@pytest.fixture
def contract(client, world):
    """100 t of apples from Sayu to Zejing on its agreement, confirmed at 7,800 yuan/t."""
    client.post("/api/v1/offers", json=offer_body(tonnes="100", min_price_per_tonne="5000.00"), headers=world.coop)
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, tonnes="300", price_per_tonne="7800.00"),
        headers=world.admin,
    ).json
    client.post(
        "/api/v1/orders",
        json=order_body(tonnes="100", max_price_per_tonne="7800.00", agreement_id=agreement["id"]),
        headers=world.buyer,
    )
    run = wait_for(client, world.admin, client.post("/api/v1/match-runs", json={}, headers=world.admin).json["id"])
    client.post(f"/api/v1/match-runs/{run['id']}/approve", headers=world.admin)
    contracts = client.get("/api/v1/contracts", headers=world.admin).json["data"]
    assert len(contracts) == 1 and contracts[0]["status"] == "confirmed"
    return contracts[0]


def _ship(client, world, contract, tonnes, **extra):
    body = {"tonnes": tonnes, "shipped_on": "2020-10-12", **extra}
    return client.post(f"/api/v1/contracts/{contract['id']}/deliveries", json=body, headers=world.coop)


def _accept(client, headers, delivery, accepted, **extra):
    body = {"accepted_tonnes": accepted, **extra}
    return client.post(f"/api/v1/deliveries/{delivery['id']}/accept", json=body, headers=headers)


def test_shipping_and_accepting_earns_revenue_until_the_contract_is_fulfilled(client, world, contract):
    assert contract["deliver_from"] == "2020-10-01" and contract["deliver_until"] == "2020-10-31"
    first = _ship(client, world, contract, "60.125", ticket="WB-2020-1012-07")
    assert first.status_code == 201, first.json
    assert (first.json["status"], first.json["tonnes_shipped"], first.json["revenue"]) == ("shipped", "60.125", None)
    assert client.get(f"/api/v1/contracts/{contract['id']}", headers=world.coop).json["status"] == "in_delivery"

    accepted = _accept(client, world.buyer, first.json, "59.9", reason="0.225 t bruised")
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["tonnes_accepted"] == "59.9" and accepted.json["tonnes_rejected"] == "0.225"
    # 59.9 t x 7,800 yuan/t, exact to the fen.
    assert accepted.json["revenue"] == "467220.00"
    state = client.get(f"/api/v1/contracts/{contract['id']}", headers=world.buyer).json
    assert (state["status"], state["tonnes_accepted"], state["revenue_earned"]) == ("in_delivery", "59.9", "467220.00")

    second = _ship(client, world, contract, "36")
    _accept(client, world.buyer, second.json, "36")
    state = client.get(f"/api/v1/contracts/{contract['id']}", headers=world.coop).json
    # 95.9 t accepted of 100: inside the 5% band, so fulfilled.
    assert (state["status"], state["tonnes_accepted"], state["revenue_earned"]) == ("fulfilled", "95.9", "748020.00")
    assert _ship(client, world, contract, "1").status_code == 409

    agreement = client.get(f"/api/v1/agreements/{contract['agreement_id']}", headers=world.buyer).json
    assert (agreement["tonnes_delivered"], agreement["revenue"]) == ("95.9", "748020.00")
    assert agreement["fulfilled_share"] == "0.3197"


def test_no_more_than_the_contract_plus_tolerance_may_be_shipped(client, world, contract):
    assert _ship(client, world, contract, "100").status_code == 201
    too_much = _ship(client, world, contract, "5.001")
    assert too_much.status_code == 409 and field_names(too_much) == {"tonnes"}
    assert _ship(client, world, contract, "5").status_code == 201
    state = client.get(f"/api/v1/contracts/{contract['id']}", headers=world.coop).json
    assert state["tonnes_shipped"] == "105"


def test_acceptance_is_checked(client, world, contract):
    delivery = _ship(client, world, contract, "10").json
    for body, field in (
        ({"accepted_tonnes": "10.001"}, "accepted_tonnes"),
        ({"accepted_tonnes": "9"}, "reason"),
        ({"accepted_tonnes": "8", "rejected_tonnes": "3", "reason": "wet"}, "rejected_tonnes"),
        # Short of what was shipped: 0.5 t would be neither accepted nor rejected.
        ({"accepted_tonnes": "9.5", "rejected_tonnes": "0"}, "rejected_tonnes"),
        ({"accepted_tonnes": "5", "rejected_tonnes": "4.999", "reason": "wet"}, "rejected_tonnes"),
        ({"accepted_tonnes": "-1"}, "accepted_tonnes"),
        ({"accepted_tonnes": "5", "status": "accepted"}, "status"),
    ):
        response = client.post(f"/api/v1/deliveries/{delivery['id']}/accept", json=body, headers=world.buyer)
        assert response.status_code == 422, (body, response.json)
        assert field_names(response) == {field}
    assert _accept(client, world.buyer, delivery, "10").status_code == 200
    assert _accept(client, world.buyer, delivery, "10").status_code == 409
    future = _ship(client, world, contract, "1", shipped_on=(date.today() + timedelta(days=2)).isoformat())
    assert future.status_code == 422 and field_names(future) == {"shipped_on"}


def test_only_the_contracts_parties_touch_its_deliveries(client, world, contract):
    assert (
        client.post(
            f"/api/v1/contracts/{contract['id']}/deliveries",
            json={"tonnes": "1", "shipped_on": "2020-10-12"},
            headers=world.other_coop,
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/contracts/{contract['id']}/deliveries",
            json={"tonnes": "1", "shipped_on": "2020-10-12"},
            headers=world.buyer,
        ).status_code
        == 403
    )
    delivery = _ship(client, world, contract, "10").json
    assert _accept(client, world.other_buyer, delivery, "10").status_code == 404
    assert _accept(client, world.coop, delivery, "10").status_code == 403
    assert client.get(f"/api/v1/deliveries/{delivery['id']}", headers=world.other_coop).status_code == 404
    assert client.get(f"/api/v1/deliveries/{delivery['id']}", headers=world.buyer).status_code == 200
    assert client.get("/api/v1/deliveries", headers=world.other_buyer).json["count"] == 0
    assert client.get(f"/api/v1/deliveries?contract_id={contract['id']}", headers=world.coop).json["count"] == 1
    assert client.get(f"/api/v1/contracts/{contract['id']}/history", headers=world.other_buyer).status_code == 404


def test_a_proposed_contract_takes_no_deliveries(client, world):
    client.post("/api/v1/offers", json=offer_body(tonnes="10", min_price_per_tonne="5000"), headers=world.coop)
    client.post("/api/v1/orders", json=order_body(tonnes="10", max_price_per_tonne="8000"), headers=world.buyer)
    wait_for(client, world.admin, client.post("/api/v1/match-runs", json={}, headers=world.admin).json["id"])
    proposed = client.get("/api/v1/contracts", headers=world.coop).json["data"][0]
    assert proposed["status"] == "proposed"
    assert _ship(client, world, proposed, "1").status_code == 409


def test_closing_short_returns_the_unmet_tonnes_to_the_order(client, world, contract):
    delivery = _ship(client, world, contract, "40").json
    assert (
        client.post(
            f"/api/v1/contracts/{contract['id']}/close", json={"reason": "hail"}, headers=world.admin
        ).status_code
        == 409
    )  # a delivery awaits acceptance
    _accept(client, world.buyer, delivery, "40")
    refused = client.post(f"/api/v1/contracts/{contract['id']}/close", json={}, headers=world.admin)
    assert refused.status_code == 422 and field_names(refused) == {"reason"}
    assert (
        client.post(
            f"/api/v1/contracts/{contract['id']}/close", json={"reason": "hail"}, headers=world.coop
        ).status_code
        == 403
    )
    closed = client.post(
        f"/api/v1/contracts/{contract['id']}/close", json={"reason": "Hail took the rest."}, headers=world.admin
    )
    assert closed.status_code == 200
    assert (closed.json["status"], closed.json["close_reason"]) == ("closed_short", "Hail took the rest.")
    order = client.get(f"/api/v1/orders/{contract['order_id']}", headers=world.buyer).json
    assert (order["status"], order["tonnes_contracted"], order["tonnes_remaining"]) == ("partially_matched", "40", "60")
    agreement = client.get(f"/api/v1/agreements/{contract['agreement_id']}", headers=world.admin).json
    assert (agreement["tonnes_contracted"], agreement["tonnes_delivered"]) == ("40", "40")
    assert _ship(client, world, contract, "1").status_code == 409

    history = client.get(f"/api/v1/contracts/{contract['id']}/history", headers=world.coop).json["data"]
    assert [event["action"] for event in history] == [
        "contract.propose",
        "contract.confirm",
        "delivery.record",
        "contract.ship",
        "delivery.accept",
        "contract.accept",
        "contract.close_short",
    ]


def test_deliveries_can_be_recorded_idempotently(client, world, contract):
    headers = world.coop | {"Idempotency-Key": "WB-2020-1012-07"}
    body = {"tonnes": "10", "shipped_on": "2020-10-12"}
    first = client.post(f"/api/v1/contracts/{contract['id']}/deliveries", json=body, headers=headers)
    again = client.post(f"/api/v1/contracts/{contract['id']}/deliveries", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert client.get(f"/api/v1/contracts/{contract['id']}", headers=world.coop).json["tonnes_shipped"] == "10"


def test_an_agreement_behind_pace_is_flagged(engine, world, contract):
    with session_scope(engine) as session:
        agreement = session.get(PurchaseAgreement, contract["agreement_id"])
    # Validity 2020-09-01 .. 2021-03-31 (212 days), 300 t, nothing delivered yet.
    early = progress(agreement, date(2020, 9, 10))
    assert (early.days_left, early.behind_pace, str(early.fulfilled_share)) == (202, False, "0.0000")
    late = progress(agreement, date(2020, 12, 1))
    assert late.behind_pace is True
    assert progress(agreement, date(2021, 6, 1)).days_left == 0
