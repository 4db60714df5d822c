"""The bulk-write, API and report benchmarks run, check what they wrote, and print their target lines.

Tiny sizes, as subprocesses the way a reader runs them. Nothing here asserts a time: the
figures are the benchmarks' to print (bench/README.md), the tests only that they are produced.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import median, number, table, target
from tests.conftest import POSTGRES_URL, require_service

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    from bench.common import postgres_reachable

    reachable, reason = postgres_reachable(POSTGRES_URL)
    if not reachable:
        require_service("PostgreSQL", reason)
    env = os.environ | {"MARKET_BENCH_POSTGRES_URL": POSTGRES_URL, "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
    assert process.returncode == 0, out + err
    _no_scratch_databases_left(process.pid)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _no_scratch_databases_left(pid: int) -> None:
    """The benchmark dropped every scratch database it made (named market_bench_<what>_<pid>_<n>)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        names = [row[0] for row in connection.execute("SELECT datname FROM pg_database")]
    left = [name for name in names if re.fullmatch(rf"market_bench_\w+_{pid}_\d+", name)]
    assert not left, left


@pytest.mark.postgres
def test_the_import_benchmark_runs_and_prints_its_target_line():
    result = _run(
        "bench.import_", "--rows", "60", "--repeat", "1", "--batches", "1", "--batch-size", "20", "--singles", "2",
        "--clients", "2",
    )  # fmt: skip
    out = result.stdout
    assert "wrote 30 offers and 30 orders as CSV" in out
    assert re.search(r"^CSV\s+1\s", out, re.M) and re.search(r"^XLSX\s+1\s", out, re.M)
    assert "POST /orders/batch (20 items)" in out and "POST /offers/batch (20 items)" in out
    # Under market serve: two clients, a request each, every item stored (the benchmark checks).
    assert re.search(r"^POST /orders/batch \(20 items\)\s+2\s+[\d,]+$", out, re.M), out
    for kind in ("orders", "offers"):
        assert re.search(rf"^POST /{kind}/batch, 2 clients: [\d,]+ items/s, target ≥ 20,000 items/s", out, re.M)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"import: [\d,]+ rows/s, target ≥ 20,000 rows/s, ratio \d+\.\d\d", last), last


@pytest.mark.postgres
@pytest.mark.parametrize("generator", ["python", "wrk"])
def test_the_api_benchmark_runs_and_prints_its_target_line(generator):
    if generator == "wrk" and shutil.which("wrk") is None:
        require_service("wrk", "not installed (apt-get install wrk; .ci/run installs it)")
    result = _run(
        "bench.api", "--seconds", "1", "--rounds", "1", "--concurrency", "2", "--generator", generator,
        "--seal-every", "0.5", timeout=180,
    )  # fmt: skip
    out = result.stdout
    assert f"load generator: {generator}" in out
    for scenario in ("GET /api/v1/me", "POST /api/v1/orders", "POST /api/v1/orders + Idempotency-Key"):
        assert re.search(rf"^{re.escape(scenario)}\s+[\d,.]+\s", out, re.M), scenario
    assert "audit chain intact" in out
    sealer = re.search(
        r"^sealer, every 0\.5 s during each scenario and between them: ([\d,]+) events in (\d+) turns", out, re.M
    )
    assert sealer and int(sealer[2]) >= 1, out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"orders: [\d,]+% of the trivial GET's requests/s, target ≥ 50%, ratio \d+\.\d\d", last), last


def test_the_shared_helpers_print_what_their_docstring_says(capsys):
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert number(23456.7) == "23,457" and number(23456.7, 1) == "23,456.7"
    assert target("import", 23_456, 20_000, "rows/s") == "import: 23,456 rows/s, target ≥ 20,000 rows/s, ratio 1.17"
    assert (
        target("orders", 62, 50, "% of the trivial GET's requests/s")
        == "orders: 62% of the trivial GET's requests/s, target ≥ 50%, ratio 1.24"
    )
    assert target("match", 4.0, 5.0, "s", places=1, lower_is_better=True) == "match: 4.0 s, target ≤ 5.0 s, ratio 1.25"
    text = table(["name", "rows/s"], [["CSV", 23456.0], ["XLSX", 12.5]])
    assert text.splitlines() == ["name  rows/s", "----  ------", "CSV   23,456", "XLSX   12.50"]
    assert capsys.readouterr().out.splitlines()[-1] == "XLSX   12.50"


@pytest.mark.postgres
def test_the_reports_benchmark_checks_the_service_against_hand_sql_and_prints_its_target_lines():
    result = _run("bench.reports", "--contracts", "2000", "--repeat", "1")
    out = result.stdout
    assert re.search(r"^loaded in [\d.]+ s: 20 cooperative, 10 buyer, .*, 2,000 contract, [\d,]+ delivery$", out, re.M)
    assert "EXPLAIN (ANALYZE, BUFFERS) of the service's statements" in out
    assert re.search(r"^ +[\d,]+ ms, [\d,]+ MB read.*: Seq Scan on contract \([\d,]+ rows\)", out, re.M)
    groupings = ("product", "cooperative", "buyer", "agreement", "township", "month")
    figures = r"\s+[\d,]+\s+[\d,.]+\s+[\d,.]+\s+[\d,.]+\s+[\d.]+$"  # rows, three medians in ms, the ratio
    for name in [*(f"summary by {group_by}" for group_by in groupings), "poverty"]:
        for period in ("all time", "2021-10..2021-12"):
            assert re.search(rf"^{name}\s+{re.escape(period)}{figures}", out, re.M), (name, period)
        line = rf"reports {name}: \d+\.\d\d × hand SQL, target ≤ 1\.50 × hand SQL, ratio \d+\.\d\d"
        assert re.search(rf"^{line}$", out, re.M), name
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"reports: \d+\.\d\d × hand SQL, target ≤ 1\.50 × hand SQL, ratio \d+\.\d\d", last), last
