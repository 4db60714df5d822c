"""A whole match run on PostgreSQL against the matching core alone, on the same book.

Part of `python -m bench.matching`. On a scratch database it seeds a synthetic book
(`market seed --synthetic N`, timed: that is the seeding target), then, side by side:

- core: each product's open book loaded once, then `match()` on it, the products in
  parallel processes (as the workers run them);
- end to end: a match run over every product as the service does it: begin, then each
  product in its own process (connected before the clock, as a worker keeps its engine between
  tasks; every product but the largest at a lower CPU priority, as `matching.run` sends them) and
  transaction (take the product's lock, load the open book
  in three queries, solve, first come first served for the report, reasons for the unmatched,
  write the proposed contracts, their reservations and audit events in set-based statements),
  then finish (the report, from the parts' sums and the parties' names).

Each product's solve reports the seconds it spent per phase (`matching.PhaseTimes`), so the
printed breakdown shows where the end-to-end time goes beyond the core's.

Where the machine says (Linux), the run's CPU time is read too: how many of the cores' seconds
during the run were busy, how many of those the solving processes spent themselves, and so how
many went elsewhere (PostgreSQL's backends, on a machine that runs the database too).

The run writes its audit events unsealed; beat's next turns chain them, off the run's path.
That seal is timed too, after the run, and printed beside it (not inside the end-to-end time).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bench.common import machine_cpu, on_every_process, scratch_database
from market.config import load_settings
from market.db import make_engine, session_scope
from market.matching import Book, match
from market.models import Contract
from market.models.common import MatchRunStatus, Product
from market.models.match_run import MatchRunCreate
from market.runtime import at_lower_cpu_priority
from market.services import matching
from market.services.actors import Actor
from market.services.audit import seal_all, verify_chain
from market.services.book import load_book
from seed.synthetic import generate_book
from workers.tasks.matching import GIVE_WAY_NICENESS

OFFICE = Actor.system("bench")
_URL = ""  # the scratch database, set before the pool forks
# Each solving process's engine, connected before the clock starts: a worker process keeps its engine
# (workers.tasks.task_engine) and its pooled connection from one task to the next.
_ENGINE: Engine | None = None
# The open books, loaded before the core's pool forks: its wall time is solving alone, as in bench.matching.
_BOOKS: dict[Product, Book] = {}


# The phases of the run outside the products' transactions.
BEGIN, COMMIT, FINISH = "begin the run", "commit the product", "finish: the report"


@dataclass
class RunCpu:
    """CPU seconds during the end-to-end run, summed over the machine's cores."""

    available: float  # the run's wall time on every core
    busy: float
    idle: float
    solving: float  # the solving processes' own, in the products' tasks
    main: float  # this process's, beginning and finishing the run

    @property
    def elsewhere(self) -> float:
        """Busy, but not in the benchmark's processes: the database's backends (and anything else running)."""
        return self.busy - self.solving - self.main


@dataclass
class Measured:
    seed_seconds: float
    load_seconds: float
    core_seconds: float
    end_to_end_seconds: float
    contracts: int
    tonnes: str
    # match() alone, per product, in the core's own measurement.
    core_by_product: dict[Product, float]
    # Seconds per phase per product (begin and finish, which are the run's, under None).
    phases: dict[str, dict[Product | None, float]]
    # Sealing the run's audit events after it, as beat's next turns do.
    sealed_events: int
    seal_seconds: float
    cpu: RunCpu | None  # None where the machine does not say (not Linux)


def _core(product: Product) -> float:
    started = time.perf_counter()
    match(_BOOKS[product])
    return time.perf_counter() - started


def _connect() -> None:
    global _ENGINE
    _ENGINE = make_engine(load_settings(database_url=_URL, redis_url=""))
    with _ENGINE.connect() as connection:
        connection.exec_driver_sql("SELECT 1")


def _disconnect() -> None:
    if _ENGINE is not None:
        _ENGINE.dispose()


def _solve(arguments: tuple[int, Product, bool]) -> tuple[dict[str, float], float]:
    """One product's task (giving way to the run's largest product, or not); its seconds per phase, and
    the CPU seconds this process spent on it."""
    run_id, product, give_way = arguments
    cpu = time.process_time()
    if _ENGINE is None:  # a process the warm-up missed connects now, inside the run, as a worker's first task does
        _connect()
    assert _ENGINE is not None
    engine = _ENGINE
    times = matching.PhaseTimes()

    def solve() -> None:
        with session_scope(engine) as session:
            matching.solve_product(session, run_id=run_id, product=product, times=times)
            committing = time.perf_counter()
        times.seconds[COMMIT] = time.perf_counter() - committing

    at_lower_cpu_priority(solve, GIVE_WAY_NICENESS if give_way else 0)
    return times.seconds, time.process_time() - cpu


def measure(size: int, processes: int, random_seed: int = 7) -> Measured:
    global _URL
    with scratch_database("market_bench_e2e") as url:
        _URL = url
        engine = make_engine(load_settings(database_url=url, redis_url=""))
        started = time.perf_counter()
        with session_scope(engine) as session:
            generate_book(session, size=size, random_seed=random_seed)
        seed_seconds = time.perf_counter() - started
        seal_all(engine)  # the seeding's own events, so that the seal timed below is the run's

        started = time.perf_counter()
        with session_scope(engine) as session:
            for product in Product:
                _BOOKS[product] = load_book(session, product)
        load_seconds = time.perf_counter() - started
        engine.dispose()  # the pool forks next: it must not share this engine's connections

        context = get_context("fork")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            on_every_process(pool, processes)  # the processes exist before the clock starts
            started = time.perf_counter()
            core_by_product = dict(zip(Product, pool.map(_core, list(Product)), strict=True))
            core_seconds = time.perf_counter() - started

        with session_scope(engine) as session:
            run_id = matching.request_match_run(session, actor=OFFICE, data=MatchRunCreate()).id
        engine.dispose()  # the pool forks next: it must not share this engine's connections
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            on_every_process(pool, processes, _connect)  # as workers are: started and connected before the run
            cpu_before, main_cpu = machine_cpu(), time.process_time()
            started = time.perf_counter()
            with session_scope(engine) as session:
                products = matching.begin_match_run(session, run_id=run_id)
            began = time.perf_counter()
            solves = [(run_id, product, position > 0) for position, product in enumerate(products)]
            tasks = dict(zip(products, pool.map(_solve, solves), strict=True))
            finishing = time.perf_counter()
            with session_scope(engine) as session:
                run = matching.finish_match_run(session, run_id=run_id)
            end_to_end_seconds = time.perf_counter() - started
            main_cpu, cpu_after = time.process_time() - main_cpu, machine_cpu()
            on_every_process(pool, processes, _disconnect)
        phases: dict[str, dict[Product | None, float]] = {BEGIN: {None: began - started}}
        for product, (seconds, _) in tasks.items():
            for phase, spent in seconds.items():
                phases.setdefault(phase, {})[product] = spent
        phases[FINISH] = {None: started + end_to_end_seconds - finishing}
        if run.status != MatchRunStatus.proposed:
            raise SystemExit(f"the end-to-end run ended {run.status.value}: {run.error}")
        started = time.perf_counter()
        sealed_events = seal_all(engine)
        seal_seconds = time.perf_counter() - started
        with session_scope(engine) as session:
            contracts = session.execute(select(func.count()).where(Contract.match_run_id == run_id)).scalar_one()
            chain = verify_chain(session)
        engine.dispose()
        if not chain.intact or chain.unsealed:
            raise SystemExit(f"the audit chain after the run: {chain}")
        return Measured(
            seed_seconds=seed_seconds,
            load_seconds=load_seconds,
            core_seconds=core_seconds,
            end_to_end_seconds=end_to_end_seconds,
            contracts=contracts,
            tonnes=run.report["totals"]["tonnes"],
            core_by_product=core_by_product,
            phases=phases,
            sealed_events=sealed_events,
            seal_seconds=seal_seconds,
            cpu=None
            if cpu_before is None or cpu_after is None
            else RunCpu(
                available=end_to_end_seconds * (os.cpu_count() or 1),
                busy=cpu_after[0] - cpu_before[0],
                idle=cpu_after[1] - cpu_before[1],
                solving=sum(cpu for _, cpu in tasks.values()),
                main=main_cpu,
            ),
        )


def cpu_line(measured: Measured) -> str:
    """Where the run's CPU time went, in one line (or why it is not known)."""
    cpu = measured.cpu
    if cpu is None:
        return "the run's CPU time: not known on this machine (it is read from Linux's /proc/stat)"
    return (
        f"the run's CPU time: {cpu.busy:.1f} of {cpu.available:.1f} CPU-s busy ({os.cpu_count()} cores x"
        f" {measured.end_to_end_seconds:.2f} s), {cpu.idle:.1f} idle; the solving processes {cpu.solving:.1f},"
        f" this process {cpu.main:.1f}, elsewhere (PostgreSQL's backends, anything else running)"
        f" {cpu.elsewhere:.1f}"
    )


def breakdown_rows(measured: Measured) -> tuple[list[str], list[list[object]]]:
    """Headers and rows: each phase's seconds per product and summed (products run in parallel, so the
    sum is process time, not wall time), with the core's match() alone beside them."""
    products = list(measured.core_by_product)
    headers = ["phase", "summed", *(product.value for product in products)]
    rows: list[list[object]] = []
    for phase, by_product in measured.phases.items():
        if None in by_product:
            rows.append([phase, by_product[None], *("" for _ in products)])
        else:
            rows.append([phase, sum(by_product.values()), *(by_product.get(product, 0.0) for product in products)])
    solving = [sum(by_product.get(product, 0.0) for by_product in measured.phases.values()) for product in products]
    rows.append(["every phase", sum(sum(by_product.values()) for by_product in measured.phases.values()), *solving])
    core = [measured.core_by_product[product] for product in products]
    rows.append(["core alone: match() on the loaded book", sum(core), *core])
    return headers, rows
