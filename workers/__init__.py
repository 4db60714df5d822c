"""Background work on Celery: Redis is the broker and the result store.

`make_celery(settings)` builds the Celery app from the same settings as the web app;
`workers.app` is the process entry point (`celery -A workers.app worker|beat`).
Tasks live in `workers.tasks`: each takes ids or plain values, opens a session,
calls one service and returns a plain value. Nothing else.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab

from market.config import ConfigError, Settings
from market.models.common import Product

# --- time limits, in seconds, kept together because they depend on each other ----------------

#: The longest any task may run: the worker kills it after this. A task may ask for less, never more.
HARD_TIME_LIMIT = 30 * 60
#: At this point the task gets `SoftTimeLimitExceeded`, a minute before the kill, so it can roll back cleanly.
SOFT_TIME_LIMIT = HARD_TIME_LIMIT - 60
#: Redis hands an unacknowledged message to another worker after this long. Tasks with
#: `acks_late` acknowledge only when they finish, so this must outlast the longest run,
#: or a slow task would be started a second time while the first is still working.
#: (CELERY_VISIBILITY_TIMEOUT overrides it, for tests that want exactly that to happen.)
VISIBILITY_TIMEOUT = HARD_TIME_LIMIT + 10 * 60

#: Options for tasks that may safely run twice: the message is acknowledged after the task
#: finishes, and re-queued if the worker process dies mid-task. Only for idempotent tasks.
IDEMPOTENT: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}

TASK_MODULES = ("workers.tasks.maintenance", "workers.tasks.matching")

#: What beat sends, and when. `expires` drops a run that waited past its next turn in the queue.
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "purge-idempotency-keys-hourly": {
        "task": "maintenance.purge_idempotency_keys",
        "schedule": crontab(minute=0),
        "options": {"expires": 60 * 60},
    },
}


def matching_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """A match run per product every MATCH_INTERVAL_MINUTES; none when it is 0 (the default)."""
    if settings.match_interval_minutes == 0:
        return {}
    interval = timedelta(minutes=settings.match_interval_minutes)
    return {
        f"match-{product.value}": {
            "task": "matching.scheduled_run",
            "schedule": interval,
            "args": [product.value],
            "options": {"expires": interval.total_seconds()},
        }
        for product in Product
    }


def _every(seconds: int, name: str, task: str) -> dict[str, dict[str, Any]]:
    """One beat entry sending `task` every `seconds` (none for 0); a message not taken before the next
    one is sent is dropped."""
    if seconds == 0:
        return {}
    interval = timedelta(seconds=seconds)
    return {name: {"task": task, "schedule": interval, "options": {"expires": interval.total_seconds()}}}


def sweep_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """`matching.sweep` every MATCH_SWEEP_INTERVAL_SECONDS (a minute by default): it sends again the runs
    that are queued or running but stalled, e.g. because Redis lost their message. 0: none."""
    return _every(settings.match_sweep_interval_seconds, "sweep-stalled-match-runs", "matching.sweep")


def seal_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """`maintenance.seal_audit_log` every AUDIT_SEAL_INTERVAL_SECONDS (10 s by default): it chains the audit
    events committed since, so none waits long outside the hash chain. 0: none."""
    return _every(settings.audit_seal_interval_seconds, "seal-audit-log", "maintenance.seal_audit_log")


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    if not settings.celery_visibility_timeout:
        return {"visibility_timeout": VISIBILITY_TIMEOUT}
    timeout = settings.celery_visibility_timeout
    # Kombu looks for overdue messages every 10 s x 10 (100 s) by default; with a timeout of its own,
    # look a few times per timeout, so a message comes back about when the timeout says.
    return {
        "visibility_timeout": timeout,
        "unacked_restore_interval": max(1, min(10, timeout // 3)),
        "unacked_restore_throttle": 1,
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.redis_url,
        "task_default_queue": settings.celery_queue,
        "result_backend": settings.redis_url,
        "broker_transport_options": broker_transport_options(settings),
        "broker_connection_retry_on_startup": True,
        # A web request that queues a task while Redis is down should hear so in seconds, not minutes.
        "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        "result_backend_transport_options": {
            "retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
        },
        # JSON only: tasks take ids and plain values, and nothing is unpickled from the network.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_time_limit": HARD_TIME_LIMIT,
        "task_soft_time_limit": SOFT_TIME_LIMIT,
        # Not acks_late by default: only tasks marked IDEMPOTENT may be delivered twice.
        "task_acks_late": False,
        # One message at a time per process, so a long task does not hold others hostage.
        "worker_prefetch_multiplier": 1,
        # If the broker connection drops, their messages return to the queue, and Celery cancels acks_late
        # tasks: SIGTERM to their pool processes, which finish the task in hand first (workers.shutdown).
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "result_expires": 24 * 60 * 60,
        "beat_schedule": BEAT_SCHEDULE
        | sweep_schedule(settings)
        | seal_schedule(settings)
        | matching_schedule(settings),
    }


def make_celery(settings: Settings) -> Celery:
    """The Celery app for these settings; ConfigError when there is no broker to use."""
    if not settings.redis_url:
        raise ConfigError(
            "REDIS_URL is not set: the Celery worker and beat need Redis, e.g. REDIS_URL=redis://127.0.0.1:6379/0"
        )
    if settings.celery_visibility_timeout and settings.celery_visibility_timeout <= HARD_TIME_LIMIT:
        logging.getLogger(__name__).warning(
            "CELERY_VISIBILITY_TIMEOUT=%s is shorter than the tasks' time limit (%s s): a task still running "
            "after it will be delivered a second time",
            settings.celery_visibility_timeout,
            HARD_TIME_LIMIT,
        )
    app = Celery("market", include=list(TASK_MODULES))
    app.config_from_object(celery_config(settings))
    return app
