"""Cooperatives and buyers: registered by the cooperation office, visible to themselves."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlmodel import Session, select

from market.models import Buyer, Cooperative
from market.models.common import Role
from market.models.parties import BuyerCreate, CooperativeCreate
from market.services.actors import Actor
from market.services.audit import record_event
from market.services.errors import Conflict, NotFound
from market.services.listing import PageRequest, fetch_page

Party = TypeVar("Party", Cooperative, Buyer)


def _register(session: Session, actor: Actor, model: type[Party], data: BaseModel, kind: str) -> Party:
    actor.require(Role.admin)
    if session.exec(select(model.id).where(model.name == data.name)).first() is not None:
        raise Conflict(f"a {kind} with this name exists", [("name", "already registered")])
    party = model(**data.model_dump())
    session.add(party)
    session.flush()
    record_event(session, actor=actor, action=f"{kind}.create", row=party)
    return party


def create_cooperative(session: Session, *, actor: Actor, data: CooperativeCreate) -> Cooperative:
    return _register(session, actor, Cooperative, data, "cooperative")


def create_buyer(session: Session, *, actor: Actor, data: BuyerCreate) -> Buyer:
    return _register(session, actor, Buyer, data, "buyer")


def get_cooperative(session: Session, *, actor: Actor, cooperative_id: int) -> Cooperative:
    cooperative = session.get(Cooperative, cooperative_id)
    if cooperative is None or not (actor.is_admin or actor.cooperative_id == cooperative_id):
        raise NotFound(f"cooperative {cooperative_id} not found")
    return cooperative


def get_buyer(session: Session, *, actor: Actor, buyer_id: int) -> Buyer:
    buyer = session.get(Buyer, buyer_id)
    if buyer is None or not (actor.is_admin or actor.buyer_id == buyer_id):
        raise NotFound(f"buyer {buyer_id} not found")
    return buyer


def list_cooperatives(session: Session, *, actor: Actor, page: PageRequest) -> tuple[list[Cooperative], int]:
    actor.require(Role.admin)
    return fetch_page(session, select(Cooperative), page, Cooperative.id)


def list_buyers(session: Session, *, actor: Actor, page: PageRequest) -> tuple[list[Buyer], int]:
    actor.require(Role.admin)
    return fetch_page(session, select(Buyer), page, Buyer.id)
