"""PostgreSQL restarted under API load: 503s with Retry-After while it is away, back by itself, and
no offer half-written, lost or doubled.

A private cluster (initdb into a temporary directory, its own port and socket directory; the shared
server is never touched) serves `market serve` (gunicorn, 2 workers x 4 threads) while four client
threads post offers, each with an Idempotency-Key of its own. Twice in the middle: `pg_ctl restart
-m fast` (connections cut, back within a second) and `pg_ctl stop -m fast`, 2 s away, `pg_ctl start`
(a window in which every request finds no database). Afterwards every request that failed is sent
again with its key, and the database is read directly.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from market.config import load_settings
from market.db import make_engine, session_scope
from market.migrate import upgrade
from market.models.account import AccountCreate
from market.models.common import Role
from market.services.accounts import create_account
from market.services.actors import Actor
from tests.api.helpers import offer_body
from tests.conftest import require_service
from tests.reliability.checks import wait_until
from tests.services.audit_helpers import sealed_and_checked
from tests.workers.processes import free_port, log_tail, running, venv_env

CLIENTS = 4


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: initdb (as the postgres user when we are root), pg_ctl, rm -rf."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="market-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/market"

    def run(self, program: str, *args: str, timeout: float = 120) -> str:
        argv = [str(self.bindir / program), *args]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{program} {' '.join(args)}: {done.stdout}{done.stderr}{log_tail(self.log)}"
        return done.stdout

    def pg_ctl(self, *args: str) -> float:
        began = time.monotonic()
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args)
        return time.monotonic() - began

    def create(self) -> None:
        self.run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "--no-locale", "-E", "UTF8"
        )
        # In the cluster's own configuration, so that every start (not only the first) uses them.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\n"
            )
        self.pg_ctl("start")
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "market")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.pg_ctl("-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        require_service("PostgreSQL server programs", "initdb and pg_ctl are not installed")
    cluster = PrivatePostgres(bindir)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@dataclass
class Answer:
    key: str
    status: int
    content_type: str
    retry_after: str | None
    replayed: bool
    body: dict
    began: float
    ended: float


def call(base: str, path: str, token: str, body: dict | None = None, key: str | None = None) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="POST" if body is not None else "GET")
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:  # not JSON: kept as text, and the checks below say so
        body = {"not json": raw.decode(errors="replace")[:500]}
    return Answer(
        key or "",
        status,
        headers.get("Content-Type", ""),
        headers.get("Retry-After"),
        headers.get("Idempotent-Replayed") == "true",
        body,
        began,
        time.monotonic(),
    )


def test_postgres_restarted_under_load_answers_503_recovers_and_writes_each_offer_once(
    private_postgres, tmp_path, report
):
    cluster = private_postgres
    upgrade(cluster.url)
    engine = make_engine(load_settings(database_url=cluster.url))
    with session_scope(engine) as session:
        _, admin = create_account(
            session, actor=Actor.system("test"), data=AccountCreate(role=Role.admin, name="office")
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = venv_env({"DATABASE_URL": cluster.url, "REDIS_URL": "", "RATE_LIMIT": "", "SECRET_KEY": "test"})
    log = tmp_path / "serve.log"
    answers: list[Answer] = []
    stop = threading.Event()
    try:
        with running(["market", "serve", "--port", str(port), "--workers", "2"], env=env, log=log) as server:

            def healthy():
                try:
                    return call(base, "/healthz", admin).status == 200 or None
                except OSError:
                    return None

            wait_until(healthy, what="market serve", timeout=60, logs=(log,))
            coop = call(base, "/api/v1/cooperatives", admin, {
                "name": "Sayu Apple", "name_zh": "洒渔苹果合作社", "township": "Sayu", "latitude": 27.43,
                "longitude": 103.6, "member_households": 300, "poor_households": 120,
            }).body  # fmt: skip
            clerk = call(base, "/api/v1/accounts", admin, {
                "role": "cooperative", "name": "Sayu clerk", "cooperative_id": coop["id"],
            }).body["token"]  # fmt: skip
            report(f"private PostgreSQL on port {cluster.port}; market serve on {port}; {CLIENTS} clients post offers")

            def client(number: int) -> None:
                sent = 0
                while not stop.is_set():
                    sent += 1
                    key = f"c{number}-{sent:05d}"
                    body = offer_body(tonnes="1.5", reference=key)
                    try:
                        answers.append(call(base, "/api/v1/offers", clerk, body, key))
                    except OSError as exc:  # the server itself is unreachable: that would be a failure
                        answers.append(Answer(key, 0, type(exc).__name__, None, False, {}, 0, time.monotonic()))
                    if answers[-1].status != 201:
                        time.sleep(0.2)  # a client in a hurry, but not a busy loop (Retry-After says 5 s)

            threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
            for thread in threads:
                thread.start()

            def created_since(moment: float, count: int):
                return True if sum(a.status == 201 and a.began > moment for a in answers) >= count else None

            try:
                began = time.monotonic()
                wait_until(lambda: created_since(began, 30), what="offers before", timeout=60, logs=(log,))
                restarted = time.monotonic()
                seconds = cluster.pg_ctl("-m", "fast", "restart")
                report(f"pg_ctl restart -m fast took {seconds:.1f}s")
                wait_until(lambda: created_since(restarted + seconds, 30), what="offers after restart", timeout=60,
                           logs=(log,))  # fmt: skip
                stopping = time.monotonic()
                seconds = cluster.pg_ctl("-m", "fast", "stop")
                down = time.monotonic()
                time.sleep(2)
                up_from = time.monotonic()
                cluster.pg_ctl("start")
                up = time.monotonic()
                report(
                    f"pg_ctl stop -m fast took {seconds:.1f}s; down {up_from - down:.1f}s; start {up - up_from:.1f}s"
                )
                wait_until(lambda: created_since(up, 30), what="offers after start", timeout=60, logs=(log,))
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=60)
            assert server.poll() is None, log_tail(log)

            phases = {
                "before": lambda a: a.ended < restarted,
                "around the restart": lambda a: restarted <= a.ended and a.began < stopping,
                "stopping": lambda a: a.began < down and a.ended >= stopping and a.began >= stopping - 60,
                "while down": lambda a: a.began >= down and a.ended <= up_from,
                "starting and after": lambda a: a.ended > up_from and a.began >= down,
            }
            for name, within in phases.items():
                report(f"answers {name}: {dict(Counter(a.status for a in answers if within(a)))}")
            odd = [a for a in answers if a.status not in (201, 503)]
            assert not odd, f"{Counter(a.status for a in answers)}: {odd[:3]}\n{log_tail(log, 80)}"
            failed = [a for a in answers if a.status == 503]
            while_down = [a for a in answers if phases["while down"](a)]
            assert while_down and all(a.status == 503 for a in while_down)
            for answer in failed:
                assert answer.content_type == "application/problem+json" and answer.body["status"] == 503, answer
                assert answer.retry_after is not None and int(answer.retry_after) >= 1, answer
            first_after = min(a.ended for a in answers if a.status == 201 and a.began >= up)
            report(f"first offer written {first_after - up:.2f}s after the database was back (no restart of the API)")
            assert first_after - up < 10

            # Every failed request again, with its key: each creates its offer now, or replays the one that its
            # first attempt committed after all (the commit went through, its answer did not).
            retried = Counter()
            firsts = {a.key: a for a in answers if a.status == 201}
            for answer in failed:
                again = call(base, "/api/v1/offers", clerk, offer_body(tonnes="1.5", reference=answer.key), answer.key)
                assert again.status == 201, again
                retried["replayed" if again.replayed else "created now"] += 1
                firsts[answer.key] = again
            report(f"{len(failed)} requests that got a 503 sent again with their keys: {dict(retried)}")
            # And every key once more: the same offer comes back, and nothing new is written.
            for key, first in firsts.items():
                again = call(base, "/api/v1/offers", clerk, offer_body(tonnes="1.5", reference=key), key)
                assert again.status == 201 and again.replayed and again.body["id"] == first.body["id"], (first, again)

        with engine.connect() as connection:
            offers = connection.execute(text("SELECT COUNT(*) FROM supply_offer")).scalar_one()
            references = connection.execute(
                text("SELECT COUNT(DISTINCT reference) FROM supply_offer WHERE reference IS NOT NULL")
            ).scalar_one()
            unaudited = connection.execute(
                text(
                    "SELECT COUNT(*) FROM supply_offer o WHERE NOT EXISTS (SELECT 1 FROM audit_event e WHERE"
                    " e.object_type = 'supply_offer' AND e.object_id = o.id AND e.action = 'offer.create')"
                )
            ).scalar_one()
            mismatched = connection.execute(
                text(
                    "SELECT COUNT(*) FROM idempotency_record r LEFT JOIN supply_offer o ON o.reference = r.key"
                    " WHERE o.id IS NULL OR (r.response_body->>'id')::int <> o.id"
                )
            ).scalar_one()
            records = connection.execute(text("SELECT COUNT(*) FROM idempotency_record")).scalar_one()
        chain = sealed_and_checked(engine)
        report(
            f"{len(answers)} requests, {len(firsts)} keys: {offers} offers ({references} references), "
            f"{records} idempotency records, {unaudited} offers without their audit event, {mismatched} records "
            f"not answering with their offer; audit chain intact: {chain.intact} ({chain.events} events)"
        )
        assert offers == references == records == len(firsts)
        assert unaudited == 0 and mismatched == 0 and chain.intact
    finally:
        stop.set()
        engine.dispose()
