"""Faults on purpose: real PostgreSQL, real Redis, real Celery worker processes, killed and restarted.

Every test here runs on PostgreSQL only (the `database_url` fixture is overridden), is marked
`reliability` (and `postgres`), prints what it tried and what it found (`-s` or `-rP` shows it;
the same lines go to test-artifacts/reliability/<test>.txt), and, like the rest of the suite, is
skipped on a developer's machine without the servers and fails under CI (`CI` set).

The shared PostgreSQL and Redis are never stopped: tests that restart a server start a private
one (`private_redis`, and tests/reliability/test_postgres_restart.py's own cluster).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from sqlalchemy.engine import make_url

from market.broker import broker_reachable
from market.config import load_settings
from tests.conftest import REDIS_URL, _truncate_all, require_service
from tests.reliability.checks import wait_until
from tests.workers.processes import ROOT, free_port, log_tail, start, stop, venv_env
from workers import make_celery

ARTIFACTS = ROOT / "test-artifacts" / "reliability"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: kills and restarts real workers and servers on purpose (tests/reliability)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only: the faults here (row locks, deadlocks, killed connections) are PostgreSQL's."""
    url = request.getfixturevalue("postgres_server_url")
    _truncate_all(url)
    return url


# --- saying what was tried ---------------------------------------------------------------------


class Report:
    """Lines printed as the test goes, and kept in test-artifacts/reliability/<test>.txt."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f}s] {message}"
        self.lines.append(line)
        print(f"{self.name}: {line}", flush=True)

    def save(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{self.name}.txt").write_text("\n".join(self.lines) + "\n")


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    name = request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
    said = Report(name)
    yield said
    said.save()


# --- Celery worker and beat processes ----------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen
    queue: str
    log: Path
    client: Celery
    argv: list[str] = field(default_factory=list)
    postgres_port: int = 5432

    def send(self, task_name: str, *args: Any):
        return self.client.send_task(task_name, args=args, queue=self.queue)

    def pool_pids(self) -> list[int]:
        """The prefork pool's processes: the worker's children, from /proc."""
        children: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            try:
                children += [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                pass
        return sorted(set(children))

    def database_ports(self, pid: int) -> list[int]:
        """The local ports of process `pid`'s TCP connections to PostgreSQL (port 5432 or `postgres_port`),
        which pg_stat_activity shows as `client_port`: how a test tells which process a backend serves."""
        inodes = set()
        for link in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        ports = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == self.postgres_port:
                    ports.append(int(local.rsplit(":", 1)[1], 16))
        return ports

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(
            lambda: True if " ready." in self.text() else None, what="worker start", timeout=timeout, logs=(self.log,)
        )
        assert self.process.poll() is None, log_tail(self.log)

    def sigterm(self, *, group: bool = False, timeout: float = 60) -> float:
        """SIGTERM to the main process (a warm shutdown), or to its whole process group; seconds until it exits."""
        began = time.monotonic()
        if group:
            os.killpg(self.process.pid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - began


class LaunchWorker:
    """Start `celery -A workers.app worker` processes on the test database; all stopped at the end."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.started: list[Worker] = []
        self.others: list[subprocess.Popen] = []

    def __call__(
        self,
        *,
        redis_url: str = REDIS_URL,
        queue: str | None = None,
        concurrency: int = 1,
        include: tuple[str, ...] = (),
        **env: str,
    ) -> Worker:
        queue = queue or f"test-{uuid.uuid4().hex[:12]}"
        log = self.tmp_path / f"worker-{len(self.started) + 1}-{queue}.log"
        argv = [
            "celery",
            "-A",
            "workers.app",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--queues",
            queue,
            "--hostname",
            f"{queue}-{len(self.started) + 1}@%h",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
        ]
        if include:
            argv += ["-I", ",".join(include)]
        environment = venv_env(
            {"DATABASE_URL": self.database_url, "REDIS_URL": redis_url, "CELERY_QUEUE": queue}, **env
        )
        process = start(argv, env=environment, log=log)
        client = make_celery(load_settings(database_url=self.database_url, redis_url=redis_url, celery_queue=queue))
        port = make_url(self.database_url).port or 5432
        self.started.append(Worker(process, queue, log, client, argv, port))
        return self.started[-1]

    def beat(self, *, redis_url: str, queue: str, **env: str) -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"beat-{queue}.log"
        argv = ["celery", "-A", "workers.app", "beat", "--loglevel=INFO", "--schedule", str(self.tmp_path / "beat")]
        environment = venv_env(
            {"DATABASE_URL": self.database_url, "REDIS_URL": redis_url, "CELERY_QUEUE": queue}, **env
        )
        process = start(argv, env=environment, log=log)
        self.others.append(process)
        return process, log

    def stop_all(self) -> None:
        for worker in self.started:
            stop(worker.process)
            worker.client.close()
        for process in self.others:
            stop(process)


@pytest.fixture
def shared_redis() -> str:
    ok, detail = broker_reachable(REDIS_URL)
    if not ok:
        require_service("Redis", f"{REDIS_URL}: {detail}")
    return REDIS_URL


@pytest.fixture
def launch_worker(database_url: str, shared_redis: str, tmp_path: Path) -> Iterator[LaunchWorker]:
    launcher = LaunchWorker(database_url, tmp_path)
    yield launcher
    launcher.stop_all()


# --- a private Redis, to restart at will ------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, without persistence: a restart forgets every queued message."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = directory / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
        ]  # fmt: skip
        self.process = start(argv, env=dict(os.environ), log=self.log)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            wait_until(
                lambda: True if self._pings(client) else None, what="private redis", timeout=20, logs=(self.log,)
            )
        finally:
            client.close()

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; everything in it is gone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        require_service("redis-server", "the redis-server program is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
