"""Accounts and their bearer tokens.

A token is 32 random bytes; only its SHA-256 is stored. Hashing a high-entropy
secret once is enough (there is nothing to brute-force), and looking the hash up
by a unique index compares no secret bytes in Python at all.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from market.models import Account, Buyer, Cooperative
from market.models.account import AccountCreate
from market.models.common import Role
from market.services.actors import Actor
from market.services.audit import record_event
from market.services.errors import Invalid
from market.services.listing import PageRequest, fetch_page

TOKEN_PREFIX = "mkt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_account(session: Session, *, actor: Actor, data: AccountCreate) -> tuple[Account, str]:
    """Create an account and return it with its token, which exists only in this return value."""
    actor.require(Role.admin)
    if data.cooperative_id is not None and session.get(Cooperative, data.cooperative_id) is None:
        raise Invalid.field("cooperative_id", "no such cooperative")
    if data.buyer_id is not None and session.get(Buyer, data.buyer_id) is None:
        raise Invalid.field("buyer_id", "no such buyer")
    token = new_token()
    account = Account(
        role=data.role,
        name=data.name,
        cooperative_id=data.cooperative_id,
        buyer_id=data.buyer_id,
        token_hash=hash_token(token),
        token_prefix=token[: len(TOKEN_PREFIX) + 4],
    )
    session.add(account)
    session.flush()
    record_event(session, actor=actor, action="account.create", row=account)
    return account, token


def authenticate(session: Session, token: str) -> Account | None:
    """The live account a bearer token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    account = session.exec(select(Account).where(Account.token_hash == hash_token(token))).first()
    if account is None or account.revoked_at is not None:
        return None
    return account


def list_accounts(session: Session, *, actor: Actor, page: PageRequest) -> tuple[list[Account], int]:
    actor.require(Role.admin)
    return fetch_page(session, select(Account), page, Account.id)
