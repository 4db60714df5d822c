"""Every create and state change leaves an AuditEvent in the same transaction."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, SQLModel, select

from market.models import AuditEvent
from market.models.common import json_safe
from market.services.actors import Actor

log = logging.getLogger("market.audit")

# Never copied into the audit log.
_SECRET_COLUMNS = frozenset({"token_hash"})


def snapshot(row: SQLModel) -> dict[str, Any]:
    """A row's stored columns, as JSON-safe values."""
    columns = row.__table__.columns  # type: ignore[attr-defined]
    return json_safe({c.name: getattr(row, c.name) for c in columns if c.name not in _SECRET_COLUMNS})


def record_event(
    session: Session,
    *,
    actor: Actor,
    action: str,
    row: SQLModel,
    before: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record `action` on `row` (already flushed, so it has an id), with its state before and after."""
    event = AuditEvent(
        account_id=actor.account_id,
        actor=actor.label,
        action=action,
        object_type=row.__tablename__,  # type: ignore[attr-defined]
        object_id=getattr(row, "id", None),
        before=before,
        after=snapshot(row),
    )
    session.add(event)
    log.info("%s %s %s %s", actor.label, action, event.object_type, event.object_id)
    return event


def events_about(session: Session, object_type: str, object_ids) -> list[AuditEvent]:
    """The audit events of these objects (ids, or a subquery of them), oldest first."""
    return list(
        session.exec(
            select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id.in_(object_ids))
            .order_by(AuditEvent.id)
        ).all()
    )
