"""/api/v1/accounts and /api/v1/me: who may call the API."""

from __future__ import annotations

from market.api.blueprints import v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, page_of, respond
from market.api.serialize import account_out
from market.models import Account
from market.models.account import AccountCreate, AccountCreated, AccountPublic
from market.models.common import Page, Role
from market.services import accounts

accounts_api = v1_blueprint("accounts", "/accounts", "Accounts", "API accounts and their bearer tokens.")
me_api = v1_blueprint("me", "/me", "Accounts", "API accounts and their bearer tokens.")


@accounts_api.post("", responses={201: AccountCreated})
@allow(Role.admin)
def create_account(body: AccountCreate):
    """Create an account. The response carries its token, shown this once."""
    account, token = accounts.create_account(db(), actor=current_actor(), data=body)
    return respond(account_out(account, token=token), 201)


@accounts_api.get("", responses={200: Page[AccountPublic]})
@allow(Role.admin)
def list_accounts(query: PageQuery):
    """List accounts (never their tokens)."""
    rows, count = accounts.list_accounts(db(), actor=current_actor(), page=query.page())
    return respond(page_of([account_out(row) for row in rows], count))


@me_api.get("", responses={200: AccountPublic})
@allow(Role.admin, Role.cooperative, Role.buyer)
def who_am_i():
    """The account the token belongs to."""
    return respond(account_out(db().get_one(Account, current_actor().account_id)))
