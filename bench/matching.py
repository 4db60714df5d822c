"""The matching core at market scale: `python -m bench.matching [--sizes 10000,50000] [--repeat 3]`.

A size N means N offers and N orders, split evenly over three products (apples, vegetables,
potatoes), with Zhaoyang's 20 townships as origins, 19 eastern destinations, three grades and
weekly windows (bench/books.py). Measured side by side in one run:

- the optimiser as the service runs it: each product's hub network solved exactly by LEMON's
  network simplex and split into contracts, the three products at once in a process each (as a
  run's one task per product runs on Celery workers), on however many cores the machine has;
- the same hub networks solved by OR-Tools (the solver comparison behind the choice);
- the anchor: the same books as an explicit list of eligible pairs, solved by OR-Tools (at
  the largest size once only: it needs several GB and minutes);
- first come, first served on the same books, for the share of the optimum's gains it reaches.

Objectives must be equal; the run stops with an error if they are not.

Then the end-to-end run on PostgreSQL (bench/end_to_end.py), --repeat times, each on a freshly
seeded book with its own core measurement beside it: the target line is the median ratio, and
the tables show the run that gave it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from bench.books import synthetic_book
from bench.common import machine_load, median, on_every_process, table, target
from bench.end_to_end import breakdown_rows, cpu_line, measure
from market.matching import Book, first_come_first_served, match
from market.matching.network import hub_network, pair_network
from market.matching.solver import NETWORK_SIMPLEX, ORTOOLS, solve

PRODUCTS = ("apple", "vegetable", "potato")
TARGET_SECONDS = 5.0
TARGET_MB = 1024
TARGET_SPEEDUP = 20.0

# Books are made before the pool forks, so the solving processes inherit them instead of unpickling them.
_BOOKS: dict[str, Book] = {}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _solve_product(product: str) -> tuple[str, int, int, float, float]:
    """In a pool process: the optimiser on one product; (product, kg, gains, seconds, peak MB)."""
    started = time.perf_counter()
    allocation = match(_BOOKS[product])
    return product, allocation.kg, allocation.gains, time.perf_counter() - started, _peak_mb()


def optimiser(processes: int) -> tuple[float, float, dict[str, int]]:
    """Wall time for all products, the pool's summed peak memory, and each product's gains."""
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("fork")) as pool:
        on_every_process(pool, processes)  # start the processes before the clock
        started = time.perf_counter()
        results = list(pool.map(_solve_product, PRODUCTS))
        wall = time.perf_counter() - started
        peaks = on_every_process(pool, processes, _peak_mb)
    return wall, sum(peaks), {product: gains for product, _, gains, _, _ in results}


def hub_with(solver: str) -> tuple[float, dict[str, int]]:
    """Sequential: each product's hub network, built and solved by `solver` (no decomposition)."""
    seconds, objectives = 0.0, {}
    for product in PRODUCTS:
        book = _BOOKS[product]
        offers, orders = sorted(book.offers, key=lambda o: o.id), sorted(book.orders, key=lambda o: o.id)
        started = time.perf_counter()
        network = hub_network(offers, [offer.kg for offer in offers], orders, book.freight)
        flows, _ = solve(network, solver=solver)
        seconds += time.perf_counter() - started
        objectives[product] = -int((flows * network.costs_array()).sum())
    return seconds, objectives


def anchor() -> tuple[float, float, dict[str, int], int]:
    """Sequential: each product as an explicit pair list solved by OR-Tools; seconds, peak MB, gains, pairs."""
    seconds, objectives, pairs = 0.0, {}, 0
    for product in PRODUCTS:
        book = _BOOKS[product]
        offers, orders = sorted(book.offers, key=lambda o: o.id), sorted(book.orders, key=lambda o: o.id)
        started = time.perf_counter()
        network = pair_network(offers, [offer.kg for offer in offers], orders, book.freight)
        flows, _ = solve(network, solver=ORTOOLS)
        seconds += time.perf_counter() - started
        objectives[product] = -int((flows * network.costs_array()).sum())
        pairs += len(network.tails) - len(offers) - len(orders) - 1
        del network, flows
    return seconds, _peak_mb(), objectives, pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="offers (= orders) per book, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (medians are printed)")
    # One process per product, as a match run's one task per product runs on workers whose concurrency
    # covers the products: the solves share the cores instead of queueing in rounds.
    parser.add_argument("--processes", type=int, default=len(PRODUCTS), help="solving processes (on any cores)")
    parser.add_argument("--anchor-up-to", type=int, default=50_000, help="largest size to solve as a pair list")
    parser.add_argument("--end-to-end", type=int, default=50_000, help="size of the PostgreSQL run (0: skip)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]

    print(
        f"matching core: {args.processes} processes, medians of {args.repeat} runs, products"
        f" {', '.join(PRODUCTS)}; {machine_load()}"
    )
    rows, finals = [], []
    for size in sizes:
        for product in PRODUCTS:
            _BOOKS[product] = synthetic_book(product, size // len(PRODUCTS), size // len(PRODUCTS))
        runs = [optimiser(args.processes) for _ in range(args.repeat)]
        wall = median([run[0] for run in runs])
        memory = max(run[1] for run in runs)
        gains = runs[0][2]
        total = sum(gains.values())
        rows.append([size, "optimiser: hub network, network simplex, parallel", wall, round(memory), _yuan(total), ""])
        for solver in (NETWORK_SIMPLEX, ORTOOLS):
            measured = [hub_with(solver) for _ in range(args.repeat)]
            _check(gains, measured[0][1], f"hub network with {solver}")
            rows.append(
                [size, f"hub network, one process, {solver}", median([m[0] for m in measured]), "", _yuan(total), ""]
            )
        baseline = sum(first_come_first_served(_BOOKS[product]).gains for product in PRODUCTS)
        rows.append([size, "first come, first served", "", "", _yuan(baseline), f"{baseline / total:.1%} of optimum"])
        if size <= args.anchor_up_to:
            measured = [anchor() for _ in range(args.repeat if size < args.anchor_up_to else 1)]
            _check(gains, measured[0][2], "explicit pair list")
            seconds = median([m[0] for m in measured])
            rows.append(
                [
                    size,
                    f"anchor: {measured[0][3]:,} pairs, {ORTOOLS}",
                    seconds,
                    round(max(m[1] for m in measured)),
                    _yuan(total),
                    f"{seconds / wall:.1f}x the optimiser",
                ]
            )
            if size == max(sizes):
                finals.append(
                    ("speed-up over the explicit pair list at " + f"{size:,}", seconds / wall, TARGET_SPEEDUP, "x")
                )
        if size == max(sizes):
            core_wall, core_memory, core_size = wall, memory, size
    table(["size", "method", "seconds", "peak MB", "gains (yuan)", ""], rows)

    end_to_end = None
    if args.end_to_end:
        # Each run seeds a fresh database and measures the core and the whole run side by side on it.
        print()
        measured_runs = []
        for run in range(args.repeat):
            measured_runs.append(measure(args.end_to_end, args.processes))
            last = measured_runs[-1]
            print(
                f"  end-to-end run {run + 1}: core {last.core_seconds:.2f} s,"
                f" whole run {last.end_to_end_seconds:.2f} s, {last.end_to_end_seconds / last.core_seconds:.2f}x",
                flush=True,
            )
        measured_runs.sort(key=lambda run: run.end_to_end_seconds / run.core_seconds)
        end_to_end = measured_runs[len(measured_runs) // 2]  # the run of the median ratio
        seeding = median([run.seed_seconds for run in measured_runs])
        print(
            f"end to end on PostgreSQL, {args.end_to_end:,} x {args.end_to_end:,} seeded with"
            f" `market seed --synthetic` (five products), {end_to_end.contracts:,} contracts,"
            f" {end_to_end.tonnes} t; the run of the median ratio of {len(measured_runs)}:"
        )
        table(
            ["step", "seconds"],
            [
                ["seed the book", end_to_end.seed_seconds],
                ["load every open book (three queries each)", end_to_end.load_seconds],
                ["core: match() on the loaded books, parallel", end_to_end.core_seconds],
                ["whole run: lock, load, solve, baseline, reasons, write, report", end_to_end.end_to_end_seconds],
                [
                    f"after it: seal its {end_to_end.sealed_events:,} audit events (beat's next turns)",
                    end_to_end.seal_seconds,
                ],
            ],
        )
        print()
        print("where that run's time goes, in seconds per phase:")
        table(*breakdown_rows(end_to_end))
        print(cpu_line(end_to_end))
    print()
    target(f"core {core_size:,} x {core_size:,}", core_wall, TARGET_SECONDS, "s", places=2, lower_is_better=True)
    target(f"core {core_size:,} x {core_size:,} peak memory", core_memory, TARGET_MB, "MB", lower_is_better=True)
    for name, figure, goal, unit in finals:
        target(name, figure, goal, unit, places=1)
    if end_to_end is not None:
        target(
            f"end to end {args.end_to_end:,} x {args.end_to_end:,} on PostgreSQL",
            end_to_end.end_to_end_seconds / end_to_end.core_seconds,
            2.0,
            "x the core",
            places=2,
            lower_is_better=True,
        )
        target(f"seeding {args.end_to_end:,}", seeding, 30.0, "s", places=1, lower_is_better=True)
    return 0


def _yuan(gains: int) -> str:
    return f"{gains / 100_000:,.2f}"  # kg x fen-per-tonne summed: /1000 for fen, /100 for yuan


def _check(expected: dict[str, int], got: dict[str, int], what: str) -> None:
    if expected != got:
        print(f"objectives differ for {what}: {got} != {expected}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    raise SystemExit(main())
