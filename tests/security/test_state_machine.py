"""A Hypothesis state machine over the API: post offers and orders (some called off against
agreements, one at a time or in batches), run matching in-process and wait for it, approve or
reject, ship, accept, withdraw a lot, cancel an order, close a contract short. After every step the
ledger must conserve: contracted <= offered, contracted <= wanted, accepted <= shipped <= contracted
x 1.05, called off <= agreed, every lot's, order's and agreement's counters = what their contracts
hold, revenue earned = value_fen(accepted kg, price) to the fen, and the reports' totals are the
sums of their rows and of the contracts.
"""

from __future__ import annotations

import shutil
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from market.app import create_app
from market.config import load_settings
from market.db import session_scope
from market.models.account import AccountCreate
from market.models.common import Role
from market.services.accounts import create_account
from market.services.actors import Actor
from market.units import value_fen
from tests.api.helpers import order_body
from tests.conftest import _truncate_all, bearer
from tests.security.conftest import DEEP_EXAMPLES, tell, wait_for_run

TOLERANCE_PERCENT = 5
GROUPS = ("product", "cooperative", "buyer", "agreement", "township", "month")
SUMMED = ("tonnes_offered", "tonnes_contracted", "tonnes_delivered", "revenue_contracted", "revenue_earned")
POVERTY_SUMMED = (
    "cooperatives",
    "registered_poor_households",
    "revenue_earned",
    "revenue_to_cooperatives_with_poor_households",
)


def kg(tonnes: str) -> int:
    return int(Decimal(tonnes) * 1000)


def fen(yuan: str) -> int:
    return int(Decimal(yuan) * 100)


def tonnes(kilograms: int) -> str:
    return str(Decimal(kilograms) / 1000)


def make_machine(fresh_database, steps: Counter):
    class MarketMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            url = fresh_database()
            self.app = create_app(load_settings(database_url=url, redis_url="", secret_key="test", rate_limit=""))
            self.client = self.app.test_client()
            with session_scope(self.app.extensions["market.engine"]) as session:
                _, token = create_account(
                    session, actor=Actor.system("test"), data=AccountCreate(role=Role.admin, name="office")
                )
            self.admin = bearer(token)
            self.checks = 0
            self.coops = [
                self._party("cooperatives", "cooperative", name, lat)
                for name, lat in (("Sayu", 27.43), ("Leju", 27.26))
            ]
            self.buyers = [self._party("buyers", "buyer", name, 23.02) for name in ("Zejing", "Baikang")]
            self.agreements = [
                self.post(
                    "/api/v1/agreements",
                    {
                        "buyer_id": self.buyers[i][0],
                        "cooperative_id": self.coops[i][0],
                        "product": "apple",
                        "tonnes": "40",
                        "price_per_tonne": "7200.37",
                        "valid_from": "2020-09-01",
                        "valid_until": "2021-03-31",
                    },
                    self.admin,
                )
                for i in range(2)
            ]

        def _party(self, path: str, role: str, name: str, latitude: float) -> tuple[int, dict[str, str]]:
            body = {"name": name, "name_zh": name + "合作社", "latitude": latitude, "longitude": 103.6}
            if role == "cooperative":
                body |= {"township": name, "member_households": 100, "poor_households": 40}
            else:
                body |= {"city": "Dongguan", "longitude": 113.75}
            row = self.post(f"/api/v1/{path}", body, self.admin)
            account = self.post("/api/v1/accounts", {"role": role, "name": name, f"{role}_id": row["id"]}, self.admin)
            return row["id"], bearer(account["token"])

        @staticmethod
        def _headers(parties: list[tuple[int, dict[str, str]]], party_id: int) -> dict[str, str]:
            """The headers of the party (cooperative or buyer) with this id."""
            return next(headers for known_id, headers in parties if known_id == party_id)

        def post(self, path: str, body: dict | None, headers: dict[str, str], status: int = 201) -> dict:
            response = self.client.post(path, json=body, headers=headers)
            assert response.status_code == status, (path, body, response.status_code, response.json)
            return response.json

        def rows(self, path: str) -> list[dict]:
            body = self.client.get(f"/api/v1/{path}?limit=500", headers=self.admin).json
            assert body["count"] == len(body["data"]), path
            return body["data"]

        def teardown(self) -> None:
            self.app.extensions["market.jobs"].shutdown()
            self.app.extensions["market.engine"].dispose()

        # --- rules -------------------------------------------------------------------------------

        @initialize()
        def a_book_that_matches(self):
            """Each example starts with supply and demand that met in an approved run, and a load of it
            shipped, so that every step (accepting, closing short, withdrawing and cancelling what is under
            contract) can be taken from the first."""
            self.post_offer(0, "apple", "first", 30_517, 500_037)
            self.post_order(1, "apple", 20_311, 800_073, False)
            run = self.post("/api/v1/match-runs", {"product": "apple"}, self.admin, 202)
            assert wait_for_run(self.client, self.admin, run["id"])["status"] == "proposed"
            self.post(f"/api/v1/match-runs/{run['id']}/approve", None, self.admin, 200)
            (contract,) = self._open_contracts()
            load = {"tonnes": "5.003", "shipped_on": "2020-10-12"}
            self.post(f"/api/v1/contracts/{contract['id']}/deliveries", load, self.coops[0][1])

        @rule(
            coop=st.integers(0, 1),
            product=st.sampled_from(["apple", "potato"]),
            grade=st.sampled_from(["premium", "first", "second"]),
            kilograms=st.integers(1_000, 60_000),
            price_fen=st.integers(300_000, 600_000),
        )
        def post_offer(self, coop, product, grade, kilograms, price_fen):
            body = {
                "product": product,
                "grade": grade,
                "tonnes": tonnes(kilograms),
                "min_price_per_tonne": str(Decimal(price_fen) / 100),
                "available_from": "2020-09-15",
                "available_until": "2020-12-31",
            }
            self.post("/api/v1/offers", body, self.coops[coop][1])
            steps["post offer"] += 1

        @rule(
            buyer=st.integers(0, 1),
            product=st.sampled_from(["apple", "potato"]),
            kilograms=st.integers(1_000, 50_000),
            price_fen=st.integers(500_000, 900_000),
            call_off=st.booleans(),
        )
        def post_order(self, buyer, product, kilograms, price_fen, call_off):
            body = self._order_body(product, kilograms, price_fen)
            if call_off and product == "apple":
                agreement = self._agreement(buyer)
                body |= self._call_off(agreement)
                expected = 201 if kilograms <= kg(agreement["tonnes_remaining"]) else 409
                self.post("/api/v1/orders", body, self.buyers[buyer][1], expected)
                steps[f"call off ({expected})"] += 1
                return
            self.post("/api/v1/orders", body, self.buyers[buyer][1])
            steps["post order"] += 1

        @rule(
            buyer=st.integers(0, 1),
            items=st.lists(st.tuples(st.integers(1_000, 30_000), st.booleans()), min_size=1, max_size=3),
        )
        def post_order_batch(self, buyer, items):
            """Apple orders posted together, some called off: all or nothing, the call-offs counted down
            against the agreement in the items' order."""
            agreement = self._agreement(buyer)
            bodies = [
                self._order_body("apple", kilograms, 800_000) | (self._call_off(agreement) if call_off else {})
                for kilograms, call_off in items
            ]
            called_off = sum(kilograms for kilograms, call_off in items if call_off)
            expected = 201 if called_off <= kg(agreement["tonnes_remaining"]) else 409
            self.post("/api/v1/orders/batch", {"items": bodies}, self.buyers[buyer][1], expected)
            steps[f"order batch ({expected})"] += 1

        def _order_body(self, product: str, kilograms: int, price_fen: int) -> dict:
            return order_body(
                product=product,
                tonnes=tonnes(kilograms),
                max_price_per_tonne=str(Decimal(price_fen) / 100),
                deliver_until="2020-11-30",
            )

        def _agreement(self, buyer: int) -> dict:
            return self.client.get(f"/api/v1/agreements/{self.agreements[buyer]['id']}", headers=self.admin).json

        def _call_off(self, agreement: dict) -> dict:
            return {"agreement_id": agreement["id"], "max_price_per_tonne": "9000.00"}

        @rule(policy=st.sampled_from(["midpoint", "ask", "bid"]), product=st.sampled_from(["apple", "potato", None]))
        def run_matching(self, policy, product):
            body = {"policy": policy} | ({"product": product} if product else {})
            run = self.post("/api/v1/match-runs", body, self.admin, 202)
            done = wait_for_run(self.client, self.admin, run["id"])
            assert done["status"] == "proposed", done
            steps["match run"] += 1

        def _proposed(self) -> list[dict]:
            return [run for run in self.rows("match-runs") if run["status"] == "proposed"]

        @precondition(lambda self: bool(self._proposed()))
        @rule(reject=st.sampled_from([False, False, True]))
        def decide(self, reject):
            run = self._proposed()[0]
            action = "reject" if reject else "approve"
            self.post(f"/api/v1/match-runs/{run['id']}/{action}", None, self.admin, 200)
            steps[action] += 1

        def _open_contracts(self) -> list[dict]:
            return [c for c in self.rows("contracts") if c["status"] in ("confirmed", "in_delivery")]

        @precondition(lambda self: bool(self._open_contracts()))
        @rule(data=st.data())
        def ship(self, data):
            contract = data.draw(st.sampled_from(self._open_contracts()))
            room = kg(contract["tonnes"]) * (100 + TOLERANCE_PERCENT) // 100 - kg(contract["tonnes_shipped"])
            kilograms = data.draw(st.integers(1, max(room, 0) + 2_000))
            coop = self._headers(self.coops, contract["cooperative_id"])
            expected = 201 if kilograms <= room else 409
            self.post(
                f"/api/v1/contracts/{contract['id']}/deliveries",
                {"tonnes": tonnes(kilograms), "shipped_on": "2020-10-12"},
                coop,
                expected,
            )
            steps[f"ship ({expected})"] += 1

        def _shipped(self) -> list[dict]:
            return [d for d in self.rows("deliveries") if d["status"] == "shipped"]

        @precondition(lambda self: bool(self._shipped()))
        @rule(data=st.data())
        def accept(self, data):
            delivery = data.draw(st.sampled_from(self._shipped()))
            shipped = kg(delivery["tonnes_shipped"])
            accepted = data.draw(st.integers(0, shipped))
            contract = self.client.get(f"/api/v1/contracts/{delivery['contract_id']}", headers=self.admin).json
            buyer = self._headers(self.buyers, contract["buyer_id"])
            body = {"accepted_tonnes": tonnes(accepted)} | ({"reason": "bruised"} if accepted < shipped else {})
            self.post(f"/api/v1/deliveries/{delivery['id']}/accept", body, buyer, 200)
            steps["accept"] += 1

        def _still_open(self, path: str) -> list[dict]:
            return [
                row
                for row in self.rows(path)
                if row["status"] in ("open", "partially_matched") and kg(row["tonnes_remaining"]) > 0
            ]

        @precondition(lambda self: bool(self._still_open("offers")))
        @rule(data=st.data())
        def withdraw(self, data):
            """A cooperative takes the rest of a lot off the market, whatever its contracts are doing."""
            offer = data.draw(st.sampled_from(self._still_open("offers")))
            coop = self._headers(self.coops, offer["cooperative_id"])
            self.post(f"/api/v1/offers/{offer['id']}/withdraw", None, coop, 200)
            steps["withdraw"] += 1

        @precondition(lambda self: bool(self._still_open("orders")))
        @rule(data=st.data())
        def cancel(self, data):
            """A buyer cancels the rest of an order (a call-off's tonnes go back to its agreement)."""
            order = data.draw(st.sampled_from(self._still_open("orders")))
            buyer = self._headers(self.buyers, order["buyer_id"])
            self.post(f"/api/v1/orders/{order['id']}/cancel", None, buyer, 200)
            steps["cancel"] += 1

        @precondition(lambda self: bool(self._open_contracts()))
        @rule(data=st.data())
        def close_short(self, data):
            """The office closes a contract short; one with a delivery awaiting acceptance is refused."""
            contract = data.draw(st.sampled_from(self._open_contracts()))
            waiting = any(delivery["contract_id"] == contract["id"] for delivery in self._shipped())
            expected = 409 if waiting else 200
            self.post(f"/api/v1/contracts/{contract['id']}/close", {"reason": "season over"}, self.admin, expected)
            steps[f"close short ({expected})"] += 1

        # --- invariants --------------------------------------------------------------------------

        @invariant()
        def the_ledger_conserves(self):
            offers, orders = self.rows("offers"), self.rows("orders")
            contracts, deliveries, agreements = self.rows("contracts"), self.rows("deliveries"), self.rows("agreements")
            for offer in offers:
                assert kg(offer["tonnes_contracted"]) + kg(offer["tonnes_withdrawn"]) <= kg(offer["tonnes"]), offer
            for order in orders:
                assert kg(order["tonnes_contracted"]) + kg(order["tonnes_cancelled"]) <= kg(order["tonnes"]), order
            for agreement in agreements:
                assert (
                    kg(agreement["tonnes_contracted"]) <= kg(agreement["tonnes_called_off"]) <= kg(agreement["tonnes"])
                )
            by_contract: dict[int, list[dict]] = {}
            for delivery in deliveries:
                by_contract.setdefault(delivery["contract_id"], []).append(delivery)
            for contract in contracts:
                loads = by_contract.get(contract["id"], [])
                shipped, accepted = kg(contract["tonnes_shipped"]), kg(contract["tonnes_accepted"])
                assert accepted <= shipped <= kg(contract["tonnes"]) * (100 + TOLERANCE_PERCENT) // 100, contract
                assert shipped == sum(kg(d["tonnes_shipped"]) for d in loads)
                assert accepted == sum(kg(d["tonnes_accepted"]) for d in loads if d["status"] == "accepted")
                # Revenue: accepted kg x price, rounded once on the contract's running total, to the fen.
                earned = value_fen(accepted, fen(contract["price_per_tonne"]))
                assert fen(contract["revenue_earned"]) == earned, contract
                assert sum(fen(d["revenue"]) for d in loads if d["status"] == "accepted") == earned
                assert fen(contract["value"]) == value_fen(kg(contract["tonnes"]), fen(contract["price_per_tonne"]))
            for agreement in agreements:
                mine = [c for c in contracts if c["agreement_id"] == agreement["id"]]
                assert kg(agreement["tonnes_delivered"]) == sum(kg(c["tonnes_accepted"]) for c in mine)
                assert fen(agreement["revenue"]) == sum(fen(c["revenue_earned"]) for c in mine)
            self._every_tonne_is_accounted_for(offers, orders, contracts, agreements)

        def _every_tonne_is_accounted_for(self, offers, orders, contracts, agreements) -> None:
            """Each counter is what the contracts hold: a lot's contracted tonnes are its contracts' (a
            contract closed short keeps them: shipped, or not there to ship); an order's and an agreement's
            are their contracts' less what closing short gave back; an agreement's called-off tonnes are
            its call-offs' less what was cancelled; a withdrawn lot or a cancelled order has nothing left."""
            by_lot: Counter[int] = Counter()
            by_order: Counter[int] = Counter()
            by_agreement: Counter[int] = Counter()
            for contract in contracts:
                if contract["status"] == "cancelled":
                    continue
                quantity = kg(contract["tonnes"])
                by_lot[contract["offer_id"]] += quantity
                if contract["status"] == "closed_short":
                    quantity = min(quantity, kg(contract["tonnes_accepted"]))
                by_order[contract["order_id"]] += quantity
                if contract["agreement_id"] is not None:
                    by_agreement[contract["agreement_id"]] += quantity
            for offer in offers:
                assert kg(offer["tonnes_contracted"]) == by_lot[offer["id"]], offer
                if offer["status"] == "withdrawn":
                    assert kg(offer["tonnes_contracted"]) + kg(offer["tonnes_withdrawn"]) == kg(offer["tonnes"]), offer
            called_off: Counter[int] = Counter()
            for order in orders:
                assert kg(order["tonnes_contracted"]) == by_order[order["id"]], order
                if order["status"] == "cancelled":
                    assert kg(order["tonnes_contracted"]) + kg(order["tonnes_cancelled"]) == kg(order["tonnes"]), order
                if order["agreement_id"] is not None:
                    called_off[order["agreement_id"]] += kg(order["tonnes"]) - kg(order["tonnes_cancelled"])
            for agreement in agreements:
                assert kg(agreement["tonnes_contracted"]) == by_agreement[agreement["id"]], agreement
                assert kg(agreement["tonnes_called_off"]) == called_off[agreement["id"]], agreement

        @invariant()
        def reports_add_up(self):
            contracts = self.rows("contracts")
            counted = [c for c in contracts if c["status"] in ("confirmed", "in_delivery", "fulfilled")]
            # A contract closed short counts for what was accepted of it.
            short = [c for c in contracts if c["status"] == "closed_short"]
            expected = {
                "tonnes_contracted": sum(kg(c["tonnes"]) for c in counted)
                + sum(kg(c["tonnes_accepted"]) for c in short),
                "revenue_contracted": sum(fen(c["value"]) for c in counted)
                + sum(fen(c["revenue_earned"]) for c in short),
                "tonnes_delivered": sum(kg(c["tonnes_accepted"]) for c in contracts),
                "revenue_earned": sum(fen(c["revenue_earned"]) for c in contracts),
            }
            self.checks += 1  # every grouping is checked every six steps; product (the totals) every step
            for group_by in sorted({"product", GROUPS[self.checks % len(GROUPS)]}):
                report = self.client.get(f"/api/v1/reports/summary?group_by={group_by}", headers=self.admin).json
                for key in SUMMED:
                    unit = kg if key.startswith("tonnes") else fen
                    assert unit(report["totals"][key]) == sum(unit(row[key]) for row in report["rows"]), (group_by, key)
                if group_by not in ("agreement",):
                    assert {
                        k: (kg if k.startswith("tonnes") else fen)(report["totals"][k]) for k in expected
                    } == expected
            poverty = self.client.get("/api/v1/reports/poverty", headers=self.admin).json
            for key in POVERTY_SUMMED:
                unit = fen if key.startswith("revenue") else int
                assert unit(poverty["totals"][key]) == sum(unit(row[key]) for row in poverty["rows"]), key
            assert fen(poverty["totals"]["revenue_earned"]) == expected["revenue_earned"]

    return MarketMachine


@pytest.mark.fuzz
def test_the_ledger_conserves_whatever_happens(database_url, tmp_path, request):
    count = 0

    def fresh_database() -> str:
        nonlocal count
        count += 1
        if database_url.startswith("sqlite"):
            path = tmp_path / f"machine-{count}.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            return f"sqlite:///{path}"
        _truncate_all(database_url)
        return database_url

    steps: Counter[str] = Counter()
    run_state_machine_as_test(
        make_machine(fresh_database, steps),
        settings=settings(
            max_examples=DEEP_EXAMPLES or 25,
            stateful_step_count=12,
            deadline=None,
            derandomize=not DEEP_EXAMPLES,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    tell(
        f"state-machine-{backend}",
        [f"state machine [{backend}]: {count} runs; steps " + ", ".join(f"{k}: {v}" for k, v in sorted(steps.items()))],
    )
    for step in (
        "match run",
        "approve",
        "ship (201)",
        "accept",
        "withdraw",
        "cancel",
        "close short (200)",
        "order batch (201)",
    ):
        assert steps[step], f"no {step} step in {count} runs"
