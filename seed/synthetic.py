"""A synthetic order book for load tests and demos at scale: `market seed --synthetic N`.

`generate_book` adds N offers and N orders, with the cooperatives and buyers they need.
The rows look like the 2020 season: cooperatives spread over Zhaoyang's twenty townships,
buyers over the eastern destinations of `market.places`, five products at their own
prices and lot sizes, weekly delivery windows, and bids spread around asks so that a good
share of offer-order pairs can trade and the rest cannot.

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
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlmodel import Session

from market.models import AuditEvent, Buyer, Cooperative, DemandOrder, SupplyOffer
from market.models.common import Grade, OfferStatus, OrderStatus, Product, utcnow
from market.places import DESTINATIONS, Place

CHUNK_SIZE = 5_000
ACTION = "seed.synthetic"
ACTOR = "system:seed"

# The season the 2020 scenario covers: weekly windows start on Mondays from here.
SEASON_START = date(2020, 9, 7)  # a Monday
SEASON_WEEKS = 30  # to the start of April 2021


@dataclass(frozen=True)
class Township:
    name: str
    name_zh: str
    latitude: float
    longitude: float
    # What its cooperatives mostly produce: high plateau potatoes, valley pepper, apples around the basin.
    specialties: tuple[Product, ...]


A, V, E, P, S = Product.apple, Product.vegetable, Product.egg, Product.potato, Product.sichuan_pepper

# Zhaoyang District's twenty townships and subdistricts, at approximate centres.
TOWNSHIPS: tuple[Township, ...] = (
    Township("Fenghuang", "凤凰街道", 27.335, 103.717, (V, E)),
    Township("Longquan", "龙泉街道", 27.320, 103.700, (V, E)),
    Township("Taiping", "太平街道", 27.375, 103.695, (A, V)),
    Township("Shouwang", "守望乡", 27.310, 103.640, (A, V, E)),
    Township("Jiupu", "旧圃镇", 27.285, 103.780, (V, A)),
    Township("Yongfeng", "永丰镇", 27.345, 103.780, (A, V)),
    Township("Beizha", "北闸镇", 27.420, 103.705, (A,)),
    Township("Sayu", "洒渔镇", 27.433, 103.600, (A,)),
    Township("Leju", "乐居镇", 27.490, 103.560, (A, P)),
    Township("Sujiayuan", "苏家院镇", 27.255, 103.805, (A, V)),
    Township("Xiaolongdong", "小龙洞乡", 27.215, 103.840, (P, E)),
    Township("Buga", "布嘎乡", 27.255, 103.650, (P, V)),
    Township("Dashanbao", "大山包镇", 27.395, 103.340, (P,)),
    Township("Tianba", "田坝乡", 27.455, 103.470, (P, S)),
    Township("Yanshan", "炎山镇", 27.575, 103.460, (S,)),
    Township("Dazhaizi", "大寨子乡", 27.560, 103.590, (S, P)),
    Township("Qinggangling", "青岗岭乡", 27.610, 103.680, (S, E)),
    Township("Panhe", "盘河镇", 27.560, 103.760, (S, E)),
    Township("Jing'an", "靖安镇", 27.480, 103.800, (V, A)),
    Township("Sujia", "苏甲乡", 27.530, 103.850, (E, P)),
)

# Kunming is in Yunnan itself; the east-west trade goes to the others.
EASTERN_PLACES: tuple[Place, ...] = tuple(place for key, place in DESTINATIONS.items() if key != "kunming")


@dataclass(frozen=True)
class ProductProfile:
    product: Product
    word: str
    word_zh: str
    # Yuan per tonne for a first-grade lot of an average variety.
    base_yuan: int
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
        base_yuan=7_000,
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
        base_yuan=3_000,
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
        base_yuan=2_000,
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
        base_yuan=9_300,
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
        base_yuan=72_000,
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
# Asks scatter about the going price; bids sit a little above it, with a wider scatter.
ASK_MU, ASK_SIGMA = 0.0, 0.07
BID_MU, BID_SIGMA = 0.04, 0.10
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

    session.execute(
        insert(AuditEvent.__table__),
        [
            {
                "occurred_at": now,
                "account_id": None,
                "actor": ACTOR,
                "action": ACTION,
                "object_type": SupplyOffer.__tablename__,
                "object_id": None,
                "before": None,
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
        primary = rng.choice(township.specialties) if rng.random() < 0.75 else _pick_product(rng)
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
    ask_yuan = profile.base_yuan * price_factor * GRADE_FACTOR[grade]
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
    return {
        "buyer_id": buyer_ids[which],
        "agreement_id": None,
        "reference": None,
        "product": profile.product,
        "min_grade": grade,
        "quantity_kg": _kilograms(rng, profile, ORDER_SIZE_FACTOR),
        "contracted_kg": 0,
        "cancelled_kg": 0,
        "max_price_fen": _price_fen(rng, profile.base_yuan * GRADE_FACTOR[grade], BID_MU, BID_SIGMA),
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
