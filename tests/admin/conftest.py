"""The console's fixtures: a small market with one proposed match run, made with the services, and a signed-in client.

The book is the API tests' one (tests/api/test_match_runs.py) with names from the 2020 scenario:
Sayu sells 100 t of first-grade apples, Sujia 10 t of eggs; Zejing calls off 60 t against its
agreement with Sayu, Baikang wants 70 t of apples on the open market and 5 t of eggs too cheaply.
The run matches 100 t of the 135 t demanded (74.1%; apples 100 of 130, 76.9%): the call-off in
full at 7,800 yuan/t (468,000.00 yuan), 40 t for Baikang (30 t left: supply exhausted), and no
eggs (price gap).
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from market.db import session_scope
from market.jobs import run_match_in_process
from market.models import Contract, MatchRun
from market.models.account import AccountCreate
from market.models.agreement import AgreementCreate
from market.models.common import Grade, MatchRunStatus, Product, Role
from market.models.contract import DeliveryAccept, DeliveryCreate
from market.models.match_run import MatchRunCreate
from market.models.offer import OfferCreate
from market.models.order import OrderCreate
from market.models.parties import BuyerCreate, CooperativeCreate
from market.services import ledger
from market.services.accounts import authenticate, create_account
from market.services.actors import Actor
from market.services.agreements import create_agreement
from market.services.matching import approve_match_run, request_match_run
from market.services.offers import create_offer
from market.services.orders import create_order
from market.services.parties import create_buyer, create_cooperative


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium through Playwright (fails under CI when either is missing)"
    )


@dataclass
class Market:
    admin_token: str
    admin_id: int
    admin_name: str
    coop_token: str  # Sayu's clerk: ships against both apple contracts
    zejing_token: str  # the buyers' weighbridges: accept what was shipped to them
    baikang_token: str
    run_id: int  # proposed, awaiting review
    sayu_id: int
    zejing_id: int
    baikang_id: int
    agreement_id: int
    zejing_order_id: int  # the call-off against the agreement
    market_order_id: int
    egg_order_id: int


ADMIN_NAME = "扶贫协作办 Zhaoyang office"


def build_market(engine) -> Market:
    """Parties, accounts, a book and one proposed run, all through the services."""
    office = Actor.system("test")
    with session_scope(engine) as session:
        admin, admin_token = create_account(session, actor=office, data=AccountCreate(role=Role.admin, name=ADMIN_NAME))
        sayu = create_cooperative(
            session,
            actor=office,
            data=CooperativeCreate(
                name="Sayu Apple Cooperative",
                name_zh="洒渔镇苹果专业合作社",
                township="Sayu",
                township_zh="洒渔镇",
                latitude=27.43,
                longitude=103.60,
                member_households=300,
                poor_households=120,
            ),
        )
        sujia = create_cooperative(
            session,
            actor=office,
            data=CooperativeCreate(
                name="Sujia Guiqing Breeding Cooperative",
                name_zh="苏甲乡桂庆养殖专业合作社",
                township="Sujia",
                township_zh="苏甲乡",
                latitude=27.26,
                longitude=103.80,
                member_households=200,
                poor_households=58,
            ),
        )
        zejing = create_buyer(
            session,
            actor=office,
            data=BuyerCreate(
                name="Dongguan Zejing Co.", name_zh="东莞市泽景公司", city="Dongguan", latitude=23.02, longitude=113.75
            ),
        )
        baikang = create_buyer(
            session,
            actor=office,
            data=BuyerCreate(
                name="Dongguan Baikang Group", name_zh="东莞百康集团", city="Dongguan", latitude=23.02, longitude=113.75
            ),
        )
        _, coop_token = create_account(
            session,
            actor=office,
            data=AccountCreate(role=Role.cooperative, name="Sayu clerk", cooperative_id=sayu.id),
        )
        _, zejing_token = create_account(
            session,
            actor=office,
            data=AccountCreate(role=Role.buyer, name="Zejing weighbridge", buyer_id=zejing.id),
        )
        _, baikang_token = create_account(
            session,
            actor=office,
            data=AccountCreate(role=Role.buyer, name="Baikang weighbridge", buyer_id=baikang.id),
        )
        sayu_clerk = Actor(role=Role.cooperative, label="test:sayu", cooperative_id=sayu.id)
        sujia_clerk = Actor(role=Role.cooperative, label="test:sujia", cooperative_id=sujia.id)
        zejing_buyer = Actor(role=Role.buyer, label="test:zejing", buyer_id=zejing.id)
        baikang_buyer = Actor(role=Role.buyer, label="test:baikang", buyer_id=baikang.id)

        def offer(actor: Actor, product: Product, tonnes: str, ask: str) -> None:
            create_offer(
                session,
                actor=actor,
                data=OfferCreate(
                    product=product,
                    grade=Grade.first,
                    tonnes=Decimal(tonnes),
                    min_price_per_tonne=Decimal(ask),
                    available_from=date(2020, 9, 15),
                    available_until=date(2020, 12, 31),
                ),
            )

        def order(actor: Actor, product: Product, tonnes: str, bid: str, reference: str, agreement_id=None):
            return create_order(
                session,
                actor=actor,
                data=OrderCreate(
                    product=product,
                    min_grade=Grade.second,
                    tonnes=Decimal(tonnes),
                    max_price_per_tonne=Decimal(bid),
                    deliver_from=date(2020, 10, 1),
                    deliver_until=date(2020, 10, 31),
                    agreement_id=agreement_id,
                    reference=reference,
                ),
            )

        offer(sayu_clerk, Product.apple, "100", "5000.00")
        offer(sujia_clerk, Product.egg, "10", "7000.00")
        agreement = create_agreement(
            session,
            actor=office,
            data=AgreementCreate(
                buyer_id=zejing.id,
                cooperative_id=sayu.id,
                product=Product.apple,
                tonnes=Decimal("60"),
                price_per_tonne=Decimal("7800.00"),
                valid_from=date(2020, 9, 1),
                valid_until=date(2021, 3, 31),
                reference="ZY-2020-APL-001",
            ),
        )
        zejing_order = order(zejing_buyer, Product.apple, "60", "7800.00", "ZJ-APL-01", agreement.id)
        market_order = order(baikang_buyer, Product.apple, "70", "8000.00", "BK-APL-01")
        egg_order = order(baikang_buyer, Product.egg, "5", "7100.00", "BK-EGG-01")
        run = request_match_run(session, actor=Actor.of(admin), data=MatchRunCreate())
        ids = (admin.id, sayu.id, zejing.id, baikang.id, agreement.id, zejing_order.id, market_order.id, egg_order.id)
        run_id = run.id
    admin_id, sayu_id, zejing_id, baikang_id, agreement_id, zejing_order_id, market_order_id, egg_order_id = ids
    run_match_in_process(engine, run_id)
    return Market(
        admin_token=admin_token,
        admin_id=admin_id,
        admin_name=ADMIN_NAME,
        coop_token=coop_token,
        zejing_token=zejing_token,
        baikang_token=baikang_token,
        run_id=run_id,
        sayu_id=sayu_id,
        zejing_id=zejing_id,
        baikang_id=baikang_id,
        agreement_id=agreement_id,
        zejing_order_id=zejing_order_id,
        market_order_id=market_order_id,
        egg_order_id=egg_order_id,
    )


@pytest.fixture
def market(engine) -> Market:
    return build_market(engine)


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str = "/admin/sign-in") -> str:
    """The CSRF token of this client's session, read from a page's form as a browser would."""
    page = client.get(path)
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def sign_in(client, token: str, **extra: str):
    return client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_token(client), **extra})


def post_form(client, path: str, data: dict | None = None, *, page: str = "/admin/"):
    """Submit a console form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **(data or {})})


@pytest.fixture
def admin_client(client, market: Market):
    """A test client signed in as the office's admin (Chinese, the default language)."""
    response = sign_in(client, market.admin_token)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def text(response) -> str:
    """The page as a reader sees its characters: entities (&#39;, &amp;) decoded."""
    return html.unescape(response.get_data(as_text=True))


def wait_for_run(engine, run_id: int, timeout: float = 60) -> MatchRunStatus:
    """Wait for a run the app queued in its background thread to leave queued/running."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(engine) as session:
            status = session.get(MatchRun, run_id).status
        if status not in (MatchRunStatus.queued, MatchRunStatus.running):
            return status
        assert time.monotonic() < deadline, f"match run {run_id} is still {status.value}"
        time.sleep(0.05)


# --- the fulfilment ledger, through the services: what the cooperative and the buyers do ----------

TOLERANCE = 5  # percent, the default setting


def approve(engine, market: Market) -> None:
    with session_scope(engine) as session:
        approve_match_run(session, actor=Actor.system("test"), run_id=market.run_id)


def contract_for(engine, order_id: int) -> Contract:
    with session_scope(engine) as session:
        contract = session.exec(select(Contract).where(Contract.order_id == order_id)).one()
        session.expunge(contract)
        return contract


def ship(engine, market: Market, contract_id: int, tonnes: str, shipped_on: date, ticket: str) -> int:
    """Sayu's clerk records a load shipped against a contract; the delivery's id."""
    with session_scope(engine) as session:
        clerk = Actor.of(authenticate(session, market.coop_token))
        delivery = ledger.record_delivery(
            session,
            actor=clerk,
            contract_id=contract_id,
            data=DeliveryCreate(tonnes=Decimal(tonnes), shipped_on=shipped_on, ticket=ticket),
            tolerance_percent=TOLERANCE,
            today=shipped_on,
        )
        return delivery.id


def accept(engine, token: str, delivery_id: int, tonnes: str, reason: str | None = None) -> None:
    """The buyer's weighbridge accepts a load (the rest of it rejected, with the reason)."""
    with session_scope(engine) as session:
        weighbridge = Actor.of(authenticate(session, token))
        ledger.accept_delivery(
            session,
            actor=weighbridge,
            delivery_id=delivery_id,
            data=DeliveryAccept(accepted_tonnes=Decimal(tonnes), reason=reason),
            tolerance_percent=TOLERANCE,
        )


@dataclass
class Season:
    """The approved run's two contracts, and what was delivered against them."""

    zejing_contract: int  # 60 t at 7,800.00 yuan/t, on the agreement: 30 t shipped and accepted
    baikang_contract: int  # 40 t at 7,092.00 yuan/t: 40 t shipped, 39.5 t accepted (fulfilled)
    zejing_delivery: int
    baikang_delivery: int


def deliver_season(engine, market: Market, *, approved: bool = False) -> Season:
    """Approve the run, then: Baikang takes 39.5 of 40 t in October (280,134.00 yuan), Zejing 30 of its
    60 t in November (234,000.00 yuan). 69.5 t delivered, 514,134.00 yuan earned, all by Sayu (120 poor
    households: 4,284.45 yuan each)."""
    if not approved:
        approve(engine, market)
    zejing = contract_for(engine, market.zejing_order_id).id
    baikang = contract_for(engine, market.market_order_id).id
    baikang_delivery = ship(engine, market, baikang, "40", date(2020, 10, 8), "ZY-0081")
    accept(engine, market.baikang_token, baikang_delivery, "39.5", "500 kg bruised")
    zejing_delivery = ship(engine, market, zejing, "30", date(2020, 11, 2), "ZY-0107")
    accept(engine, market.zejing_token, zejing_delivery, "30")
    return Season(zejing, baikang, zejing_delivery, baikang_delivery)
