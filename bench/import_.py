"""Bulk writes: `python -m bench.import_ [--rows N] [--repeat K] [--batches B]`.

Measured side by side in one run, on PostgreSQL scratch databases (MARKET_BENCH_POSTGRES_URL,
default the test server's), each dropped afterwards:

- `market import` (in process, through the click command) of N realistic rows, half offers and
  half orders in the vocabulary of `seed/synthetic.py` (Zhaoyang's townships and products, lot
  sizes, prices and weekly windows; parties named by name, Chinese name or id; some orders
  called off against agreements), once as CSV (one table with a 类型 Kind column, with a BOM)
  and once as XLSX (an Offers and an Orders sheet), each run into a fresh copy of one
  migrated database holding the parties; K runs of each, interleaved; medians.
- The batch endpoints over the Flask test client: B batches of 1,000 orders and of 1,000 offers
  (POST /api/v1/orders/batch, /offers/batch), beside single creates (POST /api/v1/orders) as
  the baseline; medians per request and items per second.
- The same endpoints under `market serve` (gunicorn, as production runs it) on loopback, C clients
  each posting B batches at once, K rounds of each kind taking turns: the items per second the API
  takes in (median).

Ends with one line per batch endpoint under `market serve` ("POST /orders/batch, 4 clients: X items/s,
target ≥ 20,000 items/s, ratio R"), the same for XLSX ("import xlsx: ..."), whose ceiling is the
workbook reader, calamine (printed as "XLSX read alone"), and last "import: X rows/s, target ≥ 20,000
rows/s, ratio R", X the CSV median. Every run is checked: the rows and audit events it should have
written are there.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import (
    database_name,
    machine_load,
    median,
    postgres_reachable,
    scratch_database,
    table,
    target,
)

TARGET_ROWS_PER_SECOND = 20_000

CSV_COLUMNS_FIELDS = (
    "kind",
    "cooperative",
    "buyer",
    "reference",
    "product",
    "variety",
    "grade",
    "min_grade",
    "tonnes",
    "min_price_per_tonne",
    "max_price_per_tonne",
    "available_from",
    "available_until",
    "brand",
    "deliver_from",
    "deliver_until",
    "destination",
    "agreement",
)
AGREEMENT_TONNES = 1_000_000
AGREEMENT_PRICE_FEN = 300_000  # below every apple bid, so call-offs pass the price check


# --- the book to import ---------------------------------------------------------------------


def make_parties(url: str, rows: int, seed: int = 2020) -> dict[str, Any]:
    """Cooperatives, buyers and apple agreements, as synthetic.py sizes them; returns how rows may name them."""
    from sqlalchemy import insert

    from market.config import load_settings
    from market.db import make_engine, session_scope
    from market.models import Buyer, Cooperative, PurchaseAgreement
    from market.models.common import Product, utcnow
    from seed.synthetic import EASTERN_PLACES, PROFILE, SPECIALTIES, TOWNSHIPS

    rng = random.Random(seed)
    now = utcnow()
    cooperatives, buyers = [], []
    for index in range(max(20, rows // 250)):
        township = TOWNSHIPS[index % len(TOWNSHIPS)]
        product = rng.choice(SPECIALTIES[township.key])
        profile = PROFILE[product]
        cooperatives.append(
            {
                "name": f"{township.name} {profile.word} Cooperative B{index + 1:04d}",
                "name_zh": f"{township.name_zh}{profile.word_zh}专业合作社（测{index + 1:04d}）",
                "township": township.name,
                "township_zh": township.name_zh,
                "county": "Zhaoyang District",
                "latitude": township.latitude,
                "longitude": township.longitude,
                "member_households": 300,
                "poor_households": 100,
                "created_at": now,
            }
        )
    for index in range(max(10, rows // 500)):
        place = EASTERN_PLACES[index % len(EASTERN_PLACES)]
        town, _, city = place.name.partition(", ")
        buyers.append(
            {
                "name": f"{town} Fresh Produce Co. B{index + 1:04d}",
                "name_zh": f"{place.name_zh}鲜农配送有限公司（测{index + 1:04d}）",
                "city": city or town,
                "latitude": place.latitude,
                "longitude": place.longitude,
                "created_at": now,
            }
        )
    engine = make_engine(load_settings(database_url=url, log_level="WARNING"))
    with session_scope(engine) as session:
        for model, party_rows in ((Cooperative, cooperatives), (Buyer, buyers)):
            table_ = model.__table__
            ids = session.execute(insert(table_).returning(table_.c.id, sort_by_parameter_order=True), party_rows)
            for row, new_id in zip(party_rows, ids.scalars(), strict=True):
                row["id"] = new_id
        agreements = [
            {
                "reference": f"AGR-B{index + 1:04d}",
                "buyer_id": buyer["id"],
                "cooperative_id": cooperatives[index % len(cooperatives)]["id"],
                "product": Product.apple,
                "quantity_kg": AGREEMENT_TONNES * 1000,
                "price_fen": AGREEMENT_PRICE_FEN,
                "valid_from": date(2020, 9, 1),
                "valid_until": date(2021, 6, 30),
                "created_at": now,
                "updated_at": now,
            }
            for index, buyer in enumerate(buyers)
        ]
        session.execute(insert(PurchaseAgreement.__table__), agreements)
    engine.dispose()
    return {"cooperatives": cooperatives, "buyers": buyers}


def _name(rng: random.Random, party: dict[str, Any]) -> str | int:
    """As a clerk writes a party: mostly its name, sometimes its Chinese name or its id."""
    draw = rng.random()
    return party["name"] if draw < 0.7 else party["name_zh"] if draw < 0.9 else party["id"]


def make_rows(parties: dict[str, Any], rows: int, seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """rows // 2 offers and the rest orders, as field -> value (Decimals, dates), in synthetic.py's vocabulary."""
    from market.models.common import Product
    from seed.synthetic import (
        ASK_MU,
        ASK_SIGMA,
        BID_MU,
        BID_SIGMA,
        EASTERN_PLACES,
        GRADE_FACTOR,
        OFFER_GRADES,
        ORDER_GRADES,
        ORDER_SIZE_FACTOR,
        PRODUCT_WEIGHTS,
        PROFILES,
        SEASON_START,
        WINDOW_WEEKS,
    )

    rng = random.Random(seed)
    chinese = {"apple": "苹果", "vegetable": "蔬菜", "egg": "鸡蛋", "sichuan_pepper": "花椒", "potato": "马铃薯"}

    def kilograms(profile: Any, factor: float) -> int:
        kg = rng.lognormvariate(math.log(profile.median_kg * factor), profile.sigma)
        return min(profile.max_kg, max(profile.min_kg, round(kg / profile.step_kg) * profile.step_kg))

    def yuan(centre: float, mu: float, sigma: float) -> Decimal:
        return Decimal(max(1, round(centre * rng.lognormvariate(mu, sigma) / 10)) * 10).quantize(Decimal("0.01"))

    def window(profile: Any) -> tuple[date, date]:
        start = SEASON_START + timedelta(weeks=rng.randint(profile.first_week, profile.last_week))
        return start, start + timedelta(days=7 * rng.choices(*WINDOW_WEEKS)[0] - 1)

    def product_word(profile: Any) -> str:
        return chinese[profile.product.value] if rng.random() < 0.2 else profile.product.value

    offers, orders = [], []
    for index in range(rows // 2):
        profile = rng.choices(PROFILES, weights=PRODUCT_WEIGHTS)[0]
        variety, _, factor = rng.choices(profile.varieties, weights=[v[1] for v in profile.varieties])[0]
        grade = rng.choices(*OFFER_GRADES)[0]
        start, end = window(profile)
        offers.append(
            {
                "kind": "offer",
                "cooperative": _name(rng, rng.choice(parties["cooperatives"])),
                "reference": f"L{index + 1:07d}" if rng.random() < 0.6 else None,
                "product": product_word(profile),
                "variety": variety,
                "grade": grade.value,
                "tonnes": Decimal(kilograms(profile, 1.0)) / 1000,
                "min_price_per_tonne": yuan(profile.farm_gate_yuan * factor * GRADE_FACTOR[grade], ASK_MU, ASK_SIGMA),
                "available_from": start,
                "available_until": end,
                "brand": rng.choice(profile.brands),
            }
        )
    for index in range(rows - rows // 2):
        profile = rng.choices(PROFILES, weights=PRODUCT_WEIGHTS)[0]
        grade = rng.choices(*ORDER_GRADES)[0]
        start, end = window(profile)
        buyer = rng.choice(parties["buyers"])
        place = rng.choice(EASTERN_PLACES) if rng.random() < 0.4 else None
        called_off = profile.product == Product.apple and rng.random() < 0.1
        orders.append(
            {
                "kind": "order",
                "buyer": _name(rng, buyer),
                "reference": f"PO{index + 1:07d}" if rng.random() < 0.6 else None,
                "product": product_word(profile),
                "min_grade": grade.value,
                "tonnes": Decimal(kilograms(profile, ORDER_SIZE_FACTOR)) / 1000,
                # Delivered: the going farm-gate price and about 600 yuan of freight.
                "max_price_per_tonne": yuan(profile.farm_gate_yuan * GRADE_FACTOR[grade] + 600, BID_MU, BID_SIGMA),
                "deliver_from": start,
                "deliver_until": end,
                "destination": None if place is None else place.key,
                "agreement": f"AGR-B{parties['buyers'].index(buyer) + 1:04d}" if called_off else None,
            }
        )
    return offers, orders


def write_files(directory: Path, offers: list[dict[str, Any]], orders: list[dict[str, Any]]) -> dict[str, Path]:
    """The same rows as a CSV (one table, a Kind column, with a BOM) and an XLSX (an Offers and an Orders sheet)."""
    from market.imports import BY_FIELD, OFFER_COLUMNS, ORDER_COLUMNS, write_csv, write_xlsx

    csv_columns = tuple(BY_FIELD[name] for name in CSV_COLUMNS_FIELDS)
    csv_path, xlsx_path = directory / "book.csv", directory / "book.xlsx"
    write_csv(csv_path, csv_columns, [[row.get(c.field) for c in csv_columns] for row in offers + orders])
    write_xlsx(
        xlsx_path,
        {
            "供货 Offers": (OFFER_COLUMNS, [[row.get(c.field) for c in OFFER_COLUMNS] for row in offers]),
            "采购 Orders": (ORDER_COLUMNS, [[row.get(c.field) for c in ORDER_COLUMNS] for row in orders]),
        },
    )
    return {"csv": csv_path, "xlsx": xlsx_path}


# --- runs -----------------------------------------------------------------------------------


def import_once(path: Path, template: str, expected: dict[str, int]) -> float:
    """`market import PATH` into a fresh copy of the template; seconds, after checking what it wrote."""
    from click.testing import CliRunner
    from sqlalchemy import func, select

    from market.cli import main
    from market.config import load_settings
    from market.db import make_engine, session_scope
    from market.models import AuditEvent, DemandOrder, SupplyOffer

    with scratch_database("market_bench_import", template=template) as url:
        environment = {"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "REDIS_URL": ""}
        started = time.perf_counter()
        result = CliRunner().invoke(main, ["import", str(path)], env=environment, catch_exceptions=False)
        seconds = time.perf_counter() - started
        if result.exit_code != 0:
            raise SystemExit(f"market import {path.name} failed ({result.exit_code}):\n{result.output}{result.stderr}")
        engine = make_engine(load_settings(database_url=url))
        with session_scope(engine) as session:
            found = {
                "offers": session.execute(select(func.count()).select_from(SupplyOffer)).scalar_one(),
                "orders": session.execute(select(func.count()).select_from(DemandOrder)).scalar_one(),
                "events": session.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
            }
        engine.dispose()
        if found != expected:
            raise SystemExit(f"market import {path.name} wrote {found}, expected {expected}")
    return seconds


def read_xlsx_alone(path: Path) -> float:
    """Seconds calamine (as market import reads a workbook) takes to hand over every row: the XLSX ceiling."""
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    book = CalamineWorkbook.from_path(str(path))
    for name in book.sheet_names:
        for _ in book.get_sheet_by_name(name).iter_rows():
            pass
    book.close()
    return time.perf_counter() - started


OFFER = {
    "product": "apple",
    "variety": "Red Fuji 红富士",
    "grade": "first",
    "tonnes": "40.2",
    "min_price_per_tonne": "5300.00",
    "available_from": "2020-09-14",
    "available_until": "2020-11-08",
    "brand": "昭阳红",
}


def _accounts(url: str) -> dict[str, str]:
    """A buyer's and a cooperative clerk's tokens, for the first buyer and cooperative of the database."""
    from sqlalchemy import select

    from market.config import load_settings
    from market.db import make_engine, session_scope
    from market.models import Buyer, Cooperative
    from market.models.account import AccountCreate
    from market.models.common import Role
    from market.services.accounts import create_account
    from market.services.actors import Actor

    engine = make_engine(load_settings(database_url=url, log_level="WARNING"))
    with session_scope(engine) as session:
        system = Actor.system("bench")
        buyer_id = session.execute(select(Buyer.id).order_by(Buyer.id).limit(1)).scalar_one()
        cooperative_id = session.execute(select(Cooperative.id).order_by(Cooperative.id).limit(1)).scalar_one()
        _, buyer_token = create_account(
            session, actor=system, data=AccountCreate(role=Role.buyer, name="bench buyer", buyer_id=buyer_id)
        )
        _, coop_token = create_account(
            session,
            actor=system,
            data=AccountCreate(role=Role.cooperative, name="bench clerk", cooperative_id=cooperative_id),
        )
    engine.dispose()
    return {"orders": buyer_token, "offers": coop_token}


def _batch_kinds() -> tuple[tuple[str, str, dict[str, Any]], ...]:
    from bench.api import ORDER as order  # the order bench.api posts

    return (("orders", "/api/v1/orders/batch", order), ("offers", "/api/v1/offers/batch", OFFER))


def batch_endpoints(template: str, *, batches: int, batch_size: int, singles: int) -> list[list[Any]]:
    """Per-request seconds for batches of orders and of offers and for single orders, over the test client."""
    from bench.api import ORDER as order  # the order bench.api posts
    from market.app import create_app
    from market.config import load_settings

    with scratch_database("market_bench_batch", template=template) as url:
        tokens = _accounts(url)
        settings = load_settings(database_url=url, redis_url="", secret_key="bench", rate_limit="", log_level="WARNING")
        app = create_app(settings)
        client = app.test_client()
        times: dict[str, list[float]] = {"orders": [], "offers": [], "single": []}
        sequence = 0
        for _ in range(batches):  # interleaved, so each kind sees the same machine
            for kind, path, body in _batch_kinds():
                items = []
                for _ in range(batch_size):
                    sequence += 1
                    items.append(body | {"reference": f"B{sequence:08d}"})
                headers = {"Authorization": f"Bearer {tokens[kind]}"}
                started = time.perf_counter()
                response = client.post(path, json={"items": items}, headers=headers)
                times[kind].append(time.perf_counter() - started)
                if response.status_code != 201 or response.json["count"] != batch_size:
                    raise SystemExit(f"POST {path}: {response.status_code} {response.get_data(as_text=True)[:500]}")
            for _ in range(max(1, singles // batches)):
                sequence += 1
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/orders",
                    json=order | {"reference": f"S{sequence:08d}"},
                    headers={"Authorization": f"Bearer {tokens['orders']}"},
                )
                times["single"].append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise SystemExit(f"POST /api/v1/orders: {response.status_code} {response.get_data(as_text=True)}")
        app.extensions["market.engine"].dispose()
    single = median(times["single"])
    rows = [
        [f"POST /orders/batch ({batch_size} items)", len(times["orders"]), median(times["orders"]) * 1000,
         batch_size / median(times["orders"]), batch_size / median(times["orders"]) * single],
        [f"POST /offers/batch ({batch_size} items)", len(times["offers"]), median(times["offers"]) * 1000,
         batch_size / median(times["offers"]), batch_size / median(times["offers"]) * single],
        ["POST /orders (one item)", len(times["single"]), single * 1000, 1 / single, 1.0],
    ]  # fmt: skip
    return rows


def batch_endpoints_served(
    template: str, *, clients: int, batches: int, batch_size: int, rounds: int = 3
) -> dict[str, float]:
    """Items per second the API takes in when `clients` post batches at once: `market serve` (gunicorn, as in
    production) on loopback, each client posting `batches` batches one after another; the median of
    `rounds`, orders and offers taking turns. Bodies are made before the clock; every answer must be a
    201, and the rows are counted in the database after."""
    import json
    from concurrent.futures import ThreadPoolExecutor
    from http.client import HTTPConnection

    from sqlalchemy import func, select

    from bench.api import Server, _free_port
    from market.config import load_settings
    from market.db import make_engine, session_scope
    from market.models import DemandOrder, SupplyOffer

    rates: dict[str, list[float]] = {"orders": [], "offers": []}
    with scratch_database("market_bench_served", template=template) as url, tempfile.TemporaryDirectory() as folder:
        tokens = _accounts(url)
        server = Server(url, _free_port(), Path(folder) / "serve.log")
        try:
            server.wait_ready()
            host, port = server.base.removeprefix("http://").split(":")
            for (kind, path, body), turn in itertools.product(_batch_kinds(), range(rounds)):
                headers = {"Authorization": f"Bearer {tokens[kind]}", "Content-Type": "application/json"}
                bodies = [
                    [
                        json.dumps(
                            {"items": [body | {"reference": f"{kind}-{turn}-{c}-{b}-{n}"} for n in range(batch_size)]}
                        ).encode()
                        for b in range(batches)
                    ]
                    for c in range(clients)
                ]

                def post_all(mine: list[bytes], path: str = path, headers: dict[str, str] = headers) -> list[int]:
                    connection = HTTPConnection(host, int(port), timeout=120)
                    statuses = []
                    for payload in mine:
                        connection.request("POST", path, body=payload, headers=headers)
                        answer = connection.getresponse()
                        answer.read()
                        statuses.append(answer.status)
                    connection.close()
                    return statuses

                with ThreadPoolExecutor(max_workers=clients) as pool:
                    started = time.perf_counter()
                    statuses = [status for result in pool.map(post_all, bodies) for status in result]
                    seconds = time.perf_counter() - started
                if set(statuses) != {201}:
                    answered = sorted(set(statuses))
                    raise SystemExit(f"POST {path} under load answered {answered}: {server.log.read_text()}")
                rates[kind].append(clients * batches * batch_size / seconds)
        finally:
            server.stop()
        engine = make_engine(load_settings(database_url=url))
        with session_scope(engine) as session:
            for kind, model in (("orders", DemandOrder), ("offers", SupplyOffer)):
                stored = session.execute(
                    select(func.count()).select_from(model).where(model.reference.like(f"{kind}-%"))
                ).scalar_one()
                if stored != (sent := rounds * clients * batches * batch_size):
                    raise SystemExit(f"{stored} {kind} stored after the load, {sent} sent")
        engine.dispose()
    return {kind: median(measured) for kind, measured in rates.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows per file, half offers, half orders")
    parser.add_argument("--repeat", type=int, default=3, help="imports of each format")
    parser.add_argument("--batches", type=int, default=5, help="batch requests of each kind")
    parser.add_argument("--batch-size", type=int, default=1000, help="items per batch request (at most 1,000)")
    parser.add_argument("--singles", type=int, default=200, help="single POST /api/v1/orders as the baseline")
    parser.add_argument("--clients", type=int, default=4, help="clients posting batches at once to market serve")
    args = parser.parse_args(argv)
    if args.rows < 2 or args.repeat < 1 or args.batches < 1 or not 1 <= args.batch_size <= 1000 or args.clients < 1:
        parser.error("--rows ≥ 2, --repeat ≥ 1, --batches ≥ 1, 1 ≤ --batch-size ≤ 1000, --clients ≥ 1")
    reachable, reason = postgres_reachable()
    if not reachable:
        print(f"PostgreSQL is not reachable ({reason}); set MARKET_BENCH_POSTGRES_URL", file=sys.stderr)
        return 2

    print(f"bench.import_: {args.rows:,} rows per file, {args.repeat} runs per format; {machine_load()}", flush=True)
    with scratch_database("market_bench_import_template") as template_url, tempfile.TemporaryDirectory() as folder:
        parties = make_parties(template_url, args.rows)
        template = database_name(template_url)
        offers, orders = make_rows(parties, args.rows)
        started = time.perf_counter()
        files = write_files(Path(folder), offers, orders)
        print(
            f"wrote {len(offers):,} offers and {len(orders):,} orders as CSV ({files['csv'].stat().st_size:,} bytes)"
            f" and XLSX ({files['xlsx'].stat().st_size:,} bytes) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        call_offs = sum(1 for row in orders if row["agreement"] is not None)
        expected = {"offers": len(offers), "orders": len(orders), "events": args.rows + call_offs}
        seconds: dict[str, list[float]] = {"csv": [], "xlsx": []}
        reading: list[float] = []
        for run in range(args.repeat):
            for fmt in ("csv", "xlsx"):
                seconds[fmt].append(import_once(files[fmt], template, expected))
                print(f"  run {run + 1} {fmt}: {args.rows / seconds[fmt][-1]:,.0f} rows/s", flush=True)
            reading.append(read_xlsx_alone(files["xlsx"]))
        print()
        table(
            ["market import", "runs", "median s", "rows/s (median)", "best rows/s"],
            [
                *(
                    [fmt.upper(), len(runs), median(runs), args.rows / median(runs), args.rows / min(runs)]
                    for fmt, runs in seconds.items()
                ),
                ["(XLSX read alone by calamine)", len(reading), median(reading), args.rows / median(reading),
                 args.rows / min(reading)],
            ],
        )  # fmt: skip
        print()
        table(
            ["batch endpoint (Flask test client)", "requests", "median ms", "items/s", "× single creates"],
            batch_endpoints(template, batches=args.batches, batch_size=args.batch_size, singles=args.singles),
        )
        served = batch_endpoints_served(
            template, clients=args.clients, batches=args.batches, batch_size=args.batch_size, rounds=args.repeat
        )
        print()
        table(
            [f"batch endpoint (market serve, {args.clients} clients at once)", "requests", "items/s (median)"],
            [[f"POST /{kind}/batch ({args.batch_size} items)", args.clients * args.batches * args.repeat, rate]
             for kind, rate in served.items()],
        )  # fmt: skip
    print()
    print(f"measured under {machine_load()}", flush=True)
    # XLSX first, then the figure the target is judged on: CSV, the format whose cost is all ours
    # (XLSX is bounded by the workbook reader, the "read alone" row above).
    for kind, rate in served.items():
        target(f"POST /{kind}/batch, {args.clients} clients", rate, TARGET_ROWS_PER_SECOND, "items/s")
    target("import xlsx", args.rows / median(seconds["xlsx"]), TARGET_ROWS_PER_SECOND, "rows/s")
    target("import", args.rows / median(seconds["csv"]), TARGET_ROWS_PER_SECOND, "rows/s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.exit(main())
