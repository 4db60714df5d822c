"""The Celery entry point: `celery -A workers.app worker` and `celery -A workers.app beat`.

Settings come from the environment exactly as for the web app (market.config). Without
REDIS_URL, or with a bad setting, the process stops with one line instead of a traceback.
"""

from __future__ import annotations

import sys

from celery.signals import worker_process_init

from market.config import ConfigError, get_settings
from workers import make_celery
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
