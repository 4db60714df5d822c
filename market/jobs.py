"""Where background work runs: on Celery workers when REDIS_URL is set, else in this process.

Both paths call the same service steps, each in a transaction of its own:
begin the run, solve each product, finish (or fail) the run. Sealing the audit log is beat's
work with Celery; without it each serving process seals every AUDIT_SEAL_INTERVAL_SECONDS itself.

`submit_match_run` raises when Redis cannot take the task; the API then leaves the run queued
(with a warning), and the workers' sweep (`matching.sweep`, see workers/) sends it once Redis
is back. Nothing is lost, and the run still takes effect once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from market.config import Settings
from market.db import session_scope
from market.services import matching
from market.services.audit import seal_all

log = logging.getLogger(__name__)

MATCHING_RUN_TASK = "matching.run"
MATCHING_SWEEP_TASK = "matching.sweep"

#: Tries of one step when the database says "try again" (deadlock, serialization failure, lost connection).
STEP_TRIES = 5

T = TypeVar("T")


def _step(engine: Engine, what: str, work: Callable[[Session], T]) -> T:
    """One service step in a transaction of its own, tried again on OperationalError (each try starts afresh)."""
    for attempt in range(1, STEP_TRIES + 1):
        try:
            with session_scope(engine) as session:
                return work(session)
        except OperationalError as exc:
            if attempt == STEP_TRIES:
                raise
            log.warning("%s: %s; trying again (%d of %d)", what, type(exc.orig or exc).__name__, attempt, STEP_TRIES)
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


def run_match_in_process(engine: Engine, run_id: int, *, auto_approve: bool = False) -> None:
    """A whole match run, step by step, here and now; a failure marks the run failed."""
    try:
        products = _step(engine, f"match run {run_id}", lambda s: matching.begin_match_run(s, run_id=run_id))
        if products is None:
            return
        for product in products:
            _step(
                engine,
                f"match run {run_id}: {product.value}",
                lambda s, product=product: matching.solve_product(s, run_id=run_id, product=product),
            )
        _step(
            engine,
            f"match run {run_id}",
            lambda s: matching.finish_match_run(s, run_id=run_id, auto_approve=auto_approve),
        )
    except Exception as exc:
        log.exception("match run %s failed", run_id)
        with session_scope(engine) as session:
            matching.fail_match_run(session, run_id=run_id, error=f"{type(exc).__name__}: {exc}")


class Jobs:
    """Hands work to Celery (by task name) or to one background thread of this process."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._executor: ThreadPoolExecutor | None = None
        self._celery = None
        self._sealer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sealer_lock = threading.Lock()

    def ensure_sealer(self) -> None:
        """Without Celery there is no beat: seal the audit log from a thread of this process, every
        AUDIT_SEAL_INTERVAL_SECONDS. Started on first use, so that it runs in each gunicorn worker
        (threads do not survive a fork); several processes' sealers take turns under the seal lock."""
        if self._sealer is not None or self.settings.uses_celery or self.settings.audit_seal_interval_seconds == 0:
            return
        with self._sealer_lock:
            if self._sealer is None:
                self._sealer = threading.Thread(target=self._seal_every_interval, name="market-seal", daemon=True)
                self._sealer.start()

    def _seal_every_interval(self) -> None:
        while not self._stopping.wait(self.settings.audit_seal_interval_seconds):
            try:
                sealed = seal_all(self.engine)
            except Exception:  # the database is away for a moment: the next turn tries again
                log.exception("sealing the audit log failed; the next turn tries again")
                continue
            if sealed:
                log.info("sealed %d audit events into the chain", sealed)

    def submit_match_run(self, run_id: int) -> Future | None:
        """Send the run to Celery (raises if the broker cannot take it) or to this process's thread."""
        if self.settings.uses_celery:
            self._celery_app().send_task(MATCHING_RUN_TASK, args=[run_id])
            return None
        if self._executor is None:
            # One thread: runs queue behind each other, as one worker would take them.
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="market-match")
        return self._executor.submit(
            run_match_in_process, self.engine, run_id, auto_approve=self.settings.match_auto_approve
        )

    def hand_over_match_run(self, run_id: int) -> bool:
        """Send a committed, queued run on its way; False (with a warning) if the task queue is unreachable.

        The run is never failed for want of a broker: it stays queued and the workers' sweep sends it
        once the queue is back."""
        try:
            self.submit_match_run(run_id)
        except Exception as exc:  # the broker is down: kombu's OperationalError, a socket error, …
            log.warning(
                "match run %s stays queued: the task queue is unreachable (%s: %s); the sweep sends it once it is back",
                run_id,
                type(exc).__name__,
                exc,
            )
            return False
        return True

    def _celery_app(self):
        if self._celery is None:
            from workers import make_celery

            self._celery = make_celery(self.settings)
        return self._celery

    def shutdown(self) -> None:
        self._stopping.set()
        if self._sealer is not None:
            self._sealer.join()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
