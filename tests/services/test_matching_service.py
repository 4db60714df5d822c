"""The match-run service steps: concurrency, repetition and failure."""

import re
import threading

import pytest
from sqlmodel import func, select

from market.db import session_scope
from market.jobs import run_match_in_process
from market.models import Contract, MatchRun, MatchRunPart, SupplyOffer
from market.models.common import MatchRunStatus, Product
from market.models.match_run import MatchRunCreate
from market.services import matching
from market.services.actors import Actor
from tests.api.helpers import offer_body, order_body
from tests.services.audit_helpers import sealed_and_checked

OFFICE = Actor.system("test")


@pytest.fixture
def apple_book(client, world):
    client.post("/api/v1/offers", json=offer_body(tonnes="100", min_price_per_tonne="5000"), headers=world.coop)
    for headers in (world.buyer, world.other_buyer):
        client.post("/api/v1/orders", json=order_body(tonnes="80", max_price_per_tonne="8000"), headers=headers)


def _running_run(engine) -> int:
    with session_scope(engine) as session:
        run_id = matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate(product=Product.apple)).id
    with session_scope(engine) as session:
        assert matching.begin_match_run(session, run_id=run_id) == [Product.apple]
    return run_id


def test_two_runs_solving_one_product_at_once_never_promise_the_same_tonnes(engine, apple_book):
    runs = [_running_run(engine), _running_run(engine)]
    barrier = threading.Barrier(2)
    errors = []

    def solve(run_id):
        try:
            barrier.wait(timeout=10)
            with session_scope(engine) as session:
                matching.solve_product(session, run_id=run_id, product=Product.apple)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=solve, args=(run_id,)) for run_id in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with session_scope(engine) as session:
        offer = session.exec(select(SupplyOffer)).one()
        per_run = {
            run_id: int(kg)
            for run_id, kg in session.exec(
                select(Contract.match_run_id, func.sum(Contract.quantity_kg)).group_by(Contract.match_run_id)
            ).all()
        }
    # One run took the 100 t, the other found none left: never 200 t promised.
    assert sorted(per_run.values()) == [100_000]
    assert offer.contracted_kg == 100_000 and offer.status.value == "matched"


def test_repeating_a_step_changes_nothing(engine, apple_book):
    run_id = _running_run(engine)
    for _ in range(2):
        with session_scope(engine) as session:
            matching.solve_product(session, run_id=run_id, product=Product.apple)
    with session_scope(engine) as session:
        assert session.exec(select(func.sum(Contract.quantity_kg))).one() == 100_000
        assert matching.begin_match_run(session, run_id=run_id) == []
    for _ in range(2):
        with session_scope(engine) as session:
            matching.finish_match_run(session, run_id=run_id)
    with session_scope(engine) as session:
        assert matching.begin_match_run(session, run_id=run_id) is None
        assert session.get(MatchRun, run_id).status == MatchRunStatus.proposed


def test_a_run_sends_its_largest_open_book_first(client, world, engine, apple_book):
    # Potatoes: two lots and an order open; apples (the fixture): a lot and two orders, one of them
    # then cancelled (counted, apples would tie with potatoes and go first); nothing else is open.
    for _ in range(2):
        answer = client.post("/api/v1/offers", json=offer_body(product="potato", variety="合作88"), headers=world.coop)
        assert answer.status_code == 201, answer.get_json()
    answer = client.post("/api/v1/orders", json=order_body(product="potato"), headers=world.buyer)
    assert answer.status_code == 201, answer.get_json()
    apple_orders = client.get("/api/v1/orders", headers=world.buyer).get_json()["data"]
    apple_order = next(order for order in apple_orders if order["product"] == "apple")
    assert client.post(f"/api/v1/orders/{apple_order['id']}/cancel", headers=world.buyer).status_code == 200
    with session_scope(engine) as session:
        run_id = matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate()).id
    with session_scope(engine) as session:
        products = matching.begin_match_run(session, run_id=run_id)
    # 3 open rows, then 2, then the empty books in the products' own order.
    assert products == [Product.potato, Product.apple, Product.vegetable, Product.egg, Product.sichuan_pepper]


def test_a_run_that_fails_releases_what_it_proposed(engine, apple_book, monkeypatch):
    with session_scope(engine) as session:
        run_id = matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate()).id
    real_solve = matching.solve_product

    def solve_then_break(session, *, run_id, product):
        if product == Product.egg:
            raise RuntimeError("the solver ran out of patience")
        return real_solve(session, run_id=run_id, product=product)

    monkeypatch.setattr(matching, "solve_product", solve_then_break)
    run_match_in_process(engine, run_id)
    with session_scope(engine) as session:
        run = session.get(MatchRun, run_id)
        assert run.status == MatchRunStatus.failed and "out of patience" in run.error
        offer = session.exec(select(SupplyOffer)).one()
        assert offer.contracted_kg == 0 and offer.status.value == "open"
        statuses = set(session.exec(select(Contract.status)).all())
        assert {status.value for status in statuses} == {"cancelled"}


def test_finishing_before_every_product_is_solved_is_refused(engine, apple_book):
    with session_scope(engine) as session:
        run_id = matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate()).id
    with session_scope(engine) as session:
        matching.begin_match_run(session, run_id=run_id)
    with session_scope(engine) as session:
        matching.solve_product(session, run_id=run_id, product=Product.apple)
    from market.services.errors import Conflict

    with pytest.raises(Conflict), session_scope(engine) as session:
        matching.finish_match_run(session, run_id=run_id)


def test_reservations_take_one_statement_per_table_however_many_rows(engine, apple_book, monkeypatch):
    from sqlalchemy import event

    from market.models import DemandOrder
    from market.services import reservations

    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    # On PostgreSQL they are sent without waiting for them, past SQLAlchemy's execution events.
    send = reservations.send_without_waiting

    def sent(session, statement, *args, **options):
        dialect = session.get_bind().dialect
        if dialect.name == "postgresql":
            statements.append(str(statement.compile(dialect=dialect)))
        return send(session, statement, *args, **options)

    monkeypatch.setattr(reservations, "send_without_waiting", sent)
    run_id = _running_run(engine)
    with session_scope(engine) as session:
        matching.solve_product(session, run_id=run_id, product=Product.apple)
    updates = [table for sql in statements for table in re.findall(r"UPDATE (supply_offer|demand_order) SET", sql)]
    assert sorted(updates) == ["demand_order", "supply_offer"]  # two orders, one lot: still one each
    with session_scope(engine) as session:
        contracted = dict(session.exec(select(Contract.order_id, Contract.quantity_kg)).all())
        orders = {order.id: order for order in session.exec(select(DemandOrder)).all()}
        offer = session.exec(select(SupplyOffer)).one()
    assert len(contracted) == 2 and sum(contracted.values()) == offer.contracted_kg == 100_000
    assert {order_id: orders[order_id].contracted_kg for order_id in contracted} == contracted


def test_proposed_contracts_are_audited_exactly_as_snapshot_reads_them_back(engine, client, world, monkeypatch):
    """The contract.propose events are made from the rows as written, not read back: the same document."""
    from market.models import AuditEvent
    from market.services import audit
    from market.services.audit import StoredRow, snapshot
    from tests.api.helpers import agreement_body

    client.post("/api/v1/offers", json=offer_body(tonnes="100", min_price_per_tonne="5000"), headers=world.coop)
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, tonnes="30", price_per_tonne="7800.00"),
        headers=world.admin,
    ).json
    call_off = order_body(tonnes="30", max_price_per_tonne="7800.00", agreement_id=agreement["id"])
    client.post("/api/v1/orders", json=call_off, headers=world.buyer)
    client.post("/api/v1/orders", json=order_body(tonnes="40", max_price_per_tonne="8000"), headers=world.other_buyer)
    appended = []
    real_append = audit.append_events
    monkeypatch.setattr(
        audit,
        "append_events",
        lambda session, events, **options: (
            appended.extend(e for e in events if e["action"] == "contract.propose")
            or real_append(session, events, **options)
        ),
    )
    run_id = _running_run(engine)
    with session_scope(engine) as session:
        matching.solve_product(session, run_id=run_id, product=Product.apple)
    with session_scope(engine) as session:
        contracts = session.exec(select(Contract).order_by(Contract.id)).all()
        stored = session.exec(select(AuditEvent).where(AuditEvent.action == "contract.propose")).all()
    assert sealed_and_checked(engine).intact
    assert len(contracts) == 2 and {c.agreement_id for c in contracts} == {agreement["id"], None}
    assert [event["object_id"] for event in appended] == [contract.id for contract in contracts]
    for event, contract in zip(appended, contracts, strict=True):
        expected = snapshot(contract)
        assert isinstance(event["after"], StoredRow) and event["after"].row["id"] == contract.id
        after = event["after"].document()
        assert after == expected
        assert list(after) == list(expected)  # the key order too: the history page lists them
        assert {type(value) for value in after.values()} <= {int, str, type(None)}
    assert {event.object_id: event.after for event in stored} == {c.id: snapshot(c) for c in contracts}


def test_a_part_written_without_references_still_gets_them_in_the_report(engine, client, world):
    """Parts carry their unmatched orders' references; one written before they did (a run in flight
    across an upgrade) has them looked up when the report is made."""
    client.post("/api/v1/offers", json=offer_body(tonnes="30", min_price_per_tonne="5000"), headers=world.coop)
    body = order_body(tonnes="80", max_price_per_tonne="8000", reference="DG-77")
    order_id = client.post("/api/v1/orders", json=body, headers=world.buyer).json["id"]
    run_id = _running_run(engine)
    with session_scope(engine) as session:
        assert matching.solve_product(session, run_id=run_id, product=Product.apple)
    with session_scope(engine) as session:
        part = session.exec(select(MatchRunPart).where(MatchRunPart.match_run_id == run_id)).one()
        assert [(item["order_id"], item["reference"]) for item in part.summary["unmatched"]] == [(order_id, "DG-77")]
        part.summary = part.summary | {
            "unmatched": [{k: v for k, v in item.items() if k != "reference"} for item in part.summary["unmatched"]]
        }
        session.add(part)
    with session_scope(engine) as session:
        report = matching.finish_match_run(session, run_id=run_id).report
    assert [(item["order_id"], item["reference"], item["tonnes_unmatched"]) for item in report["unmatched_orders"]] == [
        (order_id, "DG-77", "50")
    ]


def test_the_report_sums_each_party_as_its_contracts_do_with_or_without_sums_in_the_parts(engine, client, world):
    """Each product's part carries its contracts summed; the report merges them. Checked against the
    contracts summed here, and against the report of parts written before they carried sums (a run
    in flight across an upgrade), whose sums the database makes."""
    from collections import defaultdict

    from market.services.match_report import build_report
    from market.units import fen_to_yuan, kg_to_tonnes
    from tests.api.helpers import agreement_body

    def post(path, body, headers):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.json
        return response.json

    for headers, tonnes in ((world.coop, "70"), (world.other_coop, "55.5")):
        post("/api/v1/offers", offer_body(tonnes=tonnes, min_price_per_tonne="5000"), headers)
        post("/api/v1/offers", offer_body(product="potato", tonnes="40", min_price_per_tonne="900"), headers)
    agreement = post(
        "/api/v1/agreements",
        agreement_body(world.buyer_id, world.coop_id, tonnes="30", price_per_tonne="7800.00"),
        world.admin,
    )
    post(
        "/api/v1/orders", order_body(tonnes="25", agreement_id=agreement["id"], max_price_per_tonne="7800"), world.buyer
    )
    for headers, tonnes in ((world.buyer, "45"), (world.other_buyer, "60.25")):
        post("/api/v1/orders", order_body(tonnes=tonnes, max_price_per_tonne="8000"), headers)
        post("/api/v1/orders", order_body(product="potato", tonnes="35", max_price_per_tonne="2000"), headers)

    with session_scope(engine) as session:
        run_id = matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate()).id
    with session_scope(engine) as session:
        products = matching.begin_match_run(session, run_id=run_id)
    for product in products:
        with session_scope(engine) as session:
            matching.solve_product(session, run_id=run_id, product=product)
    with session_scope(engine) as session:
        report = matching.finish_match_run(session, run_id=run_id).report
        contracts = session.exec(select(Contract).where(Contract.match_run_id == run_id)).all()

    def summed(key):
        sums = defaultdict(lambda: [0, 0, 0])
        for contract in contracts:
            if key(contract) is not None:
                figures = sums[key(contract)]
                figures[0] += 1
                figures[1] += contract.quantity_kg
                figures[2] += contract.value_fen
        return {k: (count, kg_to_tonnes(kg), fen_to_yuan(value)) for k, (count, kg, value) in sums.items()}

    def lines(name, key):
        return {line[key]: (line["contracts"], line["tonnes"], line["value"]) for line in report[name]}

    assert len({contract.product for contract in contracts}) == 2 and len(contracts) >= 5
    products_matched = {key: line for key, line in lines("by_product", "product").items() if line[0]}
    assert products_matched == summed(lambda contract: contract.product.value)
    assert lines("by_cooperative", "cooperative_id") == summed(lambda contract: contract.cooperative_id)
    assert lines("by_buyer", "buyer_id") == summed(lambda contract: contract.buyer_id)
    assert lines("by_agreement", "agreement_id") == summed(lambda contract: contract.agreement_id)
    assert set(lines("by_cooperative", "cooperative_id")) == {world.coop_id, world.other_coop_id}
    assert set(lines("by_agreement", "agreement_id")) == {agreement["id"]}
    totals = report["totals"]
    assert (totals["contracts"], totals["tonnes"], totals["value"]) == summed(lambda contract: "all")["all"]
    assert totals["transport_cost"] == fen_to_yuan(sum(contract.transport_fen for contract in contracts))
    for name in ("by_cooperative", "by_buyer"):  # the most valuable first
        values = [line["value"] for line in report[name]]
        assert values == sorted(values, key=lambda value: -float(value))

    with session_scope(engine) as session:
        run = session.get(MatchRun, run_id)
        parts = session.exec(select(MatchRunPart).where(MatchRunPart.match_run_id == run_id)).all()
        parts = sorted(parts, key=lambda part: matching.run_products(run).index(part.product))  # as finishing does
        assert sum(part.summary["sums"]["total"][0] for part in parts) == len(contracts)
        for part in parts:
            part.summary = {key: value for key, value in part.summary.items() if key != "sums"}
        assert build_report(session, run, parts) == report
        session.rollback()
