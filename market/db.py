"""The engine and sessions.

Services receive a `Session` and never commit; whoever opened it (a request,
a task, a CLI command) commits once at the end, so an error leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from operator import itemgetter
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, any_, bindparam, event, insert, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql import ClauseElement
from sqlmodel import Session, create_engine

from market.config import ConfigError, Settings

M = TypeVar("M")


def make_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        settings.database_url,
        # Bound values (a token's hash, a body's fields) stay out of error messages and logs.
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 5},
    )
    # A statement sent without waiting (`send_without_waiting`) is waited for before anything else
    # uses its connection: the next statement, a commit or rollback, the pool taking the connection back.
    event.listen(engine, "before_cursor_execute", lambda connection, *_: _settle_connection(connection))
    event.listen(engine, "commit", _settle_connection)
    event.listen(engine, "rollback", lambda connection: _settle_connection(connection, quiet=True))
    event.listen(engine, "reset", lambda _driver, record, _state: _settle(record.info, quiet=True))
    # A connection that is lost takes what it had in flight with it.
    event.listen(engine, "invalidate", lambda _driver, record, _error: record.info.pop(_IN_FLIGHT, None))
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL lets readers run beside one writer.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def check_connection(engine: Engine, settings: Settings) -> None:
    """Fail with one clear line when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"DATABASE_URL: cannot connect to {settings.redacted_database_url()}: {reason}") from None


def database_reachable(engine: Engine) -> tuple[bool, str]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True, "ok"
    except DBAPIError as exc:
        return False, type(exc.orig or exc).__name__


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def as_loaded(model: type[M], values: dict[str, Any]) -> M:
    """An instance of `model` holding `values` (every column) as if the ORM had loaded its row: built as
    SQLAlchemy builds loaded rows, without an attribute event per column (ten times cheaper than
    `model(**values)`). Detached, with its identity; `session.add` makes it persistent and clean."""
    instance = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """`column IN (values)`. On PostgreSQL one bound array (`column = ANY(:values)`), whatever the count:
    an IN list of thousands of values is thousands of placeholders that SQLAlchemy renders and psycopg
    parses again in Python on every execution, costing more than the query."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def int_array(values: Iterable[int]) -> str:
    """Integers as one PostgreSQL array literal ("{1,2,3}"), for a parameter the SQL casts to bigint[]:
    psycopg adapts a list element by element in Python, which costs more than the statement for
    tens of thousands of ids."""
    return "{" + ",".join(map(str, values)) + "}"


class JsonText(str):
    """A JSON document already written out, for a JSON column: COPY sends the text as it is."""


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows into `table` in this transaction: COPY on PostgreSQL, a multi-row INSERT elsewhere.

    Every row names the same columns. JSON columns take dicts (or, for COPY, `JsonText`); enums go
    in as their values. COPY sends the rows in PostgreSQL's binary format, typed by the table's
    columns as the database has them: psycopg then packs each value in C instead of writing it out
    as text (about an eighth of the Python time per row), and the server does not parse the text.
    Every value must be of its column's Python type (a date for a DATE column, not its text).
    A failing COPY raises as SQLAlchemy raises any statement's error (an IntegrityError, an
    OperationalError the task retries), not as the driver's own exception.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    values_of = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    # Only JSON and enum columns need a value converted; the others go to COPY as they are.
    converters = [
        (index, _json_value if isinstance(table.c[name].type, JSON) else _plain)
        for index, name in enumerate(columns)
        if isinstance(table.c[name].type, JSON | SAEnum) or isinstance(rows[0][name], Enum)
    ]
    connection = session.connection()
    _settle_connection(connection)  # a COPY cannot start while a statement is in flight
    driver = connection.connection.driver_connection
    quoted = ", ".join(f'"{name}"' for name in columns)
    types = column_types(session, table)
    try:
        with (
            driver.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT BINARY)') as copy,
        ):
            copy.set_types([types[name] for name in columns])
            for row in rows:
                values = values_of(row)
                if converters:
                    values = list(values)
                    for index, convert in converters:
                        values[index] = convert(values[index])
                copy.write_row(values)
    except psycopg.Error as error:
        raise DBAPIError.instance(f"COPY {table.name}", None, error, psycopg.Error, hide_parameters=True) from None


# --- statements the database runs while this process goes on ---------------------------------

_IN_FLIGHT = "market.in_flight"


@dataclass
class _InFlight:
    """A connection's statements sent in pipeline mode, with the rows each is to touch (None: any)."""

    pipeline: psycopg.Pipeline
    sent: list[tuple[psycopg.Cursor, str, int | None]]


def send_without_waiting(
    session: Session,
    statement: str | ClauseElement,
    params: Mapping[str, Any] | None = None,
    *,
    rows: int | None = None,
) -> None:
    """PostgreSQL: send `statement` and return at once, so that the database runs it while this
    process goes on with work of its own (parsing the next rows, say).

    `statement` is SQL with psycopg's %(name)s parameters, or a SQLAlchemy statement, compiled
    here with the values bound in it (as psycopg adapts them: numbers, text, times, lists of them).
    Statements sent one after another run in that order. They are waited for (`settle`) before
    anything else uses the connection: the next statement, a COPY, a commit or rollback. An error
    is raised then, as SQLAlchemy raises a statement's error, and so is a count of rows other
    than `rows`. Elsewhere (SQLite) a SQLAlchemy statement simply runs now (whose driver does not
    count the rows of a statement that begins with WITH).
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql" and not isinstance(statement, str):
        session.execute(statement)
        return
    if not isinstance(statement, str):
        compiled = statement.compile(dialect=connection.dialect)
        statement, params = str(compiled), compiled.params
    pending: _InFlight | None = connection.info.get(_IN_FLIGHT)
    driver = connection.connection.driver_connection
    if pending is None:
        pipeline = driver.pipeline()
        pipeline.__enter__()  # psycopg's pipeline mode: execute() sends, results are read at the sync
        pending = connection.info[_IN_FLIGHT] = _InFlight(pipeline, [])
    cursor = driver.cursor()
    pending.sent.append((cursor, statement, rows))
    try:
        cursor.execute(statement, params)
    except psycopg.Error as error:  # pipeline mode reads the results that have come in: an earlier one failed
        del connection.info[_IN_FLIGHT]
        try:
            pending.pipeline.__exit__(type(error), error, None)
        except psycopg.Error:
            pass
        raise _failure(pending, error, connection) from None


def settle(session: Session) -> None:
    """Wait for the statement this session's connection has in flight, if any (`send_without_waiting`)."""
    _settle_connection(session.connection())


def _settle_connection(connection: Connection, *, quiet: bool = False) -> None:
    if not connection.invalidated:  # else its statement in flight was lost with it
        _settle(connection.info, quiet=quiet, connection=connection)


def _settle(info: dict[str, Any], *, quiet: bool = False, connection: Connection | None = None) -> None:
    """Finish the connection's statement in flight; `quiet` (on rollback) drops its error."""
    pending: _InFlight | None = info.pop(_IN_FLIGHT, None)
    if pending is None:
        return
    try:
        pending.pipeline.__exit__(None, None, None)
    except psycopg.Error as error:
        failure = _failure(pending, error, connection)
        if not quiet:
            raise failure from None
        return
    for cursor, _, rows in pending.sent:
        if not quiet and rows is not None and cursor.rowcount != rows:
            raise RuntimeError(f"{cursor.rowcount} rows written where {rows} were expected")


def _failure(pending: _InFlight, error: psycopg.Error, connection: Connection | None) -> DBAPIError:
    """A statement in flight failed: the error as SQLAlchemy raises a statement's, naming the first one
    without a result (the rest were skipped after it); a lost connection is invalidated, as SQLAlchemy does."""
    lost = pending.sent[0][0].connection.broken
    if lost and connection is not None:
        connection.invalidate(error)
    failed = next((sql for cursor, sql, _ in pending.sent if cursor.pgresult is None), pending.sent[-1][1])
    return DBAPIError.instance(failed, None, error, psycopg.Error, hide_parameters=True, connection_invalidated=lost)


# Fewer rows than this go in by INSERT ... RETURNING, one round trip: COPY's own round trips
# (and drawing the ids first) cost more than they save on a handful of rows.
COPY_FROM_ROWS = 50


def insert_rows_with_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Write rows in one statement; the new ids are written back into the rows, in order.

    PostgreSQL, from COPY_FROM_ROWS rows: the ids are drawn from the table's sequence in one query,
    then the rows go in by COPY ... FROM STDIN (about ten times cheaper per row than a multi-row
    INSERT, whose long SQL text psycopg parses in Python). Fewer rows, or SQLite: one (multi-row)
    INSERT ... RETURNING (insertmanyvalues); JSON columns then take dicts, not `JsonText`.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = session.execute(statement, rows).scalars().all()
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        return
    for row, new_id in zip(rows, draw_ids(session, table, len(rows)), strict=True):
        row["id"] = new_id
    insert_rows(session, table, rows)


def draw_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` new ids from the table's sequence (PostgreSQL), in one query, ascending."""
    sequence = _id_sequences.get(table.name)
    if sequence is None:
        sequence = session.execute(text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name})
        sequence = _id_sequences[table.name] = sequence.scalar_one()
    # The sequence named as a literal (nextval would look a computed name up again for every id), and
    # one row holding an array: fetching tens of thousands of one-number rows costs more than drawing them.
    literal = sequence.replace("'", "''")
    ids = session.execute(
        text(f"SELECT array_agg(nextval('{literal}')) FROM generate_series(1, :n)"), {"n": count}
    ).scalar_one()
    return sorted(ids)


# Table name -> the sequence its ids come from, looked up once per process.
_id_sequences: dict[str, str] = {}


def column_types(session: Session, table: Table) -> dict[str, int]:
    """PostgreSQL: the type (oid) of each of the table's columns, as the database has them, looked up
    once per process (a migration that changes a column's type restarts the processes with it)."""
    types = _column_types.get(table.name)
    if types is None:
        rows = session.execute(
            text(
                "SELECT attname, atttypid::int FROM pg_attribute"
                " WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped"
            ),
            {"table": f'"{table.name}"'},
        )
        types = _column_types[table.name] = dict(rows.all())
    return types


# Table name -> its columns' type oids, looked up once per process.
_column_types: dict[str, dict[str, int]] = {}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    return Jsonb(value, dumps=_as_written) if type(value) is JsonText else Jsonb(value)


def _as_written(document: str) -> str:
    return document
