"""Contracts as the parties and the office read them: each party sees its own, admins all."""

from __future__ import annotations

from sqlmodel import Session, select

from market.models import Contract
from market.models.common import ContractStatus, Product, Role
from market.services.actors import Actor
from market.services.errors import NotFound
from market.services.listing import PageRequest, fetch_page


def _visible(actor: Actor):
    statement = select(Contract)
    if actor.role == Role.cooperative:
        return statement.where(Contract.cooperative_id == actor.cooperative_id)
    if actor.role == Role.buyer:
        return statement.where(Contract.buyer_id == actor.buyer_id)
    return statement


def list_contracts(
    session: Session,
    *,
    actor: Actor,
    page: PageRequest,
    status: ContractStatus | None = None,
    product: Product | None = None,
    match_run_id: int | None = None,
) -> tuple[list[Contract], int]:
    statement = _visible(actor)
    if status is not None:
        statement = statement.where(Contract.status == status)
    if product is not None:
        statement = statement.where(Contract.product == product)
    if match_run_id is not None:
        statement = statement.where(Contract.match_run_id == match_run_id)
    return fetch_page(session, statement, page, Contract.id)


def get_contract(session: Session, *, actor: Actor, contract_id: int) -> Contract:
    contract = session.exec(_visible(actor).where(Contract.id == contract_id)).first()
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    return contract
