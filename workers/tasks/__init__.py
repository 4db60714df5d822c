"""Celery tasks. Each one takes ids or plain values, opens a session, calls one service
and returns a plain value; the business rules stay in `market.services`.

The session comes from `task_session()`: one engine per worker process, created on first
use, and dropped after a fork (see `workers.app`) so no two processes share a connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session

from market.config import get_settings
from market.db import make_engine, session_scope

_engine: Engine | None = None


def task_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = make_engine(get_settings())
    return _engine


def dispose_engine_after_fork() -> None:
    """Forget the pool inherited from the parent, without closing the parent's connections."""
    if _engine is not None:
        _engine.dispose(close=False)


@contextmanager
def task_session() -> Iterator[Session]:
    """One unit of work for one task: commits when the task body succeeds, rolls back otherwise."""
    with session_scope(task_engine()) as session:
        yield session
