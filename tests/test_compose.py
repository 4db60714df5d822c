"""docker-compose.yml cannot rot: every service built from this repository is run natively.

Docker is not needed. Each service's own `command` (and, where it can run here, its own
health check) is started from the repository root with the virtualenv first on PATH and
the compose environment, except that DATABASE_URL and REDIS_URL point at the local test
PostgreSQL and Redis (database 15), the web port is a free one, and beat's schedule file
lives in a temporary directory.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from market import migrate
from market.broker import broker_reachable
from market.config import load_settings
from market.db import make_engine
from tests.conftest import REDIS_URL, require_service
from tests.workers.processes import ROOT, free_port, log_tail, running, venv_env, wait_for

COMPOSE_FILE = ROOT / "docker-compose.yml"
INFRASTRUCTURE = ("postgres", "redis")
OURS = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def interpolate(value: str) -> str:
    """What `docker compose` does to a value, with no variables set: ${X:-default} -> default, $$ -> $."""
    value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)
    if re.search(r"\$(?!\$)[{A-Za-z_]", value.replace("$$", "")):
        raise AssertionError(f"{value!r}: a variable without a default would be empty under compose")
    return value.replace("$$", "$")


def substitute(value: str, replacements: dict[str, str]) -> str:
    value = interpolate(value)
    for old, new in replacements.items():
        value = value.replace(old, new)
    return value


def service_argv(service: dict[str, Any], replacements: dict[str, str]) -> list[str]:
    command = service["command"]
    assert isinstance(command, list), "commands are exec-form lists, so no shell changes them"
    return [substitute(part, replacements) for part in command]


def healthcheck_argv(service: dict[str, Any], replacements: dict[str, str]) -> list[str]:
    kind, *rest = service["healthcheck"]["test"]
    if kind == "CMD":
        return [substitute(part, replacements) for part in rest]
    assert kind == "CMD-SHELL" and len(rest) == 1, service["healthcheck"]
    return ["sh", "-c", substitute(rest[0], replacements)]


def local_env(service: dict[str, Any], database_url: str, **extra: str) -> dict[str, str]:
    environment = {name: interpolate(str(value)) for name, value in service["environment"].items()}
    # Replace, never add: the service must already name both.
    assert environment.keys() >= {"DATABASE_URL", "REDIS_URL"}
    environment.update(DATABASE_URL=database_url, REDIS_URL=REDIS_URL)
    return venv_env(environment, **extra)


# --- the file itself -----------------------------------------------------------------------


def test_every_service_is_there_with_a_health_check(compose):
    services = compose["services"]
    assert set(services) >= {*INFRASTRUCTURE, *OURS}
    for name in (*INFRASTRUCTURE, *LONG_RUNNING):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_our_services_wait_for_healthy_dependencies_and_the_migration(compose):
    services = compose["services"]
    for name in OURS:
        service = services[name]
        assert service["environment"]["DATABASE_URL"] == "postgresql+psycopg://market:market@postgres:5432/market"
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert "placeholder" in interpolate(service["environment"]["SECRET_KEY"])
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in LONG_RUNNING:
        depends_on = services[name]["depends_on"]
        assert depends_on["redis"] == {"condition": "service_healthy"}
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}


# --- each of our services, run natively ----------------------------------------------------


@pytest.fixture(scope="module")
def fresh_database(postgres_server_url: str) -> str:
    """An empty database beside the test one, for `migrate` to build from nothing."""
    url = make_url(postgres_server_url)
    name = f"{url.database}_compose"
    admin_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def migrated(compose, fresh_database: str) -> str:
    """Run the `migrate` service's command, as compose does before web, worker and beat start."""
    service = compose["services"]["migrate"]
    result = _run(service_argv(service, {}), local_env(service, fresh_database))
    assert result.returncode == 0, result.stdout + result.stderr
    return fresh_database


@pytest.fixture
def redis_up() -> None:
    ok, detail = broker_reachable(REDIS_URL)
    if not ok:
        require_service("Redis", f"{REDIS_URL}: {detail}")


@pytest.mark.postgres
def test_migrate_builds_the_schema_from_nothing(migrated):
    engine = make_engine(load_settings(database_url=migrated))
    try:
        assert migrate.current_revision(engine) == migrate.head_revision() is not None
    finally:
        engine.dispose()


def _healthz(port: int) -> tuple[int, dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None  # not listening yet


@pytest.mark.postgres
@pytest.mark.redis
def test_web_serves_healthz_with_database_and_broker_ok(compose, migrated, redis_up, tmp_path: Path):
    service = compose["services"]["web"]
    port = free_port()
    # Bind where the test can reach it, on a port nobody else uses.
    local = f"127.0.0.1:{port}"
    replacements = {"0.0.0.0:8000": local, "127.0.0.1:8000": local, "localhost:8000": local}
    argv = service_argv(service, replacements)
    assert local in argv, "the web command no longer binds 0.0.0.0:8000"
    env = local_env(service, migrated)
    health_check = healthcheck_argv(service, replacements)
    assert _run(health_check, env).returncode != 0, "the health check passes with no server running"

    log = tmp_path / "web.log"
    with running(argv, env=env, log=log) as web:
        status, body = wait_for(lambda: _healthz(port), process=web, log=log, what="GET /healthz")
        assert status == 200, body
        assert body["database"]["ok"] is True, body
        assert body["broker"] == {"ok": True, "detail": "ok", "mode": "celery"}, body

        check = _run(health_check, env)
        assert check.returncode == 0, check.stderr


@pytest.mark.postgres
@pytest.mark.redis
def test_worker_answers_its_own_health_check(compose, migrated, redis_up, tmp_path: Path):
    service = compose["services"]["worker"]
    # Under compose, $HOSTNAME is the container's hostname, which is the worker's node name.
    env = local_env(service, migrated, HOSTNAME=socket.gethostname())
    log = tmp_path / "worker.log"
    with running(service_argv(service, {}), env=env, log=log) as worker:
        wait_for(
            lambda: True if " ready." in log.read_text() else None,
            process=worker,
            log=log,
            what="the worker logs that it is ready",
            timeout=90,
        )
        check = _run(healthcheck_argv(service, {}), env)
        assert check.returncode == 0, f"{check.stdout}{check.stderr}\n{log_tail(log)}"
        assert "pong" in check.stdout
        assert "maintenance.purge_idempotency_keys" in log.read_text(), "the worker does not know the task"


@pytest.mark.postgres
@pytest.mark.redis
def test_beat_starts_and_keeps_running(compose, migrated, redis_up, tmp_path: Path):
    service = compose["services"]["beat"]
    schedule = str(tmp_path / "celerybeat-schedule")
    replacements = {"/tmp/celerybeat-schedule": schedule}
    argv = service_argv(service, replacements)
    assert schedule in argv, "beat's --schedule is no longer /tmp/celerybeat-schedule"
    env = local_env(service, migrated)
    health_check = healthcheck_argv(service, replacements)
    assert _run(health_check, env).returncode != 0, "the health check passes with no beat running"

    log = tmp_path / "beat.log"
    with running(argv, env=env, log=log) as beat:
        wait_for(
            lambda: True if "beat: Starting..." in log.read_text() else None,
            process=beat,
            log=log,
            what="beat logs that it started",
        )
        # Still alive a few seconds later: it reached Redis and did not give up.
        with pytest.raises(subprocess.TimeoutExpired):
            beat.wait(timeout=3)
        check = _run(health_check, env)
        assert check.returncode == 0, f"beat's health check failed:\n{check.stderr}\n{log_tail(log)}"


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
