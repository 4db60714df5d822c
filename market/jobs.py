"""Where background work runs: on Celery workers when REDIS_URL is set, else in this process.

Both paths call the same service steps, each in a transaction of its own:
begin the run, solve each product, finish (or fail) the run.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy.engine import Engine

from market.config import Settings
from market.db import session_scope
from market.services import matching

log = logging.getLogger(__name__)

MATCHING_RUN_TASK = "matching.run"


def run_match_in_process(engine: Engine, run_id: int, *, auto_approve: bool = False) -> None:
    """A whole match run, step by step, here and now; a failure marks the run failed."""
    try:
        with session_scope(engine) as session:
            products = matching.begin_match_run(session, run_id=run_id)
        if products is None:
            return
        for product in products:
            with session_scope(engine) as session:
                matching.solve_product(session, run_id=run_id, product=product)
        with session_scope(engine) as session:
            matching.finish_match_run(session, run_id=run_id, auto_approve=auto_approve)
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

    def submit_match_run(self, run_id: int) -> Future | None:
        if self.settings.uses_celery:
            self._celery_app().send_task(MATCHING_RUN_TASK, args=[run_id])
            return None
        if self._executor is None:
            # One thread: runs queue behind each other, as one worker would take them.
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="market-match")
        return self._executor.submit(
            run_match_in_process, self.engine, run_id, auto_approve=self.settings.match_auto_approve
        )

    def _celery_app(self):
        if self._celery is None:
            from workers import make_celery

            self._celery = make_celery(self.settings)
        return self._celery

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
