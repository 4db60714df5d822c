"""Reaching Redis, the Celery broker, when REDIS_URL is set."""

from __future__ import annotations

import redis


def broker_reachable(redis_url: str) -> tuple[bool, str]:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
        return True, "ok"
    except redis.RedisError as exc:
        return False, type(exc).__name__
    finally:
        client.close()
