"""The Celery app: its entry point refuses to start without Redis, and its limits fit together."""

from __future__ import annotations

import subprocess

import pytest

from market.config import load_settings
from tests.workers.processes import ROOT, venv_env
from workers import make_celery


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_refuses_to_start_without_redis_url(command: str):
    result = subprocess.run(
        ["celery", "-A", "workers.app", command],
        cwd=ROOT,
        env=venv_env(REDIS_URL=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "market worker: error: REDIS_URL is not set: the Celery worker and beat need Redis,"
        " e.g. REDIS_URL=redis://127.0.0.1:6379/0"
    ]


@pytest.fixture
def celery_app():
    app = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15"))
    app.loader.import_default_modules()
    yield app
    app.close()


def our_tasks(app):
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_ends_before_redis_would_deliver_it_again(celery_app):
    conf = celery_app.conf
    visibility_timeout = conf.broker_transport_options["visibility_timeout"]
    assert our_tasks(celery_app), "no task registered: TASK_MODULES imports nothing"
    for name, task in our_tasks(celery_app).items():
        hard = task.time_limit or conf.task_time_limit
        soft = task.soft_time_limit or conf.task_soft_time_limit
        assert hard is not None and soft is not None, f"{name} has no time limit"
        assert soft < hard < visibility_timeout, name


def test_beat_sends_only_registered_tasks_by_their_names(celery_app):
    schedule = celery_app.conf.beat_schedule
    assert "maintenance.purge_idempotency_keys" in {entry["task"] for entry in schedule.values()}
    for entry in schedule.values():
        assert entry["task"] in our_tasks(celery_app)


def test_only_json_crosses_the_wire(celery_app):
    conf = celery_app.conf
    assert (conf.task_serializer, conf.result_serializer) == ("json", "json")
    assert list(conf.accept_content) == list(conf.result_accept_content) == ["json"]


def test_beat_schedules_a_run_per_product_only_when_asked():
    from datetime import timedelta

    from market.config import load_settings
    from market.models.common import Product
    from workers import make_celery

    default = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15"))
    assert not any(entry["task"] == "matching.scheduled_run" for entry in default.conf.beat_schedule.values())
    every_quarter_hour = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15", match_interval_minutes=15))
    entries = [e for e in every_quarter_hour.conf.beat_schedule.values() if e["task"] == "matching.scheduled_run"]
    assert sorted(entry["args"][0] for entry in entries) == sorted(product.value for product in Product)
    assert {entry["schedule"] for entry in entries} == {timedelta(minutes=15)}


def test_beat_seals_the_audit_log_every_interval_unless_it_is_zero():
    from datetime import timedelta

    from market.config import load_settings
    from workers import make_celery

    def seals(**settings):
        app = make_celery(load_settings(redis_url="redis://127.0.0.1:6379/15", **settings))
        return [entry for entry in app.conf.beat_schedule.values() if entry["task"] == "maintenance.seal_audit_log"]

    from market.config import Settings

    # The default (the tests' environment sets 0, see tests/conftest.py).
    assert Settings.model_fields["audit_seal_interval_seconds"].default == 10
    (default,) = seals(audit_seal_interval_seconds=10)
    assert default["schedule"] == timedelta(seconds=10) and default["options"]["expires"] == 10
    (often,) = seals(audit_seal_interval_seconds=2)
    assert often["schedule"] == timedelta(seconds=2)
    assert seals(audit_seal_interval_seconds=0) == []
