"""Cooperatives and buyers: registered by the cooperation office, visible to themselves."""

from __future__ import annotations

from sqlmodel import Session, select

from market.models import Buyer, Cooperative
from market.models.common import Role
from market.models.parties import BuyerCreate, CooperativeCreate
from market.services.actors import Actor
from market.services.audit import record_event
from market.services.errors import Conflict, NotFound
from market.services.listing import PageRequest, fetch_page


def create_cooperative(session: Session, *, actor: Actor, data: CooperativeCreate) -> Cooperative:
    actor.require(Role.admin)
    if session.exec(select(Cooperative.id).where(Cooperative.name == data.name)).first() is not None:
        raise Conflict("a cooperative with this name exists", [("name", "already registered")])
    cooperative = Cooperative(**data.model_dump())
    session.add(cooperative)
    session.flush()
    record_event(session, actor=actor, action="cooperative.create", row=cooperative)
    return cooperative


def get_cooperative(session: Session, *, actor: Actor, cooperative_id: int) -> Cooperative:
    cooperative = session.get(Cooperative, cooperative_id)
    if cooperative is None or not (actor.is_admin or actor.cooperative_id == cooperative_id):
        raise NotFound(f"cooperative {cooperative_id} not found")
    return cooperative


def list_cooperatives(session: Session, *, actor: Actor, page: PageRequest) -> tuple[list[Cooperative], int]:
    actor.require(Role.admin)
    return fetch_page(session, select(Cooperative), page, Cooperative.id)


def create_buyer(session: Session, *, actor: Actor, data: BuyerCreate) -> Buyer:
    actor.require(Role.admin)
    if session.exec(select(Buyer.id).where(Buyer.name == data.name)).first() is not None:
        raise Conflict("a buyer with this name exists", [("name", "already registered")])
    buyer = Buyer(**data.model_dump())
    session.add(buyer)
    session.flush()
    record_event(session, actor=actor, action="buyer.create", row=buyer)
    return buyer


def get_buyer(session: Session, *, actor: Actor, buyer_id: int) -> Buyer:
    buyer = session.get(Buyer, buyer_id)
    if buyer is None or not (actor.is_admin or actor.buyer_id == buyer_id):
        raise NotFound(f"buyer {buyer_id} not found")
    return buyer


def list_buyers(session: Session, *, actor: Actor, page: PageRequest) -> tuple[list[Buyer], int]:
    actor.require(Role.admin)
    return fetch_page(session, select(Buyer), page, Buyer.id)
