"""Match runs on Celery: one task per run fans out one task per product; the last product finishes the run.

Every task takes ids and is safe to receive twice: the service steps skip what is done.
No chord: a chord counts its parts in Redis, so a part delivered twice (a visibility timeout,
a lost worker) would fire the finishing task early, and a Redis restart would forget the count.
Instead each product's task, once its own transaction has committed, looks whether every
product of the run is written and, if so, finishes the run (finishing twice changes nothing).
Whichever product commits last sees all the others, so some task always finishes the run.

What no task can do for itself, when its message is lost (Redis restarted without persistence,
or down when the API queued the run), `matching.sweep` does: beat sends it every minute, a
worker once when it starts, and it sends `matching.run` again for runs that have stalled.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger
from sqlalchemy.exc import OperationalError

from market.config import get_settings
from market.models.common import Product
from market.models.match_run import MatchRunCreate
from market.runtime import at_lower_cpu_priority
from market.services import matching
from market.services.actors import Actor
from workers import IDEMPOTENT
from workers.tasks import task_session

logger = get_task_logger(__name__)

# Lost connections, lock timeouts, deadlocks and serialization failures (psycopg raises them all as
# OperationalError subclasses) are worth another try, in a fresh transaction; anything else fails the run.
# When the tries run out the run stays running, and the sweep sends it again later.
RETRYABLE = (OperationalError,)
RETRY = {"autoretry_for": RETRYABLE, "retry_backoff": True, "max_retries": 5}

#: How many nice levels below the run's largest product its other products are solved (`run_match`).
GIVE_WAY_NICENESS = 5


@shared_task(name="matching.run", **RETRY, **IDEMPOTENT)
def run_match(run_id: int) -> None:
    with task_session() as session:
        products = matching.begin_match_run(session, run_id=run_id)
    if products is None:
        return
    if not products:  # every product written already (a run sent again): only the finishing is left
        finish_if_solved(run_id)
        return
    # The largest open book comes first: its solve and then its writes are the run's longest chain. The
    # others give way to it where solving processes outnumber the cores, so that it does not finish
    # last with its writes alone on a machine left half idle (bench/README.md, target 2).
    for position, product in enumerate(products):
        solve_product.apply_async((run_id, product.value), {"give_way": position > 0})


@shared_task(name="matching.solve_product", **RETRY, **IDEMPOTENT)
def solve_product(run_id: int, product: str, give_way: bool = False) -> bool:
    """Solve and write one product; with `give_way`, at a lower CPU priority than the run's largest.

    Giving way, the solve runs in a thread of its own (`at_lower_cpu_priority`) and this one waits. A soft
    time limit then ends the wait, not the solve: failing the run below waits for the solve's transaction
    (it holds the run's row) to commit, or for the hard limit to end the process and roll it back.
    """

    def solve() -> bool:
        with task_session() as session:
            return matching.solve_product(session, run_id=run_id, product=Product(product))

    try:
        solved = at_lower_cpu_priority(solve, GIVE_WAY_NICENESS if give_way else 0)
    except RETRYABLE:
        raise
    except (Exception, SoftTimeLimitExceeded) as exc:
        logger.exception("match run %s: solving %s failed", run_id, product)
        with task_session() as session:
            matching.fail_match_run(session, run_id=run_id, error=f"{product}: {type(exc).__name__}: {exc}")
        raise
    finish_if_solved(run_id)
    return solved


def finish_if_solved(run_id: int) -> str:
    """Finish the run if every product is written (this task's own commit included); its status after."""
    with task_session() as session:
        if matching.unsolved_products(session, run_id=run_id):
            return "running"
    with task_session() as session:
        run = matching.finish_match_run(session, run_id=run_id, auto_approve=get_settings().match_auto_approve)
        return run.status.value


# Kept for messages sent by earlier versions (a chord's callback); finishing is done by the last product now.
@shared_task(name="matching.finish", **RETRY, **IDEMPOTENT)
def finish_run(run_id: int) -> str:
    return finish_if_solved(run_id)


@shared_task(name="matching.sweep")
def sweep() -> list[int]:
    """Send `matching.run` again for every stalled run (see `matching.sweep_match_runs`); their ids."""
    grace = timedelta(seconds=get_settings().match_sweep_grace_seconds)
    with task_session() as session:
        run_ids = matching.sweep_match_runs(session, grace=grace)
    for run_id in run_ids:
        run_match.delay(run_id)
    logger.info("sweep: %d stalled match runs sent again %s", len(run_ids), run_ids)
    return run_ids


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
