"""What the benchmarks share: medians, a table, the final target lines, scratch databases, the load.

Every benchmark measures its alternatives side by side in one run (the machine is shared and
its load moves), repeats them, and reports medians. It ends with one line per target, in one
format a reader or a script can pick out:

    import: 23,456 rows/s, target ≥ 20,000 rows/s, ratio 1.17

`target(name, figure, goal, unit)` prints that line (ratio > 1 means the target is met; pass
`lower_is_better=True` for times). `table(headers, rows)` prints aligned columns.
`scratch_database(prefix)` gives a fresh, migrated PostgreSQL database and drops it afterwards.
`machine_load()` says how busy the machine was, for the README's figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from functools import partial
from itertools import count
from typing import Any, TextIO

# The server benchmarks create their scratch databases on (any database of it; trust auth here).
POSTGRES_URL = os.environ.get(
    "MARKET_BENCH_POSTGRES_URL",
    os.environ.get("MARKET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)
_scratch_numbers = count(1)


def _nothing() -> None:
    return None


def _in_one_process(work: Callable[[], Any], _index: int) -> Any:
    time.sleep(0.05)  # long enough that every process of the pool takes one
    return work()


def on_every_process(pool: Executor, processes: int, work: Callable[[], Any] = _nothing) -> list[Any]:
    """`work` once in each of a process pool's processes: starts them all (before a clock starts), or
    reads something of each (its peak memory). `work` must be a module-level function."""
    return list(pool.map(partial(_in_one_process, work), range(processes)))


def median(values: Sequence[float]) -> float:
    """The median of the runs (the middle one, or the mean of the middle two)."""
    if not values:
        raise ValueError("no runs to take the median of")
    return float(statistics.median(values))


def number(value: float, places: int = 0) -> str:
    """Thousands separated: 23456.7 -> "23,457"; places=1 -> "23,456.7"."""
    return f"{value:,.{places}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, stream: TextIO | None = None) -> str:
    """Print (and return) rows under headers: text left-aligned, numbers right-aligned."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return number(value, 0 if abs(value) >= 100 else 2)
        if isinstance(value, int):
            return number(value)
        return str(value)

    cells = [[str(h) for h in headers], *[[cell(v) for v in row] for row in rows]]
    numeric = [all(isinstance(row[i], int | float) for row in rows) if rows else False for i in range(len(headers))]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    text = "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(row) for row in cells[1:])])
    print(text, file=stream or sys.stdout, flush=True)
    return text


def target(
    name: str,
    figure: float,
    goal: float,
    unit: str,
    *,
    places: int = 0,
    lower_is_better: bool = False,
    stream: TextIO | None = None,
) -> str:
    """Print (and return) the final line for one target, e.g.
    "import: 23,456 rows/s, target ≥ 20,000 rows/s, ratio 1.17"; a unit starting with "%"
    is written without a space ("orders: 62% of ..., target ≥ 50%, ratio 1.24").
    The ratio is figure / goal (goal / figure when lower is better): ≥ 1 meets the target."""

    def amount(value: float, text: str) -> str:
        spaced = "" if text.startswith("%") else " "
        return f"{number(value, places)}{spaced}{text}"

    goal_unit = unit.split(" ", 1)[0] if unit.startswith("%") else unit
    ratio = (goal / figure if figure else float("inf")) if lower_is_better else figure / goal
    sign = "≤" if lower_is_better else "≥"
    line = f"{name}: {amount(figure, unit)}, target {sign} {amount(goal, goal_unit)}, ratio {ratio:.2f}"
    print(line, file=stream or sys.stdout, flush=True)
    return line


def machine_load() -> str:
    """ "load average 1.52 1.10 0.95 on 2 CPUs": how busy the machine was while measuring."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return f"load average unknown on {os.cpu_count()} CPUs"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def machine_cpu() -> tuple[float, float] | None:
    """The machine's CPU seconds so far, busy and idle, summed over its cores (Linux, from /proc/stat;
    None elsewhere): two readings' difference says how much of a stretch of wall time the cores worked."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(field) for field in stat.readline().split()[1:]]
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / tick, idle / tick  # the first eight; guest time is counted in user time


# --- PostgreSQL scratch databases ----------------------------------------------------------


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_reachable(url: str = POSTGRES_URL) -> tuple[bool, str]:
    import psycopg

    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            return True, "ok"
    except psycopg.OperationalError as exc:
        return False, str(exc).strip().splitlines()[0]


@contextmanager
def scratch_database(prefix: str, *, template: str | None = None, server_url: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh PostgreSQL database named after `prefix`, this process and a counter, migrated to the
    latest schema (or copied from `template`, a database name, which is faster); yields its
    SQLAlchemy URL and drops it afterwards, whatever happened."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{os.getpid()}_{next(_scratch_numbers)}"
    with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        if template is None:
            from market.migrate import upgrade

            upgrade(url)
        yield url
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)
