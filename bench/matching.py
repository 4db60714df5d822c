"""The matching core at market scale: `python -m bench.matching [--sizes 10000,50000] [--repeat 3]`.

A size N means N offers and N orders, split evenly over three products (apples, vegetables,
potatoes), with Zhaoyang's 20 townships as origins, 19 eastern destinations, three grades and
weekly windows (bench/books.py). Measured side by side in one run:

- the optimiser as the service runs it: each product's hub network solved exactly by LEMON's
  network simplex and split into contracts, the three products in parallel processes;
- the same hub networks solved by OR-Tools (the solver comparison behind the choice);
- the anchor: the same books as an explicit list of eligible pairs, solved by OR-Tools (at
  the largest size once only: it needs several GB and minutes);
- first come, first served on the same books, for the share of the optimum's gains it reaches.

Objectives must be equal; the run stops with an error if they are not.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from bench.books import synthetic_book
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
        list(pool.map(_peak_mb_after_fork, range(processes)))  # start the processes before the clock
        started = time.perf_counter()
        results = list(pool.map(_solve_product, PRODUCTS))
        wall = time.perf_counter() - started
        peaks = list(pool.map(_peak_mb_after_fork, range(processes)))
    return wall, sum(peaks), {product: gains for product, _, gains, _, _ in results}


def _peak_mb_after_fork(_: int) -> float:
    time.sleep(0.05)  # let every pool process take one
    return _peak_mb()


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
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--anchor-up-to", type=int, default=50_000, help="largest size to solve as a pair list")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"matching core: {args.processes} processes, medians of {args.repeat} runs, products {', '.join(PRODUCTS)}")
    print(f"{'size':>8} {'method':<44} {'seconds':>9} {'peak MB':>9} {'gains (yuan)':>16}")
    finals = []
    for size in sizes:
        for product in PRODUCTS:
            _BOOKS[product] = synthetic_book(product, size // len(PRODUCTS), size // len(PRODUCTS))
        runs = [optimiser(args.processes) for _ in range(args.repeat)]
        wall = statistics.median(run[0] for run in runs)
        memory = max(run[1] for run in runs)
        gains = runs[0][2]
        total = sum(gains.values())
        print(
            f"{size:>8} {'optimiser: hub network, network simplex, parallel':<44} {wall:>9.2f} {memory:>9.0f} "
            f"{total / 100_000:>16,.2f}"
        )
        for solver in (NETWORK_SIMPLEX, ORTOOLS):
            measured = [hub_with(solver) for _ in range(args.repeat)]
            seconds = statistics.median(m[0] for m in measured)
            _check(gains, measured[0][1], f"hub network with {solver}")
            print(
                f"{size:>8} {f'hub network, one process, {solver}':<44} {seconds:>9.2f} {'':>9} "
                f"{sum(measured[0][1].values()) / 100_000:>16,.2f}"
            )
        baseline = sum(first_come_first_served(_BOOKS[product]).gains for product in PRODUCTS)
        print(
            f"{size:>8} {'first come, first served':<44} {'':>9} {'':>9} {baseline / 100_000:>16,.2f}"
            f"   ({baseline / total:.1%} of the optimum)"
        )
        if size <= args.anchor_up_to:
            repeat = args.repeat if size < args.anchor_up_to else 1
            measured = [anchor() for _ in range(repeat)]
            seconds = statistics.median(m[0] for m in measured)
            _check(gains, measured[0][2], "explicit pair list")
            print(
                f"{size:>8} {f'anchor: {measured[0][3]:,} pairs, OR-Tools':<44} {seconds:>9.2f} "
                f"{max(m[1] for m in measured):>9.0f} {sum(measured[0][2].values()) / 100_000:>16,.2f}"
            )
            finals.append(
                f"speed-up over the explicit pair list at {size:,}: {seconds / wall:.1f}x"
                f" (target at 50,000: >= {TARGET_SPEEDUP:.0f}x)"
            )
        if size == max(sizes):
            finals.append(
                f"core {size:,} x {size:,}: {wall:.2f} s, target <= {TARGET_SECONDS:.0f} s,"
                f" ratio {wall / TARGET_SECONDS:.2f}"
            )
            finals.append(
                f"core {size:,} x {size:,} memory: {memory:.0f} MB, target <= {TARGET_MB} MB,"
                f" ratio {memory / TARGET_MB:.2f}"
            )
    print()
    for line in finals:
        print(line)
    return 0


def _check(expected: dict[str, int], got: dict[str, int], what: str) -> None:
    if expected != got:
        print(f"objectives differ for {what}: {got} != {expected}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    raise SystemExit(main())
