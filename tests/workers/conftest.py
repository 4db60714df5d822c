"""One fixture gives a worker: a real `celery -A workers.app worker` process on real Redis.

No eager mode and no in-thread test worker: the task travels through Redis to another
process, runs there against the same database as the test, and its result comes back
through Redis. Each worker consumes its own queue, so parallel test runs (xdist, or
other people on the same Redis database) never take each other's tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout

from market.broker import broker_reachable
from market.config import load_settings
from tests.conftest import REDIS_URL, require_service
from workers import make_celery

ROOT = Path(__file__).resolve().parents[2]


def venv_env(**overrides: str) -> dict[str, str]:
    """The environment for a child process: this interpreter's bin first on PATH, plus overrides."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(overrides)
    return env


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, children included (prefork pool)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    # The leader is gone; make sure no pool child outlived it.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def redis_url() -> str:
    ok, detail = broker_reachable(REDIS_URL)
    if not ok:
        require_service("Redis", f"{REDIS_URL}: {detail}")
    return REDIS_URL


@dataclass
class Worker:
    process: subprocess.Popen
    queue: str
    log: Path
    client: Celery

    def call(self, task_name: str, *args: Any, timeout: float = 60.0, **kwargs: Any) -> Any:
        """Send a task by name to this worker's queue and wait for its result."""
        result = self.client.send_task(task_name, args=args, kwargs=kwargs, queue=self.queue)
        waited = 0.0
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"the worker exited with {self.process.returncode} before answering:\n{log_tail(self.log)}"
                )
            try:
                return result.get(timeout=0.5)
            except CeleryTimeout:
                waited += 0.5
                if waited >= timeout:
                    pytest.fail(f"{task_name}: no result within {timeout}s:\n{log_tail(self.log)}")


class StartWorker(Protocol):
    def __call__(self, **env: str) -> Worker: ...


@pytest.fixture
def start_worker(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Start a worker process on `database_url`; extra keyword arguments become its environment."""
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        queue = f"test-{uuid.uuid4().hex[:12]}"
        log = tmp_path / f"{queue}.log"
        argv = [
            "celery", "-A", "workers.app", "worker", "--pool=prefork", "--concurrency=1",
            "--queues", queue, "--hostname", f"{queue}@%h", "--loglevel=INFO",
            "--without-mingle", "--without-gossip",
        ]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=venv_env(DATABASE_URL=database_url, REDIS_URL=redis_url, **env),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = make_celery(load_settings(database_url=database_url, redis_url=redis_url))
        worker = Worker(process, queue, log, client)
        started.append(worker)
        return worker

    yield start

    for worker in started:
        stop_process_group(worker.process)
        worker.client.close()
