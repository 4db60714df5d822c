"""Loaded only by test workers (`celery -A workers.app worker -I tests.reliability.slow_solve`): nothing
in the application imports it, and production code has no test hooks.

It wraps two service steps of `market.services.matching` in the worker process:

- `solve_product` sleeps SLOW_SOLVE_SECONDS after the real step when it wrote the product, inside
  its transaction, so the product's lock row and the run's row stay held as in a long solve;
- both steps append a line to RELIABILITY_TRACE (JSON per line: pid, run, product, event, time, and
  the nice value of the thread doing the step): `locked` when the product's lock row is ours,
  `solved` (or `skipped`: written already, or the run is past running) when the step and any sleep
  are over and the transaction is about to commit.
  Lines are short and written with O_APPEND, so whole.
"""

from __future__ import annotations

import json
import os
import threading
import time

from market.services import matching

SECONDS = float(os.environ.get("SLOW_SOLVE_SECONDS", "0"))
TRACE = os.environ.get("RELIABILITY_TRACE", "")

_solve_product = matching.solve_product
_lock_product = matching._lock_product


def _trace(event: str, run_id: int, product) -> None:
    if TRACE:
        line = {
            "pid": os.getpid(),
            "run": run_id,
            "product": product.value,
            "event": event,
            "t": time.time(),
            "nice": os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),  # Linux: the thread's own
        }
        with open(TRACE, "a") as sink:
            sink.write(json.dumps(line) + "\n")


def lock_product(session, product, run_id):
    _lock_product(session, product, run_id)
    _trace("locked", run_id, product)


def solve_product(session, *, run_id, product):
    solved = _solve_product(session, run_id=run_id, product=product)
    if solved:
        time.sleep(SECONDS)
    _trace("solved" if solved else "skipped", run_id, product)
    return solved


matching._lock_product = lock_product
matching.solve_product = solve_product
