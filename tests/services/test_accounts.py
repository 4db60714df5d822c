"""Tokens: checked in constant time, revocable at once, and never written to a log or the audit log."""

from __future__ import annotations

import hmac
import logging

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from market.db import session_scope
from market.models import Account, AuditEvent
from market.models.account import AccountCreate
from market.models.common import Role
from market.services import accounts
from market.services.accounts import authenticate, create_account, hash_token, revoke_token
from market.services.actors import Actor
from market.services.errors import Conflict, Forbidden, Invalid, NotFound
from tests.conftest import bearer

OFFICE = Actor.system("test")


def _new_admin(engine, name: str = "auditor") -> tuple[Account, str]:
    with session_scope(engine) as session:
        return create_account(session, actor=OFFICE, data=AccountCreate(role=Role.admin, name=name))


def test_no_token_or_token_hash_is_ever_logged(client, engine, caplog):
    caplog.set_level(logging.DEBUG)
    admin, admin_token = _new_admin(engine)
    created = client.post("/api/v1/accounts", json={"role": "admin", "name": "second"}, headers=bearer(admin_token))
    assert created.status_code == 201
    token = created.json["token"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(token[:-1] + "x")).status_code == 401
    with session_scope(engine) as session:
        revoke_token(session, actor=OFFICE, key=token[:8])
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401

    logged = caplog.text
    assert "account.create" in logged and "account.revoke" in logged  # the log was captured
    with engine.connect() as connection:
        audited = " ".join(str(value) for row in connection.execute(text("SELECT * FROM audit_event")) for value in row)
    for secret in (admin_token, token):
        for text_ in (logged, audited):
            assert secret not in text_ and secret[8:] not in text_ and hash_token(secret) not in text_


def test_the_stored_hash_is_compared_in_constant_time(engine, monkeypatch):
    _, token = _new_admin(engine)
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return real(a, b)

    real = hmac.compare_digest
    monkeypatch.setattr(accounts.hmac, "compare_digest", compare_digest)
    with Session(engine) as session:
        assert authenticate(session, token) is not None
    assert compared == [(hash_token(token), hash_token(token))]

    # Whatever the lookup found, it is compare_digest that lets the token in.
    monkeypatch.setattr(accounts.hmac, "compare_digest", lambda a, b: False)
    with Session(engine) as session:
        assert authenticate(session, token) is None


@pytest.mark.parametrize("name_it_by", ["id", "prefix", "token"])
def test_revoking_a_token_ends_it_at_once_and_is_audited(client, engine, name_it_by):
    account, token = _new_admin(engine)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    key = {"id": str(account.id), "prefix": token[:8], "token": token}[name_it_by]
    with session_scope(engine) as session:
        revoked, now = revoke_token(session, actor=OFFICE, key=key)
    assert now and revoked.id == account.id and revoked.revoked_at is not None
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")

    with Session(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "account.revoke")).all()
        assert len(events) == 1
        assert (events[0].object_id, events[0].actor) == (account.id, "system:test")
        assert events[0].before["revoked_at"] is None and events[0].after["revoked_at"] is not None
        # Twice is harmless: nothing changes and nothing more is recorded.
        again, now = revoke_token(session, actor=OFFICE, key=str(account.id))
        assert not now and again.revoked_at is not None
        session.rollback()


def test_revoking_names_exactly_one_token(engine):
    first, _ = _new_admin(engine, "first")
    second, _ = _new_admin(engine, "second")
    with session_scope(engine) as session:
        for key, error, words in (
            ("999", NotFound, "no account with id 999"),
            ("mkt_@@@@", NotFound, "no token starts with mkt_@@@@"),
            ("mkt_" + "A" * 43, NotFound, "no such token (mkt_AAAA…)"),
            ("mkt_", Invalid, "neither an account id nor a token prefix"),
            ("first", Invalid, "neither an account id nor a token prefix"),
        ):
            with pytest.raises(error) as raised:
                revoke_token(session, actor=OFFICE, key=key)
            assert words in raised.value.detail
    with session_scope(engine) as session:
        session.exec(text("UPDATE account SET token_prefix = 'mkt_same'"))
    with session_scope(engine) as session, pytest.raises(Conflict, match=f"accounts {first.id}, {second.id}"):
        revoke_token(session, actor=OFFICE, key="mkt_same")
    buyer_actor = Actor(role=Role.buyer, label="account:77", account_id=77, buyer_id=1)
    with session_scope(engine) as session, pytest.raises(Forbidden):
        revoke_token(session, actor=buyer_actor, key=str(first.id))
