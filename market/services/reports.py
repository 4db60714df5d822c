"""Reports of what the market moved: offered, contracted, delivered tonnes, and revenue contracted and earned.

Each figure comes from its own table and is summed by the database:
- offered: lots posted, less what was withdrawn, dated by when they are available;
- contracted: contracts approved (confirmed, in delivery, fulfilled) at their tonnes and value,
  and contracts closed short at what was accepted of them, dated by their delivery window;
- delivered: accepted tonnes and the revenue they earned, dated by the day they shipped.
Proposed contracts (awaiting review) and cancelled ones count nowhere. Cooperatives see their
own figures, buyers theirs, admins all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, case, cast, func, null, select
from sqlmodel import Session

from market.models import Buyer, Contract, Cooperative, Delivery, PurchaseAgreement, SupplyOffer
from market.models.common import ContractStatus, DeliveryStatus, Role
from market.services.actors import Actor
from market.units import fen_per


class GroupBy(StrEnum):
    product = "product"
    cooperative = "cooperative"
    buyer = "buyer"
    agreement = "agreement"
    township = "township"
    month = "month"


APPROVED = (ContractStatus.confirmed, ContractStatus.in_delivery, ContractStatus.fulfilled)
COUNTED = (*APPROVED, ContractStatus.closed_short)


@dataclass
class Figures:
    offered_kg: int = 0
    contracted_kg: int = 0
    delivered_kg: int = 0
    contracted_fen: int = 0
    earned_fen: int = 0

    def add(self, other: Figures) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Row:
    key: str
    name: str | None = None
    name_zh: str | None = None
    figures: Figures = field(default_factory=Figures)


@dataclass
class Summary:
    group_by: GroupBy
    date_from: date | None
    date_to: date | None
    rows: list[Row]
    totals: Figures


def _month_start(session: Session, column):
    """The month a date falls in, as the narrow key rows are grouped by: cheaper than formatting every row."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("month", cast(column, DateTime))
    return func.strftime("%Y-%m", column)


def _month_label(session: Session, month_start):
    """YYYY-MM, formatted once per group."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(month_start, "YYYY-MM")
    return month_start


def _within(column, date_from: date | None, date_to: date | None) -> list:
    conditions = []
    if date_from is not None:
        conditions.append(column >= date_from)
    if date_to is not None:
        conditions.append(column <= date_to)
    return conditions


def _key(session: Session, group_by: GroupBy, source, dated):
    """The narrow column a source is summed by: a product, an id, a month. A township's figures are
    summed by cooperative and only then by township, so no source row is joined to a name."""
    if group_by == GroupBy.product:
        return source.product
    if group_by in (GroupBy.cooperative, GroupBy.township):
        return source.cooperative_id
    if group_by == GroupBy.buyer:
        return source.buyer_id
    if group_by == GroupBy.agreement:
        return source.agreement_id
    return _month_start(session, dated)


def _named(session: Session, group_by: GroupBy, sums):
    """The summed subquery's rows as (key, name, name_zh, *figures), the names joined per group."""
    figures = [column for column in sums.c if column.name != "key"]
    nothing = null()
    if group_by == GroupBy.cooperative:
        named = (sums.c.key, Cooperative.name, Cooperative.name_zh)
        return select(*named, *figures).join(Cooperative, Cooperative.id == sums.c.key)
    if group_by == GroupBy.buyer:
        return select(sums.c.key, Buyer.name, Buyer.name_zh, *figures).join(Buyer, Buyer.id == sums.c.key)
    if group_by == GroupBy.agreement:
        named = (sums.c.key, PurchaseAgreement.reference, nothing)
        return select(*named, *figures).join(PurchaseAgreement, PurchaseAgreement.id == sums.c.key)
    if group_by == GroupBy.township:
        return (
            select(
                Cooperative.township,
                Cooperative.township,
                Cooperative.township_zh,
                *(func.sum(column) for column in figures),
            )
            .join(Cooperative, Cooperative.id == sums.c.key)
            .group_by(Cooperative.township, Cooperative.township_zh)
        )
    if group_by == GroupBy.month:
        return select(_month_label(session, sums.c.key), nothing, nothing, *figures)
    return select(sums.c.key, nothing, nothing, *figures)


def _scoped(statement, actor: Actor, source):
    if actor.role == Role.cooperative:
        return statement.where(source.cooperative_id == actor.cooperative_id)
    if actor.role == Role.buyer:
        return statement.where(source.buyer_id == actor.buyer_id)
    return statement


def summary(
    session: Session, *, actor: Actor, group_by: GroupBy, date_from: date | None = None, date_to: date | None = None
) -> Summary:
    rows: dict[str, Row] = {}

    def row_for(values) -> Row:
        key = "" if values[0] is None else str(values[0])
        row = rows.setdefault(key, Row(key=key))
        row.name, row.name_zh = values[1] or row.name, values[2] or row.name_zh
        return row

    def summed(statement, key):
        """One row per key, named: each source is summed first, then joined to its names."""
        return session.execute(_named(session, group_by, statement.group_by(key).subquery()))

    # Offered: offers have no buyer or agreement, so those groupings show none offered.
    if group_by not in (GroupBy.buyer, GroupBy.agreement) and actor.role != Role.buyer:
        key = _key(session, group_by, SupplyOffer, SupplyOffer.available_from)
        statement = select(
            key.label("key"), func.sum(SupplyOffer.quantity_kg - SupplyOffer.withdrawn_kg).label("offered_kg")
        ).where(*_within(SupplyOffer.available_from, date_from, date_to))
        if actor.role == Role.cooperative:
            statement = statement.where(SupplyOffer.cooperative_id == actor.cooperative_id)
        for values in summed(statement, key):
            row_for(values).figures.offered_kg += int(values[-1] or 0)

    # Contracted: a contract closed short counts for what was accepted of it.
    short = Contract.status == ContractStatus.closed_short
    key = _key(session, group_by, Contract, Contract.deliver_from)
    statement = select(
        key.label("key"),
        func.sum(case((short, Contract.accepted_kg), else_=Contract.quantity_kg)).label("contracted_kg"),
        func.sum(case((short, Contract.earned_fen), else_=Contract.value_fen)).label("contracted_fen"),
    ).where(Contract.status.in_(COUNTED), *_within(Contract.deliver_from, date_from, date_to))
    if group_by == GroupBy.agreement:
        statement = statement.where(Contract.agreement_id.is_not(None))
    for values in summed(_scoped(statement, actor, Contract), key):
        figures = row_for(values).figures
        figures.contracted_kg += int(values[-2] or 0)
        figures.contracted_fen += int(values[-1] or 0)

    # Delivered: accepted deliveries, by the day they shipped. An admin's figures by month need
    # nothing from the contract, so they skip the join (every delivery has its contract).
    key = _key(session, group_by, Contract, Delivery.shipped_on)
    statement = select(
        key.label("key"), func.sum(Delivery.accepted_kg).label("delivered_kg"), func.sum(Delivery.revenue_fen)
    ).where(Delivery.status == DeliveryStatus.accepted, *_within(Delivery.shipped_on, date_from, date_to))
    if group_by != GroupBy.month or actor.role != Role.admin:
        statement = statement.join(Contract, Contract.id == Delivery.contract_id)
    if group_by == GroupBy.agreement:
        statement = statement.where(Contract.agreement_id.is_not(None))
    for values in summed(_scoped(statement, actor, Contract), key):
        figures = row_for(values).figures
        figures.delivered_kg += int(values[-2] or 0)
        figures.earned_fen += int(values[-1] or 0)

    ordered = sorted(rows.values(), key=lambda row: _sort_key(group_by, row.key))
    totals = Figures()
    for row in ordered:
        totals.add(row.figures)
    return Summary(group_by=group_by, date_from=date_from, date_to=date_to, rows=ordered, totals=totals)


def _sort_key(group_by: GroupBy, key: str) -> tuple[Any, ...]:
    if group_by in (GroupBy.cooperative, GroupBy.buyer, GroupBy.agreement) and key.isdigit():
        return (int(key),)
    return (key,)


# --- poverty alleviation (带贫) ----------------------------------------------------------------


@dataclass
class TownshipRow:
    township: str
    township_zh: str | None
    cooperatives: int
    registered_poor_households: int
    earned_fen: int
    earned_with_poor_fen: int

    @property
    def per_poor_household_fen(self) -> int | None:
        return fen_per(self.earned_with_poor_fen, self.registered_poor_households)


def poverty(
    session: Session, *, actor: Actor, date_from: date | None = None, date_to: date | None = None
) -> tuple[list[TownshipRow], TownshipRow]:
    """Per township: revenue earned by its cooperatives, the part earned by those with registered poor
    households, and that part per registered poor household (of the cooperatives that earned)."""
    # Summed by cooperative first, then named: no delivery is joined to its cooperative's row.
    by_cooperative = (
        select(Contract.cooperative_id.label("cooperative_id"), func.sum(Delivery.revenue_fen).label("earned_fen"))
        .join(Contract, Contract.id == Delivery.contract_id)
        .where(Delivery.status == DeliveryStatus.accepted, *_within(Delivery.shipped_on, date_from, date_to))
        .group_by(Contract.cooperative_id)
    )
    earned = _scoped(by_cooperative, actor, Contract).subquery()
    statement = select(
        Cooperative.id, Cooperative.township, Cooperative.township_zh, Cooperative.poor_households, earned.c.earned_fen
    ).join(earned, earned.c.cooperative_id == Cooperative.id)
    towns: dict[str, TownshipRow] = {}
    counted: dict[str, set[int]] = defaultdict(set)
    for cooperative_id, township, township_zh, poor, earned_fen in session.execute(statement):
        row = towns.setdefault(township, TownshipRow(township, township_zh, 0, 0, 0, 0))
        counted[township].add(cooperative_id)
        row.cooperatives = len(counted[township])
        row.earned_fen += int(earned_fen or 0)
        if poor:
            row.registered_poor_households += poor
            row.earned_with_poor_fen += int(earned_fen or 0)
    rows = sorted(towns.values(), key=lambda row: (-row.earned_fen, row.township))
    total = TownshipRow("total", "合计", 0, 0, 0, 0)
    for row in rows:
        total.cooperatives += row.cooperatives
        total.registered_poor_households += row.registered_poor_households
        total.earned_fen += row.earned_fen
        total.earned_with_poor_fen += row.earned_with_poor_fen
    return rows, total
