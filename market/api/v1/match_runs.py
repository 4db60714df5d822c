"""/api/v1/match-runs: the office asks for a round of matching, reviews its report, approves or rejects."""

from __future__ import annotations

from flask import current_app

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, page_of, respond, settings
from market.api.serialize import match_run_out
from market.models.common import MatchRunStatus, Page, Product, Role
from market.models.match_run import MatchRunCreate, MatchRunPublic
from market.services import matching

match_runs_api = v1_blueprint(
    "match_runs",
    "/match-runs",
    "Match runs",
    "Rounds of matching over the open book: queued, running, proposed (awaiting review), approved, rejected, failed. "
    "A run that cannot be handed to the workers at once (the task queue is down) stays queued and is sent "
    "when the queue is back; a failed run can be retried.",
)


def _hand_to_workers(run_id: int) -> None:
    current_app.extensions["market.jobs"].hand_over_match_run(run_id)


class MatchRunQuery(PageQuery):
    status: MatchRunStatus | None = None
    product: Product | None = None


@match_runs_api.post("", responses={202: MatchRunPublic})
@allow(Role.admin)
def request_match_run(body: MatchRunCreate):
    """Queue a match run; a worker (or this process, without Redis) solves it and proposes contracts.

    The run is recorded before it is handed to the workers. If the task queue is unreachable the answer
    is still 202 and the run stays queued: the workers' sweep sends it once the queue is back, and it
    takes effect once. Do not request it again."""
    run = matching.request_match_run(
        db(), actor=current_actor(), data=body, max_active=settings().max_active_runs_per_admin
    )
    response = respond(match_run_out(run), 202)
    _hand_to_workers(run.id)
    return response


@match_runs_api.get("", responses={200: Page[MatchRunPublic]})
@allow(Role.admin)
def list_match_runs(query: MatchRunQuery):
    """Runs, newest first, without their reports."""
    rows, count = matching.list_match_runs(
        db(), actor=current_actor(), page=query.page(), status=query.status, product=query.product
    )
    return respond(page_of([match_run_out(run, with_report=False) for run in rows], count))


@match_runs_api.get("/<int:id>", responses={200: MatchRunPublic})
@allow(Role.admin)
def get_match_run(path: IdPath):
    """One run with its report."""
    return respond(match_run_out(matching.get_match_run(db(), actor=current_actor(), run_id=path.id)))


@match_runs_api.post("/<int:id>/approve", responses={200: MatchRunPublic})
@allow(Role.admin)
def approve_match_run(path: IdPath):
    """Confirm the contracts a proposed run holds."""
    return respond(match_run_out(matching.approve_match_run(db(), actor=current_actor(), run_id=path.id)))


@match_runs_api.post("/<int:id>/reject", responses={200: MatchRunPublic})
@allow(Role.admin)
def reject_match_run(path: IdPath):
    """Cancel the contracts a proposed run holds and release their tonnes."""
    return respond(match_run_out(matching.reject_match_run(db(), actor=current_actor(), run_id=path.id)))


@match_runs_api.post("/<int:id>/retry", responses={202: MatchRunPublic})
@allow(Role.admin)
def retry_match_run(path: IdPath):
    """Queue a failed run again: it goes back to `queued` with no error, keeps its `attempts`, and is solved
    afresh (the contracts its failed attempt had proposed, all cancelled, are discarded). 409 unless the run
    is `failed`. Like a new request, it stays queued if the task queue is down, and is sent when it is back."""
    run = matching.retry_match_run(db(), actor=current_actor(), run_id=path.id)
    response = respond(match_run_out(run), 202)
    _hand_to_workers(run.id)
    return response
