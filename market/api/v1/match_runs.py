"""/api/v1/match-runs: the office asks for a round of matching, reviews its report, approves or rejects."""

from __future__ import annotations

import logging

from flask import current_app

from market.api.blueprints import IdPath, v1_blueprint
from market.api.http import PageQuery, allow, current_actor, db, page_of, respond, settings
from market.api.problems import problem
from market.api.serialize import match_run_out
from market.models.common import MatchRunStatus, Page, Product, Role
from market.models.match_run import MatchRunCreate, MatchRunPublic
from market.services import matching

log = logging.getLogger(__name__)

match_runs_api = v1_blueprint(
    "match_runs",
    "/match-runs",
    "Match runs",
    "Rounds of matching over the open book: queued, running, proposed (awaiting review), approved, rejected, failed.",
)


class MatchRunQuery(PageQuery):
    status: MatchRunStatus | None = None
    product: Product | None = None


@match_runs_api.post("", responses={202: MatchRunPublic})
@allow(Role.admin)
def request_match_run(body: MatchRunCreate):
    """Queue a match run; a worker (or this process, without Redis) solves it and proposes contracts."""
    run = matching.request_match_run(
        db(), actor=current_actor(), data=body, max_active=settings().max_active_runs_per_admin
    )
    response = respond(match_run_out(run), 202)
    try:
        current_app.extensions["market.jobs"].submit_match_run(run.id)
    except Exception as exc:  # the broker is down: say so, and do not leave the run queued for ever
        log.error("match run %s could not be queued: %s", run.id, exc)
        matching.fail_match_run(db(), run_id=run.id, error=f"could not be queued: {type(exc).__name__}")
        db().commit()
        return problem(
            503,
            "Service unavailable",
            f"match run {run.id} could not be queued; request it again",
            headers={"Retry-After": "30"},
        )
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
