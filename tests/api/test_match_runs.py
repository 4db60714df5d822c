"""Match runs through the API, in-process (no REDIS_URL): request, wait for the proposal, approve or reject."""

import time

from sqlmodel import Session, func, select

from market.db import session_scope
from market.models import AuditEvent, Contract, MatchRun, SupplyOffer
from market.models.match_report import MatchReport
from tests.api.helpers import agreement_body, field_names, offer_body, order_body


def wait_for(client, headers, run_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/v1/match-runs/{run_id}", headers=headers).json
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.05)


def _book(client, world):
    """Sayu sells first-grade apples; two buyers want them, one through an agreement."""
    lot = client.post(
        "/api/v1/offers", json=offer_body(tonnes="100", min_price_per_tonne="5000.00"), headers=world.coop
    ).json
    eggs = client.post(
        "/api/v1/offers",
        json=offer_body(product="egg", tonnes="10", min_price_per_tonne="7000"),
        headers=world.other_coop,
    ).json
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, tonnes="60", price_per_tonne="7800.00"),
        headers=world.admin,
    ).json
    call_off = client.post(
        "/api/v1/orders",
        json=order_body(tonnes="60", max_price_per_tonne="7800.00", agreement_id=agreement["id"]),
        headers=world.buyer,
    ).json
    market = client.post(
        "/api/v1/orders",
        json=order_body(tonnes="70", max_price_per_tonne="8000.00", reference="DG-2020-0042"),
        headers=world.other_buyer,
    ).json
    too_cheap = client.post(
        "/api/v1/orders",
        json=order_body(product="egg", tonnes="5", max_price_per_tonne="7100"),
        headers=world.other_buyer,
    ).json
    return lot, eggs, agreement, call_off, market, too_cheap


def test_a_run_proposes_contracts_and_approval_confirms_them(client, world, engine):
    lot, eggs, agreement, call_off, market, too_cheap = _book(client, world)

    response = client.post("/api/v1/match-runs", json={}, headers=world.admin)
    assert response.status_code == 202, response.json
    assert response.json["status"] == "queued"
    run = wait_for(client, world.admin, response.json["id"])
    assert run["status"] == "proposed", run

    report = run["report"]
    # The agreement is served first, in full, at its price; the open market gets the rest.
    assert report["totals"]["tonnes"] == "100"
    assert report["by_agreement"][0]["tonnes"] == "60"
    assert report["by_agreement"][0]["fulfilled_share"] == "1.0000"
    apples = next(line for line in report["by_product"] if line["product"] == "apple")
    assert (apples["offered_tonnes"], apples["demanded_tonnes"], apples["tonnes"]) == ("100", "130", "100")
    unmatched = {(item["order_id"], item["reference"], item["reason"]) for item in report["unmatched_orders"]}
    assert unmatched == {(market["id"], "DG-2020-0042", "supply_exhausted"), (too_cheap["id"], None, "price_gap")}
    # The report as stored is exactly what its model spells (its unmatched lines are written without one).
    with Session(engine) as session:
        stored = session.get(MatchRun, run["id"]).report
    assert MatchReport.model_validate(stored).model_dump(mode="json") == stored
    assert [item["tonnes_unmatched"] for item in stored["unmatched_orders"]] in (["30", "5"], ["5", "30"])
    assert report["comparison"]["baseline"]["tonnes"] == "100"
    assert report["by_cooperative"][0]["registered_poor_households"] == 120
    assert report["solver"] and all(line["arcs"] > 0 for line in report["solver"])

    # Proposed contracts already hold their tonnes.
    assert client.get(f"/api/v1/offers/{lot['id']}", headers=world.coop).json["status"] == "matched"
    contracts = client.get(f"/api/v1/contracts?match_run_id={run['id']}", headers=world.admin).json
    assert contracts["count"] == 2
    by_order = {item["order_id"]: item for item in contracts["data"]}
    assert by_order[call_off["id"]]["price_per_tonne"] == "7800.00"
    assert by_order[call_off["id"]]["agreement_id"] == agreement["id"]
    assert by_order[call_off["id"]]["value"] == "468000.00"
    assert by_order[market["id"]]["tonnes"] == "40" and by_order[market["id"]]["status"] == "proposed"

    approved = client.post(f"/api/v1/match-runs/{run['id']}/approve", headers=world.admin)
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert client.post(f"/api/v1/match-runs/{run['id']}/approve", headers=world.admin).status_code == 409
    assert client.post(f"/api/v1/match-runs/{run['id']}/reject", headers=world.admin).status_code == 409

    mine = client.get("/api/v1/contracts", headers=world.coop).json
    assert mine["count"] == 2 and all(item["status"] == "confirmed" for item in mine["data"])
    buyer_view = client.get("/api/v1/contracts", headers=world.buyer).json
    assert [item["order_id"] for item in buyer_view["data"]] == [call_off["id"]]
    other = by_order[market["id"]]["id"]
    assert client.get(f"/api/v1/contracts/{other}", headers=world.buyer).status_code == 404
    assert client.get(f"/api/v1/contracts/{other}", headers=world.other_buyer).status_code == 200
    assert client.get(f"/api/v1/contracts/{other}", headers=world.other_coop).status_code == 404
    progress = client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.buyer).json
    assert (progress["tonnes_called_off"], progress["tonnes_contracted"]) == ("60", "60")
    assert client.get(f"/api/v1/orders/{call_off['id']}", headers=world.buyer).json["status"] == "matched"
    assert client.get(f"/api/v1/orders/{market['id']}", headers=world.other_buyer).json["status"] == (
        "partially_matched"
    )

    with session_scope(engine) as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.object_type == "match_run")).all()
        assert actions == ["match_run.request", "match_run.start", "match_run.propose", "match_run.approve"]
        assert session.exec(select(func.count()).where(AuditEvent.action == "contract.confirm")).one() == 2


def test_rejecting_a_run_releases_its_tonnes(client, world, engine):
    lot, _, agreement, call_off, market, _ = _book(client, world)
    run = wait_for(
        client,
        world.admin,
        client.post("/api/v1/match-runs", json={"product": "apple"}, headers=world.admin).json["id"],
    )
    assert run["report"]["products"] == ["apple"]
    rejected = client.post(f"/api/v1/match-runs/{run['id']}/reject", headers=world.admin)
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"

    offer = client.get(f"/api/v1/offers/{lot['id']}", headers=world.coop).json
    assert (offer["status"], offer["tonnes_contracted"], offer["tonnes_remaining"]) == ("open", "0", "100")
    progress = client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.admin).json
    assert (progress["tonnes_called_off"], progress["tonnes_contracted"]) == ("60", "0")
    contracts = client.get(f"/api/v1/contracts?match_run_id={run['id']}", headers=world.admin).json
    assert {item["status"] for item in contracts["data"]} == {"cancelled"}

    # The released tonnes are there for the next run.
    again = wait_for(client, world.admin, client.post("/api/v1/match-runs", json={}, headers=world.admin).json["id"])
    assert again["report"]["totals"]["tonnes"] == "100"


def test_a_second_run_cannot_promise_tonnes_already_proposed(client, world, engine):
    _book(client, world)
    first = wait_for(client, world.admin, client.post("/api/v1/match-runs", json={}, headers=world.admin).json["id"])
    second = wait_for(client, world.admin, client.post("/api/v1/match-runs", json={}, headers=world.admin).json["id"])
    assert first["report"]["totals"]["tonnes"] == "100"
    assert second["status"] == "proposed" and second["report"]["totals"]["tonnes"] == "0"
    with session_scope(engine) as session:
        offer = session.exec(select(SupplyOffer).where(SupplyOffer.product == "apple")).one()
        reserved = session.exec(select(func.sum(Contract.quantity_kg)).where(Contract.offer_id == offer.id)).one()
        assert reserved == offer.contracted_kg == offer.quantity_kg


def test_what_a_rejected_run_releases_stays_withdrawn_or_cancelled(client, world):
    """A lot withdrawn and a call-off cancelled while the run awaits review: rejection does not revive them."""
    lot = client.post(
        "/api/v1/offers", json=offer_body(tonnes="150", min_price_per_tonne="5000.00"), headers=world.coop
    ).json
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, tonnes="100", price_per_tonne="7800.00"),
        headers=world.admin,
    ).json
    call_off = client.post(
        "/api/v1/orders",
        json=order_body(tonnes="60", max_price_per_tonne="7800.00", agreement_id=agreement["id"]),
        headers=world.buyer,
    ).json
    # No body: a run with the defaults (every product, midpoint prices).
    run = wait_for(client, world.admin, client.post("/api/v1/match-runs", headers=world.admin).json["id"])
    assert run["report"]["totals"]["tonnes"] == "60"

    withdrawn = client.post(f"/api/v1/offers/{lot['id']}/withdraw", headers=world.coop).json
    assert (withdrawn["tonnes_withdrawn"], withdrawn["tonnes_contracted"]) == ("90", "60")
    # The call-off is fully reserved, so there is nothing left to cancel until the run is rejected.
    assert client.post(f"/api/v1/orders/{call_off['id']}/cancel", headers=world.buyer).status_code == 409

    assert client.post(f"/api/v1/match-runs/{run['id']}/reject", headers=world.admin).status_code == 200
    offer = client.get(f"/api/v1/offers/{lot['id']}", headers=world.coop).json
    assert (offer["status"], offer["tonnes_withdrawn"], offer["tonnes_contracted"]) == ("withdrawn", "150", "0")
    order = client.get(f"/api/v1/orders/{call_off['id']}", headers=world.buyer).json
    assert (order["status"], order["tonnes_remaining"]) == ("open", "60")
    cancelled = client.post(f"/api/v1/orders/{call_off['id']}/cancel", headers=world.buyer).json
    assert cancelled["tonnes_cancelled"] == "60"
    progress = client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.admin).json
    assert (progress["tonnes_called_off"], progress["tonnes_contracted"], progress["tonnes_remaining"]) == (
        "0",
        "0",
        "100",
    )


def test_a_call_off_cancelled_during_review_returns_its_tonnes_to_the_agreement(client, world, engine):
    client.post("/api/v1/offers", json=offer_body(tonnes="40", min_price_per_tonne="5000.00"), headers=world.coop)
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, tonnes="100", price_per_tonne="7800.00"),
        headers=world.admin,
    ).json
    call_off = client.post(
        "/api/v1/orders",
        json=order_body(tonnes="60", max_price_per_tonne="7800.00", agreement_id=agreement["id"]),
        headers=world.buyer,
    ).json
    run = wait_for(client, world.admin, client.post("/api/v1/match-runs", json={}, headers=world.admin).json["id"])
    assert run["report"]["totals"]["tonnes"] == "40"
    cancelled = client.post(f"/api/v1/orders/{call_off['id']}/cancel", headers=world.buyer).json
    assert (cancelled["tonnes_cancelled"], cancelled["tonnes_contracted"]) == ("20", "40")
    assert client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.admin).json["tonnes_called_off"] == "40"

    assert client.post(f"/api/v1/match-runs/{run['id']}/reject", headers=world.admin).status_code == 200
    order = client.get(f"/api/v1/orders/{call_off['id']}", headers=world.buyer).json
    assert (order["status"], order["tonnes_cancelled"], order["tonnes_contracted"]) == ("cancelled", "60", "0")
    progress = client.get(f"/api/v1/agreements/{agreement['id']}", headers=world.admin).json
    assert (progress["tonnes_called_off"], progress["tonnes_contracted"]) == ("0", "0")


def test_match_run_requests_are_validated_and_admin_only(client, world):
    for body, field in (
        ({"product": "rice"}, "product"),
        ({"policy": "auction"}, "policy"),
        ({"poverty_weight_per_tonne": "-1"}, "poverty_weight_per_tonne"),
        ({"status": "approved"}, "status"),
    ):
        response = client.post("/api/v1/match-runs", json=body, headers=world.admin)
        assert response.status_code == 422 and field_names(response) == {field}
    for headers in (world.coop, world.buyer):
        assert client.post("/api/v1/match-runs", json={}, headers=headers).status_code == 403
        assert client.get("/api/v1/match-runs", headers=headers).status_code == 403
    assert client.get("/api/v1/match-runs/999", headers=world.admin).status_code == 404
    assert client.get("/api/v1/match-runs", headers=world.admin).json == {"data": [], "count": 0}
    # Every field has a default, so the body may be left out (the document says it is optional).
    bare = client.post("/api/v1/match-runs", headers=world.admin)
    assert bare.status_code == 202 and (bare.json["product"], bare.json["policy"]) == (None, "midpoint")
    document = client.get("/api/openapi.json").json
    assert document["paths"]["/api/v1/match-runs"]["post"]["requestBody"]["required"] is False
    assert document["paths"]["/api/v1/offers"]["post"]["requestBody"]["required"] is True


def test_pricing_policy_sets_contract_prices(client, world):
    client.post("/api/v1/offers", json=offer_body(tonnes="10", min_price_per_tonne="5000.00"), headers=world.coop)
    client.post("/api/v1/orders", json=order_body(tonnes="10", max_price_per_tonne="8000.00"), headers=world.buyer)
    run = wait_for(
        client, world.admin, client.post("/api/v1/match-runs", json={"policy": "bid"}, headers=world.admin).json["id"]
    )
    contract = client.get(f"/api/v1/contracts?match_run_id={run['id']}", headers=world.admin).json["data"][0]
    assert contract["price_per_tonne"] == "8000.00" and contract["value"] == "80000.00"
    assert run["policy"] == "bid" and run["report"]["pricing"] == "bid"


def test_a_run_that_cannot_be_queued_yet_stays_queued_for_the_sweep(settings, world, client, caplog):
    """With the broker down, the run is accepted (202) and stays queued, with a warning: the workers' sweep
    sends it once the broker is back (tests/reliability/test_redis_restart.py), so it is not failed."""
    from market.app import create_app

    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        with caplog.at_level("WARNING", logger="market.api.v1.match_runs"):
            response = app.test_client().post("/api/v1/match-runs", json={}, headers=world.admin)
    finally:
        app.extensions["market.engine"].dispose()
    assert response.status_code == 202 and response.json["status"] == "queued"
    runs = client.get("/api/v1/match-runs", headers=world.admin).json["data"]
    assert [(run["id"], run["status"], run["error"]) for run in runs] == [(response.json["id"], "queued", None)]
    assert f"match run {response.json['id']} stays queued: the task queue is unreachable" in caplog.text
