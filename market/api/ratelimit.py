"""The per-account rate limit on /api/v1, with Flask-Limiter.

Each account has one budget (`RATE_LIMIT`, e.g. "600/minute;20/second") across every v1
endpoint, counted by account id, not by address: clerks behind one office NAT do not share
a budget, and one token cannot spread its calls over many addresses. With `REDIS_URL` set
the counters live in that Redis, so the limit holds across gunicorn workers and hosts;
without it they live in this process's memory. Past the limit the answer is a 429 problem
with Retry-After. /healthz, the OpenAPI document, the docs and the console are not limited.

If Redis stops answering, the API keeps serving: Flask-Limiter logs a warning and counts in
this process's memory until Redis answers again (it checks back with a growing interval),
and any other storage error is logged and lets the request through.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from market.api.problems import problem
from market.config import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
# Seconds to wait for Redis before the request goes on without it.
REDIS_TIMEOUT_SECONDS = 0.5


def storage_uri(settings: Settings) -> str:
    """The same Redis as Celery when REDIS_URL is set, else memory."""
    if not settings.redis_url:
        return "memory://"
    if settings.redis_url.startswith("unix://"):
        return "redis+unix://" + settings.redis_url.removeprefix("unix://")
    return settings.redis_url


def key_prefix(settings: Settings) -> str:
    """Account ids are unique within one database: two markets sharing a Redis keep apart."""
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    return f"market-{digest}"


def _account() -> str:
    return f"account:{g.actor.account_id}"


def _not_an_api_call() -> bool:
    """Exempt what is not an authenticated /api/v1 request (the limiter runs after authentication)."""
    return not request.path.startswith(API_PREFIX) or "actor" not in g


def register_rate_limit(app: Flask, settings: Settings) -> Limiter | None:
    """Limit each account's calls to /api/v1. Register after the authentication hook: it keys on g.actor."""
    if not settings.rate_limit:
        return None
    options = (
        {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS}
        if settings.redis_url
        else {}
    )
    limiter = Limiter(
        _account,
        application_limits=[settings.rate_limit],
        storage_uri=storage_uri(settings),
        storage_options=options,
        strategy="fixed-window",
        key_prefix=key_prefix(settings),
        headers_enabled=False,
        # Redis down: count in memory meanwhile (logged), and never refuse a request over a storage error.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.request_filter(_not_an_api_call)
    limiter.init_app(app)
    app.extensions["market.limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many_requests(error: RateLimitExceeded) -> Response:
        limit = error.limit.limit
        retry_after = _retry_after(current_app.extensions["market.limiter"], limit.get_expiry())
        return problem(
            429,
            "Too many requests",
            f"this account is over its rate limit of {str(limit).replace(' per ', ' requests per ')} (RATE_LIMIT);"
            f" retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    return limiter


def _retry_after(limiter: Limiter, window_seconds: int) -> int:
    """Whole seconds until the breached window resets (at least 1)."""
    try:
        current = limiter.current_limit
        if current is not None:
            reset_at, _remaining = current.window
            return max(1, math.ceil(reset_at - time.time()))
    except Exception:  # storage gone in the meantime: the window's length is a safe answer
        log.warning("rate limit storage unreachable while computing Retry-After")
    return max(1, window_seconds)
