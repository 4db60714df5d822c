"""Reports at scale: `python -m bench.reports [--contracts N] [--repeat K]`.

On a PostgreSQL scratch database (MARKET_BENCH_POSTGRES_URL, default the test server's; dropped
afterwards) it loads N contracts and about as many deliveries, with the offers, orders,
cooperatives, buyers, agreements and match runs behind them, by generate_series SQL in the
vocabulary of `seed/synthetic.py`: Zhaoyang's twenty townships and their specialties, five
products at their own lot sizes and prices, weekly windows over three seasons (about thirty
months), contracts in every status (most fulfilled, some closed short, proposed or cancelled),
one load per contract under 20 t and two above, every fifth load with a little rejected.

Then, side by side in one run (the order rotating every repetition), K times each, medians:

- `market.services.reports.summary(...)` as an admin, for each group_by, over all time and
  over one quarter; and `reports.poverty(...)` likewise;
- the same report over HTTP (`GET /api/v1/reports/summary`, `/poverty`, Flask test client):
  the service plus pydantic and JSON;
- a hand-written SQL statement computing the same figures (one GROUP BY per source, aggregated on
  the narrow key first and named afterwards), the baseline.

Every service answer is checked against the hand-written SQL, row by row (keys, names, the five
figures; the poverty rows), and each HTTP answer's totals against it too: a difference stops the
benchmark. It prints EXPLAIN (ANALYZE, BUFFERS) of the service's statements (plan nodes, the
indexes used, buffers, spills), a table of medians and one line per target:

    reports summary by product: 1.23 × hand SQL, target ≤ 1.50 × hand SQL, ratio 1.22

the figure being the service's median over the hand SQL's median (the worst period), and lastly
"reports: ..." for the worst case of all.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from bench.common import machine_load, median, postgres_reachable, scratch_database, table, target

TARGET_RATIO = 1.5
SEASONS = 3
SEASON_START = date(2020, 9, 7)  # a Monday, as in seed/synthetic.py
# The quarter the period cases report on: the second season's harvest.
QUARTER = (date(2021, 10, 1), date(2021, 12, 31))

# Contract statuses and their shares: most contracts of past seasons are fulfilled.
STATUS_SHARES = (
    ("proposed", 0.02),
    ("cancelled", 0.04),
    ("confirmed", 0.08),
    ("in_delivery", 0.12),
    ("fulfilled", 0.69),
    ("closed_short", 0.05),
)


# --- the dataset ----------------------------------------------------------------------------


def _party_rows(contracts: int) -> dict[str, list[dict[str, Any]]]:
    """Cooperatives (with the products they sell), buyers and apple agreements, sized as synthetic.py does."""
    import random

    from market.models.common import utcnow
    from seed.synthetic import BUYER_KINDS, EASTERN_PLACES, PROFILE, SPECIALTIES, TOWNSHIPS, batch_tag

    rng = random.Random(2020)
    now = utcnow()
    cooperatives, buyers, agreements = [], [], []
    for index in range(max(20, contracts // 500)):
        township = TOWNSHIPS[index % len(TOWNSHIPS)]
        products = SPECIALTIES[township.key]
        primary = products[index // len(TOWNSHIPS) % len(products)]
        members = max(20, min(3_000, round(rng.lognormvariate(math.log(300), 0.7))))
        # A fifth of the cooperatives have no registered poor households left.
        poor = 0 if rng.random() < 0.2 else round(members * rng.uniform(0.15, 0.55))
        tag = batch_tag(1, index + 1)
        cooperatives.append(
            {
                "id": index + 1,
                "name": f"{township.name} {PROFILE[primary].word} Cooperative {tag}",
                "name_zh": f"{township.name_zh}{PROFILE[primary].word_zh}专业合作社（模拟{tag}）",
                "township": township.name,
                "township_zh": township.name_zh,
                "county": "Zhaoyang District",
                "latitude": township.latitude,
                "longitude": township.longitude,
                "member_households": members,
                "poor_households": poor,
                "created_at": now,
                "products": products,
            }
        )
    for index in range(max(10, contracts // 1000)):
        place = EASTERN_PLACES[index % len(EASTERN_PLACES)]
        kind, kind_zh = BUYER_KINDS[index % len(BUYER_KINDS)]
        tag = batch_tag(1, index + 1)
        buyers.append(
            {
                "id": index + 1,
                "name": f"{place.name} {kind} {tag}",
                "name_zh": f"{place.name_zh}{kind_zh}（模拟{tag}）",
                "city": place.name.partition(", ")[2] or place.name,
                "latitude": place.latitude,
                "longitude": place.longitude,
                "created_at": now,
            }
        )
    # Every third apple cooperative has a season-long agreement with one buyer.
    apple_growers = [row for row in cooperatives if "apple" in row["products"]]
    for index, cooperative in enumerate(apple_growers[::3]):
        agreements.append(
            {
                "id": index + 1,
                "reference": f"AGR-{index + 1:05d}",
                "buyer_id": buyers[index * 7 % len(buyers)]["id"],
                "cooperative_id": cooperative["id"],
                "product": "apple",
                "quantity_kg": 3_000_000_000,
                "price_fen": 560_000,
                "valid_from": SEASON_START,
                "valid_until": SEASON_START + timedelta(weeks=52 * SEASONS),
                # Filled in from the contracts once they are loaded.
                "called_off_kg": 0,
                "contracted_kg": 0,
                "delivered_kg": 0,
                "earned_fen": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    return {"cooperatives": cooperatives, "buyers": buyers, "agreements": agreements}


# Lognormal lot sizes (as seed/synthetic.py draws them), from two uniform draws by Box-Muller.
_LOT_KG = """least(p.max_kg, greatest(p.min_kg,
    round(exp(ln(p.median_kg * {factor}) + p.sigma * sqrt(-2 * ln(1 - {u1})) * cos(2 * pi() * {u2}))
          / p.step_kg)::bigint * p.step_kg))"""
_GRADE = "CASE WHEN {u} < 0.2 THEN 'premium' WHEN {u} < 0.7 THEN 'first' ELSE 'second' END"
_GRADE_FACTOR = "CASE WHEN {u} < 0.2 THEN 1.15 WHEN {u} < 0.7 THEN 1.0 ELSE 0.82 END"
# A contract's share of its offer's contracted tonnes: the first of two takes 30% to 70% of them.
_FIRST_PART = "greatest(1, (o.contracted_kg * (0.3 + 0.4 * (d.offer_id::bigint * 104729 % 1000) / 1000.0))::bigint)"
_WINDOW_START = "DATE '{start}' + 7 * (52 * floor({season} * {seasons})::int + p.first_week + floor({week} * (p.last_week - p.first_week + 1))::int)"  # noqa: E501


def _load_sql(offers: int, orders: int, contracts: int) -> list[str]:
    """The statements that fill the tables, in order; the random seed is set by the caller."""
    start = SEASON_START.isoformat()
    first_part = _FIRST_PART
    offer_start = _WINDOW_START.format(start=start, season="d.u_season", seasons=SEASONS, week="d.u_week")
    order_start = offer_start
    status_case = (
        "CASE "
        + " ".join(
            f"WHEN d.u_status < {sum(share for _, share in STATUS_SHARES[: i + 1]):.2f} THEN '{name}'"
            for i, (name, _) in enumerate(STATUS_SHARES[:-1])
        )
        + f" ELSE '{STATUS_SHARES[-1][0]}' END"
    )
    return [
        # Offers: a cooperative that sells the product; 6% partly withdrawn; contracted in part or in full.
        # Numbered by availability, as lots are posted ahead of their season, so the contracts made of
        # them (and the loads shipped on those) come in about the order of their dates, as in real life.
        f"""
        INSERT INTO supply_offer (id, cooperative_id, reference, product, variety, grade, quantity_kg,
            contracted_kg, withdrawn_kg, min_price_fen, available_from, available_until, status,
            created_at, updated_at)
        SELECT row_number() OVER (ORDER BY s.available_from, d.id),
            p.sellers[1 + floor(d.u_seller * cardinality(p.sellers))::int], 'L' || d.id, p.product,
            NULL, {_GRADE.format(u="d.u_grade")}, s.kg,
            ((s.kg - s.withdrawn) * (0.6 + 0.4 * d.u_fill))::bigint, s.withdrawn,
            greatest(1, round(p.farm_gate_yuan * {_GRADE_FACTOR.format(u="d.u_grade")}
                * exp(0.07 * sqrt(-2 * ln(1 - d.u_price1)) * cos(2 * pi() * d.u_price2)) / 10))::bigint * 1000,
            s.available_from, s.available_from + 7 * (1 + floor(d.u_weeks * 8)::int) - 1,
            'matched', now(), now()
        FROM (SELECT g AS id, random() AS u_product, random() AS u_seller, random() AS u_grade,
                     random() AS u_size1, random() AS u_size2, random() AS u_price1, random() AS u_price2,
                     random() AS u_season, random() AS u_week, random() AS u_weeks, random() AS u_withdraw,
                     random() AS u_fill
              FROM generate_series(1, {offers}) AS g) AS d
        JOIN bench_profile AS p ON d.u_product >= p.low AND d.u_product < p.high
        CROSS JOIN LATERAL (
            SELECT {_LOT_KG.format(factor=1.0, u1="d.u_size1", u2="d.u_size2")} AS kg,
                   {offer_start} AS available_from
        ) AS k
        CROSS JOIN LATERAL (
            SELECT k.kg, k.available_from,
                   CASE WHEN d.u_withdraw < 0.06 THEN k.kg * 3 / 10 ELSE 0 END AS withdrawn
        ) AS s
        """,
        # Orders, numbered product by product so that a contract can pick one of its product's.
        f"""
        INSERT INTO demand_order (id, buyer_id, agreement_id, reference, product, min_grade, quantity_kg,
            contracted_kg, cancelled_kg, max_price_fen, deliver_from, deliver_until, destination,
            destination_zh, destination_latitude, destination_longitude, status, created_at, updated_at)
        SELECT row_number() OVER (ORDER BY p.product, d.id), b.id, NULL, 'PO' || d.id, p.product,
            {_GRADE.format(u="d.u_grade")}, {_LOT_KG.format(factor=0.9, u1="d.u_size1", u2="d.u_size2")}, 0, 0,
            greatest(1, round((p.farm_gate_yuan * {_GRADE_FACTOR.format(u="d.u_grade")} + 600)
                * exp(0.08 + 0.10 * sqrt(-2 * ln(1 - d.u_price1)) * cos(2 * pi() * d.u_price2)) / 10))::bigint * 1000,
            {order_start}, {order_start} + 7 * (1 + floor(d.u_weeks * 8)::int) - 1,
            b.city, NULL, b.latitude, b.longitude, 'matched', now(), now()
        FROM (SELECT g AS id, random() AS u_product, random() AS u_buyer, random() AS u_grade,
                     random() AS u_size1, random() AS u_size2, random() AS u_price1, random() AS u_price2,
                     random() AS u_season, random() AS u_week, random() AS u_weeks
              FROM generate_series(1, {orders}) AS g) AS d
        JOIN bench_profile AS p ON d.u_product >= p.low AND d.u_product < p.high
        JOIN buyer AS b ON b.id = 1 + floor(d.u_buyer * (SELECT count(*) FROM buyer))::int
        """,
        """
        CREATE TEMPORARY TABLE bench_order_range AS
        SELECT product, min(id) AS first_id, count(*) AS orders FROM demand_order GROUP BY product
        """,
        # Contracts, two per offer (its contracted tonnes split between two orders of its product),
        # each with its loads planned: under 20 t one load, above two halves.
        f"""
        CREATE TEMPORARY TABLE bench_contract AS
        WITH d AS (
            SELECT g AS id, (g + 1) / 2 AS offer_id, (g + 1) % 2 AS part, random() AS u_status,
                   random() AS u_price, random() AS u_agreement, random() AS u_freight, random() AS u_shift
            FROM generate_series(1, {contracts}) AS g
        ), c AS (
            SELECT d.id, d.offer_id, o.cooperative_id, o.product, o.grade, o.available_from, o.available_until,
                   r.first_id + (d.offer_id::bigint * 7919 % r.orders + d.part) % r.orders AS order_id,
                   CASE WHEN d.part = 0
                        THEN {first_part}
                        ELSE o.contracted_kg
                             - {first_part}
                   END AS kg,
                   round(o.min_price_fen * (1.05 + 0.2 * d.u_price))::bigint AS price,
                   CASE WHEN o.product = 'apple' AND d.u_agreement < 0.4 THEN a.id END AS agreement_id,
                   a.buyer_id AS agreement_buyer_id,
                   40000 + floor(d.u_freight * 40000)::bigint AS freight_per_tonne,
                   o.available_from + floor(d.u_shift * 7)::int AS deliver_from,
                   {status_case} AS status
            FROM d
            JOIN supply_offer AS o ON o.id = d.offer_id
            JOIN bench_order_range AS r ON r.product = o.product
            LEFT JOIN purchase_agreement AS a ON a.cooperative_id = o.cooperative_id AND a.product = o.product
        ), loads AS (
            SELECT c.*, CASE WHEN c.kg < 20000 THEN c.kg ELSE c.kg / 2 END AS load1,
                   CASE WHEN c.kg < 20000 THEN 0 ELSE c.kg - c.kg / 2 END AS load2
            FROM c
        ), shipped AS (
            SELECT l.*,
                   -- every fifth load rejects half a percent at the weighbridge; closed short: a fifth
                   CASE WHEN l.status = 'closed_short' THEN l.load1 - l.load1 / 5
                        WHEN l.status IN ('in_delivery', 'fulfilled') AND (l.id * 2) % 5 = 0
                        THEN l.load1 - l.load1 * 5 / 1000
                        WHEN l.status IN ('in_delivery', 'fulfilled') THEN l.load1 END AS accepted1,
                   CASE WHEN l.status = 'fulfilled' AND l.load2 > 0 AND (l.id * 2 + 1) % 5 = 0
                        THEN l.load2 - l.load2 * 5 / 1000
                        WHEN l.status = 'fulfilled' AND l.load2 > 0 THEN l.load2 END AS accepted2,
                   -- in delivery: the second load (or the only one) may be on the road, not yet accepted
                   l.status = 'in_delivery' AND (l.load2 > 0 OR l.id % 3 = 0) AND l.id % 2 = 0 AS waiting
            FROM loads AS l
        )
        SELECT s.*, o.buyer_id AS order_buyer_id,
               (coalesce(s.accepted1, 0) * s.price + 500) / 1000 AS revenue1,
               ((coalesce(s.accepted1, 0) + coalesce(s.accepted2, 0)) * s.price + 500) / 1000 AS earned
        FROM shipped AS s JOIN demand_order AS o ON o.id = s.order_id
        """,
        """
        INSERT INTO contract (id, match_run_id, offer_id, order_id, agreement_id, cooperative_id, buyer_id,
            product, grade, quantity_kg, price_fen, value_fen, transport_fen, deliver_from, deliver_until,
            shipped_kg, accepted_kg, earned_fen, status, close_reason, created_at, updated_at)
        SELECT c.id, 1 + (c.deliver_from - (SELECT min(deliver_from) FROM bench_contract)) / 7,
            c.offer_id, c.order_id, c.agreement_id, c.cooperative_id,
            coalesce(CASE WHEN c.agreement_id IS NOT NULL THEN c.agreement_buyer_id END, c.order_buyer_id),
            c.product, c.grade, c.kg, c.price, (c.kg * c.price + 500) / 1000, c.kg * c.freight_per_tonne / 1000,
            c.deliver_from, c.available_until,
            CASE WHEN c.accepted1 IS NOT NULL OR c.waiting AND c.load2 = 0 THEN c.load1 ELSE 0 END
              + CASE WHEN c.accepted2 IS NOT NULL OR c.waiting AND c.load2 > 0 THEN c.load2 ELSE 0 END,
            coalesce(c.accepted1, 0) + coalesce(c.accepted2, 0), c.earned, c.status,
            CASE WHEN c.status = 'closed_short' THEN 'hail damaged the rest of the lot' END, now(), now()
        FROM bench_contract AS c
        """,
        # The loads: the first (or only) one shipped two days into the window, the second halfway through.
        """
        INSERT INTO delivery (id, contract_id, shipped_kg, shipped_on, ticket, accepted_kg, rejected_kg,
            reject_reason, revenue_fen, status, created_at, accepted_at)
        SELECT row_number() OVER (ORDER BY l.shipped_on, c.id, l.number), c.id, l.kg, l.shipped_on,
            'WB-' || to_char(l.shipped_on, 'YYYYMMDD') || '-' || c.id || '-' || l.number,
            l.accepted, l.kg - l.accepted,
            CASE WHEN l.accepted < l.kg THEN 'bruised in transit' END,
            l.revenue, CASE WHEN l.accepted IS NULL THEN 'shipped' ELSE 'accepted' END, now(),
            CASE WHEN l.accepted IS NOT NULL THEN now() END
        FROM bench_contract AS c
        CROSS JOIN LATERAL (VALUES
            (1, c.load1, c.deliver_from + 2, c.accepted1, c.revenue1,
             c.accepted1 IS NOT NULL OR c.waiting AND c.load2 = 0),
            (2, c.load2, c.deliver_from + (c.available_until - c.deliver_from) / 2, c.accepted2,
             c.earned - c.revenue1, c.accepted2 IS NOT NULL OR c.waiting AND c.load2 > 0)
        ) AS l(number, kg, shipped_on, accepted, revenue, shipped)
        WHERE l.shipped
        """,
        """
        UPDATE purchase_agreement AS a
        SET called_off_kg = t.contracted, contracted_kg = t.contracted, delivered_kg = t.accepted, earned_fen = t.earned
        FROM (SELECT agreement_id, sum(quantity_kg) AS contracted, sum(accepted_kg) AS accepted,
                     sum(earned_fen) AS earned
              FROM contract WHERE agreement_id IS NOT NULL AND status NOT IN ('proposed', 'cancelled')
              GROUP BY agreement_id) AS t
        WHERE t.agreement_id = a.id
        """,
    ]


def load_dataset(url: str, contracts: int) -> dict[str, int]:
    """Fill a migrated, empty database; returns the row counts. Takes a minute or so at a million contracts."""
    import psycopg
    from psycopg.types.json import Jsonb

    from bench.common import _libpq
    from seed.synthetic import PROFILES

    parties = _party_rows(contracts)
    offers = (contracts + 1) // 2
    orders = offers
    with psycopg.connect(_libpq(url)) as connection:
        # The rows are consistent by construction; skip the per-row foreign key checks of a bulk load.
        connection.execute("SET session_replication_role = replica")
        connection.execute("SET work_mem = '256MB'")
        connection.execute("SELECT setseed(0.2020)")
        with connection.cursor() as cursor:
            for name, rows in (("cooperative", parties["cooperatives"]), ("buyer", parties["buyers"])):
                columns = [key for key in rows[0] if key != "products"]
                with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[key] for key in columns])
            columns = list(parties["agreements"][0])
            with cursor.copy(f"COPY purchase_agreement ({', '.join(columns)}) FROM STDIN") as copy:
                for row in parties["agreements"]:
                    copy.write_row([row[key] for key in columns])
            weeks = 52 * SEASONS + 8
            cursor.execute(
                "INSERT INTO match_run (id, status, product, policy, parameters, attempts, created_at)"
                " SELECT g, 'approved', NULL, 'midpoint', %s, 1, now() FROM generate_series(1, %s) AS g",
                (Jsonb({}), weeks),
            )
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_profile (product text, low float8, high float8, median_kg int,"
                " sigma float8, min_kg int, max_kg int, step_kg int, farm_gate_yuan int, first_week int,"
                " last_week int, sellers int[])"
            )
            low = 0.0
            total = sum(profile.weight for profile in PROFILES)
            for position, profile in enumerate(PROFILES):
                high = 1.0 if position == len(PROFILES) - 1 else low + profile.weight / total
                sellers = [row["id"] for row in parties["cooperatives"] if profile.product in row["products"]]
                cursor.execute(
                    "INSERT INTO bench_profile VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (profile.product.value, low, high, profile.median_kg, profile.sigma, profile.min_kg,
                     profile.max_kg, profile.step_kg, profile.farm_gate_yuan, profile.first_week,
                     profile.last_week, sellers),
                )  # fmt: skip
                low = high
            for statement in _load_sql(offers, orders, contracts):
                started = time.perf_counter()
                cursor.execute(statement)
                if os.environ.get("BENCH_VERBOSE"):
                    print(f"  {time.perf_counter() - started:.1f} s {statement.split()[0:3]}", flush=True)
            for name in ("cooperative", "buyer", "purchase_agreement", "match_run", "supply_offer",
                         "demand_order", "contract", "delivery"):  # fmt: skip
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name}")
        connection.commit()
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        # As autovacuum would leave it: statistics for the planner, a visibility map for index-only scans.
        connection.execute("VACUUM (ANALYZE)")
        counts = {
            name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in (
                "cooperative",
                "buyer",
                "purchase_agreement",
                "supply_offer",
                "demand_order",
                "contract",
                "delivery",
            )  # fmt: skip
        }
    return counts


# --- the service's statements under EXPLAIN -------------------------------------------------


@contextmanager
def captured_statements(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine sends while inside, with its parameters, in order."""
    from sqlalchemy import event

    statements: list[tuple[str, Any]] = []

    def record(_connection, _cursor, statement, parameters, _context, _executemany) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _plan_nodes(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child, depth + 1)


def explain_summary(connection: Any, statement: str, parameters: Any) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement, boiled down: time, buffers, spills, scans, plan shape."""
    (plan,) = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", parameters).scalar()
    root = plan["Plan"]
    scans, shape = [], []
    for depth, node in _plan_nodes(root):
        kind = node["Node Type"]
        if "Strategy" in node and kind == "Aggregate":
            kind = f"{node.get('Partial Mode', '')} {node['Strategy']} Aggregate".replace("Simple ", "").strip()
        if node.get("Join Type") and node["Join Type"] != "Inner":
            kind = f"{kind} ({node['Join Type']})"
        shape.append("  " * depth + kind + (f" on {node['Relation Name']}" if "Relation Name" in node else ""))
        if "Relation Name" not in node and "Index Name" in node:  # a bitmap's index, under its heap scan
            scans.append(f"{node['Node Type']} using {node['Index Name']}")
        if "Relation Name" in node:
            how = node["Node Type"].replace("Parallel ", "")
            index = f" using {node['Index Name']}" if "Index Name" in node else ""
            scans.append(
                f"{how} on {node['Relation Name']}{index} ({node['Actual Rows'] * node['Actual Loops']:,} rows)"
            )
    return {
        "ms": plan["Execution Time"],
        "hit": root.get("Shared Hit Blocks", 0),
        "read": root.get("Shared Read Blocks", 0),
        "temp": root.get("Temp Written Blocks", 0),
        "scans": scans,
        "shape": shape,
    }


# --- the baseline: hand-written SQL -----------------------------------------------------------

COUNTED = "('confirmed', 'in_delivery', 'fulfilled', 'closed_short')"
# Per group_by: what each source is summed by (offers, contracts, deliveries joined to contracts),
# or None where that source has nothing to say.
HAND_KEYS: dict[str, tuple[str | None, str, str]] = {
    "product": ("o.product", "c.product", "c.product"),
    "cooperative": ("o.cooperative_id", "c.cooperative_id", "c.cooperative_id"),
    "township": ("o.cooperative_id", "c.cooperative_id", "c.cooperative_id"),
    "buyer": (None, "c.buyer_id", "c.buyer_id"),
    "agreement": (None, "c.agreement_id", "c.agreement_id"),
    "month": (
        "date_trunc('month', o.available_from::timestamp)",
        "date_trunc('month', c.deliver_from::timestamp)",
        "date_trunc('month', d.shipped_on::timestamp)",
    ),
}
# Per group_by: (key, name, name_zh) of the final rows, and what names them.
HAND_NAMES: dict[str, tuple[str, str]] = {
    "product": ("f.key, NULL, NULL", ""),
    "cooperative": ("f.key::text, p.name, p.name_zh", "JOIN cooperative AS p ON p.id = f.key"),
    "township": ("p.township, p.township, p.township_zh", "JOIN cooperative AS p ON p.id = f.key"),
    "buyer": ("f.key::text, p.name, p.name_zh", "JOIN buyer AS p ON p.id = f.key"),
    "agreement": ("f.key::text, p.reference, NULL", "JOIN purchase_agreement AS p ON p.id = f.key"),
    "month": ("to_char(f.key, 'YYYY-MM'), NULL, NULL", ""),
}


def _period(column: str, period: bool) -> str:
    return f"{column} BETWEEN %(date_from)s AND %(date_to)s" if period else "TRUE"


def hand_summary_sql(group_by: str, *, period: bool) -> str:
    """One statement: each source summed on its narrow key, the three stacked, named at the end."""
    offered_key, contracted_key, delivered_key = HAND_KEYS[group_by]
    agreements_only = "AND c.agreement_id IS NOT NULL" if group_by == "agreement" else ""
    # By month the deliveries need nothing from their contracts (every delivery has one).
    delivered_from = (
        "delivery AS d" if group_by == "month" else "delivery AS d JOIN contract AS c ON c.id = d.contract_id"
    )
    parts = []
    if offered_key is not None:
        parts.append(
            f"SELECT {offered_key}, sum(o.quantity_kg - o.withdrawn_kg), 0, 0, 0, 0 FROM supply_offer AS o"
            f" WHERE {_period('o.available_from', period)} GROUP BY 1"
        )
    parts.append(
        f"SELECT {contracted_key}, 0,"
        " sum(CASE WHEN c.status = 'closed_short' THEN c.accepted_kg ELSE c.quantity_kg END),"
        " sum(CASE WHEN c.status = 'closed_short' THEN c.earned_fen ELSE c.value_fen END), 0, 0"
        f" FROM contract AS c WHERE c.status IN {COUNTED} AND {_period('c.deliver_from', period)} {agreements_only}"
        " GROUP BY 1"
    )
    parts.append(
        f"SELECT {delivered_key}, 0, 0, 0, sum(d.accepted_kg), sum(d.revenue_fen) FROM {delivered_from}"
        f" WHERE d.status = 'accepted' AND {_period('d.shipped_on', period)} {agreements_only} GROUP BY 1"
    )
    stacked = "\nUNION ALL\n".join(parts)
    named, join = HAND_NAMES[group_by]
    return f"""
        SELECT {named}, sum(f.offered_kg), sum(f.contracted_kg), sum(f.delivered_kg), sum(f.contracted_fen),
               sum(f.earned_fen)
        FROM ({stacked}) AS f(key, offered_kg, contracted_kg, contracted_fen, delivered_kg, earned_fen) {join}
        GROUP BY 1, 2, 3
    """


def hand_poverty_sql(*, period: bool) -> str:
    return f"""
        WITH earned AS (
            SELECT c.cooperative_id, sum(d.revenue_fen) AS earned_fen
            FROM delivery AS d JOIN contract AS c ON c.id = d.contract_id
            WHERE d.status = 'accepted' AND {_period("d.shipped_on", period)}
            GROUP BY c.cooperative_id
        )
        SELECT p.township, min(p.township_zh), count(*), sum(p.poor_households), sum(e.earned_fen),
               coalesce(sum(e.earned_fen) FILTER (WHERE p.poor_households > 0), 0)
        FROM earned AS e JOIN cooperative AS p ON p.id = e.cooperative_id
        GROUP BY p.township
        ORDER BY 5 DESC, 1
    """


# --- running the cases ----------------------------------------------------------------------


class Mismatch(SystemExit):
    """The service and the hand-written SQL disagree: the benchmark stops, loudly."""


def _summary_rows(result: Any) -> list[tuple[Any, ...]]:
    return [
        (row.key, row.name, row.name_zh, row.figures.offered_kg, row.figures.contracted_kg, row.figures.delivered_kg,
         row.figures.contracted_fen, row.figures.earned_fen)
        for row in result.rows
    ]  # fmt: skip


def _poverty_rows(towns: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (town.township, town.township_zh, town.cooperatives, town.registered_poor_households, town.earned_fen,
         town.earned_with_poor_fen)
        for town in towns
    ]  # fmt: skip


class Case:
    """One report over one period, three ways: the service, the HTTP endpoint and the hand-written SQL."""

    def __init__(self, report: str, group_by: str | None, period: tuple[date, date] | None) -> None:
        self.report, self.group_by, self.period = report, group_by, period
        self.name = f"summary by {group_by}" if report == "summary" else "poverty"
        self.period_name = "all time" if period is None else f"{period[0]:%Y-%m}..{period[1]:%Y-%m}"
        self.times: dict[str, list[float]] = {"service": [], "http": [], "hand": []}
        self.rows = 0

    @property
    def dates(self) -> dict[str, date | None]:
        return {"date_from": self.period and self.period[0], "date_to": self.period and self.period[1]}

    def service(self, engine: Any) -> list[tuple[Any, ...]]:
        from market.db import session_scope
        from market.services import reports
        from market.services.actors import Actor

        with session_scope(engine) as session:
            office = Actor.system("bench")
            if self.report == "summary":
                result = reports.summary(session, actor=office, group_by=reports.GroupBy(self.group_by), **self.dates)
                return _summary_rows(result)
            towns, _total = reports.poverty(session, actor=office, **self.dates)
            return _poverty_rows(towns)

    def http(self, client: Any, headers: dict[str, str]) -> dict[str, Any]:
        query: dict[str, str] = {} if self.period is None else {"from": str(self.period[0]), "to": str(self.period[1])}
        if self.report == "summary":
            query["group_by"] = str(self.group_by)
        response = client.get(f"/api/v1/reports/{self.report}", query_string=query, headers=headers)
        if response.status_code != 200:
            raise Mismatch(f"GET /api/v1/reports/{self.report} {query}: {response.status_code} {response.text[:500]}")
        return response.get_json()

    def hand(self, engine: Any) -> list[tuple[Any, ...]]:
        period = self.period is not None
        sql = (
            hand_summary_sql(str(self.group_by), period=period)
            if self.report == "summary"
            else hand_poverty_sql(period=period)
        )
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(sql, self.dates if period else {}).all()
        return [tuple(int(value) if not isinstance(value, str | None) else value for value in row) for row in rows]

    def check(self, service: list[tuple[Any, ...]], http: dict[str, Any], hand: list[tuple[Any, ...]]) -> None:
        """The service's rows are the hand SQL's (in its order, for the summary by key); the API's totals too."""
        from market.units import fen_to_yuan, kg_to_tonnes

        if self.report == "summary":
            hand = sorted(hand, key=lambda row: [row[0] for row in service].index(row[0]) if row[0] in
                          {r[0] for r in service} else -1)  # fmt: skip
            totals = [sum(row[column] for row in hand) for column in range(3, 8)]
            expected = dict(zip(
                ("tonnes_offered", "tonnes_contracted", "tonnes_delivered", "revenue_contracted", "revenue_earned"),
                [*(kg_to_tonnes(kg) for kg in totals[:3]), *(fen_to_yuan(fen) for fen in totals[3:])],
                strict=True,
            ))  # fmt: skip
            api_rows = len(http["rows"])
        else:
            expected = {"revenue_earned": fen_to_yuan(sum(row[4] for row in hand))}
            api_rows = len(http["rows"])
        if service != hand:
            differing = [(s, h) for s, h in zip(service, hand, strict=False) if s != h][:3]
            raise Mismatch(
                f"{self.name}, {self.period_name}: the service's {len(service)} rows differ from the hand SQL's"
                f" {len(hand)}; first differences (service, hand): {differing}"
            )
        found = {name: http["totals"][name] for name in expected}
        if found != expected or api_rows != len(hand):
            raise Mismatch(f"{self.name}, {self.period_name}: the API says {found} in {api_rows} rows,"
                           f" the hand SQL {expected} in {len(hand)}")  # fmt: skip
        self.rows = len(hand)


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = function()
    return time.perf_counter() - started, answer


def explain_service(engine: Any, case: Case) -> list[str]:
    """The service's statements for one case under EXPLAIN (ANALYZE, BUFFERS), a line each."""
    with captured_statements(engine) as statements:
        case.service(engine)
    lines = []
    with engine.connect() as connection:
        for statement, parameters in statements:
            summary = explain_summary(connection, statement, parameters)
            spill = f", {summary['temp'] * 8 // 1024:,} MB spilled" if summary["temp"] else ""
            lines.append(
                f"    {summary['ms']:7,.0f} ms, {(summary['hit'] + summary['read']) * 8 // 1024:,} MB read{spill}:"
                f" {'; '.join(summary['scans'])}"
            )
    return lines


def run_cases(url: str, repeat: int) -> list[Case]:
    from sqlalchemy import select

    from market.app import create_app
    from market.config import load_settings
    from market.db import make_engine, session_scope
    from market.models.account import AccountCreate
    from market.models.common import Role
    from market.services.accounts import create_account
    from market.services.actors import Actor
    from market.services.reports import GroupBy

    settings = load_settings(database_url=url, redis_url="", secret_key="bench", rate_limit="", log_level="WARNING")
    engine = make_engine(settings)
    app = create_app(settings)
    with session_scope(engine) as session:
        _account, token = create_account(
            session, actor=Actor.system("bench"), data=AccountCreate(role=Role.admin, name="bench office")
        )
        session.execute(select(1))
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    cases = [
        *(Case("summary", group_by.value, period) for period in (None, QUARTER) for group_by in GroupBy),
        *(Case("poverty", None, period) for period in (None, QUARTER)),
    ]
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the service's statements (offered, contracted, delivered):", flush=True)
    for case in cases:
        # Checked before it is timed: an answer that differs is not worth timing.
        case.check(case.service(engine), case.http(client, headers), case.hand(engine))
        print(f"  {case.name}, {case.period_name} ({case.rows:,} rows):", flush=True)
        for line in explain_service(engine, case):
            print(line, flush=True)
    ways = {
        "service": lambda case: case.service(engine),
        "http": lambda case: case.http(client, headers),
        "hand": lambda case: case.hand(engine),
    }
    order = list(ways)
    for run in range(repeat):
        for case in cases:
            for way in order:
                seconds, _answer = timed(lambda way=way, case=case: ways[way](case))
                case.times[way].append(seconds)
            # The next case starts with the next way: none always runs first (or last) on a warm cache.
            order = order[1:] + order[:1]
        print(f"  run {run + 1} of {repeat} done; {machine_load()}", flush=True)
    engine.dispose()
    app.extensions["market.engine"].dispose()
    return cases


def report(cases: list[Case]) -> None:
    rows = []
    for case in cases:
        service, http, hand = (median(case.times[way]) for way in ("service", "http", "hand"))
        rows.append([case.name, case.period_name, case.rows, service * 1000, http * 1000, hand * 1000,
                     round(service / hand, 2)])  # fmt: skip
    print()
    table(["report", "period", "rows", "service ms", "HTTP ms", "hand SQL ms", "service / hand"], rows)
    print(f"\nmedians of {len(cases[0].times['service'])} runs; measured under {machine_load()}", flush=True)
    worst: dict[str, float] = {}
    for case in cases:
        ratio = median(case.times["service"]) / median(case.times["hand"])
        worst[case.name] = max(worst.get(case.name, 0.0), ratio)
    for name, ratio in worst.items():
        target(f"reports {name}", ratio, TARGET_RATIO, "× hand SQL", places=2, lower_is_better=True)
    name, ratio = max(worst.items(), key=lambda item: item[1])
    print(f"(the slowest against its hand SQL: {name})", flush=True)
    target("reports", ratio, TARGET_RATIO, "× hand SQL", places=2, lower_is_better=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contracts", type=int, default=1_000_000, help="contracts to load (deliveries: about as many)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each report, each way")
    args = parser.parse_args(argv)
    if args.contracts < 1000 or args.repeat < 1:
        parser.error("--contracts ≥ 1000, --repeat ≥ 1")
    reachable, reason = postgres_reachable()
    if not reachable:
        print(f"PostgreSQL is not reachable ({reason}); set MARKET_BENCH_POSTGRES_URL", file=sys.stderr)
        return 2

    print(
        f"bench.reports: {args.contracts:,} contracts, {args.repeat} runs of each report; {machine_load()}", flush=True
    )
    with scratch_database("market_bench_reports") as url:
        seconds, counts = timed(lambda: load_dataset(url, args.contracts))
        print(
            f"loaded in {seconds:.1f} s: " + ", ".join(f"{count:,} {name}" for name, count in counts.items()),
            flush=True,
        )
        cases = run_cases(url, args.repeat)
    report(cases)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.exit(main())
