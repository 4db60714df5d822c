"""Offers and orders in bulk: the batch endpoints and `market import`.

The same rules as one create (`market.services.offers.create_offer`, `...orders.create_order`),
checked for every item before anything is written, then written set-based:

1. **Plan** (`plan_offers`, `plan_orders`): the rules that need the database, a query per
   rule, never one per item: references already used (one query for all of them), agreements
   (locked `FOR UPDATE` once, in id order), and the tonnes each agreement has left across the
   items in their order. Every failing item is reported (`ItemError`), not only the first. A
   caller planning in parts (`market import`, a chunk of a file at a time) passes the references
   and agreements seen so far (`Seen`), so the parts are checked as one.
2. **Write** (`write_offers`, `write_orders`): one COPY (a multi-row INSERT on SQLite) per table,
   the ids written back into the rows, and one executemany UPDATE of the agreements called off.
   They return the audit events to append (`append_events`): the same events, in the same order,
   as creating the items one by one would leave (`agreement.call_off` before its `order.create`).

All or nothing: nothing is written unless every item passes, and the caller commits once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Integer, Text, and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from market.db import insert_rows_with_ids
from market.models import Buyer, Cooperative, DemandOrder, PurchaseAgreement, SupplyOffer
from market.models.common import OrderStatus, Role, as_utc, json_safe, utcnow
from market.models.offer import OfferCreate
from market.models.order import OrderCreate
from market.places import find_destination
from market.services.actors import Actor
from market.services.audit import append_events, append_row_events, create_event
from market.services.errors import DomainError, NotFound
from market.services.offers import offer_row
from market.units import kg_to_tonnes, tonnes_to_kg, yuan_to_fen

log = logging.getLogger(__name__)

# Values per IN (...) list when looking references up.
_LOOKUP_CHUNK = 1000

_OFFERS = SupplyOffer.__table__  # type: ignore[attr-defined]
_ORDERS = DemandOrder.__table__  # type: ignore[attr-defined]
_AGREEMENTS = PurchaseAgreement.__table__  # type: ignore[attr-defined]

# --- what goes wrong, item by item ----------------------------------------------------------


@dataclass(frozen=True)
class ItemError:
    """One thing wrong with one item: its position, the request field, and why."""

    index: int
    field: str
    message: str
    # A clash with stored data (a used reference, tonnes no longer left): 409 if nothing else is wrong.
    conflict: bool = False


def item_label(index: int) -> str:
    return f"items[{index}]"


class BatchRefused(DomainError):
    """Some items are wrong, so none was written. 409 when every error is a clash with stored
    data (as the single create answers), else 422; `errors` names each as items[i].field."""

    def __init__(self, items: Sequence[ItemError], label: Callable[[int], str] = item_label) -> None:
        self.items = sorted(items, key=lambda item: item.index)
        conflict = all(item.conflict for item in self.items)
        self.status, self.title = (409, "Conflict") if conflict else (422, "Invalid request")
        errors = [(f"{label(item.index)}.{item.field}", item.message) for item in self.items]
        shown = "; ".join(f"{name}: {message}" for name, message in errors[:5])
        more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
        bad = len({item.index for item in self.items})
        super().__init__(f"{bad} item{'s' if bad != 1 else ''} refused, nothing was created: {shown}{more}", errors)


# --- offers ---------------------------------------------------------------------------------


@dataclass
class OfferPlan:
    """Offer rows ready to insert (no ids yet), in the items' order."""

    rows: list[dict[str, Any]]


@dataclass
class Seen:
    """What earlier parts of one write named: (owner, reference) -> where it was first used, and the
    agreements called off against, as locked and as those parts left them."""

    offer_references: dict[tuple[int, str], str] = field(default_factory=dict)
    order_references: dict[tuple[int, str], str] = field(default_factory=dict)
    agreements: dict[int, Any] = field(default_factory=dict)
    agreement_state: dict[int, dict[str, Any]] = field(default_factory=dict)


def plan_offers(
    session: Session,
    items: Sequence[tuple[OfferCreate, int]],
    *,
    now: datetime | None = None,
    label: Callable[[int], str] = item_label,
    seen: Seen | None = None,
) -> tuple[OfferPlan, list[ItemError]]:
    """Check (data, cooperative id) items against the stored offers; the cooperatives must exist."""
    now = now or utcnow()
    seen = seen or Seen()
    owned = [(c, d.reference) for d, c in items]
    errors = _reference_errors(session, _OFFERS, owned, "cooperative", label, seen.offer_references)
    rows = [offer_row(data, cooperative_id, now) for data, cooperative_id in items]
    return OfferPlan(rows), errors


def write_offers(session: Session, *, actor: Actor, plan: OfferPlan) -> list[dict[str, Any]]:
    """Insert the planned offers (their rows get ids); return their audit events, to append."""
    _insert_offers(session, actor, plan)
    return [create_event(actor, "offer.create", _OFFERS, row) for row in plan.rows]


def _insert_offers(session: Session, actor: Actor, plan: OfferPlan) -> None:
    insert_rows_with_ids(session, _OFFERS, plan.rows)
    log.info("%s offer.create supply_offer x%d", actor.label, len(plan.rows))


class Created(SimpleNamespace):
    """A row just written, read as its model is (`offer.quantity_kg`, `order.remaining_kg`) by the
    serialisers, without the cost of building a SQLModel object per row (a tenth of a batch's time)."""

    def __init__(self, row: dict[str, Any]) -> None:
        # Nothing is contracted, withdrawn or cancelled yet: all of it remains.
        super().__init__(**row, remaining_kg=row["quantity_kg"])


def create_offers(session: Session, *, actor: Actor, items: Sequence[OfferCreate]) -> tuple[list[Created], Cooperative]:
    """A cooperative posts many lots at once: all of them, or none (BatchRefused)."""
    actor.require(Role.cooperative)
    cooperative = session.get(Cooperative, actor.cooperative_id)
    if cooperative is None:
        raise NotFound("the account's cooperative no longer exists")
    plan, errors = plan_offers(session, [(item, cooperative.id) for item in items])
    if errors:
        raise BatchRefused(errors)
    _insert_offers(session, actor, plan)
    # The same events write_offers returns, without a record per event; their INSERT runs in the
    # database while the caller serialises the answer, and the commit waits for it.
    append_row_events(session, _OFFERS, plan.rows, actor=actor, action="offer.create", wait=False)
    return [Created(row) for row in plan.rows], cooperative


# --- orders ---------------------------------------------------------------------------------


@dataclass
class OrderPlan:
    """Order rows ready to insert, the call-offs they make and the agreements' new totals."""

    rows: list[dict[str, Any]]
    # Per row (same positions): the agreement's state before and after this call-off, or None.
    call_offs: list[tuple[dict[str, Any], dict[str, Any]] | None] = field(default_factory=list)
    # Agreement id -> called_off_kg once every item is called off.
    called_off_kg: dict[int, int] = field(default_factory=dict)


def plan_orders(
    session: Session,
    items: Sequence[tuple[OrderCreate, Buyer]],
    *,
    now: datetime | None = None,
    label: Callable[[int], str] = item_label,
    seen: Seen | None = None,
) -> tuple[OrderPlan, list[ItemError]]:
    """Check (data, buyer) items: references, destinations, and the agreements they call off against.

    The agreements named (and not seen before) are locked (FOR UPDATE, in id order) here, once,
    and what each has left is counted down across the items in their order. Call before anything
    writes an audit event.
    """
    now = now or utcnow()
    seen = seen or Seen()
    owned = [(b.id, d.reference) for d, b in items]
    errors = _reference_errors(session, _ORDERS, owned, "buyer", label, seen.order_references)
    named = {data.agreement_id for data, _ in items if data.agreement_id is not None}
    for agreement_id, row in _lock_agreements(session, named - seen.agreements.keys()).items():
        seen.agreements[agreement_id] = row
        seen.agreement_state[agreement_id] = json_safe(dict(row))
    agreements = seen.agreements
    # The agreement's state as the items call off against it, in order.
    state = seen.agreement_state
    called_off_before = {agreement_id: state[agreement_id]["called_off_kg"] for agreement_id in named & state.keys()}
    plan = OrderPlan(rows=[])
    for index, (data, buyer) in enumerate(items):
        found: list[ItemError] = []
        where = destination_columns(data.destination, buyer)
        if where is None:
            found.append(ItemError(index, "destination", "unknown destination: see GET /api/v1/destinations"))
        kg, price = tonnes_to_kg(data.tonnes), yuan_to_fen(data.max_price_per_tonne)
        call_off = None
        if data.agreement_id is not None:
            problem = _call_off_problem(index, data, buyer, agreements.get(data.agreement_id), kg, price, state)
            if problem is not None:
                found.append(problem)
            elif not found:
                before = state[data.agreement_id]
                after = before | {"called_off_kg": before["called_off_kg"] + kg, "updated_at": as_utc(now).isoformat()}
                state[data.agreement_id] = after
                call_off = (before, after)
        errors.extend(found)
        plan.call_offs.append(call_off)
        plan.rows.append(
            {
                "buyer_id": buyer.id,
                "agreement_id": data.agreement_id,
                "reference": data.reference,
                "product": data.product,
                "min_grade": data.min_grade,
                "quantity_kg": kg,
                "contracted_kg": 0,
                "cancelled_kg": 0,
                "max_price_fen": price,
                "deliver_from": data.deliver_from,
                "deliver_until": data.deliver_until,
                **(where or _NOWHERE),
                "status": OrderStatus.open,
                "created_at": now,
                "updated_at": now,
            }
        )
    plan.called_off_kg = {
        agreement_id: state[agreement_id]["called_off_kg"]
        for agreement_id, before in called_off_before.items()
        if state[agreement_id]["called_off_kg"] != before
    }
    errors.sort(key=lambda error: error.index)
    return plan, errors


_NOWHERE = {"destination": "", "destination_zh": None, "destination_latitude": 0.0, "destination_longitude": 0.0}


def write_orders(session: Session, *, actor: Actor, plan: OrderPlan) -> list[dict[str, Any]]:
    """Call off the agreements (one executemany UPDATE), then insert the orders (their rows get ids);
    return the audit events, to append: each call-off's right before its order's."""
    if plan.called_off_kg:
        now = plan.rows[0]["updated_at"]
        statement = (
            update(_AGREEMENTS)
            .where(_AGREEMENTS.c.id == bindparam("agreement"))
            .values(called_off_kg=bindparam("kg"), updated_at=now)
        )
        session.execute(statement, [{"agreement": key, "kg": kg} for key, kg in sorted(plan.called_off_kg.items())])
    _insert_orders(session, actor, plan)
    events: list[dict[str, Any]] = []
    for row, call_off in zip(plan.rows, plan.call_offs, strict=True):
        if call_off is not None:
            before, after = call_off
            events.append(
                {
                    "account_id": actor.account_id,
                    "actor": actor.label,
                    "action": "agreement.call_off",
                    "object_type": _AGREEMENTS.name,
                    "object_id": after["id"],
                    "before": before,
                    "after": after,
                }
            )
        events.append(create_event(actor, "order.create", _ORDERS, row))
    return events


def _insert_orders(session: Session, actor: Actor, plan: OrderPlan) -> None:
    insert_rows_with_ids(session, _ORDERS, plan.rows)
    log.info("%s order.create demand_order x%d", actor.label, len(plan.rows))


def create_orders(session: Session, *, actor: Actor, items: Sequence[OrderCreate]) -> list[Created]:
    """A buyer posts many orders at once, on the open market or called off: all of them, or none."""
    actor.require(Role.buyer)
    buyer = session.get(Buyer, actor.buyer_id)
    if buyer is None:
        raise NotFound("the account's buyer no longer exists")
    plan, errors = plan_orders(session, [(item, buyer) for item in items])
    if errors:
        raise BatchRefused(errors)
    if any(call_off is not None for call_off in plan.call_offs):
        # Call-offs' events interleave with the orders': the general path, its INSERT left running too.
        append_events(session, write_orders(session, actor=actor, plan=plan), wait=False)
    else:  # no agreement called off: every event is an order.create, as for offers
        _insert_orders(session, actor, plan)
        append_row_events(session, _ORDERS, plan.rows, actor=actor, action="order.create", wait=False)
    return [Created(row) for row in plan.rows]


def destination_columns(name: str | None, buyer: Buyer) -> dict[str, Any] | None:
    """Where an order goes, as its destination columns: the named place, or the buyer's own city when
    no name is given; None for a name no place answers to."""
    if name is None:
        return {
            "destination": buyer.city,
            "destination_zh": None,
            "destination_latitude": buyer.latitude,
            "destination_longitude": buyer.longitude,
        }
    place = _find_destination(name)
    if place is None:
        return None
    return {
        "destination": place.name,
        "destination_zh": place.name_zh,
        "destination_latitude": place.latitude,
        "destination_longitude": place.longitude,
    }


# A batch names the same few places again and again.
_find_destination = functools.lru_cache(maxsize=1024)(find_destination)


def _call_off_problem(
    index: int,
    data: OrderCreate,
    buyer: Buyer,
    agreement: Any,
    kg: int,
    price_fen: int,
    state: dict[int, dict[str, Any]],
) -> ItemError | None:
    """What stops this order calling off against its agreement, worded as create_order words it;
    what is left counts the items before it (`state`)."""
    if agreement is None or agreement["buyer_id"] != buyer.id:
        return ItemError(index, "agreement_id", "no such agreement")
    if agreement["product"] != data.product:
        return ItemError(index, "product", f"the agreement is for {agreement['product'].value}")
    if data.deliver_from < agreement["valid_from"]:
        return ItemError(index, "deliver_from", f"before the agreement starts ({agreement['valid_from']})")
    if data.deliver_until > agreement["valid_until"]:
        return ItemError(index, "deliver_until", f"after the agreement ends ({agreement['valid_until']})")
    if price_fen < agreement["price_fen"]:
        return ItemError(index, "max_price_per_tonne", "below the agreement's price")
    remaining = agreement["quantity_kg"] - state[agreement["id"]]["called_off_kg"]
    if kg > remaining:
        return ItemError(index, "tonnes", f"at most {kg_to_tonnes(remaining)} t remain on the agreement", True)
    return None


def _lock_agreements(session: Session, ids: set[int]) -> dict[int, Any]:
    """The named agreements, locked FOR UPDATE in id order (so two batches never deadlock), by id."""
    if not ids:
        return {}
    rows = session.execute(
        select(_AGREEMENTS).where(_AGREEMENTS.c.id.in_(sorted(ids))).order_by(_AGREEMENTS.c.id).with_for_update()
    ).mappings()
    return {row["id"]: row for row in rows}


# --- naming parties and agreements (market import) -----------------------------------------

# What find_parties gives for a name that more than one party has.
AMBIGUOUS = object()


def find_parties(session: Session, model: type[Cooperative] | type[Buyer], keys: set[str]) -> dict[str, Any]:
    """Cooperatives or buyers named by id, name or Chinese name: key -> the row, or AMBIGUOUS
    when the key is a Chinese name two parties share (an id always names one). Missing keys are absent."""
    found: dict[str, Any] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        part = ordered[start : start + _LOOKUP_CHUNK]
        ids = [int(key) for key in part if key.isdigit() and len(key) < 10]
        statement = select(model).where(or_(model.name.in_(part), model.name_zh.in_(part), model.id.in_(ids)))
        rows = session.execute(statement).scalars().all()
        wanted = set(part)
        for party in rows:  # ids first: an id names its party whatever the names say
            if str(party.id) in wanted:
                found[str(party.id)] = party
        for party in rows:
            for key in {party.name, party.name_zh} & wanted:
                if key in found and found[key] is not party and not (key.isdigit() and str(found[key].id) == key):
                    found[key] = AMBIGUOUS
                else:
                    found.setdefault(key, party)
    return found


def find_agreements(session: Session, keys: set[str]) -> dict[str, int]:
    """Agreement ids by id or reference (key -> id); missing keys are absent."""
    found: dict[str, int] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        part = ordered[start : start + _LOOKUP_CHUNK]
        ids = [int(key) for key in part if key.isdigit() and len(key) < 10]
        statement = select(_AGREEMENTS.c.id, _AGREEMENTS.c.reference).where(
            or_(_AGREEMENTS.c.reference.in_(part), _AGREEMENTS.c.id.in_(ids))
        )
        for agreement_id, reference in session.execute(statement):
            if str(agreement_id) in part:
                found[str(agreement_id)] = agreement_id
            if reference in part:
                found.setdefault(reference, agreement_id)
    return found


# --- shared ---------------------------------------------------------------------------------


def _reference_errors(
    session: Session,
    table: Any,
    owned: Sequence[tuple[int, str | None]],
    owner: str,
    label: Callable[[int], str],
    seen: dict[tuple[int, str], str],
) -> list[ItemError]:
    """References are unique per owner: against the stored rows, within these items and against
    the references `seen` before (which these items' first uses are added to, with their labels)."""
    fresh: dict[tuple[int, str], int] = {}
    errors: list[ItemError] = []
    for index, (owner_id, reference) in enumerate(owned):
        if reference is None:
            continue
        first = seen.get((owner_id, reference))
        if first is not None:
            errors.append(ItemError(index, "reference", f"repeats the reference of {first}"))
        else:
            seen[owner_id, reference] = label(index)
            fresh[owner_id, reference] = index
    owner_column = table.c[f"{owner}_id"]
    taken = _stored_references(session, owner_column, table.c.reference, sorted(fresh))
    for key in sorted(taken & fresh.keys(), key=fresh.__getitem__):
        errors.append(ItemError(fresh[key], "reference", f"already used by this {owner}", conflict=True))
    return errors


def _stored_references(
    session: Session, owner_column: Any, reference_column: Any, wanted: list[tuple[int, str]]
) -> set[tuple[int, str]]:
    """Which of these (owner, reference) pairs are stored already, found through the (owner, reference)
    unique index: on PostgreSQL one join to the pairs given as two arrays, elsewhere IN lists of pairs."""
    if not wanted:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        owners, references = zip(*wanted, strict=True)
        pairs = (
            func.unnest(
                bindparam("owners", list(owners), type_=ARRAY(Integer)),
                bindparam("references", list(references), type_=ARRAY(Text)),
            )
            .table_valued("owner", "reference")
            .render_derived()
        )
        statement = select(owner_column, reference_column).join(
            pairs, and_(owner_column == pairs.c.owner, reference_column == pairs.c.reference)
        )
        return {(row[0], row[1]) for row in session.execute(statement)}
    taken: set[tuple[int, str]] = set()
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        part = wanted[start : start + _LOOKUP_CHUNK]
        statement = select(owner_column, reference_column).where(tuple_(owner_column, reference_column).in_(part))
        taken.update((row[0], row[1]) for row in session.execute(statement))
    return taken
