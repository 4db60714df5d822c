"""`market audit seal`, `market audit verify` and `market revoke-token`, as an operator runs them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from market.cli import main
from market.db import session_scope
from market.services.audit import append_events
from tests.conftest import bearer
from tests.services.audit_helpers import stored_chain, tamper


@pytest.fixture
def runner():
    return CliRunner()


def _env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": "", "LOG_LEVEL": "WARNING"}


def _lines(output: str) -> list[str]:
    return output.strip().splitlines()


def test_verify_passes_then_names_a_row_changed_in_sql(runner, database_url, world, engine):
    events = len(stored_chain(engine))
    intact = runner.invoke(main, ["audit", "verify"], env=_env(database_url))
    assert intact.exit_code == 0, intact.output
    sealed, checked = _lines(intact.output)
    assert sealed == f"sealed {events} audit events into the chain first"
    assert checked.startswith(f"audit log intact: {events} events (head: event {events}, hash ")
    again = runner.invoke(main, ["audit", "verify"], env=_env(database_url))
    assert _lines(again.output) == [checked]

    tamper(engine, "UPDATE audit_event SET actor = 'account:999' WHERE id = 3")
    broken = runner.invoke(main, ["audit", "verify"], env=_env(database_url))
    assert broken.exit_code == 1
    first, second = _lines(broken.output)
    assert first.startswith("audit log broken at event 3: its contents do not match its hash")
    assert second == "the 2 events before it link up (to event 2)"


def test_seal_chains_what_is_waiting(runner, database_url, world, engine):
    events = len(stored_chain(engine))
    first = runner.invoke(main, ["audit", "seal"], env=_env(database_url))
    assert (first.exit_code, first.output) == (0, f"sealed {events} audit events into the chain\n")
    assert all(digest is not None for _, _, digest in stored_chain(engine))
    second = runner.invoke(main, ["audit", "seal"], env=_env(database_url))
    assert (second.exit_code, second.output) == (0, "sealed 0 audit events into the chain\n")


def test_verify_finds_a_deleted_row(runner, database_url, world, engine):
    assert runner.invoke(main, ["audit", "seal"], env=_env(database_url)).exit_code == 0
    tamper(engine, "DELETE FROM audit_event WHERE id = 4")
    broken = runner.invoke(main, ["audit", "verify"], env=_env(database_url))
    assert broken.exit_code == 1
    assert _lines(broken.output)[0].startswith("audit log broken at event 5: its prev_hash")
    assert "chain positions 4..4 are missing" in broken.output


def test_verify_streams_a_long_log(runner, database_url, engine):
    with session_scope(engine) as session:
        append_events(
            session,
            [
                {"actor": "system:test", "action": "test.bulk", "object_type": "test", "object_id": n}
                for n in range(2500)
            ],
        )
    result = runner.invoke(main, ["audit", "verify"], env=_env(database_url))
    assert result.exit_code == 0, result.output
    assert _lines(result.output)[0] == "sealed 2500 audit events into the chain first"
    assert _lines(result.output)[1].startswith("audit log intact: 2500 events")


def test_verify_an_empty_log(runner, database_url):
    result = runner.invoke(main, ["audit", "verify"], env=_env(database_url))
    assert (result.exit_code, result.output) == (0, "audit log intact: 0 events\n")


def test_revoke_token_by_prefix_then_the_api_refuses_it(runner, database_url, client, world):
    created = client.post("/api/v1/accounts", json={"role": "admin", "name": "temp"}, headers=world.admin).json
    token, account_id = created["token"], created["id"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200

    revoked = runner.invoke(main, ["revoke-token", token[:8]], env=_env(database_url))
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output == f"revoked token {token[:8]}… of account {account_id} (temp, admin)\n"
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    # The office's own token still works.
    assert client.get("/api/v1/me", headers=world.admin).status_code == 200

    again = runner.invoke(main, ["revoke-token", str(account_id)], env=_env(database_url))
    assert again.exit_code == 0 and "already revoked" in again.output and "nothing changed" in again.output
    audit = runner.invoke(main, ["audit", "verify"], env=_env(database_url))
    assert audit.exit_code == 0, audit.output


@pytest.mark.parametrize(
    "key, words",
    [
        ("mkt_none", "no token starts with mkt_none"),
        ("424242", "no account with id 424242"),
        ("mkt_" + "Z" * 43, "no such token (mkt_ZZZZ…)"),
        ("office", "is neither an account id nor a token prefix"),
    ],
)
def test_revoke_token_that_does_not_exist_is_one_line_and_exit_2(runner, database_url, key, words):
    result = runner.invoke(main, ["revoke-token", key], env=_env(database_url))
    assert result.exit_code == 2
    assert _lines(result.output) == [result.output.strip()] and result.output.startswith("market: error: ")
    assert words in result.output and "Traceback" not in result.output
    if len(key) > 8:
        assert key not in result.output
