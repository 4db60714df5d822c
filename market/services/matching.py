"""Match runs: snapshot the open book, solve it, propose contracts; an admin approves or rejects.

A run moves queued -> running -> proposed -> approved | rejected, or -> failed. Its work
is split by product; each product is solved and written in one transaction that first
takes that product's row in `matching_lock`, so two runs never solve one product at once
and the second sees the first one's reservations. Each step is safe to repeat: a product
already written for a run (its `match_run_part`) is not solved again, and a run past a
step ignores that step.

Nothing is lost either: a failed run can be retried (`retry_match_run`), and `sweep_match_runs`
finds runs that are queued or running but that nothing has happened to for a while (their
message was lost with a Redis restart, or never sent while Redis was down) so that the
workers are sent them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from market.db import insert_rows_with_ids, one_of
from market.matching import (
    Allocation,
    Book,
    Order,
    Policy,
    Pricing,
    Reason,
    first_come_first_served,
    match,
    unmatched_orders,
)
from market.models import (
    AuditEvent,
    Contract,
    DemandOrder,
    MatchingLock,
    MatchRun,
    MatchRunPart,
    SupplyOffer,
)
from market.models.common import (
    ContractStatus,
    MatchRunStatus,
    Product,
    Role,
    as_utc,
    utcnow,
)
from market.models.match_run import MatchRunCreate
from market.runtime import collector_paused
from market.services.actors import Actor
from market.services.audit import append_events, append_row_events, record_event, snapshot
from market.services.book import GRADE_OF_RANK, load_book
from market.services.errors import Conflict, NotFound
from market.services.listing import PageRequest, fetch_page
from market.services.match_report import build_report, contract_sums, order_references
from market.services.offers import BROWSABLE as OPEN_OFFERS
from market.services.orders import BROWSABLE as OPEN_ORDERS
from market.services.reservations import reserve
from market.units import value_fen, yuan_to_fen

log = logging.getLogger(__name__)

MATCHER = Actor.system("matching")
SWEEPER = Actor.system("sweeper")


def request_match_run(
    session: Session, *, actor: Actor, data: MatchRunCreate, max_active: int | None = None
) -> MatchRun:
    """Queue a run. An admin account may have at most `max_active` runs queued or running at once
    (None: no cap; the system's own runs, with no account, are never capped): one more is a Conflict."""
    from sqlalchemy import func

    from market.models import Account

    actor.require(Role.admin)
    if max_active is not None and actor.account_id is not None:
        # The admin's account row, locked (NO KEY: audit events still reference it): two requests at once
        # count one after the other.
        session.execute(select(Account.id).where(Account.id == actor.account_id).with_for_update(key_share=True))
        active = session.execute(
            select(func.count())
            .select_from(MatchRun)
            .where(
                MatchRun.requested_by_id == actor.account_id,
                MatchRun.status.in_((MatchRunStatus.queued, MatchRunStatus.running)),
            )
        ).scalar_one()
        if active >= max_active:
            raise Conflict(
                f"this account already has {active} match runs queued or running, the most it may have at once "
                f"(MAX_ACTIVE_RUNS_PER_ADMIN={max_active}); request another when one has finished",
                [("max_active_runs_per_admin", f"at most {max_active} runs queued or running per admin")],
            )
    run = MatchRun(
        product=data.product,
        policy=data.policy,
        parameters={"poverty_weight_fen": yuan_to_fen(data.poverty_weight_per_tonne)},
        requested_by_id=actor.account_id,
    )
    session.add(run)
    session.flush()
    record_event(session, actor=actor, action="match_run.request", row=run)
    return run


def run_products(run: MatchRun) -> list[Product]:
    return [run.product] if run.product is not None else list(Product)


def _locked_run(session: Session, run_id: int) -> MatchRun:
    run = session.execute(select(MatchRun).where(MatchRun.id == run_id).with_for_update()).scalars().first()
    if run is None:
        raise NotFound(f"match run {run_id} not found")
    return run


def begin_match_run(session: Session, *, run_id: int) -> list[Product] | None:
    """Mark the run running and return the products it still has to solve, the largest open book first;
    None once it is past running."""
    run = _locked_run(session, run_id)
    if run.status not in (MatchRunStatus.queued, MatchRunStatus.running):
        return None
    before = snapshot(run)
    if run.status == MatchRunStatus.queued:
        run.status = MatchRunStatus.running
        run.started_at = utcnow()
    run.attempts += 1
    session.add(run)
    session.flush()
    record_event(session, actor=MATCHER, action="match_run.start", row=run, before=before)
    return _largest_first(session, _unsolved(session, run))


def _largest_first(session: Session, products: list[Product]) -> list[Product]:
    """`products` by their open lots and orders, most first (ties in the products' own order): the
    tasks are sent in this order, so on workers with fewer processes than products the slowest
    solves start first instead of waiting behind the quick ones."""
    if len(products) < 2:
        return products
    open_rows: dict[Product, int] = dict.fromkeys(products, 0)
    for model, open_statuses in (
        (SupplyOffer, OPEN_OFFERS),
        (DemandOrder, OPEN_ORDERS),
    ):
        counted = (
            select(model.product, func.count())
            .where(model.status.in_(open_statuses), model.product.in_(products))
            .group_by(model.product)
        )
        for product, count in session.execute(counted):
            open_rows[Product(product)] += count
    return sorted(products, key=lambda product: -open_rows[product])


def _unsolved(session: Session, run: MatchRun) -> list[Product]:
    done = set(session.execute(select(MatchRunPart.product).where(MatchRunPart.match_run_id == run.id)).scalars())
    return [product for product in run_products(run) if product not in done]


def unsolved_products(session: Session, *, run_id: int) -> list[Product]:
    """The products of a run not written yet (read without locks: a step that has just committed sees its own)."""
    run = session.get(MatchRun, run_id)
    if run is None:
        raise NotFound(f"match run {run_id} not found")
    return _unsolved(session, run)


def _lock_product(session: Session, product: Product, run_id: int) -> None:
    """Write this product's lock row first: held until commit, it queues other solves of the product."""
    dialect = session.get_bind().dialect.name
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(MatchingLock.__table__).values(
        product=product.value, match_run_id=run_id, locked_at=utcnow()
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["product"],
            set_={"match_run_id": statement.excluded.match_run_id, "locked_at": statement.excluded.locked_at},
        )
    )


class PhaseTimes:
    """Seconds spent in each named phase of a solve, summed; how a benchmark shows where the time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


@collector_paused()  # a product's book, lines and contract rows: many objects, no cycles
def solve_product(session: Session, *, run_id: int, product: Product, times: PhaseTimes | None = None) -> bool:
    """Solve one product of a running run and write its proposed contracts. False if nothing was left to do.

    `times`, if given, collects the seconds spent in each phase (for benchmarks)."""
    times = times if times is not None else PhaseTimes()
    with times.phase("lock the product and the run"):
        _lock_product(session, product, run_id)
        # FOR SHARE until commit: failing or re-beginning the run waits for this solve (so a failed run never
        # keeps contracts written after it failed), and the sweep sees a run being solved as busy.
        run = (
            session.execute(select(MatchRun).where(MatchRun.id == run_id).with_for_update(read=True)).scalars().first()
        )
        if run is None or run.status != MatchRunStatus.running:
            return False
        already = select(MatchRunPart.id).where(MatchRunPart.match_run_id == run_id, MatchRunPart.product == product)
        if session.execute(already).first() is not None:
            return False
    with times.phase("load the open book"):
        book = load_book(session, product)
    policy = Policy(pricing=Pricing(run.policy.value), poverty_weight=run.parameters.get("poverty_weight_fen", 0))
    with times.phase("solve: match()"):
        allocation = match(book, policy)
    with times.phase("report: unmatched orders' reasons"):
        unmatched = unmatched_orders(book, allocation)
    with times.phase("report: unmatched orders' references"):
        # Read before the writes: a query after them would wait for the statements they leave running.
        references = order_references(session, [order.id for order, _, _ in unmatched])
    rows = _write_contracts(session, run, product, book, allocation, times)
    # Worked out while the database writes the audit events (_write_contracts).
    with times.phase("report: the contracts summed"):
        sums = contract_sums(rows)
    with times.phase("report: first come, first served"):
        baseline = first_come_first_served(book, policy)
    summary = _summary(book, allocation, baseline, unmatched, references) | {"sums": sums}
    with times.phase("write the product's part"):
        session.add(MatchRunPart(match_run_id=run_id, product=product, summary=summary))
        session.flush()
    log.info(
        "match run %s: %s solved, %d contracts, %d kg", run_id, product.value, len(allocation.lines), allocation.kg
    )
    return True


def _summary(
    book: Book,
    allocation: Allocation,
    baseline: Allocation,
    unmatched: list[tuple[Order, int, Reason]],
    references: dict[int, str | None],
) -> dict[str, Any]:
    """What the report needs of this product beyond its contracts; integers in kg and fen. The `unmatched`
    orders come with their `references` (by order id), looked up here rather than in the run's last step."""
    return {
        "offered_kg": sum(offer.kg for offer in book.offers),
        "demanded_kg": sum(order.kg for order in book.orders),
        "gains_kg_fen": allocation.gains,
        "baseline": {
            "kg": baseline.kg,
            "gains_kg_fen": baseline.gains,
            "value_fen": sum(value_fen(line.kg, line.price) for line in baseline.lines),
        },
        "unmatched": [
            {
                "order_id": order.id,
                "reference": references[order.id],
                "buyer_id": order.buyer_id,
                "agreement_id": order.agreement_id,
                "kg": left,
                "reason": reason.value,
            }
            for order, left, reason in unmatched
        ],
        "solver": [
            {
                "phase": "agreements" if stats.network == "agreements" else "open market",
                "solver": stats.solver,
                "network": stats.network,
                "nodes": stats.nodes,
                "arcs": stats.arcs,
                "milliseconds": round(stats.seconds * 1000),
            }
            for stats in allocation.stats
        ],
    }


_CONTRACTS = Contract.__table__  # type: ignore[attr-defined]


def _write_contracts(
    session: Session, run: MatchRun, product: Product, book: Book, allocation: Allocation, times: PhaseTimes
) -> list[dict[str, Any]]:
    """Proposed contracts, the tonnage they reserve and their audit events, in set-based statements;
    the contracts' rows as written."""
    if not allocation.lines:
        return []
    # Each statement is left running in the database while this process goes on: the reservations
    # (which need only the lines) while the contracts' rows are made, the audit events (made from the
    # stored contracts) while the report's baseline is worked out. The next query or
    # COPY on the connection waits for them first.
    with times.phase("reserve tonnage"):
        held = [
            {
                "offer_id": line.offer_id,
                "order_id": line.order_id,
                "agreement_id": line.agreement_id,
                "quantity_kg": line.kg,
            }
            for line in allocation.lines
        ]
        reserve(session, held, sign=+1, wait=False)
    with times.phase("write contracts"):
        rows = _contract_rows(run, product, book, allocation)
        insert_rows_with_ids(session, _CONTRACTS, rows)
    with times.phase("audit events"):
        append_row_events(session, _CONTRACTS, rows, actor=MATCHER, action="contract.propose", wait=False)
    return rows


def _contract_rows(run: MatchRun, product: Product, book: Book, allocation: Allocation) -> list[dict[str, Any]]:
    """The proposed contracts' rows, every column but id, as the database would give them back:
    the audit events are made from these rows, not from reading the contracts again."""
    now = utcnow()
    offers = {offer.id: offer for offer in book.offers}
    orders = {order.id: order for order in book.orders}
    rows = []
    for line in allocation.lines:
        offer, order = offers[line.offer_id], orders[line.order_id]
        rows.append(
            {
                "match_run_id": run.id,
                "offer_id": line.offer_id,
                "order_id": line.order_id,
                "agreement_id": line.agreement_id,
                "cooperative_id": offer.cooperative_id,
                "buyer_id": order.buyer_id,
                "product": product,
                "grade": GRADE_OF_RANK[offer.grade],
                "quantity_kg": line.kg,
                "price_fen": line.price,
                "value_fen": value_fen(line.kg, line.price),
                "transport_fen": value_fen(line.kg, line.freight),
                "deliver_from": date.fromordinal(max(offer.start, order.start)),
                "deliver_until": date.fromordinal(min(offer.end, order.end)),
                "shipped_kg": 0,
                "accepted_kg": 0,
                "earned_fen": 0,
                "status": ContractStatus.proposed,
                "close_reason": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _audit_contracts(
    session: Session,
    contracts: list[tuple[int, Any]],
    action: str,
    before: str | None,
    actor: Actor = MATCHER,
) -> None:
    """One audit event per contract, given as (id, its snapshot), appended in one statement;
    `before`, when given, is the status the contract had (a snapshot's other columns are as after)."""
    if not contracts:
        return
    now = utcnow()
    events = [
        {
            "occurred_at": now,
            "account_id": actor.account_id,
            "actor": actor.label,
            "action": action,
            "object_type": "contract",
            "object_id": contract_id,
            "before": None if before is None else after | {"status": before},
            "after": after,
        }
        for contract_id, after in contracts
    ]
    append_events(session, events)


def finish_match_run(session: Session, *, run_id: int, auto_approve: bool = False) -> MatchRun:
    """Once every product is solved: write the report and propose the contracts for review."""
    run = _locked_run(session, run_id)
    if run.status != MatchRunStatus.running:
        return run
    parts = {
        part.product: part
        for part in session.execute(select(MatchRunPart).where(MatchRunPart.match_run_id == run_id)).scalars()
    }
    missing = [product for product in run_products(run) if product not in parts]
    if missing:
        raise Conflict(f"match run {run_id} has unsolved products: {', '.join(p.value for p in missing)}")
    before = snapshot(run)
    run.report = build_report(session, run, [parts[product] for product in run_products(run)])
    run.status = MatchRunStatus.proposed
    run.finished_at = utcnow()
    session.add(run)
    session.flush()
    record_event(session, actor=MATCHER, action="match_run.propose", row=run, before=before)
    if auto_approve:
        approve_match_run(session, actor=Actor.system("auto-approve"), run_id=run_id)
    return run


def fail_match_run(session: Session, *, run_id: int, error: str) -> None:
    """Give up on a run: release whatever it proposed, and say why."""
    run = _locked_run(session, run_id)
    if run.status not in (MatchRunStatus.queued, MatchRunStatus.running):
        return
    before = snapshot(run)
    _release_proposed(session, run, MATCHER)
    run.status = MatchRunStatus.failed
    run.error = error[:2000]
    run.finished_at = utcnow()
    session.add(run)
    session.flush()
    record_event(session, actor=MATCHER, action="match_run.fail", row=run, before=before)


def sweep_match_runs(session: Session, *, grace: timedelta) -> list[int]:
    """The runs to send to the workers again: queued or running, and stalled.

    A run is stalled when nothing has been recorded about it for longer than `grace` (its last audit
    event: requested, started, re-sent, retried; or its last product written) and no transaction is
    working on it now: a solve holds its run's row until it commits, and rows are taken here with
    SKIP LOCKED, so on PostgreSQL a run in the middle of a long solve is never picked, however long
    the solve. Each stalled run gets a `match_run.resend` event, so the next sweep leaves it alone for
    another `grace`. The caller sends `matching.run` for each id once this transaction has committed;
    that task is safe to receive twice, so a run whose message was not lost after all is merely
    started twice and written once.
    """
    cutoff = utcnow() - grace
    active = (MatchRunStatus.queued, MatchRunStatus.running)
    runs = list(
        session.execute(
            select(MatchRun)
            .where(MatchRun.status.in_(active), MatchRun.created_at < cutoff)
            .order_by(MatchRun.id)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not runs:
        return []
    ids = [run.id for run in runs]
    last_event = dict(
        session.execute(
            select(AuditEvent.object_id, func.max(AuditEvent.occurred_at))
            .where(AuditEvent.object_type == MatchRun.__tablename__, AuditEvent.object_id.in_(ids))
            .group_by(AuditEvent.object_id)
        ).all()
    )
    last_part = dict(
        session.execute(
            select(MatchRunPart.match_run_id, func.max(MatchRunPart.created_at))
            .where(MatchRunPart.match_run_id.in_(ids))
            .group_by(MatchRunPart.match_run_id)
        ).all()
    )
    stalled = []
    for run in runs:
        moments = (run.created_at, run.started_at, last_event.get(run.id), last_part.get(run.id))
        if max(as_utc(moment) for moment in moments if moment is not None) < cutoff:
            stalled.append(run)
    for run in stalled:
        record_event(session, actor=SWEEPER, action="match_run.resend", row=run, before=snapshot(run))
    if stalled:
        log.warning("match runs %s stalled for over %s: sending them again", [run.id for run in stalled], grace)
    return [run.id for run in stalled]


def _proposed_contracts(session: Session, run_id: int) -> list[Contract]:
    return list(
        session.execute(
            select(Contract)
            .where(Contract.match_run_id == run_id, Contract.status == ContractStatus.proposed)
            .order_by(Contract.id)
            .with_for_update()
        ).scalars()
    )


def _release_proposed(session: Session, run: MatchRun, actor: Actor) -> None:
    contracts = _proposed_contracts(session, run.id)
    if not contracts:
        return
    rows = [
        {"offer_id": c.offer_id, "order_id": c.order_id, "agreement_id": c.agreement_id, "quantity_kg": c.quantity_kg}
        for c in contracts
    ]
    reserve(session, rows, sign=-1)
    _set_contract_status(session, contracts, ContractStatus.cancelled, "contract.cancel", actor)


def _set_contract_status(
    session: Session, contracts: list[Contract], status: ContractStatus, action: str, actor: Actor
) -> None:
    now = utcnow()
    ids = [contract.id for contract in contracts]
    table = Contract.__table__
    session.execute(update(table).where(one_of(session, table.c.id, ids)).values(status=status.value, updated_at=now))
    changed = (
        session.execute(
            select(Contract)
            .where(one_of(session, Contract.id, ids))
            .order_by(Contract.id)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    documents = [(contract.id, snapshot(contract)) for contract in changed]
    _audit_contracts(session, documents, action, before=ContractStatus.proposed.value, actor=actor)


def approve_match_run(session: Session, *, actor: Actor, run_id: int) -> MatchRun:
    """Confirm every contract the run proposed."""
    actor.require(Role.admin)
    run = _locked_run(session, run_id)
    if run.status != MatchRunStatus.proposed:
        raise Conflict(f"match run {run_id} is {run.status.value}: only a proposed run can be approved")
    before = snapshot(run)
    contracts = _proposed_contracts(session, run_id)
    if contracts:
        _set_contract_status(session, contracts, ContractStatus.confirmed, "contract.confirm", actor)
    _decide(run, actor, MatchRunStatus.approved)
    session.add(run)
    session.flush()
    record_event(session, actor=actor, action="match_run.approve", row=run, before=before)
    return run


def reject_match_run(session: Session, *, actor: Actor, run_id: int) -> MatchRun:
    """Cancel every contract the run proposed and give their tonnes back to the market."""
    actor.require(Role.admin)
    run = _locked_run(session, run_id)
    if run.status != MatchRunStatus.proposed:
        raise Conflict(f"match run {run_id} is {run.status.value}: only a proposed run can be rejected")
    before = snapshot(run)
    _release_proposed(session, run, actor)
    _decide(run, actor, MatchRunStatus.rejected)
    session.add(run)
    session.flush()
    record_event(session, actor=actor, action="match_run.reject", row=run, before=before)
    return run


def retry_match_run(session: Session, *, actor: Actor, run_id: int) -> MatchRun:
    """Put a failed run back in the queue, to be solved afresh; its `attempts` count on.

    What the failed attempt left is cleared first, so the retry writes every product anew: a contract
    it still proposed is cancelled and its tonnes released (failing did that already), then its
    contracts (all cancelled, never delivered against) are removed, each with a `contract.discard`
    event holding the row, and so are the products it had written. The caller queues the run.
    """
    actor.require(Role.admin)
    run = _locked_run(session, run_id)
    if run.status != MatchRunStatus.failed:
        raise Conflict(f"match run {run_id} is {run.status.value}: only a failed run can be retried")
    before = snapshot(run)
    _release_proposed(session, run, actor)
    leftovers = list(
        session.execute(
            select(Contract)
            .where(Contract.match_run_id == run_id)
            .order_by(Contract.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )
    if any(contract.status != ContractStatus.cancelled for contract in leftovers):
        raise Conflict(f"match run {run_id} still has contracts that are not cancelled: it cannot be retried")
    discarded = [
        {
            "account_id": actor.account_id,
            "actor": actor.label,
            "action": "contract.discard",
            "object_type": Contract.__tablename__,
            "object_id": contract.id,
            "before": snapshot(contract),
            "after": None,
        }
        for contract in leftovers
    ]
    contract_table, part_table = Contract.__table__, MatchRunPart.__table__
    session.execute(delete(contract_table).where(contract_table.c.match_run_id == run_id))
    session.execute(delete(part_table).where(part_table.c.match_run_id == run_id))
    append_events(session, discarded)
    run.status = MatchRunStatus.queued
    run.error = None
    run.report = None
    run.started_at = None
    run.finished_at = None
    session.add(run)
    session.flush()
    record_event(session, actor=actor, action="match_run.retry", row=run, before=before)
    return run


def _decide(run: MatchRun, actor: Actor, status: MatchRunStatus) -> None:
    run.status = status
    run.decided_at = utcnow()
    run.decided_by_id = actor.account_id


def list_match_runs(
    session: Session,
    *,
    actor: Actor,
    page: PageRequest,
    status: MatchRunStatus | None = None,
    product: Product | None = None,
) -> tuple[list[MatchRun], int]:
    actor.require(Role.admin)
    statement = select(MatchRun)
    if status is not None:
        statement = statement.where(MatchRun.status == status)
    if product is not None:
        statement = statement.where(MatchRun.product == product)
    return fetch_page(session, statement, page, MatchRun.id.desc())


def get_match_run(session: Session, *, actor: Actor, run_id: int) -> MatchRun:
    actor.require(Role.admin)
    run = session.get(MatchRun, run_id)
    if run is None:
        raise NotFound(f"match run {run_id} not found")
    return run
