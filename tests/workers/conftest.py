"""One fixture gives a worker: a real `celery -A workers.app worker` process on real Redis.

No eager mode and no in-thread test worker: the task travels through Redis to another
process, runs there against the same database as the test, and its result comes back
through Redis. Each worker consumes its own queue, so parallel test runs (xdist, or
other people on the same Redis database) never take each other's tasks.
"""

from __future__ import annotations

import subprocess
import time
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
from tests.workers.processes import log_tail, start, stop, venv_env
from workers import make_celery


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
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                exit_code = self.process.returncode
                pytest.fail(f"the worker exited with {exit_code} before answering:\n{log_tail(self.log)}")
            try:
                return result.get(timeout=0.5)
            except CeleryTimeout:
                if time.monotonic() > deadline:
                    pytest.fail(f"{task_name}: no result within {timeout}s:\n{log_tail(self.log)}")


class StartWorker(Protocol):
    def __call__(self, **env: str) -> Worker: ...


@pytest.fixture
def start_worker(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Start a worker process on `database_url`; keyword arguments are added to its environment."""
    started: list[Worker] = []

    def start_one(**env: str) -> Worker:
        queue = f"test-{uuid.uuid4().hex[:12]}"
        log = tmp_path / f"{queue}.log"
        argv = [
            "celery",
            "-A",
            "workers.app",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--queues",
            queue,
            "--hostname",
            f"{queue}@%h",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
        ]
        env = venv_env({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CELERY_QUEUE": queue}, **env)
        process = start(argv, env=env, log=log)
        client = make_celery(load_settings(database_url=database_url, redis_url=redis_url, celery_queue=queue))
        started.append(Worker(process, queue, log, client))
        return started[-1]

    yield start_one

    for worker in started:
        stop(worker.process)
        worker.client.close()
