"""Accounts and their bearer tokens.

A token is `mkt_` and 32 random bytes; only its SHA-256 is stored. Hashing a
high-entropy secret once is enough (there is nothing to brute-force). A token is
found by looking its hash up in a unique index, and the stored hash is then
compared with `hmac.compare_digest`, in constant time, before it is accepted.
Neither a token nor its hash is ever logged or copied into the audit log; the
first eight characters (`token_prefix`) name a token in lists, logs and
`market revoke-token`. Revoking sets `revoked_at`, and the token stops working
at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import Session, select

from market.models import Account, Buyer, Cooperative
from market.models.account import AccountCreate
from market.models.common import Role, utcnow
from market.services.actors import Actor
from market.services.audit import record_event, snapshot
from market.services.errors import Conflict, Invalid, NotFound
from market.services.listing import PageRequest, fetch_page

TOKEN_PREFIX = "mkt_"
# How much of a token is kept to name it: the prefix and four random characters.
SHOWN_LENGTH = len(TOKEN_PREFIX) + 4


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
        token_prefix=token[:SHOWN_LENGTH],
    )
    session.add(account)
    session.flush()
    record_event(session, actor=actor, action="account.create", row=account)
    return account, token


def authenticate(session: Session, token: str) -> Account | None:
    """The live account a bearer token belongs to, or None."""
    account = _account_of_token(session, token)
    if account is None or account.revoked_at is not None:
        return None
    return account


def _account_of_token(session: Session, token: str) -> Account | None:
    """The account holding this token, revoked or not."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    account = session.exec(select(Account).where(Account.token_hash == digest)).first()
    if account is None or not hmac.compare_digest(account.token_hash, digest):
        return None
    return account


def revoke_token(session: Session, *, actor: Actor, key: str) -> tuple[Account, bool]:
    """Revoke one account's token, named by account id, token prefix (`mkt_` + 4) or the whole token.

    Returns the account and whether it was revoked now (False: it already was; nothing changes).
    """
    actor.require(Role.admin)
    key = key.strip()
    # FOR NO KEY UPDATE: it does not block the key-share lock that inserting this account's own
    # audit events takes, so a request of this account that holds the audit lock cannot deadlock with us.
    statement = select(Account).with_for_update(key_share=True)
    if key.isdigit():
        accounts = session.exec(statement.where(Account.id == int(key))).all()
        if not accounts:
            raise NotFound(f"no account with id {key}")
    elif key.startswith(TOKEN_PREFIX) and len(key) == SHOWN_LENGTH:
        accounts = session.exec(statement.where(Account.token_prefix == key).order_by(Account.id)).all()
        if not accounts:
            raise NotFound(f"no token starts with {key}")
        if len(accounts) > 1:
            ids = ", ".join(str(account.id) for account in accounts)
            raise Conflict(f"the prefix {key} names the tokens of accounts {ids}: give the account id instead")
    elif key.startswith(TOKEN_PREFIX) and len(key) > SHOWN_LENGTH:
        found = _account_of_token(session, key)
        if found is None:
            # Never echo what may be a secret: name it by its prefix only.
            raise NotFound(f"no such token ({key[:SHOWN_LENGTH]}…)")
        accounts = session.exec(statement.where(Account.id == found.id)).all()
    else:
        raise Invalid(
            f"{key[:SHOWN_LENGTH]!r} is neither an account id nor a token prefix "
            f"({TOKEN_PREFIX} and four more characters, as account lists show it)"
        )
    (account,) = accounts
    if account.revoked_at is not None:
        return account, False
    before = snapshot(account)
    account.revoked_at = utcnow()
    session.add(account)
    session.flush()
    record_event(session, actor=actor, action="account.revoke", row=account, before=before)
    return account, True


def list_accounts(session: Session, *, actor: Actor, page: PageRequest) -> tuple[list[Account], int]:
    actor.require(Role.admin)
    return fetch_page(session, select(Account), page, Account.id)
