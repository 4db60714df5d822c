"""GET /healthz: is the database reachable, and the broker when one is configured."""

from __future__ import annotations

from flask import Blueprint, current_app

from market.api.http import respond, settings
from market.broker import broker_reachable
from market.db import database_reachable

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    database_ok, database_detail = database_reachable(current_app.extensions["market.engine"])
    redis_url = settings().redis_url
    if redis_url:
        broker_ok, broker_detail = broker_reachable(redis_url)
        broker = {"ok": broker_ok, "detail": broker_detail, "mode": "celery"}
    else:
        broker_ok = True
        broker = {"ok": True, "detail": "no REDIS_URL: background work runs in-process", "mode": "in-process"}
    healthy = database_ok and broker_ok
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": {"ok": database_ok, "detail": database_detail},
        "broker": broker,
    }
    return respond(body, 200 if healthy else 503)
