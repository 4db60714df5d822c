"""A statement left running while the process works on (`send_without_waiting`), and its settling."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from market.config import load_settings
from market.db import make_engine, send_without_waiting, session_scope, settle

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_engine(postgres_server_url):
    """Statements in flight are PostgreSQL's (psycopg's pipeline mode): no SQLite run."""
    engine = make_engine(load_settings(database_url=postgres_server_url))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS flight (n integer PRIMARY KEY)"))
        connection.execute(text("TRUNCATE flight"))
    yield engine
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE flight"))
    engine.dispose()


def _count(engine) -> int:
    with Session(engine) as session:
        return session.execute(text("SELECT count(*) FROM flight")).scalar_one()


def test_the_database_runs_the_statement_while_this_process_goes_on(postgres_engine):
    with session_scope(postgres_engine) as session:
        started = time.perf_counter()
        send_without_waiting(session, "SELECT pg_sleep(0.5)", {})
        sent = time.perf_counter() - started
        time.sleep(0.5)
        settle(session)
        settled = time.perf_counter() - started
    assert sent < 0.25  # returned before the statement finished
    assert settled < 0.9  # the two half seconds overlapped


def test_the_next_statement_and_the_commit_wait_for_it(postgres_engine):
    with session_scope(postgres_engine) as session:
        send_without_waiting(session, "INSERT INTO flight SELECT generate_series(1, 1000)", {}, rows=1000)
        assert session.execute(text("SELECT count(*) FROM flight")).scalar_one() == 1000
        send_without_waiting(session, "INSERT INTO flight VALUES (%(n)s)", {"n": 1001}, rows=1)
    assert _count(postgres_engine) == 1001


def test_its_error_is_raised_as_sqlalchemy_raises_one_and_the_transaction_rolls_back(postgres_engine):
    with pytest.raises(DBAPIError, match="duplicate key"), session_scope(postgres_engine) as session:
        session.execute(text("INSERT INTO flight VALUES (1)"))
        send_without_waiting(session, "INSERT INTO flight VALUES (1)", {})
        session.execute(text("SELECT 1"))
    assert _count(postgres_engine) == 0
    # The pooled connection is usable again.
    with session_scope(postgres_engine) as session:
        session.execute(text("INSERT INTO flight VALUES (2)"))
    assert _count(postgres_engine) == 1


def test_a_count_of_rows_other_than_expected_is_an_error(postgres_engine):
    with pytest.raises(RuntimeError, match="1 rows written where 2 were expected"):
        with session_scope(postgres_engine) as session:
            send_without_waiting(session, "INSERT INTO flight VALUES (7)", {}, rows=2)
            settle(session)
    assert _count(postgres_engine) == 0


def test_a_rollback_drops_it(postgres_engine):
    with Session(postgres_engine) as session:
        send_without_waiting(session, "INSERT INTO flight VALUES (3)", {})
        session.rollback()
        assert session.execute(text("SELECT count(*) FROM flight")).scalar_one() == 0
    assert _count(postgres_engine) == 0


def test_a_connection_lost_with_a_statement_in_flight_rolls_back_and_the_pool_goes_on(postgres_engine):
    session = Session(postgres_engine)
    backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    send_without_waiting(session, "INSERT INTO flight SELECT n FROM generate_series(1, 10) AS n, pg_sleep(5)", {})
    with postgres_engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    with pytest.raises(DBAPIError):
        settle(session)
    session.rollback()
    session.close()
    assert _count(postgres_engine) == 0


def test_statements_sent_one_after_another_run_in_order_and_core_statements_are_compiled(postgres_engine):
    from sqlalchemy import Integer, column, insert, table, update

    flight = table("flight", column("n", Integer))
    with session_scope(postgres_engine) as session:
        send_without_waiting(session, insert(flight).values(n=5), rows=1)
        send_without_waiting(session, update(flight).where(flight.c.n == 5).values(n=6), rows=1)
        send_without_waiting(session, "UPDATE flight SET n = n + %(step)s", {"step": 10}, rows=1)
    with Session(postgres_engine) as session:
        assert session.execute(text("SELECT n FROM flight")).scalars().all() == [16]


def test_the_statement_that_failed_is_named_and_the_others_are_undone(postgres_engine):
    with pytest.raises(DBAPIError, match="INSERT INTO flight SELECT 1"):
        with session_scope(postgres_engine) as session:
            send_without_waiting(session, "INSERT INTO flight VALUES (2)", {})
            send_without_waiting(session, "INSERT INTO flight VALUES (1)", {})
            send_without_waiting(session, "INSERT INTO flight SELECT 1", {})
            send_without_waiting(session, "INSERT INTO flight VALUES (3)", {})
    assert _count(postgres_engine) == 0
