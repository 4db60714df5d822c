"""Housekeeping that beat runs on a schedule."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from celery.utils.log import get_task_logger

from market.config import get_settings
from market.services.audit import seal_all
from market.services.idempotency import purge_expired
from workers import IDEMPOTENT
from workers.tasks import task_engine, task_session

logger = get_task_logger(__name__)


@shared_task(name="maintenance.purge_idempotency_keys", ignore_result=False, **IDEMPOTENT)
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS; returns how many were forgotten.

    Idempotent: a second run finds nothing left to delete.
    """
    hours = get_settings().idempotency_ttl_hours
    with task_session() as session:
        deleted = purge_expired(session, ttl=timedelta(hours=hours))
    logger.info("forgot %d idempotency keys older than %d hours", deleted, hours)
    return deleted


@shared_task(name="maintenance.seal_audit_log", ignore_result=False, **IDEMPOTENT)
def seal_audit_log() -> int:
    """Chain the audit events committed since the last seal; returns how many were sealed.

    Idempotent: sealers take turns under one lock, and a second run finds nothing left to seal.
    """
    sealed = seal_all(task_engine())
    if sealed:
        logger.info("sealed %d audit events into the chain", sealed)
    return sealed
