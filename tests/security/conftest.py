"""Fixtures for the security tests: the rate limit off (each test that wants one builds its app),
and a market of two tenants on each side with everything a tenant can own: offers, orders,
agreements, an approved match run with contracts, deliveries (accepted and awaiting acceptance).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from market.config import load_settings
from market.models import metadata
from tests.api.helpers import agreement_body, offer_body, order_body

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "security"
# CI's fuzzing is a few derandomized examples. MARKET_FUZZ_EXAMPLES=N asks the fuzz tests for a deeper
# look: N examples each, drawn anew on every run (Hypothesis prints how to reproduce a failure).
DEEP_EXAMPLES = int(os.environ.get("MARKET_FUZZ_EXAMPLES") or 0)
_SESSION_STARTED = time.time()


def tell(name: str, lines: list[str]) -> None:
    """Print what a test tried, and keep it for the run's summary (xdist workers' prints are not shown)."""
    print("\n".join(lines))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.txt").write_text("\n".join(lines) + "\n")


def pytest_terminal_summary(terminalreporter) -> None:
    fresh = sorted(path for path in ARTIFACTS.glob("*.txt") if path.stat().st_mtime >= _SESSION_STARTED)
    if fresh:
        terminalreporter.section("what the security tests tried")
        for path in fresh:
            terminalreporter.write(path.read_text())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fuzz: generated requests over the whole API (Schemathesis, a Hypothesis state machine), bounded and"
        " derandomized; part of the normal suite and of CI (deselect locally with -m 'not fuzz')",
    )


@pytest.fixture
def settings(database_url: str):
    """As the suite's settings, with no rate limit: these tests call fast on purpose."""
    return load_settings(database_url=database_url, redis_url="", secret_key="test-secret", rate_limit="")


class NoJobs:
    """Stands in for market.jobs.Jobs: runs stay queued (for the run cap and the fuzzers)."""

    def submit_match_run(self, run_id: int) -> None:
        return None

    def hand_over_match_run(self, run_id: int) -> bool:
        return True

    def shutdown(self) -> None:
        return None


def wait_for_run(client, headers: dict[str, str], run_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/v1/match-runs/{run_id}", headers=headers).json
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.02)


# --- who is who -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    name: str
    role: str
    headers: dict[str, str] = field(hash=False, compare=False)
    cooperative_id: int | None = None
    buyer_id: int | None = None

    @property
    def party(self) -> tuple[str, int] | None:
        if self.cooperative_id is not None:
            return ("cooperative", self.cooperative_id)
        if self.buyer_id is not None:
            return ("buyer", self.buyer_id)
        return None


@dataclass
class Thing:
    """One object of the market, who it belongs to, and strings only its parties may ever see."""

    kind: str
    id: int
    parties: frozenset[tuple[str, int]]
    data: dict[str, Any]
    secrets: frozenset[str] = frozenset()


@dataclass
class Market:
    callers: list[Caller]
    things: dict[str, list[Thing]]

    def caller(self, name: str) -> Caller:
        return next(caller for caller in self.callers if caller.name == name)

    def all_things(self) -> Iterable[Thing]:
        for items in self.things.values():
            yield from items

    def is_party(self, caller: Caller, thing: Thing) -> bool:
        return caller.role == "admin" or caller.party in thing.parties

    def market_view(self, caller: Caller, thing: Thing) -> bool:
        """The open market: buyers browse open offers, cooperatives open orders (their agreements' call-offs too)."""
        browsable = thing.data.get("status") in ("open", "partially_matched")
        if thing.kind == "offer":
            return caller.role == "buyer" and browsable
        if thing.kind == "order":
            agreement_id = thing.data.get("agreement_id")
            if caller.role != "cooperative" or not browsable:
                return False
            if agreement_id is None:
                return True
            agreement = next(a for a in self.things["agreement"] if a.id == agreement_id)
            return ("cooperative", caller.cooperative_id) in agreement.parties
        return False

    def foreign_secrets(self, caller: Caller) -> dict[str, Thing]:
        """Every secret string of every object `caller` is no party to."""
        return {
            secret: thing for thing in self.all_things() if not self.is_party(caller, thing) for secret in thing.secrets
        }

    def contracts_of(self, caller: Caller) -> list[Thing]:
        return [thing for thing in self.things["contract"] if self.is_party(caller, thing)]


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.json)
    return response.json


@pytest.fixture
def market(client, world) -> Market:
    """Cooperatives A (world.coop) and B, buyers X (world.buyer) and Y, each with private business."""
    admin = world.admin
    callers = [
        Caller("admin", "admin", admin),
        Caller("coop A", "cooperative", world.coop, cooperative_id=world.coop_id),
        Caller("coop B", "cooperative", world.other_coop, cooperative_id=world.other_coop_id),
        Caller("buyer X", "buyer", world.buyer, buyer_id=world.buyer_id),
        Caller("buyer Y", "buyer", world.other_buyer, buyer_id=world.other_buyer_id),
    ]
    coop = {"A": ("cooperative", world.coop_id), "B": ("cooperative", world.other_coop_id)}
    buyer = {"X": ("buyer", world.buyer_id), "Y": ("buyer", world.other_buyer_id)}
    coop_headers = {"A": world.coop, "B": world.other_coop}
    buyer_headers = {"X": world.buyer, "Y": world.other_buyer}

    # Purchase agreements A<->X and B<->Y; prices and references are each pair's secret.
    agreements = {}
    for c, b, price in (("A", "X", "7811.37"), ("B", "Y", "7822.73")):
        agreements[c + b] = _ok(
            client.post(
                "/api/v1/agreements",
                json=agreement_body(
                    buyer[b][1], coop[c][1], tonnes="60", price_per_tonne=price, reference=f"agr-{c}{b}-secret"
                ),
                headers=admin,
            ),
            201,
        )

    offers = []
    for c, product, tonnes, price, suffix in (
        ("A", "apple", "100", "5011.37", "apple"),
        ("B", "apple", "100", "5022.73", "apple"),
        ("A", "egg", "10", "7033.37", "egg"),  # nobody orders eggs: stays open, buyers browse it
        ("B", "potato", "20", "1544.73", "potato"),  # the potato order bids too little: stays open
        ("A", "vegetable", "5", "2055.37", "veg"),  # withdrawn below
    ):
        offers.append(
            _ok(
                client.post(
                    "/api/v1/offers",
                    json=offer_body(
                        product=product,
                        tonnes=tonnes,
                        min_price_per_tonne=price,
                        reference=f"offer-{c}-{suffix}-secret",
                    ),
                    headers=coop_headers[c],
                ),
                201,
            )
        )
    _ok(client.post(f"/api/v1/offers/{offers[-1]['id']}/withdraw", headers=coop_headers["A"]))

    orders = []
    for b, changes in (
        ("X", dict(tonnes="60", max_price_per_tonne="7900.37", agreement_id=agreements["AX"]["id"])),
        ("Y", dict(tonnes="60", max_price_per_tonne="7900.73", agreement_id=agreements["BY"]["id"])),
        ("X", dict(tonnes="30", max_price_per_tonne="8055.37")),
        ("Y", dict(tonnes="30", max_price_per_tonne="8066.73")),
        ("X", dict(product="potato", tonnes="5", max_price_per_tonne="1000.37")),  # stays open: cooperatives browse it
        ("Y", dict(product="vegetable", tonnes="5", max_price_per_tonne="3077.73")),  # cancelled below
    ):
        reference = f"order-{b}-{len(orders)}-secret"
        orders.append(
            _ok(
                client.post(
                    "/api/v1/orders", json=order_body(reference=reference, **changes), headers=buyer_headers[b]
                ),
                201,
            )
        )
    _ok(client.post(f"/api/v1/orders/{orders[-1]['id']}/cancel", headers=buyer_headers["Y"]))

    run = wait_for_run(client, admin, _ok(client.post("/api/v1/match-runs", json={}, headers=admin), 202)["id"])
    assert run["status"] == "proposed", run
    _ok(client.post(f"/api/v1/match-runs/{run['id']}/approve", headers=admin))
    contracts = _ok(client.get(f"/api/v1/contracts?match_run_id={run['id']}", headers=admin))["data"]
    assert len(contracts) >= 4, contracts

    coop_name = {world.coop_id: "A", world.other_coop_id: "B"}
    buyer_name = {world.buyer_id: "X", world.other_buyer_id: "Y"}
    for contract in contracts:
        c, b = coop_name[contract["cooperative_id"]], buyer_name[contract["buyer_id"]]
        quarter = (Decimal(contract["tonnes"]) / 4).quantize(Decimal("0.001"))
        first = _ok(
            client.post(
                f"/api/v1/contracts/{contract['id']}/deliveries",
                json={
                    "tonnes": str(quarter),
                    "shipped_on": "2020-10-12",
                    "ticket": f"ticket-{contract['id']}-1-secret",
                },
                headers=coop_headers[c],
            ),
            201,
        )
        _ok(
            client.post(
                f"/api/v1/deliveries/{first['id']}/accept",
                json={
                    "accepted_tonnes": str((quarter * Decimal("0.9")).quantize(Decimal("0.001"))),
                    "reason": "bruised",
                },
                headers=buyer_headers[b],
            )
        )
        _ok(
            client.post(
                f"/api/v1/contracts/{contract['id']}/deliveries",
                json={
                    "tonnes": str(quarter),
                    "shipped_on": "2020-10-13",
                    "ticket": f"ticket-{contract['id']}-2-secret",
                },
                headers=coop_headers[c],
            ),
            201,
        )

    # Read everything back as the admin sees it now, and say who owns what.
    def listed(path: str) -> list[dict]:
        return _ok(client.get(f"/api/v1/{path}?limit=500", headers=admin))["data"]

    agreement_rows = listed("agreements")
    contract_rows = listed("contracts")
    contract_parties = {
        row["id"]: frozenset({("cooperative", row["cooperative_id"]), ("buyer", row["buyer_id"])})
        for row in contract_rows
    }
    things: dict[str, list[Thing]] = {
        "offer": [
            Thing(
                "offer",
                row["id"],
                frozenset({("cooperative", row["cooperative_id"])}),
                row,
                frozenset({row["reference"], row["min_price_per_tonne"]}),
            )
            for row in listed("offers")
        ],
        "order": [
            Thing(
                "order",
                row["id"],
                frozenset({("buyer", row["buyer_id"])}),
                row,
                frozenset({row["reference"], row["max_price_per_tonne"]}),
            )
            for row in listed("orders")
        ],
        "agreement": [
            Thing(
                "agreement",
                row["id"],
                frozenset({("cooperative", row["cooperative_id"]), ("buyer", row["buyer_id"])}),
                row,
                frozenset({row["reference"], row["price_per_tonne"]}),
            )
            for row in agreement_rows
        ],
        "contract": [Thing("contract", row["id"], contract_parties[row["id"]], row) for row in contract_rows],
        "delivery": [
            Thing("delivery", row["id"], contract_parties[row["contract_id"]], row, frozenset({row["ticket"]}))
            for row in listed("deliveries")
        ],
        "match_run": [Thing("match_run", row["id"], frozenset(), row) for row in listed("match-runs")],
        "cooperative": [
            Thing("cooperative", row["id"], frozenset({("cooperative", row["id"])}), row)
            for row in listed("cooperatives")
        ],
        "buyer": [Thing("buyer", row["id"], frozenset({("buyer", row["id"])}), row) for row in listed("buyers")],
    }
    assert all(things.values()) and len(things["delivery"]) == 2 * len(contracts)
    return Market(callers, things)


def table_fingerprint(engine) -> dict[str, list[tuple]]:
    """Every row of every business table: equal before and after means nothing was written."""
    skip = {"audit_event", "idempotency_record", "account"}
    with engine.connect() as connection:
        rows = {
            table.name: sorted(map(tuple, connection.execute(table.select()).all()), key=repr)
            for table in metadata.sorted_tables
            if table.name not in skip
        }
        rows["audit_event"] = [(connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one(),)]
    return rows
