"""The audit log is one hash chain: events are inserted unsealed and sealed into it; it links and
verifies after real activity, under concurrent appends and seals, and the database refuses to change
or remove its events (it lets an unsealed event be sealed, and nothing else)."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from market.db import COPY_FROM_ROWS, session_scope
from market.models import AuditEvent, Contract
from market.services.audit import (
    GENESIS_HASH,
    append_events,
    canonical_json,
    document_digest,
    event_hash,
    seal_all,
    seal_events,
    verify_chain,
)
from seed.synthetic import generate_book
from tests.api.helpers import agreement_body, offer_body, order_body
from tests.api.test_match_runs import wait_for
from tests.services.audit_helpers import assert_one_linear_chain, sealed_and_checked, stored_chain, tamper

# --- the hash ------------------------------------------------------------------------------

EVENT = {
    "id": 1,
    "occurred_at": datetime(2020, 10, 12, 8, 30, tzinfo=UTC),
    "account_id": None,
    "actor": "system:test",
    "action": "offer.create",
    "object_type": "supply_offer",
    "object_id": 7,
    "before": None,
    "after": {"tonnes_kg": 120500, "brand": "昭阳红", "latitude": 27.43, "ratio": 1.0},
    "prev_hash": GENESIS_HASH,
}


def test_the_hash_is_sha256_of_one_documented_serialisation():
    canonical = (
        '{"account_id":null,"action":"offer.create","actor":"system:test",'
        '"after":{"brand":"\\u662d\\u9633\\u7ea2","latitude":27.43,"ratio":1,"tonnes_kg":120500},'
        '"before":null,"id":1,"object_id":7,"object_type":"supply_offer",'
        '"occurred_at":"2020-10-12T08:30:00.000000+00:00","prev_hash":"' + "0" * 64 + '"}'
    )
    assert event_hash(EVENT) == hashlib.sha256(canonical.encode("ascii")).hexdigest()


def test_one_value_has_one_spelling_and_every_field_counts():
    digest = event_hash(EVENT)
    # The same event as another database may hand it back: keys in another order, 1.0 as 1,
    # the time as Beijing time, or naive (SQLite keeps UTC without a zone).
    after = {"ratio": 1, "latitude": 27.43, "brand": "昭阳红", "tonnes_kg": 120500}
    assert event_hash(EVENT | {"after": after}) == digest
    beijing = timezone(timedelta(hours=8))
    assert event_hash(EVENT | {"occurred_at": datetime(2020, 10, 12, 16, 30, tzinfo=beijing)}) == digest
    assert event_hash(EVENT | {"occurred_at": datetime(2020, 10, 12, 8, 30)}) == digest

    changes = {
        "id": 2,
        "occurred_at": EVENT["occurred_at"] + timedelta(microseconds=1),
        "account_id": 1,
        "actor": "system:other",
        "action": "offer.withdraw",
        "object_type": "demand_order",
        "object_id": 8,
        "before": {},
        "after": EVENT["after"] | {"tonnes_kg": 120501},
        "prev_hash": "1" * 64,
    }
    for field, value in changes.items():
        assert event_hash(EVENT | {field: value}) != digest, field


@pytest.mark.parametrize(
    "value, spelling",
    [
        (1e20, "100000000000000000000"),
        (10**20, "100000000000000000000"),
        (1.0, "1"),
        (-0.0, "0"),
        (1e-7, "0.0000001"),
        (0.1 + 0.2, "0.30000000000000004"),
        (True, "true"),
        ([1, None, "a"], '[1,null,"a"]'),
        ({"b": {"d": 1, "c": 2}, "a": []}, '{"a":[],"b":{"c":2,"d":1}}'),
    ],
)
def test_canonical_json(value, spelling):
    assert canonical_json(value) == spelling


# --- the chain after real activity ---------------------------------------------------------


def test_the_chain_links_and_verifies_after_a_season_of_api_activity(client, world, engine):
    offer = client.post("/api/v1/offers", json=offer_body(tonnes="100", min_price_per_tonne="5000"), headers=world.coop)
    assert offer.status_code == 201
    withdrawn = client.post("/api/v1/offers", json=offer_body(tonnes="5"), headers=world.other_coop).json
    assert client.post(f"/api/v1/offers/{withdrawn['id']}/withdraw", headers=world.other_coop).status_code == 200
    agreement = client.post(
        "/api/v1/agreements",
        json=agreement_body(world.buyer_id, world.coop_id, tonnes="300", price_per_tonne="7800.00"),
        headers=world.admin,
    ).json
    call_off = client.post(
        "/api/v1/orders",
        json=order_body(tonnes="60", max_price_per_tonne="7800.00", agreement_id=agreement["id"]),
        headers=world.buyer,
    )
    assert call_off.status_code == 201
    cancelled = client.post("/api/v1/orders", json=order_body(tonnes="7"), headers=world.other_buyer).json
    assert client.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=world.other_buyer).status_code == 200
    # A synthetic book (the seed's batch event) gives the match run many contracts to write.
    with session_scope(engine) as session:
        generate_book(session, size=150, random_seed=3)

    run = client.post("/api/v1/match-runs", json={}, headers=world.admin).json
    assert wait_for(client, world.admin, run["id"])["status"] == "proposed"
    assert client.post(f"/api/v1/match-runs/{run['id']}/approve", headers=world.admin).status_code == 200
    ours = client.get("/api/v1/contracts?status=confirmed", headers=world.coop).json["data"]
    load = client.post(
        f"/api/v1/contracts/{ours[0]['id']}/deliveries",
        json={"tonnes": "20", "shipped_on": "2020-10-12"},
        headers=world.coop,
    ).json
    accepted = client.post(
        f"/api/v1/deliveries/{load['id']}/accept",
        json={"accepted_tonnes": "19.8", "reason": "bruised"},
        headers=world.buyer,
    )
    assert accepted.status_code == 200, accepted.json

    with Session(engine) as session:
        contracts = session.exec(select(func.count()).select_from(Contract)).one()[0]
        actions = dict(session.exec(select(AuditEvent.action, func.count()).group_by(AuditEvent.action)).all())
        total = session.exec(select(func.count()).select_from(AuditEvent)).one()[0]
        last_id = session.exec(select(func.max(AuditEvent.id))).one()[0]
        assert verify_chain(session).unsealed == total  # nothing chained before a seal
    assert seal_all(engine, batch=50) == total
    with Session(engine) as session:
        check = verify_chain(session)
        # Small pages cross many page boundaries and must find the same.
        assert verify_chain(session, batch_size=7) == check
    assert contracts > 20
    assert actions["contract.propose"] == actions["contract.confirm"] == contracts
    assert actions["seed.synthetic"] == 1 and actions["delivery.accept"] == 1
    assert check.intact and check.events == total and check.head_id == last_id and check.unsealed == 0
    assert assert_one_linear_chain(engine) == total
    assert check.head_hash == stored_chain(engine)[-1][2]


def test_a_match_runs_events_carry_its_reports_digest_not_a_copy(client, world, engine):
    """The report stays on the run; every event of the run from its proposal on holds its SHA-256 and
    length, which an auditor recomputes from the report the API serves."""
    assert (
        client.post(
            "/api/v1/offers", json=offer_body(tonnes="40", min_price_per_tonne="5000"), headers=world.coop
        ).status_code
        == 201
    )
    assert client.post("/api/v1/orders", json=order_body(tonnes="25"), headers=world.buyer).status_code == 201
    run = client.post("/api/v1/match-runs", json={}, headers=world.admin).json
    assert wait_for(client, world.admin, run["id"])["status"] == "proposed"
    assert client.post(f"/api/v1/match-runs/{run['id']}/approve", headers=world.admin).status_code == 200
    served = client.get(f"/api/v1/match-runs/{run['id']}", headers=world.admin).json["report"]
    assert served["totals"]["tonnes"] == "25"

    text = json.dumps(served, sort_keys=True, separators=(",", ":"))
    expected = {"sha256": hashlib.sha256(text.encode("ascii")).hexdigest(), "bytes": len(text)}
    assert document_digest(served) == expected
    changed = served | {"totals": served["totals"] | {"tonnes": "26"}}
    assert document_digest(changed)["sha256"] != expected["sha256"]
    with Session(engine) as session:
        events = {
            event.action: event
            for event in session.exec(
                select(AuditEvent).where(AuditEvent.object_type == "match_run", AuditEvent.object_id == run["id"])
            ).scalars()
        }
    assert events["match_run.start"].after["report"] is None
    assert events["match_run.propose"].before["report"] is None
    assert events["match_run.propose"].after["report"] == expected
    assert events["match_run.approve"].before["report"] == events["match_run.approve"].after["report"] == expected
    assert events["match_run.approve"].after["status"] == "approved"
    assert seal_all(engine) > 0
    with Session(engine) as session:
        assert verify_chain(session).intact


def test_numbers_and_text_hash_the_same_after_the_round_trip_through_the_database(engine):
    after = {
        "float": 27.43,
        "whole_float": 1.0,
        "huge": 1e20,
        "tiny": 1e-7,
        "negative_zero": -0.0,
        "big_int": 10**20,
        "nested": [{"z": 1, "a": [0.5, None, True]}],
        "zh": '昭阳红 \u2028 \\ "quoted"',
        "tuple": (1, 2),
    }
    with session_scope(engine) as session:
        (stored,) = append_events(
            session, [{"actor": "system:test", "action": "test.numbers", "object_type": "test", "after": after}]
        )
    assert stored["hash"] is None and seal_all(engine) == 1
    with Session(engine) as session:
        check = verify_chain(session)
        event = session.get(AuditEvent, stored["id"])
    assert event.after["tuple"] == [1, 2] and event.after["zh"] == after["zh"]
    assert check.intact and check.events == 1 and check.head_hash == event.hash
    # The sealer hashed the event as read back; the document as given hashes the same.
    assert event.hash == event_hash({**stored, "prev_hash": GENESIS_HASH, "after": after | {"tuple": [1, 2]}})


@pytest.mark.parametrize("count", [1, COPY_FROM_ROWS - 1, COPY_FROM_ROWS, 3 * COPY_FROM_ROWS])
def test_small_and_large_batches_are_stored_in_order_with_their_ids(engine, count):
    """Below COPY_FROM_ROWS a batch goes in by INSERT ... RETURNING, from it by COPY on PostgreSQL: the same rows."""
    nested = {"place": {"name": "昭阳", "latitude": 27.3}, "grades": ["first", "second"]}
    events = [
        {"actor": "system:test", "action": "test.batch", "object_type": "test", "object_id": n,
         "before": None if n % 2 else {"n": n, "ok": True}, "after": nested if n % 3 == 0 else {"n": n, "lat": 27.3}}
        for n in range(count)
    ]  # fmt: skip
    with session_scope(engine) as session:
        stored = append_events(session, events)
    assert [event["id"] for event in stored] == list(range(1, count + 1))
    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
    assert [(r.id, r.object_id, r.before, r.after) for r in rows] == [
        (e["id"], e["object_id"], e["before"], e["after"]) for e in stored
    ]
    assert [r.after for r in rows] == [e["after"] for e in events]
    check = sealed_and_checked(engine)
    assert check.intact and check.events == count


@pytest.mark.parametrize("count", [1, COPY_FROM_ROWS // 2, 2 * COPY_FROM_ROWS])
def test_rows_given_as_stored_rows_are_audited_with_their_snapshots(engine, world, count):
    """An event's `after` given as a StoredRow is the row's snapshot whoever writes it: this process in
    small batches, the database itself (from the stored row) in large ones on PostgreSQL. Each spelling
    is checked: times with and without microseconds, dates, floats whole and not, blanks, Chinese text;
    and the events keep their order when plain events are mixed in among them."""
    from datetime import date

    from market.db import insert_rows_with_ids
    from market.models import DemandOrder, SupplyOffer
    from market.services.audit import StoredRow, snapshot

    offer_table, order_table = SupplyOffer.__table__, DemandOrder.__table__
    on_the_second = datetime(2020, 9, 14, 8, 0, 0, tzinfo=UTC)
    offers = [
        {"cooperative_id": world.coop_id, "reference": None if n % 2 else f"lot-{n}", "product": "apple",
         "variety": "红富士 Red Fuji", "grade": "first", "brand": None if n % 3 else "昭阳红",
         "quantity_kg": 1000 + n, "contracted_kg": 0, "withdrawn_kg": 0, "min_price_fen": 530_000 + n,
         "available_from": date(2020, 9, 14), "available_until": date(2020, 11, 8), "status": "open",
         "created_at": on_the_second, "updated_at": on_the_second + timedelta(microseconds=n + 1)}
        for n in range(count)
    ]  # fmt: skip
    orders = [
        {"buyer_id": world.buyer_id, "agreement_id": None, "reference": f"po-{n}", "product": "potato",
         "min_grade": "second", "quantity_kg": 5000, "contracted_kg": 0, "cancelled_kg": 0,
         "max_price_fen": 250_000, "deliver_from": date(2021, 1, 4), "deliver_until": date(2021, 1, 10),
         "destination": "Shijie, Dongguan", "destination_zh": None if n % 2 else "东莞石碣镇",
         "destination_latitude": 23.0 if n % 2 else 23.098765432101, "destination_longitude": 113.8,
         "status": "open", "created_at": on_the_second + timedelta(seconds=n, microseconds=500_000),
         "updated_at": on_the_second}
        for n in range(count)
    ]  # fmt: skip
    actor = {"actor": "system:test", "account_id": None}
    with session_scope(engine) as session:
        insert_rows_with_ids(session, offer_table, offers)
        insert_rows_with_ids(session, order_table, orders)
        events = []
        for offer, order in zip(offers, orders, strict=True):
            events.append(actor | {"action": "offer.create", "object_type": "supply_offer",
                                   "object_id": offer["id"], "after": StoredRow(offer_table, offer)})  # fmt: skip
            events.append(actor | {"action": "note", "object_type": "test", "after": {"offer": offer["id"]}})
            events.append(actor | {"action": "order.create", "object_type": "demand_order",
                                   "object_id": order["id"], "after": StoredRow(order_table, order)})  # fmt: skip
        stored = append_events(session, events)
    assert [event["id"] for event in stored] == sorted(event["id"] for event in stored)
    with Session(engine) as session:
        ids = [event["id"] for event in stored]
        rows = session.exec(select(AuditEvent).where(AuditEvent.id.in_(ids)).order_by(AuditEvent.id)).scalars().all()
        expected = []
        for offer, order in zip(offers, orders, strict=True):
            expected.append(("offer.create", offer["id"], snapshot(session.get(SupplyOffer, offer["id"]))))
            expected.append(("note", None, {"offer": offer["id"]}))
            expected.append(("order.create", order["id"], snapshot(session.get(DemandOrder, order["id"]))))
    assert [(row.action, row.object_id, row.after) for row in rows] == expected
    assert [row.id for row in rows] == ids
    # The snapshot as read back is the one made here from the dict the row was written from.
    assert [row.after for row in rows if row.action == "offer.create"] == [
        StoredRow(offer_table, offer).document() for offer in offers
    ]
    assert {row.after["updated_at"] for row in rows if row.action == "order.create"} == {"2020-09-14T08:00:00+00:00"}
    check = sealed_and_checked(engine)
    assert check.intact and check.events >= len(rows) and check.unsealed == 0


@pytest.mark.parametrize("count", [COPY_FROM_ROWS // 2, 2 * COPY_FROM_ROWS])
def test_row_events_are_the_events_append_events_writes_for_stored_rows(engine, world, count):
    """append_row_events writes one event per row just written, as append_events does for StoredRow
    events (built by the database from the stored rows in large batches on PostgreSQL): the same
    action, actor, object and document, one time for all, ids in the rows' order."""
    from datetime import date

    from market.db import insert_rows_with_ids
    from market.models import SupplyOffer
    from market.services.actors import Actor
    from market.services.audit import append_row_events, snapshot

    table = SupplyOffer.__table__
    offers = [
        {"cooperative_id": world.coop_id, "reference": f"lot-{n}", "product": "apple", "variety": "红富士",
         "grade": "first", "brand": None, "quantity_kg": 1000 + n, "contracted_kg": 0, "withdrawn_kg": 0,
         "min_price_fen": 530_000 + n, "available_from": date(2020, 9, 14), "available_until": date(2020, 11, 8),
         "status": "open", "created_at": datetime(2020, 9, 14, 8, 0, 0, n, tzinfo=UTC),
         "updated_at": datetime(2020, 9, 14, 8, 0, 1, tzinfo=UTC)}
        for n in range(count)
    ]  # fmt: skip
    with session_scope(engine) as session:
        before = session.exec(select(func.max(AuditEvent.id))).one()[0] or 0
        insert_rows_with_ids(session, table, offers)
        append_row_events(session, table, offers, actor=Actor.system("test"), action="offer.create", wait=False)
    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)).scalars().all()
        expected = [snapshot(session.get(SupplyOffer, offer["id"])) for offer in offers]
    assert [(row.action, row.actor, row.account_id, row.object_type) for row in rows] == [
        ("offer.create", "system:test", None, "supply_offer")
    ] * count
    assert [row.object_id for row in rows] == [offer["id"] for offer in offers]
    assert [row.after for row in rows] == expected and all(row.before is None for row in rows)
    assert len({row.occurred_at for row in rows}) == 1
    check = sealed_and_checked(engine)
    assert check.intact and check.unsealed == 0


def test_an_event_with_an_unknown_field_is_refused(engine):
    with session_scope(engine) as session, pytest.raises(ValueError, match="hash"):
        append_events(session, [{"actor": "system:test", "action": "x", "object_type": "t", "hash": "0" * 64}])


# --- append-only ---------------------------------------------------------------------------


def _append_one(engine, n: int = 0) -> int:
    with session_scope(engine) as session:
        (event,) = append_events(
            session, [{"actor": "system:test", "action": "test.step", "object_type": "test", "after": {"n": n}}]
        )
    return event["id"]


def test_the_database_refuses_to_update_or_delete_an_audit_event(engine, world):
    seal_all(engine)
    pending = _append_one(engine)
    before = stored_chain(engine)
    assert len(before) > 1 and before[-1][0] == pending and before[-1][2] is None
    for statement in (
        # a sealed event: nothing about it may change
        "UPDATE audit_event SET actor = 'account:999' WHERE id = 1",
        "UPDATE audit_event SET hash = prev_hash",
        "UPDATE audit_event SET seq = seq + 1000 WHERE id = 1",
        "UPDATE audit_event SET seq = NULL, prev_hash = NULL, hash = NULL WHERE id = 1",
        # an unsealed event may only be sealed, as it is
        f"UPDATE audit_event SET actor = 'account:999' WHERE id = {pending}",
        f"UPDATE audit_event SET seq = 1000 WHERE id = {pending}",
        f"UPDATE audit_event SET seq = 1000, prev_hash = 'p', hash = 'h', actor = 'x' WHERE id = {pending}",
        f"""UPDATE audit_event SET seq = 1000, prev_hash = 'p', hash = 'h', "after" = NULL WHERE id = {pending}""",
        f"UPDATE audit_event SET seq = 1000, prev_hash = 'p', hash = 'h', id = 100000 WHERE id = {pending}",
        "DELETE FROM audit_event WHERE id = 1",
        f"DELETE FROM audit_event WHERE id = {pending}",
        "DELETE FROM audit_event",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with pytest.raises(DBAPIError, match="append-only"), session_scope(engine) as session:
        session.delete(session.get(AuditEvent, 1))
    assert stored_chain(engine) == before
    # Sealed once, an event stays sealed: sealing it again is refused too.
    assert seal_all(engine) == 1
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(
            text(f"UPDATE audit_event SET seq = seq, prev_hash = prev_hash, hash = hash WHERE id = {pending}")
        )
    assert sealed_and_checked(engine).intact
    if engine.dialect.name == "postgresql":
        # Not blocked, on purpose (the test fixtures use it): TRUNCATE, which only the table's
        # owner or a superuser may run. Production keeps the app's role away from it.
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_event"))
        assert stored_chain(engine) == []


def test_an_event_is_sealed_all_at_once_or_not_at_all(engine):
    pending = _append_one(engine)
    for half_sealed in ("seq = 1", "seq = 1, hash = 'h'", "prev_hash = 'p', hash = 'h'"):
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(text(f"UPDATE audit_event SET {half_sealed} WHERE id = {pending}"))
    assert stored_chain(engine) == [(pending, None, None)]


# --- verification --------------------------------------------------------------------------


@pytest.fixture
def log_of_twelve(engine):
    with session_scope(engine) as session:
        for number in range(12):
            append_events(
                session,
                [{"actor": "system:test", "action": "test.step", "object_type": "test", "after": {"n": number}}],
            )
    assert seal_all(engine) == 12
    return stored_chain(engine)


def _check(engine, batch_size=5):
    with Session(engine) as session:
        return verify_chain(session, batch_size=batch_size)


def test_an_intact_log_verifies(engine, log_of_twelve):
    check = _check(engine)
    assert check.intact and check.events == 12 and check.head_id == 12 and check.head_hash == log_of_twelve[-1][2]
    assert _check(engine, batch_size=1) == check


def test_an_empty_log_verifies(engine):
    check = _check(engine)
    assert check.intact and check.events == 0 and check.head_id is None and check.head_hash == GENESIS_HASH


def test_a_changed_event_is_named(engine, log_of_twelve):
    tamper(engine, """UPDATE audit_event SET "after" = '{"n": 99}' WHERE id = 7""")
    check = _check(engine)
    assert not check.intact and check.broken_id == 7 and check.events == 6 and check.head_id == 6
    assert "do not match its hash" in check.problem


def test_a_changed_event_with_a_recomputed_hash_breaks_the_next_link(engine, log_of_twelve):
    with Session(engine) as session:
        row = session.get(AuditEvent, 7).model_dump()
    forged = event_hash(row | {"actor": "account:999"})
    tamper(engine, "UPDATE audit_event SET actor = 'account:999', hash = :hash WHERE id = 7", hash=forged)
    check = _check(engine)
    assert check.broken_id == 8 and "not the hash of event 7" in check.problem


def test_a_deleted_event_leaves_a_gap(engine, log_of_twelve):
    tamper(engine, "DELETE FROM audit_event WHERE id = 5")
    check = _check(engine)
    assert check.broken_id == 6 and check.events == 4
    assert "not the hash of event 4" in check.problem and "chain positions 5..5 are missing" in check.problem


def test_deleting_the_first_events_is_found(engine, log_of_twelve):
    tamper(engine, "DELETE FROM audit_event WHERE id <= 2")
    check = _check(engine)
    assert check.broken_id == 3 and check.events == 0 and "genesis" in check.problem


def test_a_moved_event_is_found(engine, log_of_twelve):
    tamper(engine, "UPDATE audit_event SET seq = 20 WHERE id = 12")
    check = _check(engine)
    assert check.broken_id == 12 and check.events == 11 and "position 20" in check.problem


def test_unsealed_events_are_counted_and_left_for_the_sealer(engine, log_of_twelve):
    for n in range(3):
        _append_one(engine, n)
    check = _check(engine)
    assert check.intact and (check.events, check.head_id, check.unsealed) == (12, 12, 3)
    with session_scope(engine) as session:
        assert seal_events(session, limit=2) == 2
    assert _check(engine).unsealed == 1
    assert seal_all(engine) == 1 and seal_all(engine) == 0
    check = _check(engine)
    assert check.intact and (check.events, check.head_id, check.unsealed) == (15, 15, 0)


_FORGED = (
    "INSERT INTO audit_event (id, occurred_at, actor, action, object_type, seq, prev_hash, hash) "
    "VALUES (13, :at, 'x', 'x', 'x', 13, :prev, :hash)"
)


def test_an_event_slipped_in_at_the_end_is_found(engine, log_of_twelve):
    _, prev_of_12, last = log_of_twelve[-1]
    at = datetime(2020, 10, 12, tzinfo=UTC)
    # Claims to follow event 11, as event 12 does: the UNIQUE prev_hash refuses it outright...
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(text(_FORGED), {"at": at, "prev": prev_of_12, "hash": "f" * 64})
    # ...and one that follows event 12 with a made-up hash is named.
    with engine.begin() as connection:
        connection.execute(text(_FORGED), {"at": at, "prev": last, "hash": "f" * 64})
    check = _check(engine)
    assert check.broken_id == 13 and check.events == 12 and "do not match its hash" in check.problem


def test_an_event_sealed_by_hand_with_a_made_up_hash_is_found(engine, log_of_twelve):
    last = log_of_twelve[-1][2]
    pending = _append_one(engine)
    # The triggers let anyone seal an unsealed event (they cannot tell the sealer from others)...
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET seq = 13, prev_hash = :prev, hash = :hash WHERE id = :id"),
            {"prev": last, "hash": "f" * 64, "id": pending},
        )
    # ...but not with a hash that the event does not have.
    check = _check(engine)
    assert check.broken_id == pending and check.events == 12 and "do not match its hash" in check.problem


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_appends_and_seals_from_many_transactions_make_one_chain(engine):
    threads, rounds, sealers = 8, 12, 2
    barrier = threading.Barrier(threads + sealers)
    appending = threading.Event()
    appending.set()
    errors: list[BaseException] = []

    def seal() -> None:
        try:
            barrier.wait(timeout=30)
            while appending.is_set():
                seal_all(engine, batch=7)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def append(worker: int) -> None:
        try:
            barrier.wait(timeout=30)
            for number in range(rounds):
                # Each transaction its own session and connection; 1 to 3 events in it.
                with session_scope(engine) as session:
                    append_events(
                        session,
                        [
                            {
                                "actor": f"system:worker-{worker}",
                                "action": "test.concurrent",
                                "object_type": "test",
                                "object_id": number,
                                "after": {"worker": worker, "round": number, "event": event},
                            }
                            for event in range(1 + number % 3)
                        ],
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=append, args=(worker,)) for worker in range(threads)]
    sealing = [threading.Thread(target=seal) for _ in range(sealers)]
    for thread in workers + sealing:
        thread.start()
    for worker in workers:
        worker.join(timeout=120)
    appending.clear()
    for thread in sealing:
        thread.join(timeout=120)
    assert errors == []
    seal_all(engine)  # what committed after the sealers' last turn
    expected = threads * sum(1 + number % 3 for number in range(rounds))
    assert assert_one_linear_chain(engine) == expected
    check = _check(engine, batch_size=1000)
    assert check.intact and check.events == expected


_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=12)
# Latitudes as stored (27.3), and the floats whose two spellings differ (23.0, 1e-05, -0.0).
_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([27.3, 23.0, 1e-05, -0.0, 1e16, 103.7])
_documents = st.dictionaries(
    st.text(max_size=8),
    _scalars | _floats | st.dictionaries(st.text(max_size=8), _scalars | _floats, max_size=6),
    max_size=8,
)


@given(_documents)
def test_the_fast_spelling_of_plain_events_is_the_canonical_one(document):
    from market.services.audit import _fast_canonical_json, _floatless_and_shallow, canonical_json

    if _floatless_and_shallow(document):
        assert _fast_canonical_json(document) == canonical_json(document)


def test_only_floats_spelt_alike_take_the_fast_path():
    from market.services.audit import _floatless_and_shallow, _is_plain

    assert _is_plain({"latitude": 27.3, "longitude": 103.7}) and _floatless_and_shallow({"after": {"lat": 27.3}})
    for odd in (23.0, 1e-05, -0.0, 1e16):
        assert not _is_plain({"latitude": odd}) and not _floatless_and_shallow({"after": {"lat": odd}})


def test_a_table_name_given_as_quoted_name_is_stored_and_sealed_as_plain_text(engine):
    from sqlalchemy.sql.elements import quoted_name

    with session_scope(engine) as session:
        append_events(
            session, [{"actor": "system:test", "action": "x", "object_type": quoted_name("supply_offer", None)}]
        )
    check = sealed_and_checked(engine)
    assert check.intact and check.events == 1
