"""The `market` command as an operator meets it."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from market.app import create_app
from market.cli import main
from market.config import load_settings
from tests.conftest import bearer


@pytest.fixture
def runner():
    return CliRunner()


def _env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": "", "LOG_LEVEL": "WARNING"}


def test_db_upgrade_then_create_admin_prints_a_working_token(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgraded = runner.invoke(main, ["db", "upgrade"], env=_env(url))
    assert upgraded.exit_code == 0, upgraded.output
    current = runner.invoke(main, ["db", "current"], env=_env(url))
    assert "latest" in current.output and current.output.split(";")[0].split()[-1] != "empty"

    created = runner.invoke(main, ["create-admin", "office"], env=_env(url))
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    app = create_app(load_settings(database_url=url, redis_url=""))
    me = app.test_client().get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json["role"] == "admin" and me.json["name"] == "office"


def test_commands_refuse_an_unmigrated_database_in_one_line(runner, tmp_path):
    result = runner.invoke(main, ["create-admin", "office"], env=_env(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "run `market db upgrade`" in result.output


@pytest.mark.parametrize(
    "url, words",
    [
        ("nonsense", "DATABASE_URL is invalid"),
        (
            "postgresql://nobody@127.0.0.1:1/market",
            "DATABASE_URL: cannot connect to postgresql+psycopg://nobody@127.0.0.1:1",
        ),
    ],
)
def test_a_bad_database_fails_at_start_with_one_line(runner, url, words):
    result = runner.invoke(main, ["db", "upgrade"], env=_env(url))
    assert result.exit_code == 2
    assert result.output.startswith("market: error: ") and words in result.output
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("market")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("demo", "serve", "seed", "create-admin", "db"):
        assert command in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_over_http_with_gunicorn(database_url):
    port = _free_port()
    script = Path(sys.executable).with_name("market")
    env = os.environ | _env(database_url)
    process = subprocess.Popen(
        [script, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "market serve did not answer in 30 s"
                time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/offers")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        assert refused.value.headers["Content-Type"] == "application/problem+json"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_demo_builds_a_fresh_market_and_summarises_it(runner, tmp_path):
    database = tmp_path / "demo.db"
    first = runner.invoke(main, ["demo", "--database", str(database)], env=_env("sqlite:///unused.db"))
    assert first.exit_code == 0, first.output
    out = first.stdout
    for words in (
        "apple 苹果",
        "egg 鸡蛋",
        "Sichuan pepper 花椒",
        "vegetable 蔬菜",
        "potato 马铃薯",
        "东莞市泽景公司 <- 海升集团",
        "Purchase agreements 采购协议",
        "registered poor households",
    ):
        assert words in out, words
    # The three apple agreements of the article, fully called off.
    agreement_lines = [line for line in out.splitlines() if "<-" in line and "apple" in line]
    assert [line.split()[-5] for line in agreement_lines] == ["3,000", "2,000", "2,000"]
    assert all(line.split()[-5] == line.split()[-3] for line in agreement_lines)
    demand_total = next(line for line in out.splitlines() if line.startswith("Open demand"))
    tonnes = int(demand_total.split(": ")[1].split(" t")[0].replace(",", ""))
    assert tonnes >= 10_000

    # The season delivered: the article's scale, and the three apple agreements at 100%.
    ledger = out[out.index("The season's deliveries") :]
    delivered = next(line for line in ledger.splitlines() if line.startswith("Delivered"))
    tonnes, earned = delivered.split()[1], delivered.split("revenue earned ")[1].split()[0]
    assert int(tonnes.replace(",", "")) >= 10_000
    assert 100_000_000 <= Decimal(earned.replace(",", "")) <= 140_000_000
    agreement_rows = [line for line in ledger.splitlines() if line.strip().startswith("ZY-2020-")]
    assert len(agreement_rows) == 4 and all("100.0%" in line for line in agreement_rows)
    assert "带贫 Revenue earned by township" in ledger

    # The match round: the article's three apple agreements come out as contracts, in full.
    report = out[out.index("Matching the open book") : out.index("The season's deliveries")]
    fulfilled = [line for line in report.splitlines() if "<-" in line and "seller" not in line]
    assert len(fulfilled) == 4 and all("100.0%" in line for line in fulfilled)
    assert [line.split()[-5] for line in fulfilled[:3]] == ["3,000", "2,000", "2,000"]
    for words in (
        "Optimum vs first come, first served",
        "first come, first served",
        "Unmatched orders",
        "yuan per household",
        "The office approved the run",
    ):
        assert words in report, words

    # Run again: built afresh, so the same market and the same tables (solver timings aside).
    again = runner.invoke(main, ["demo", "--database", str(database)], env=_env("sqlite:///unused.db"))
    assert again.exit_code == 0
    assert _without_timings(again.stdout) == _without_timings(first.stdout)


def _without_timings(output: str) -> str:
    return output[: output.index("Solver\n")] + output[output.index("The office approved") :]


def test_match_and_report_print_the_same_report_as_the_api(runner, database_url, settings):
    import json

    assert runner.invoke(main, ["seed"], env=_env(database_url)).exit_code == 0
    matched = runner.invoke(main, ["match", "--product", "apple", "--json"], env=_env(database_url))
    assert matched.exit_code == 0, matched.output
    report = json.loads(matched.stdout)
    assert report["products"] == ["apple"] and report["totals"]["tonnes"] != "0"

    from sqlmodel import select

    from market.db import session_scope
    from market.models import MatchRun
    from market.models.account import AccountCreate
    from market.services.accounts import create_account
    from market.services.actors import Actor

    app = create_app(settings)
    with session_scope(app.extensions["market.engine"]) as session:
        run_id = session.exec(select(MatchRun.id)).one()
        _, token = create_account(session, actor=Actor.system("test"), data=AccountCreate(role="admin", name="o"))
    over_http = app.test_client().get(f"/api/v1/match-runs/{run_id}", headers=bearer(token)).json
    assert over_http["status"] == "proposed" and over_http["report"] == report

    shown = runner.invoke(main, ["report", str(run_id), "--json"], env=_env(database_url))
    assert json.loads(shown.stdout) == report
    table = runner.invoke(main, ["report", str(run_id)], env=_env(database_url))
    assert f"Match run {run_id} (proposed)" in table.stdout and "By product" in table.stdout
    missing = runner.invoke(main, ["report", "999"], env=_env(database_url))
    assert missing.exit_code == 2 and "match run 999 not found" in missing.output
    refused = runner.invoke(main, ["match", "--poverty-weight", "-5"], env=_env(database_url))
    assert refused.exit_code == 2 and refused.output.startswith("market: error: --poverty-weight")


@pytest.mark.parametrize(
    "env, words",
    [
        ({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/market", "SECRET_KEY": "k"}, "DATABASE_URL: cannot connect"),
        ({"DATABASE_URL": "sqlite:///market.db"}, "SECRET_KEY is not set"),
    ],
)
def test_gunicorn_stops_with_one_line_on_a_bad_setting(tmp_path, env, words):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"} | _env(env["DATABASE_URL"]) | env
    result = subprocess.run(
        [gunicorn, "--bind", f"127.0.0.1:{_free_port()}", "--workers", "2", "market.wsgi:app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # Exit status 3 tells gunicorn the worker cannot boot, so the master gives up instead of
    # respawning it for ever (a hang here would hit the timeout).
    assert result.returncode != 0
    assert "Worker failed to boot" in result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("market: error:")]
    assert ours and all(words in line for line in ours)


def test_seed_loads_the_scenario_once_and_synthetic_books_on_top(runner, database_url, engine):
    from sqlmodel import func, select

    from market.db import session_scope
    from market.models import DemandOrder, SupplyOffer

    first = runner.invoke(main, ["seed"], env=_env(database_url))
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("scenario loaded: 11 cooperatives")
    second = runner.invoke(main, ["seed"], env=_env(database_url))
    assert second.stdout.startswith("scenario loaded: 0 cooperatives, 0 buyers, 0 agreements, 0 offers, 0 orders")

    synthetic = runner.invoke(main, ["seed", "--synthetic", "300", "--random-seed", "7"], env=_env(database_url))
    assert synthetic.exit_code == 0, synthetic.output
    assert "300 offers, 300 orders" in synthetic.stdout
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(SupplyOffer)).one() == 45 + 300
        assert session.exec(select(func.count()).select_from(DemandOrder)).one() == 49 + 300
    refused = runner.invoke(main, ["seed", "--synthetic", "0"], env=_env(database_url))
    assert refused.exit_code == 2 and "--synthetic" in refused.output
