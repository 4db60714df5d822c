"""The matching and scale-out benchmarks run at a tiny size and print their tables and target lines.

As subprocesses, the way a reader runs them. No time is asserted: only that each measures what
it says and ends with its lines in the shared format (bench/common.py).
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal

import pytest

from market.broker import broker_reachable
from tests.bench.test_smoke import _run
from tests.conftest import require_service

TARGET_LINE = r"{what}: [\d,.]+ .+, target [≤≥] [\d,.]+ .+, ratio \d+\.\d\d"


@pytest.mark.postgres
def test_the_matching_benchmark_compares_the_optimiser_the_anchor_and_the_service_on_one_book():
    out = _run("bench.matching", "--sizes", "300", "--repeat", "1", "--end-to-end", "300").stdout
    gains = {}
    for method, row in re.findall(r"^\s*300\s+(optimiser|anchor)(.*)$", out, re.M):
        # The row's largest figure is its gains from trade (the others are seconds and megabytes).
        figures = [Decimal(figure.replace(",", "")) for figure in re.findall(r"\d[\d,]*\.\d\d(?!\d)", row)]
        gains[method] = max(figures)
    # The benchmark itself refuses to go on when the objectives differ; here: both were printed, equal.
    assert set(gains) == {"optimiser", "anchor"} and gains["optimiser"] == gains["anchor"], out
    assert "first come, first served" in out and "% of optimum" in out
    lines = out.strip().splitlines()
    for what in ("core 300 x 300", "core 300 x 300 peak memory", "speed-up over the explicit pair list at 300"):
        assert any(re.fullmatch(TARGET_LINE.format(what=re.escape(what)), line) for line in lines), (what, out)
    assert any(re.fullmatch(TARGET_LINE.format(what=r"end to end 300 x 300 on PostgreSQL"), ln) for ln in lines), out
    # The run's events were sealed after it (the benchmark verifies the chain, or stops).
    sealed = re.search(r"after it: seal its ([\d,]+) audit events", out)
    assert sealed and int(sealed[1].replace(",", "")) > 0, out
    assert re.fullmatch(TARGET_LINE.format(what="seeding 300"), lines[-1]), lines[-1]
    # The run's CPU time: the cores' busy and idle seconds add up to the run's wall time on every core.
    cpu = re.search(r"^the run's CPU time: ([\d.]+) of ([\d.]+) CPU-s busy .*?, ([\d.]+) idle; ", out, re.M)
    if sys.platform == "linux":
        assert cpu, out
        busy, available, idle = (float(figure) for figure in cpu.groups())
        assert abs(busy + idle - available) <= 0.1 + 0.1 * available, cpu[0]


@pytest.mark.postgres
def test_the_scaleout_benchmark_runs_one_worker_then_three_through_redis():
    from bench.scaleout import REDIS_URL

    reachable, reason = broker_reachable(REDIS_URL)
    if not reachable:
        require_service("Redis", f"{REDIS_URL}: {reason}")
    out = _run("bench.scaleout", "--size", "300", "--repeat", "1", timeout=240).stdout
    assert re.search(r"^\s+1\s+\d+\.\d\d$", out, re.M) and re.search(r"^\s+3\s+\d+\.\d\d$", out, re.M), out
    assert re.search(r"^scale-out: 3 worker processes [\d.]+ s per run, 1: [\d.]+ s; ratio \d+\.\d\d", out, re.M), out
