"""Match runs on Celery: one task per run fans out one task per product, then a finishing task.

Every task takes ids and is safe to receive twice: the service steps skip what is done.
"""

from __future__ import annotations

from celery import chord, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger
from sqlalchemy.exc import OperationalError

from market.config import get_settings
from market.models.common import Product
from market.models.match_run import MatchRunCreate
from market.services import matching
from market.services.actors import Actor
from workers import IDEMPOTENT
from workers.tasks import task_session

logger = get_task_logger(__name__)

# Lost connections and lock timeouts are worth another try; anything else fails the run.
RETRYABLE = (OperationalError,)


@shared_task(name="matching.run", **IDEMPOTENT)
def run_match(run_id: int) -> None:
    with task_session() as session:
        products = matching.begin_match_run(session, run_id=run_id)
    if products is None:
        return
    if products:
        chord(solve_product.si(run_id, product.value) for product in products)(finish_run.si(run_id))
    else:
        finish_run.delay(run_id)


@shared_task(
    name="matching.solve_product",
    autoretry_for=RETRYABLE,
    retry_backoff=True,
    max_retries=5,
    **IDEMPOTENT,
)
def solve_product(run_id: int, product: str) -> bool:
    try:
        with task_session() as session:
            return matching.solve_product(session, run_id=run_id, product=Product(product))
    except RETRYABLE:
        raise
    except (Exception, SoftTimeLimitExceeded) as exc:
        logger.exception("match run %s: solving %s failed", run_id, product)
        with task_session() as session:
            matching.fail_match_run(session, run_id=run_id, error=f"{product}: {type(exc).__name__}: {exc}")
        raise


@shared_task(name="matching.finish", autoretry_for=RETRYABLE, retry_backoff=True, max_retries=5, **IDEMPOTENT)
def finish_run(run_id: int) -> str:
    with task_session() as session:
        run = matching.finish_match_run(session, run_id=run_id, auto_approve=get_settings().match_auto_approve)
        return run.status.value


# Not acks_late: delivered twice, it would request two runs.
@shared_task(name="matching.scheduled_run")
def scheduled_run(product: str) -> int:
    """Beat's automatic run for one product: request it as the system, then run it like any other."""
    with task_session() as session:
        run = matching.request_match_run(
            session, actor=Actor.system("beat"), data=MatchRunCreate(product=Product(product))
        )
        run_id = run.id
    run_match.delay(run_id)
    return run_id
