"""A whole match run on PostgreSQL against the matching core alone, on the same book.

Part of `python -m bench.matching`. On a scratch database it seeds a synthetic book
(`market seed --synthetic N`, timed: that is the seeding target), then, side by side:

- core: each product's open book loaded once, then `match()` on it, the products in
  parallel processes (as the workers run them);
- end to end: a match run over every product as the service does it: begin, then each
  product in its own process and transaction (take the product's lock, load the open book
  in three queries, solve, first come first served for the report, reasons for the unmatched,
  write the proposed contracts, their reservations and audit events in set-based statements),
  then finish (the report, from grouped queries).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from sqlalchemy import func, select

from bench.common import scratch_database
from market.config import load_settings
from market.db import make_engine, session_scope
from market.matching import match
from market.models import Contract
from market.models.common import MatchRunStatus, Product
from market.models.match_run import MatchRunCreate
from market.services import matching
from market.services.actors import Actor
from market.services.book import load_book
from seed.synthetic import generate_book

OFFICE = Actor.system("bench")
_URL = ""  # the scratch database, set before the pool forks


@dataclass
class Measured:
    seed_seconds: float
    load_seconds: float
    core_seconds: float
    end_to_end_seconds: float
    contracts: int
    tonnes: str


def _core(product: Product) -> float:
    engine = make_engine(load_settings(database_url=_URL, redis_url=""))
    with session_scope(engine) as session:
        book = load_book(session, product)
    engine.dispose()
    started = time.perf_counter()
    match(book)
    return time.perf_counter() - started


def _solve(arguments: tuple[int, Product]) -> None:
    run_id, product = arguments
    engine = make_engine(load_settings(database_url=_URL, redis_url=""))
    with session_scope(engine) as session:
        matching.solve_product(session, run_id=run_id, product=product)
    engine.dispose()


def measure(size: int, processes: int, random_seed: int = 7) -> Measured:
    global _URL
    with scratch_database("market_bench_e2e") as url:
        _URL = url
        engine = make_engine(load_settings(database_url=url, redis_url=""))
        started = time.perf_counter()
        with session_scope(engine) as session:
            generate_book(session, size=size, random_seed=random_seed)
        seed_seconds = time.perf_counter() - started

        started = time.perf_counter()
        with session_scope(engine) as session:
            for product in Product:
                load_book(session, product)
        load_seconds = time.perf_counter() - started

        context = get_context("fork")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            started = time.perf_counter()
            list(pool.map(_core, list(Product)))
            core_seconds = time.perf_counter() - started

        with session_scope(engine) as session:
            run_id = matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate()).id
        engine.dispose()  # the pool forks next: it must not share this engine's connections
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            started = time.perf_counter()
            with session_scope(engine) as session:
                products = matching.begin_match_run(session, run_id=run_id)
            list(pool.map(_solve, [(run_id, product) for product in products]))
            with session_scope(engine) as session:
                run = matching.finish_match_run(session, run_id=run_id)
            end_to_end_seconds = time.perf_counter() - started
        if run.status != MatchRunStatus.proposed:
            raise SystemExit(f"the end-to-end run ended {run.status.value}: {run.error}")
        with session_scope(engine) as session:
            contracts = session.execute(select(func.count()).where(Contract.match_run_id == run_id)).scalar_one()
        engine.dispose()
        return Measured(
            seed_seconds=seed_seconds,
            load_seconds=load_seconds,
            core_seconds=core_seconds,
            end_to_end_seconds=end_to_end_seconds,
            contracts=contracts,
            tonnes=run.report["totals"]["tonnes"],
        )
