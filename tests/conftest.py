"""Shared fixtures: one gives a database (SQLite, and PostgreSQL when reachable), one an API client.

Tests that use `database_url` run once per backend. PostgreSQL and Redis tests skip
when the server is down on a developer's machine, and fail under CI (`CI` set).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from market.app import create_app
from market.config import load_settings
from market.db import make_engine, session_scope
from market.migrate import upgrade
from market.models import metadata

POSTGRES_URL = os.environ.get("MARKET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MARKET_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = bool(os.environ.get("CI"))
# No app a test makes (nor a worker it starts) seals the audit log on a timer unless the test asks: a
# sealer thread outliving its test would seal the next test's events in the same database. The tests
# seal when they mean to; tests/api/test_audit_sealing.py and the beat test set an interval of their own.
os.environ["AUDIT_SEAL_INTERVAL_SECONDS"] = "0"


def require_service(name: str, reason: str) -> None:
    """Skip on a developer's machine; under CI a missing service is a failure, never a skip."""
    message = f"{name} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI requires it)")
    pytest.skip(message)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url(worker_id: str):
    """A fresh, migrated PostgreSQL database of this test process's own, dropped at the end."""
    # The pid keeps two test runs on one server (two engineers, or CI beside a developer) apart.
    name = f"market_test_{worker_id}_{os.getpid()}"
    try:
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", str(exc).strip().splitlines()[0])
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, instead of migrating afresh."""
    path = tmp_path_factory.mktemp("template") / "market.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "market.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_server_url")
    _truncate_all(url)
    return url


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    engine = make_engine(load_settings(database_url=url))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(database_url: str):
    # No rate limit here: tests/security/test_rate_limit.py tests it with settings of its own.
    return load_settings(database_url=database_url, redis_url="", secret_key="test-secret", rate_limit="")


@pytest.fixture
def engine(settings):
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    app.extensions["market.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


# --- a small populated world: the office, two cooperatives, two buyers ----------------------


@dataclass
class World:
    admin: dict[str, str]
    coop: dict[str, str]
    other_coop: dict[str, str]
    buyer: dict[str, str]
    other_buyer: dict[str, str]
    coop_id: int
    other_coop_id: int
    buyer_id: int
    other_buyer_id: int


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(client, engine) -> World:
    from market.models.account import AccountCreate
    from market.models.common import Role
    from market.services.accounts import create_account
    from market.services.actors import Actor

    with session_scope(engine) as session:
        _, admin_token = create_account(
            session, actor=Actor.system("test"), data=AccountCreate(role=Role.admin, name="office")
        )
    admin = bearer(admin_token)

    def post(path: str, body: dict) -> dict:
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == 201, response.json
        return response.json

    def cooperative(name: str, township: str, lat: float, lon: float) -> tuple[int, dict[str, str]]:
        row = post(
            "/api/v1/cooperatives",
            {
                "name": name,
                "name_zh": name + "合作社",
                "township": township,
                "county": "Zhaoyang District",
                "latitude": lat,
                "longitude": lon,
                "member_households": 300,
                "poor_households": 120,
            },
        )
        account = post(
            "/api/v1/accounts", {"role": "cooperative", "name": name + " clerk", "cooperative_id": row["id"]}
        )
        return row["id"], bearer(account["token"])

    def buyer(name: str) -> tuple[int, dict[str, str]]:
        row = post(
            "/api/v1/buyers",
            {
                "name": name,
                "name_zh": name + "公司",
                "city": "Dongguan",
                "latitude": 23.02,
                "longitude": 113.75,
            },
        )
        account = post("/api/v1/accounts", {"role": "buyer", "name": name + " buyer", "buyer_id": row["id"]})
        return row["id"], bearer(account["token"])

    coop_id, coop = cooperative("Sayu Apple", "Sayu", 27.43, 103.60)
    other_coop_id, other_coop = cooperative("Sujiayuan Apple", "Sujiayuan", 27.26, 103.80)
    buyer_id, buyer_headers = buyer("Zejing")
    other_buyer_id, other_buyer = buyer("Baikang")
    return World(admin, coop, other_coop, buyer_headers, other_buyer, coop_id, other_coop_id, buyer_id, other_buyer_id)
