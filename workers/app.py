"""The Celery entry point: `celery -A workers.app worker` and `celery -A workers.app beat`.

Settings come from the environment exactly as for the web app (market.config). Without
REDIS_URL, or with a bad setting, the process stops with one line instead of a traceback.
"""

from __future__ import annotations

import logging
import sys

from celery.signals import worker_process_init, worker_ready

from market.config import ConfigError, get_settings
from market.runtime import freeze_startup_objects
from workers import make_celery
from workers.shutdown import finish_tasks_before_sigterm
from workers.tasks import dispose_engine_after_fork

try:
    _settings = get_settings()
    app = make_celery(_settings)
except ConfigError as exc:
    print(f"market worker: error: {exc}", file=sys.stderr)
    sys.exit(2)


@worker_process_init.connect
def _fresh_engine_per_process(**_kwargs: object) -> None:
    # A prefork child inherits the parent's memory, engine pool included; sockets must not be shared.
    dispose_engine_after_fork()
    freeze_startup_objects()
    finish_tasks_before_sigterm()


@worker_ready.connect
def _sweep_when_ready(**_kwargs: object) -> None:
    # Once at start, whether or not beat runs: runs whose messages were lost while no worker (or no
    # Redis) was up are sent again now, not a sweep interval later. The task runs on a pool process.
    try:
        app.send_task("matching.sweep")
    except Exception as exc:  # the broker went away again; beat's next sweep will do
        logging.getLogger(__name__).warning("could not send matching.sweep at start: %s", exc)
