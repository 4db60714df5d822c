"""A contract's history for its page: the ledger's events (the contract and its deliveries) and its run's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from market.models import Account, Contract
from market.models.common import Role
from market.services import ledger
from market.services.actors import Actor
from market.services.audit import events_about

# Events that repeat what a delivery's own event says, unless the contract's status moved.
_ECHOES = frozenset({"contract.ship", "contract.accept"})


@dataclass(frozen=True)
class Entry:
    occurred_at: datetime
    action: str
    object_type: str
    object_id: int | None
    who: str | None  # the account's name
    system: str | None  # or the part of the system that acted ("matching", "cli")
    status_before: str | None
    status_after: str | None
    after: dict[str, Any]  # the object's state after the event (a delivery's tonnes, ticket, reason)


def contract_history(session: Session, *, actor: Actor, contract: Contract) -> list[Entry]:
    actor.require(Role.admin)
    events = ledger.contract_history(session, actor=actor, contract_id=contract.id)
    events += events_about(session, "match_run", [contract.match_run_id])
    names = account_names(session, [event.account_id for event in events])
    entries = []
    for event in sorted(events, key=lambda event: (event.occurred_at, event.id)):
        before, after = _status(event.before), _status(event.after)
        if event.action in _ECHOES and before == after:
            continue
        system = event.actor.removeprefix("system:") if event.actor.startswith("system:") else None
        who = names.get(event.account_id) if event.account_id is not None else None
        entries.append(
            Entry(
                occurred_at=event.occurred_at,
                action=event.action,
                object_type=event.object_type,
                object_id=event.object_id,
                who=who if who is not None or system is not None else event.actor,
                system=system,
                status_before=before,
                status_after=after,
                after=event.after or {},
            )
        )
    return entries


def _status(state: dict[str, Any] | None) -> str | None:
    return None if state is None else state.get("status")


def account_names(session: Session, ids: list[int | None]) -> dict[int, str]:
    """Names of the accounts that requested, decided or recorded something."""
    wanted = {account_id for account_id in ids if account_id is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(Account.id, Account.name).where(Account.id.in_(wanted))).all())
