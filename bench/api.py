"""The API under load: `python -m bench.api [--seconds S] [--rounds R] [--concurrency C]`.

Starts `market serve` (gunicorn, 2 workers, its default 4 threads each) on a PostgreSQL scratch
database with RATE_LIMIT="" and, from a load generator on loopback, measures side by side in
one run, each for S seconds at C connections, R rounds interleaved:

- `GET /api/v1/me` as a buyer: authentication and a trivial answer (the ceiling);
- `POST /api/v1/orders`: valid bodies, each with a distinct reference, no Idempotency-Key;
- the same with a distinct Idempotency-Key on every request.

The load generator is `wrk` when it is installed (Debian: `apt-get install wrk`), else a Python
one (processes × threads, keep-alive http.client connections); the output says which. It prints
requests/s and p50/p99 latency (medians over the rounds) and ends with
"orders: X% of the trivial GET's requests/s, target ≥ 50%, ratio R". Every answer must be 200
(GET) or 201 (POST), every order must be in the database and the audit chain intact, or the
run fails.

The requests insert their audit events unsealed; as beat does in production, a sealer in this
process chains them while the load runs, on the same two cores, and the output says how long its
turns took. Each scenario pays for sealing its own events and no other's: the sealer's clock starts
with the scenario and turns every `--seal-every` seconds (1 by default, so that turns fall inside the
scenario that wrote the events; production's AUDIT_SEAL_INTERVAL_SECONDS is 10, and a turn's cost is
mostly per event), and the last second's events are sealed between scenarios, off the clock.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.client import HTTPConnection
from multiprocessing import get_context
from pathlib import Path

from bench.common import machine_load, median, postgres_reachable, scratch_database, table, target

TARGET_PERCENT = 50.0
ORDER = {
    "product": "apple",
    "min_grade": "second",
    "tonnes": "36.5",
    "max_price_per_tonne": "7500.00",
    "deliver_from": "2020-10-05",
    "deliver_until": "2020-11-01",
    "destination": "dongguan-shijie",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    expect: int
    keyed: bool = False


SCENARIOS = (
    Scenario("GET /api/v1/me", "GET", "/api/v1/me", 200),
    Scenario("POST /api/v1/orders", "POST", "/api/v1/orders", 201),
    Scenario("POST /api/v1/orders + Idempotency-Key", "POST", "/api/v1/orders", 201, keyed=True),
)


@dataclass
class Result:
    requests: int  # answered as expected
    errors: int  # anything else: another status, a broken connection, a timeout
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


# --- the server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(url: str) -> str:
    """A buyer and its account in the scratch database; returns the account's token."""
    from market.config import load_settings
    from market.db import make_engine, session_scope
    from market.models import Buyer
    from market.models.account import AccountCreate
    from market.models.common import Role
    from market.services.accounts import create_account
    from market.services.actors import Actor

    engine = make_engine(load_settings(database_url=url, log_level="WARNING"))
    with session_scope(engine) as session:
        buyer = Buyer(name="Zejing Bench", name_zh="泽晶（测）", city="Dongguan", latitude=23.02, longitude=113.75)
        session.add(buyer)
        session.flush()
        _, token = create_account(
            session, actor=Actor.system("bench"), data=AccountCreate(role=Role.buyer, name="bench", buyer_id=buyer.id)
        )
    engine.dispose()
    return token


class Server:
    """`market serve` in a process of its own, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, database_url: str, port: int, log: Path, extra: dict[str, str] | None = None) -> None:
        env = (
            os.environ
            | {
                "DATABASE_URL": database_url,
                "RATE_LIMIT": "",
                "REDIS_URL": "",
                "SECRET_KEY": "bench-api",
                "LOG_LEVEL": "WARNING",
                # The benchmark's own sealer stands in for beat, and times its turns.
                "AUDIT_SEAL_INTERVAL_SECONDS": "0",
            }
            | (extra or {})
        )
        self.log = log
        self.base = f"http://127.0.0.1:{port}"
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "market.cli", "serve", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,  # gunicorn's access log
                stderr=err,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"market serve exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"market serve did not answer /healthz in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# --- wrk ------------------------------------------------------------------------------------

_WRK_SCRIPT = r"""
local counter = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  prefix = args[1] .. "-" .. tid
end
if BODY ~= nil then
  wrk.method = "POST"
  request = function()
    counter = counter + 1
    local reference = prefix .. "-" .. counter
    if KEYED then
      wrk.headers["Idempotency-Key"] = reference
    end
    return wrk.format(nil, nil, nil, string.format(BODY, reference))
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT {\"completed\": %d, \"duration_us\": %d, \"bad_status\": %d, \"socket_errors\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(base: str, scenario: Scenario, token: str, seconds: float, connections: int, prefix: str) -> Result:
    """wrk for `seconds` (whole seconds) at `connections`; POST bodies get distinct references (and keys)."""
    body = None if scenario.method == "GET" else json.dumps(ORDER | {"reference": "%s"})
    header = f"BODY = {'nil' if body is None else '[==[' + body + ']==]'}\nKEYED = {str(scenario.keyed).lower()}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(header + _WRK_SCRIPT)
        path = handle.name
    command = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        path,
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "Content-Type: application/json",
        base + scenario.path,
        "--",
        prefix,
    ]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        os.unlink(path)
    line = next((line for line in output.stdout.splitlines() if line.startswith("WRK-RESULT ")), None)
    if output.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({output.returncode}):\n{output.stdout}\n{output.stderr}")
    found = json.loads(line.removeprefix("WRK-RESULT "))
    return Result(
        requests=found["completed"] - found["bad_status"],
        errors=found["bad_status"] + found["socket_errors"],
        seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
    )


# --- the Python load generator ----------------------------------------------------------------


def _python_worker(args: tuple[str, Scenario, str, float, int, str]) -> tuple[int, int, list[float], float]:
    """In a process: `threads` keep-alive connections for `seconds`; (ok, errors, latencies, seconds)."""
    base, scenario, token, seconds, threads, prefix = args
    host, port = base.removeprefix("http://").split(":")
    ok, errors, latencies = [0], [0], []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def run(index: int) -> None:
        connection = HTTPConnection(host, int(port), timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        mine: list[float] = []
        good = bad = counter = 0
        start.wait()
        deadline = time.perf_counter() + seconds
        while (now := time.perf_counter()) < deadline:
            body = None
            if scenario.method == "POST":
                counter += 1
                reference = f"{prefix}-{index}-{counter}"
                body = json.dumps(ORDER | {"reference": reference})
                if scenario.keyed:
                    headers["Idempotency-Key"] = reference
            try:
                connection.request(scenario.method, scenario.path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except OSError:
                connection.close()
                connection = HTTPConnection(host, int(port), timeout=30)
                status = 0
            mine.append(time.perf_counter() - now)
            if status == scenario.expect:
                good += 1
            else:
                bad += 1
        connection.close()
        with lock:
            ok[0] += good
            errors[0] += bad
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return ok[0], errors[0], latencies, time.perf_counter() - began


def run_python(base: str, scenario: Scenario, token: str, seconds: float, connections: int, prefix: str) -> Result:
    processes = min(2, connections)
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    jobs = [(base, scenario, token, seconds, share, f"{prefix}-p{i}") for i, share in enumerate(shares)]
    with get_context("fork").Pool(processes) as pool:
        results = pool.map(_python_worker, jobs)
    latencies = sorted(latency for _, _, found, _ in results for latency in found)
    wall = max(seconds_ for _, _, _, seconds_ in results)
    return Result(
        requests=sum(ok for ok, _, _, _ in results),
        errors=sum(bad for _, bad, _, _ in results),
        seconds=wall,
        p50_ms=_percentile(latencies, 50) * 1000,
        p99_ms=_percentile(latencies, 99) * 1000,
    )


def _percentile(values: list[float], percent: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * percent / 100))]


# --- the run --------------------------------------------------------------------------------


class Sealer:
    """Seal the audit log every `interval` seconds of each scenario in a thread, as the beat task does,
    and what a scenario left unsealed at its end (`drain`); time each turn."""

    def __init__(self, url: str, interval: float) -> None:
        from market.config import load_settings
        from market.db import make_engine

        self.engine = make_engine(load_settings(database_url=url, log_level="WARNING"))
        self.interval = interval
        self.sealed, self.turns, self.busy_seconds, self.longest = 0, 0, 0.0, 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a turn and a drain never run at once
        self._next_turn = float("inf")  # set when a scenario starts
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sealer:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.engine.dispose()

    def start_scenario(self) -> None:
        """The next turn comes `interval` seconds from now: turns fall inside the scenario that made the events."""
        with self._lock:
            self._next_turn = time.monotonic() + self.interval

    def drain(self) -> float:
        """Seal what is left now (a scenario's last events, once its load has stopped); the seconds it took."""
        if self.interval <= 0:
            return 0.0
        with self._lock:
            self._next_turn = float("inf")
            return self._turn()

    def _turn(self) -> float:
        from market.services.audit import seal_all

        started = time.perf_counter()
        self.sealed += seal_all(self.engine)
        took = time.perf_counter() - started
        self.turns += 1
        self.busy_seconds += took
        self.longest = max(self.longest, took)
        return took

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                if time.monotonic() >= self._next_turn:
                    self._turn()
                    self._next_turn += self.interval

    def summary(self) -> str:
        if self.interval <= 0:
            return "no sealer ran during the load (--seal-every 0)"
        rate = self.sealed / self.busy_seconds if self.busy_seconds else 0.0
        return (
            f"sealer, every {self.interval:g} s during each scenario and between them: {self.sealed:,} events in"
            f" {self.turns} turns, {self.busy_seconds:.2f} s in all ({rate:,.0f} events/s), longest turn"
            f" {self.longest:.2f} s"
        )


def check_database(url: str, expected_orders: int, expected_keys: int) -> str:
    """The orders answered 201 are stored (more may be, from requests cut off at the end), and the chain holds
    once what is left unsealed is sealed."""
    from sqlalchemy import func, select

    from market.config import load_settings
    from market.db import make_engine, session_scope
    from market.models import DemandOrder, IdempotencyRecord
    from market.services.audit import seal_all, verify_chain

    engine = make_engine(load_settings(database_url=url, log_level="WARNING"))
    left = seal_all(engine)
    with session_scope(engine) as session:
        orders = session.execute(select(func.count()).select_from(DemandOrder)).scalar_one()
        keys = session.execute(select(func.count()).select_from(IdempotencyRecord)).scalar_one()
        chain = verify_chain(session)
    engine.dispose()
    if orders < expected_orders or keys < expected_keys or not chain.intact:
        raise SystemExit(
            f"the database holds {orders} orders and {keys} idempotency keys (expected at least {expected_orders}"
            f" and {expected_keys}); audit chain {'intact' if chain.intact else 'BROKEN: ' + str(chain.problem)}"
        )
    return (
        f"{orders:,} orders stored, {keys:,} idempotency keys, audit chain intact ({chain.events:,} events,"
        f" {left:,} of them sealed after the load)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three scenarios, interleaved")
    parser.add_argument("--concurrency", type=int, default=8, help="open connections")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--seal-every", type=float, default=1.0, metavar="S", help="seconds between audit seals in the load; 0: none"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more environment for market serve, e.g. PGOPTIONS='-c synchronous_commit=off' (an experiment only)",
    )
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.server_env)
    if args.seconds <= 0 or args.rounds < 1 or args.concurrency < 1:
        parser.error("--seconds > 0, --rounds ≥ 1, --concurrency ≥ 1")
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    elif generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    if generator == "wrk" and args.seconds < 1:
        args.seconds = 1.0  # wrk counts whole seconds
    reachable, reason = postgres_reachable()
    if not reachable:
        print(f"PostgreSQL is not reachable ({reason}); set MARKET_BENCH_POSTGRES_URL", file=sys.stderr)
        return 2
    load = run_wrk if generator == "wrk" else run_python
    print(
        f"bench.api: market serve (gunicorn, 2 workers x 4 threads, PostgreSQL, RATE_LIMIT off); load generator:"
        f" {generator}; {args.concurrency} connections, {args.seconds:g} s per scenario, {args.rounds} rounds;"
        f" {machine_load()}" + (f"; server environment {extra}" if extra else ""),
        flush=True,
    )
    results: dict[str, list[Result]] = {scenario.name: [] for scenario in SCENARIOS}
    with scratch_database("market_bench_api") as url, tempfile.TemporaryDirectory() as folder:
        token = prepare(url)
        server = Server(url, _free_port(), Path(folder) / "server.log", extra)
        try:
            server.wait_ready()
            with Sealer(url, args.seal_every) as sealer:
                for scenario in SCENARIOS:  # warm up: every worker thread opens its connections
                    load(server.base, scenario, token, 1.0, args.concurrency, f"w{SCENARIOS.index(scenario)}")
                sealer.drain()
                for round_ in range(1, args.rounds + 1):
                    for number, scenario in enumerate(SCENARIOS):
                        sealer.start_scenario()
                        found = load(
                            server.base, scenario, token, args.seconds, args.concurrency, f"r{round_}s{number}"
                        )
                        sealer.drain()  # the scenario's last turn's worth, before the next one starts
                        results[scenario.name].append(found)
                        print(
                            f"  round {round_} {scenario.name}: {found.per_second:,.0f} requests/s,"
                            f" p50 {found.p50_ms:.1f} ms, p99 {found.p99_ms:.1f} ms, errors {found.errors}",
                            flush=True,
                        )
        finally:
            server.stop()
        print(sealer.summary(), flush=True)
        failed = {name: sum(r.errors for r in runs) for name, runs in results.items() if any(r.errors for r in runs)}
        if failed:
            print(Path(server.log).read_text()[-3000:], file=sys.stderr)
            raise SystemExit(f"requests failed: {failed}")
        posted = sum(r.requests for s in SCENARIOS[1:] for r in results[s.name])
        keyed = sum(r.requests for r in results[SCENARIOS[2].name])
        print(check_database(url, posted, keyed), flush=True)
    print()
    rates = {name: median([r.per_second for r in runs]) for name, runs in results.items()}
    trivial = rates[SCENARIOS[0].name]
    table(
        ["scenario", "requests/s", "p50 ms", "p99 ms", "% of GET", "requests"],
        [
            [
                name,
                rates[name],
                median([r.p50_ms for r in runs]),
                median([r.p99_ms for r in runs]),
                100 * rates[name] / trivial,
                sum(r.requests for r in runs),
            ]
            for name, runs in results.items()
        ],
    )
    print()
    print(f"measured under {machine_load()} with {generator} as the load generator", flush=True)
    keyed_percent = 100 * rates[SCENARIOS[2].name] / trivial
    print(f"orders with an Idempotency-Key: {keyed_percent:.0f}% of the trivial GET's requests/s", flush=True)
    target("orders", 100 * rates[SCENARIOS[1].name] / trivial, TARGET_PERCENT, "% of the trivial GET's requests/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
