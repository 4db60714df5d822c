"""A synthetic order book for load tests and demos at scale: `market seed --synthetic N`.

`generate_book` adds N offers and N orders, with the cooperatives and buyers they need.
The rows look like the 2020 season: cooperatives spread over Zhaoyang's twenty townships
(`market.places.ORIGINS`), buyers over the eastern destinations of `market.places`, five
products at their own prices and lot sizes, and weekly delivery windows. Prices follow the
matcher's rules: an offer's ask is a farm-gate price at its township, an order's bid a
delivered price, which a buyer sets at the going farm-gate price plus the freight from
Zhaoyang to its destination (`market.matching.transport`), give or take. So about half of the
offer-order pairs that could trade (same product, grade good enough, windows meeting) are
worth trading after freight, and the rest are not.

It is deterministic for a random seed (`random.Random(random_seed)`; nothing depends on
the database but ids and names) and fast: rows are plain dicts inserted with SQLAlchemy
Core in chunks, and the batch leaves one audit event instead of one per row.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlmodel import Session

from market.matching.transport import freight_fen_per_tonne
from market.models import AuditEvent, Buyer, Cooperative, DemandOrder, SupplyOffer
from market.models.common import Grade, OfferStatus, OrderStatus, Product, utcnow
from market.places import DESTINATIONS, ORIGINS, Place
from market.services.audit import append_events

CHUNK_SIZE = 5_000
ACTION = "seed.synthetic"
ACTOR = "system:seed"

# The season the 2020 scenario covers: weekly windows start on Mondays from here.
SEASON_START = date(2020, 9, 7)  # a Monday
SEASON_WEEKS = 30  # to the start of April 2021


A, V, E, P, S = Product.apple, Product.vegetable, Product.egg, Product.potato, Product.sichuan_pepper

# What the cooperatives of each of Zhaoyang's townships (market.places.ORIGINS) mostly produce:
# high plateau potatoes, valley pepper, apples around the basin.
SPECIALTIES: dict[str, tuple[Product, ...]] = {
    "fenghuang": (V, E),
    "longquan": (V, E),
    "taiping": (A, V),
    "shouwang": (A, V, E),
    "jiupu": (V, A),
    "yongfeng": (A, V),
    "beizha": (A,),
    "sayu": (A,),
    "leju": (A, P),
    "sujiayuan": (A, V),
    "xiaolongdong": (P, E),
    "buga": (P, V),
    "dashanbao": (P,),
    "tianba": (P, S),
    "yanshan": (S,),
    "dazhaizi": (S, P),
    "qinggangling": (S, E),
    "panhe": (S, E),
    "jingan": (V, A),
    "sujia": (E, P),
}
TOWNSHIPS: tuple[Place, ...] = tuple(ORIGINS.values())

# Kunming is in Yunnan itself; the east-west trade goes to the others.
EASTERN_PLACES: tuple[Place, ...] = tuple(place for key, place in DESTINATIONS.items() if key != "kunming")
# Where a buyer reckons freight from when it sets a delivered bid: the district seat.
DISTRICT_SEAT: Place = ORIGINS["fenghuang"]


@dataclass(frozen=True)
class ProductProfile:
    product: Product
    word: str
    word_zh: str
    # Yuan per tonne for a first-grade lot of an average variety, at the farm gate.
    farm_gate_yuan: int
    # (variety, weight, price factor)
    varieties: tuple[tuple[str, float, float], ...]
    brands: tuple[str | None, ...]
    # Lot sizes: median kg, spread (log-normal sigma), bounds, rounding step.
    median_kg: int
    sigma: float
    min_kg: int
    max_kg: int
    step_kg: int
    # Weeks of the season in which a window may start.
    first_week: int
    last_week: int
    weight: float


PROFILES: tuple[ProductProfile, ...] = (
    ProductProfile(
        product=Product.apple,
        word="Apple",
        word_zh="苹果",
        farm_gate_yuan=5_300,
        varieties=(
            ("Red Fuji 红富士", 0.65, 1.0),
            ("Huashuo 华硕", 0.15, 0.95),
            ("Gala 嘎啦", 0.1, 0.9),
            ("Ruiyang 瑞阳", 0.1, 1.1),
        ),
        brands=("昭阳红", "红云", None, None),
        median_kg=40_000,
        sigma=0.8,
        min_kg=2_000,
        max_kg=600_000,
        step_kg=100,
        first_week=0,
        last_week=26,
        weight=0.40,
    ),
    ProductProfile(
        product=Product.vegetable,
        word="Vegetable",
        word_zh="蔬菜",
        farm_gate_yuan=1_750,
        varieties=(
            ("carrot 胡萝卜", 0.35, 0.85),
            ("Chinese cabbage 大白菜", 0.2, 0.75),
            ("tomato 番茄", 0.2, 1.15),
            ("sweet pepper 甜椒", 0.15, 1.25),
            ("radish 白萝卜", 0.1, 0.7),
        ),
        brands=("高原红", None, None),
        median_kg=25_000,
        sigma=0.8,
        min_kg=1_000,
        max_kg=400_000,
        step_kg=100,
        first_week=0,
        last_week=28,
        weight=0.22,
    ),
    ProductProfile(
        product=Product.potato,
        word="Potato",
        word_zh="马铃薯",
        farm_gate_yuan=1_050,
        varieties=(
            ("Qingshu No. 9 青薯9号", 0.5, 1.0),
            ("Hezuo 88 合作88", 0.3, 1.1),
            ("Hui-2 会-2", 0.2, 0.85),
        ),
        brands=("高原红", None),
        median_kg=30_000,
        sigma=0.8,
        min_kg=2_000,
        max_kg=500_000,
        step_kg=100,
        first_week=0,
        last_week=20,
        weight=0.16,
    ),
    ProductProfile(
        product=Product.egg,
        word="Egg",
        word_zh="鸡蛋",
        farm_gate_yuan=7_400,
        varieties=(("free-range 土鸡蛋", 0.4, 1.1), ("layer 蛋鸡蛋", 0.6, 0.95)),
        brands=("昭福", None),
        median_kg=8_000,
        sigma=0.7,
        min_kg=500,
        max_kg=120_000,
        step_kg=10,
        first_week=0,
        last_week=28,
        weight=0.12,
    ),
    ProductProfile(
        product=Product.sichuan_pepper,
        word="Sichuan Pepper",
        word_zh="花椒",
        farm_gate_yuan=60_000,
        varieties=(("Dahongpao red 大红袍", 0.7, 1.05), ("green 青花椒", 0.3, 0.9)),
        brands=("红云", None, None),
        median_kg=1_500,
        sigma=0.8,
        min_kg=50,
        max_kg=30_000,
        step_kg=10,
        first_week=0,
        last_week=24,
        weight=0.10,
    ),
)
PROFILE = {profile.product: profile for profile in PROFILES}
PRODUCT_WEIGHTS = [profile.weight for profile in PROFILES]

GRADE_FACTOR = {Grade.premium: 1.15, Grade.first: 1.0, Grade.second: 0.82}
OFFER_GRADES = ((Grade.premium, Grade.first, Grade.second), (0.2, 0.5, 0.3))
ORDER_GRADES = ((Grade.premium, Grade.first, Grade.second), (0.15, 0.5, 0.35))
WINDOW_WEEKS = ((1, 2, 3, 4, 5, 6, 7, 8), (0.10, 0.20, 0.20, 0.17, 0.12, 0.09, 0.07, 0.05))
# Asks scatter about the going farm-gate price. Bids scatter, wider, about 8% above the going
# price for the order's minimum grade plus freight from the district seat to the destination:
# about half of the pairs that could trade are worth trading after freight.
ASK_MU, ASK_SIGMA = 0.0, 0.07
BID_MU, BID_SIGMA = 0.08, 0.10
# Buyers ask for a little less than the cooperatives offer.
ORDER_SIZE_FACTOR = 0.9

BUYER_KINDS = (
    ("Fresh Produce Distribution Co.", "鲜农配送有限公司"),
    ("Supermarket Group", "超市集团"),
    ("Canteen Procurement Centre", "食堂采购中心"),
    ("Fruit and Vegetable Wholesale Co.", "果蔬批发有限公司"),
    ("Agri-products Trading Co.", "农产品贸易有限公司"),
)


def generate_book(
    session: Session,
    *,
    size: int,
    random_seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Add `size` open offers and `size` open orders, and the parties they need. The caller commits."""
    if size < 1:
        raise ValueError("size must be at least 1")
    rng = random.Random(random_seed)
    now = utcnow()
    batch = _next_batch(session)

    cooperatives = _cooperative_rows(rng, count=max(20, size // 250), batch=batch, now=now)
    cooperative_ids = _insert_returning_ids(session, Cooperative, [row for row, _ in cooperatives])
    by_product: dict[Product, list[int]] = {product: [] for product in Product}
    for cooperative_id, (_, products) in zip(cooperative_ids, cooperatives, strict=True):
        for product in products:
            by_product[product].append(cooperative_id)

    buyers = _buyer_rows(rng, count=max(10, size // 500), batch=batch, now=now)
    buyer_ids = _insert_returning_ids(session, Buyer, [row for row, _ in buyers])
    buyer_places = [place for _, place in buyers]

    offers = (_offer_row(rng, by_product, now) for _ in range(size))
    for chunk in _chunks(offers, size):
        session.execute(insert(SupplyOffer.__table__), chunk)
        if progress is not None:
            progress(len(chunk))

    orders = (_order_row(rng, buyer_ids, buyer_places, now) for _ in range(size))
    for chunk in _chunks(orders, size):
        session.execute(insert(DemandOrder.__table__), chunk)
        if progress is not None:
            progress(len(chunk))

    append_events(
        session,
        [
            {
                "occurred_at": now,
                "actor": ACTOR,
                "action": ACTION,
                "object_type": SupplyOffer.__tablename__,
                "after": {"offers": size, "orders": size, "random_seed": random_seed},
            }
        ],
    )
    return {"cooperatives": len(cooperative_ids), "buyers": len(buyer_ids), "offers": size, "orders": size}


# --- names ---------------------------------------------------------------------------------


def batch_tag(batch: int, index: int) -> str:
    """What makes a synthetic party's name unique: its batch and its number in the batch."""
    return f"S{batch}-{index:04d}"


def _next_batch(session: Session) -> int:
    """One more than the batches so far, moved on past any name already taken."""
    batch = (
        1
        + session.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == ACTION)).scalar_one()
    )
    while _batch_taken(session, batch):
        batch += 1
    return batch


def _batch_taken(session: Session, batch: int) -> bool:
    pattern = f"% S{batch}-%"
    for model in (Cooperative, Buyer):
        named = or_(model.name.like(pattern), model.name_zh.like(f"%S{batch}-%"))
        taken = select(model.id).where(named).limit(1)
        if session.execute(taken).first() is not None:
            return True
    return False


# --- parties -------------------------------------------------------------------------------


def _cooperative_rows(
    rng: random.Random, *, count: int, batch: int, now: Any
) -> list[tuple[dict[str, Any], tuple[Product, ...]]]:
    rows: list[tuple[dict[str, Any], tuple[Product, ...]]] = []
    for index in range(count):
        township = TOWNSHIPS[index % len(TOWNSHIPS)]
        primary = rng.choice(SPECIALTIES[township.key]) if rng.random() < 0.75 else _pick_product(rng)
        products = (primary,)
        if rng.random() < 0.4:
            secondary = _pick_product(rng)
            if secondary != primary:
                products = (primary, secondary)
        members = max(20, min(3_000, round(rng.lognormvariate(math.log(300), 0.7))))
        poor = round(members * rng.uniform(0.15, 0.55))
        profile = PROFILE[primary]
        tag = batch_tag(batch, index + 1)
        rows.append(
            (
                {
                    "name": f"{township.name} {profile.word} Cooperative {tag}",
                    "name_zh": f"{township.name_zh}{profile.word_zh}专业合作社（模拟{tag}）",
                    "township": township.name,
                    "township_zh": township.name_zh,
                    "county": "Zhaoyang District",
                    "latitude": round(township.latitude + rng.uniform(-0.02, 0.02), 4),
                    "longitude": round(township.longitude + rng.uniform(-0.02, 0.02), 4),
                    "member_households": members,
                    "poor_households": poor,
                    "created_at": now,
                },
                products,
            )
        )
    # Every product has someone to offer it, however small the batch.
    covered = {product for _, products in rows for product in products}
    for position, product in enumerate(product for product in Product if product not in covered):
        row, products = rows[position]
        rows[position] = (row, (*products, product))
    return rows


def _buyer_rows(rng: random.Random, *, count: int, batch: int, now: Any) -> list[tuple[dict[str, Any], Place]]:
    rows: list[tuple[dict[str, Any], Place]] = []
    for index in range(count):
        place = EASTERN_PLACES[index % len(EASTERN_PLACES)]
        kind, kind_zh = rng.choice(BUYER_KINDS)
        town, _, city = place.name.partition(", ")
        tag = batch_tag(batch, index + 1)
        rows.append(
            (
                {
                    "name": f"{town} {kind} {tag}",
                    "name_zh": f"{place.name_zh}{kind_zh}（模拟{tag}）",
                    "city": city or town,
                    "latitude": place.latitude,
                    "longitude": place.longitude,
                    "created_at": now,
                },
                place,
            )
        )
    return rows


def _insert_returning_ids(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    table = model.__table__
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.execute(statement, rows).scalars())


# --- offers and orders ---------------------------------------------------------------------


def _offer_row(rng: random.Random, by_product: dict[Product, list[int]], now: Any) -> dict[str, Any]:
    profile = _pick_profile(rng)
    variety, price_factor = _pick_variety(rng, profile)
    grade = rng.choices(*OFFER_GRADES)[0]
    available_from, available_until = _window(rng, profile)
    ask_yuan = profile.farm_gate_yuan * price_factor * GRADE_FACTOR[grade]
    return {
        "cooperative_id": rng.choice(by_product[profile.product]),
        "reference": None,
        "product": profile.product,
        "variety": variety,
        "grade": grade,
        "brand": rng.choice(profile.brands),
        "quantity_kg": _kilograms(rng, profile, 1.0),
        "contracted_kg": 0,
        "withdrawn_kg": 0,
        "min_price_fen": _price_fen(rng, ask_yuan, ASK_MU, ASK_SIGMA),
        "available_from": available_from,
        "available_until": available_until,
        "status": OfferStatus.open,
        "created_at": now,
        "updated_at": now,
    }


def _order_row(rng: random.Random, buyer_ids: Sequence[int], buyer_places: Sequence[Place], now: Any) -> dict[str, Any]:
    profile = _pick_profile(rng)
    grade = rng.choices(*ORDER_GRADES)[0]
    deliver_from, deliver_until = _window(rng, profile)
    which = rng.randrange(len(buyer_ids))
    # Most deliver to the buyer's own city; some to a branch elsewhere in the east.
    place = buyer_places[which] if rng.random() < 0.8 else rng.choice(EASTERN_PLACES)
    # Delivered: the going farm-gate price for the grade, and the freight to get it here.
    bid_yuan = profile.farm_gate_yuan * GRADE_FACTOR[grade] + _freight_from_seat(profile.product, place.key) / 100
    return {
        "buyer_id": buyer_ids[which],
        "agreement_id": None,
        "reference": None,
        "product": profile.product,
        "min_grade": grade,
        "quantity_kg": _kilograms(rng, profile, ORDER_SIZE_FACTOR),
        "contracted_kg": 0,
        "cancelled_kg": 0,
        "max_price_fen": _price_fen(rng, bid_yuan, BID_MU, BID_SIGMA),
        "deliver_from": deliver_from,
        "deliver_until": deliver_until,
        "destination": place.name,
        "destination_zh": place.name_zh,
        "destination_latitude": place.latitude,
        "destination_longitude": place.longitude,
        "status": OrderStatus.open,
        "created_at": now,
        "updated_at": now,
    }


def _pick_profile(rng: random.Random) -> ProductProfile:
    return rng.choices(PROFILES, weights=PRODUCT_WEIGHTS)[0]


def _pick_product(rng: random.Random) -> Product:
    return _pick_profile(rng).product


def _pick_variety(rng: random.Random, profile: ProductProfile) -> tuple[str, float]:
    variety, _, factor = rng.choices(profile.varieties, weights=[v[1] for v in profile.varieties])[0]
    return variety, factor


@cache
def _freight_from_seat(product: Product, destination: str) -> int:
    """Fen per tonne from the district seat to a destination: what a buyer allows for freight."""
    place = DESTINATIONS[destination]
    seat = (DISTRICT_SEAT.latitude, DISTRICT_SEAT.longitude)
    return freight_fen_per_tonne(product.value, seat, (place.latitude, place.longitude))


def _price_fen(rng: random.Random, yuan: float, mu: float, sigma: float) -> int:
    """Fen per tonne, to the nearest 10 yuan, never below 10 yuan."""
    tens_of_yuan = max(1, round(yuan * rng.lognormvariate(mu, sigma) / 10))
    return tens_of_yuan * 10 * 100


def _kilograms(rng: random.Random, profile: ProductProfile, factor: float) -> int:
    kg = rng.lognormvariate(math.log(profile.median_kg * factor), profile.sigma)
    steps = round(kg / profile.step_kg)
    return min(profile.max_kg, max(profile.min_kg, steps * profile.step_kg))


def _window(rng: random.Random, profile: ProductProfile) -> tuple[date, date]:
    """From a Monday, for one to eight whole weeks (to a Sunday)."""
    start = SEASON_START + timedelta(weeks=rng.randint(profile.first_week, profile.last_week))
    weeks = rng.choices(*WINDOW_WEEKS)[0]
    return start, start + timedelta(days=7 * weeks - 1)


def _chunks(rows: Iterator[dict[str, Any]], total: int) -> Iterator[list[dict[str, Any]]]:
    remaining = total
    while remaining > 0:
        size = min(CHUNK_SIZE, remaining)
        yield [next(rows) for _ in range(size)]
        remaining -= size
