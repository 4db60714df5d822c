"""/admin: the cooperation office's console. Each handler parses a form, calls a service and renders a page.

Handlers commit the request's one transaction themselves (services never commit) and answer
a POST with a redirect (303) and a flash message, so reloading a page never repeats an action.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from functools import partial
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from market.admin import formatting, history, i18n, paging
from market.admin.charts import Group, Series, grouped_bar_chart
from market.admin.forms import (
    ActionForm,
    CloseContractForm,
    ContractFilterForm,
    DeliveryFilterForm,
    LanguageForm,
    PeriodForm,
    RequestRunForm,
    RunFilterForm,
    SignInForm,
    SummaryForm,
)
from market.admin.paging import Pager, page_request, requested_page
from market.api.http import db
from market.api.v1.reports import poverty_sheet, report_file, summary_sheet
from market.models import Account, Buyer, Contract, Cooperative, PurchaseAgreement
from market.models.common import ContractStatus, DeliveryStatus, MatchRunStatus, Product, Role
from market.models.match_run import MatchRunCreate
from market.services import accounts, agreements, contracts, ledger, matching, parties, reports
from market.services.actors import Actor
from market.services.errors import Conflict, DomainError, Forbidden, NotFound
from market.services.reports import GroupBy, Summary

log = logging.getLogger(__name__)

admin = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

ACCOUNT_KEY = "admin_account_id"
# Reachable without signing in.
PUBLIC_ENDPOINTS = frozenset({"admin.sign_in", "admin.language", "admin.static"})

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


# --- who is signed in ---------------------------------------------------------------------


def signed_in_account() -> Account | None:
    """The admin account of this session, checked on every request: a revoked token ends the session."""
    account_id = session.get(ACCOUNT_KEY)
    if account_id is None:
        return None
    account = db().get(Account, account_id)
    if account is None or account.revoked_at is not None or account.role != Role.admin:
        return None
    return account


def actor() -> Actor:
    return Actor.of(g.admin_account)


def _end_session() -> None:
    """Forget the account (and its CSRF token); keep the language the person chose."""
    language = session.get(i18n.SESSION_KEY)
    session.clear()
    if language is not None:
        session[i18n.SESSION_KEY] = language


def _local(target: str | None) -> str | None:
    """A `next` address we may send someone to: a path inside the console, never another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or target.startswith("//"):
        return None
    return target


@admin.before_request
def _require_admin() -> Response | None:
    if request.endpoint == "admin.static":
        return None
    had_session = ACCOUNT_KEY in session
    g.admin_account = signed_in_account()
    if g.admin_account is None and had_session:
        _end_session()
        flash(_("Your session has ended: the token was revoked or is no longer an admin's. Sign in again."), "error")
    if g.admin_account is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.sign_in", next=target), 303 if request.method == "POST" else 302)


@admin.before_request
def _check_csrf() -> None:
    # Only the console's forms: the JSON API authenticates by bearer token and is never CSRF-checked.
    current_app.extensions["csrf"].protect()


@admin.after_request
def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "admin.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@admin.context_processor
def _page_context() -> dict:
    locale = str(get_locale())
    return {
        "account": g.get("admin_account"),
        "locale": locale,
        "html_lang": i18n.LANGUAGES.get(locale, ("", "zh-CN"))[1],
        "languages": i18n.LANGUAGES,
        "here": request.full_path.rstrip("?") if request.method == "GET" else url_for("admin.home"),
        "action_form": ActionForm(),
    }


def _page(template: str, status: int = 200, **context) -> tuple[str, int]:
    return render_template(f"admin/{template}", **context), status


# --- signing in and out, language -----------------------------------------------------------


@admin.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    next_page = _local(request.values.get("next"))
    if g.admin_account is not None:
        return redirect(next_page or url_for("admin.home"))
    form = SignInForm()
    if not form.validate_on_submit():
        return _page("sign_in.html", 422 if request.method == "POST" else 200, form=form, next=next_page)
    account = accounts.authenticate(db(), form.token.data.strip())
    if account is None:
        form.token.errors.append(_("This token is not valid, or it has been revoked."))
        return _page("sign_in.html", 401, form=form, next=next_page)
    if account.role != Role.admin:
        form.token.errors.append(
            _(
                "This is a %(role)s account's token: only the cooperation office's admin tokens open the console.",
                role=_role_name(account.role),
            )
        )
        return _page("sign_in.html", 403, form=form, next=next_page)
    _end_session()  # a fresh session (and CSRF token) for the signed-in admin
    session[ACCOUNT_KEY] = account.id
    session.permanent = True
    log.info("admin console: account %s signed in", account.id)
    flash(_("Signed in as %(name)s.", name=account.name), "success")
    return redirect(next_page or url_for("admin.home"), 303)


def _role_name(role: Role) -> str:
    return {Role.cooperative: _("cooperative"), Role.buyer: _("buyer"), Role.admin: _("admin")}[role]


@admin.post("/sign-out")
def sign_out():
    _end_session()
    flash(_("You have signed out."), "success")
    return redirect(url_for("admin.sign_in"), 303)


@admin.post("/language")
def language():
    form = LanguageForm()
    if form.validate_on_submit():
        session[i18n.SESSION_KEY] = form.lang.data
    return redirect(_local(form.next.data) or url_for("admin.home"), 303)


# --- home and match runs ---------------------------------------------------------------------


AGREEMENTS_SHOWN = 50


@dataclass(frozen=True)
class AgreementLine:
    agreement: PurchaseAgreement
    buyer: Buyer
    cooperative: Cooperative
    progress: agreements.Progress


def _figure_charts(summary: Summary, what: str) -> dict[str, Markup | None]:
    """Tonnes (contracted, delivered) and revenue (contracted, earned) per row of a summary, as two charts;
    None for a chart with nothing to draw."""
    label = partial(i18n.group_label, summary.group_by)
    tonnes = [
        Group(
            label(row),
            [row.figures.contracted_kg, row.figures.delivered_kg],
            [
                _("%(tonnes)s t", tonnes=formatting.kg(kg))
                for kg in (row.figures.contracted_kg, row.figures.delivered_kg)
            ],
        )
        for row in summary.rows
        if row.figures.contracted_kg or row.figures.delivered_kg
    ]
    revenue = [
        Group(
            label(row),
            [row.figures.contracted_fen, row.figures.earned_fen],
            [formatting.fen(row.figures.contracted_fen), formatting.fen(row.figures.earned_fen)],
        )
        for row in summary.rows
        if row.figures.contracted_fen or row.figures.earned_fen
    ]
    tonnes_series = [Series(_("Contracted"), "c"), Series(_("Delivered"), "a")]
    revenue_series = [Series(_("Contracted"), "c"), Series(_("Earned"), "b")]
    return {
        "tonnes": grouped_bar_chart(
            tonnes, series=tonnes_series, title=_("Tonnes contracted and delivered, %(what)s", what=what)
        )
        if tonnes
        else None,
        "revenue": grouped_bar_chart(
            revenue, series=revenue_series, title=_("Revenue contracted and earned (yuan), %(what)s", what=what)
        )
        if revenue
        else None,
    }


def _agreement_lines(today: date) -> tuple[list[AgreementLine], int]:
    rows, count = agreements.list_agreements(db(), actor=actor(), page=page_request(1, AGREEMENTS_SHOWN))
    cooperatives, buyers = _parties(rows)
    lines = [
        AgreementLine(row, buyers[row.buyer_id], cooperatives[row.cooperative_id], agreements.progress(row, today))
        for row in rows
    ]
    return lines, count


def _period_args(date_from: date | None, date_to: date | None) -> dict[str, str]:
    """A period as query arguments for links: ?from=…&to=…"""
    return {key: value.isoformat() for key, value in (("from", date_from), ("to", date_to)) if value}


def _home(form: RequestRunForm, status: int = 200):
    proposed, waiting = matching.list_match_runs(
        db(), actor=actor(), page=page_request(1, 20), status=MatchRunStatus.proposed
    )
    recent, _count = matching.list_match_runs(db(), actor=actor(), page=page_request(1, 5))
    period = PeriodForm(formdata=request.args)
    period.validate()
    date_from, date_to = period.period()
    by_month = reports.summary(db(), actor=actor(), group_by=GroupBy.month, date_from=date_from, date_to=date_to)
    by_product = reports.summary(db(), actor=actor(), group_by=GroupBy.product, date_from=date_from, date_to=date_to)
    _towns, poverty = reports.poverty(db(), actor=actor(), date_from=date_from, date_to=date_to)
    today = formatting.today()
    agreement_lines, agreement_count = _agreement_lines(today)
    return _page(
        "home.html",
        status,
        proposed=proposed,
        waiting=waiting,
        recent=recent,
        form=form,
        period=period,
        date_from=date_from,
        date_to=date_to,
        period_args=_period_args(date_from, date_to),
        totals=by_month.totals,
        poverty=poverty,
        by_month=_figure_charts(by_month, _("by month")),
        by_product=_figure_charts(by_product, _("by product")),
        agreements=agreement_lines,
        agreement_count=agreement_count,
        today=today,
    )


@admin.get("/")
def home():
    return _home(RequestRunForm())


@admin.post("/runs")
def request_run():
    form = RequestRunForm()
    if not form.validate_on_submit():
        return _home(form, 422)
    try:
        data = MatchRunCreate(
            product=form.product.data or None,
            policy=form.policy.data,
            poverty_weight_per_tonne=form.poverty_weight_per_tonne.data,
        )
    except ValidationError:
        form.poverty_weight_per_tonne.errors.append(_("At most two decimals (yuan and fen)."))
        return _home(form, 422)
    run = matching.request_match_run(
        db(), actor=actor(), data=data, max_active=current_app.config["MARKET_SETTINGS"].max_active_runs_per_admin
    )
    db().commit()
    if not current_app.extensions["market.jobs"].hand_over_match_run(run.id):
        flash(
            _(
                "Match run %(id)s is queued, but the task queue is unavailable: "
                "it will be sent to the workers once the queue is back. Do not request it again.",
                id=run.id,
            ),
            "warning",
        )
        return redirect(url_for("admin.run", run_id=run.id), 303)
    flash(_("Match run %(id)s is queued; this page shows its report once it is ready.", id=run.id), "success")
    return redirect(url_for("admin.run", run_id=run.id), 303)


@admin.get("/runs")
def runs():
    form = RunFilterForm(formdata=request.args)
    form.validate()
    status = MatchRunStatus(form.status.data) if form.status.data and not form.status.errors else None
    page = requested_page()
    per_page = paging.PER_PAGE
    rows, count = matching.list_match_runs(db(), actor=actor(), page=page_request(page, per_page), status=status)
    return _page("runs.html", runs=rows, pager=Pager(page, count, per_page), form=form)


@admin.get("/runs/<int:run_id>")
def run(run_id: int):
    match_run = matching.get_match_run(db(), actor=actor(), run_id=run_id)
    people = history.account_names(db(), [match_run.requested_by_id, match_run.decided_by_id])
    return _page(
        "run.html", run=match_run, report=match_run.report, people=people, signatories=_signatories(match_run.report)
    )


def _signatories(report: dict | None) -> dict[int, tuple[Buyer, Cooperative]]:
    """The buyer and cooperative of each agreement in a report (which names them in Chinese only)."""
    found = {}
    for line in (report or {}).get("by_agreement", []):
        agreement = agreements.get_agreement(db(), actor=actor(), agreement_id=line["agreement_id"])
        found[agreement.id] = (
            parties.get_buyer(db(), actor=actor(), buyer_id=agreement.buyer_id),
            parties.get_cooperative(db(), actor=actor(), cooperative_id=agreement.cooperative_id),
        )
    return found


def _decide(run_id: int, decide, done_message: str, verb: str):
    try:
        decided = decide(db(), actor=actor(), run_id=run_id)
    except Conflict:
        db().rollback()
        current = matching.get_match_run(db(), actor=actor(), run_id=run_id)
        flash(
            _(
                "Only a run awaiting review can be %(verb)s; match run %(id)s is %(status)s.",
                verb=verb,
                id=run_id,
                status=i18n.label(i18n.RUN_STATUSES, current.status),
            ),
            "error",
        )
        return redirect(url_for("admin.run", run_id=run_id), 303)
    db().commit()
    log.info("admin console: match run %s %s by account %s", run_id, decided.status.value, g.admin_account.id)
    flash(done_message, "success")
    return redirect(url_for("admin.run", run_id=run_id), 303)


@admin.post("/runs/<int:run_id>/approve")
def approve_run(run_id: int):
    return _decide(
        run_id,
        matching.approve_match_run,
        _("Match run %(id)s approved: its contracts are confirmed.", id=run_id),
        _("approved"),
    )


@admin.post("/runs/<int:run_id>/reject")
def reject_run(run_id: int):
    return _decide(
        run_id,
        matching.reject_match_run,
        _("Match run %(id)s rejected: its contracts are cancelled and their tonnes released.", id=run_id),
        _("rejected"),
    )


# --- contracts -----------------------------------------------------------------------------


def _parties(rows: list[Contract] | list[PurchaseAgreement]) -> tuple[dict[int, Cooperative], dict[int, Buyer]]:
    cooperatives = {
        cid: parties.get_cooperative(db(), actor=actor(), cooperative_id=cid)
        for cid in {c.cooperative_id for c in rows}
    }
    buyers = {bid: parties.get_buyer(db(), actor=actor(), buyer_id=bid) for bid in {c.buyer_id for c in rows}}
    return cooperatives, buyers


@admin.get("/contracts")
def contract_list():
    form = ContractFilterForm(formdata=request.args)
    form.validate()
    status = ContractStatus(form.status.data) if form.status.data and not form.status.errors else None
    product = Product(form.product.data) if form.product.data and not form.product.errors else None
    run_id = form.match_run.data if not form.match_run.errors else None
    page = requested_page()
    per_page = paging.PER_PAGE
    rows, count = contracts.list_contracts(
        db(), actor=actor(), page=page_request(page, per_page), status=status, product=product, match_run_id=run_id
    )
    cooperatives, buyers = _parties(rows)
    return _page(
        "contracts.html",
        contracts=rows,
        cooperatives=cooperatives,
        buyers=buyers,
        pager=Pager(page, count, per_page),
        form=form,
    )


CONTRACT_DELIVERIES_SHOWN = 100


def _contract_page(contract_id: int, form: CloseContractForm, status: int = 200):
    row = contracts.get_contract(db(), actor=actor(), contract_id=contract_id)
    cooperatives, buyers = _parties([row])
    timeline = history.contract_history(db(), actor=actor(), contract=row)
    deliveries, delivery_count = ledger.list_deliveries(
        db(), actor=actor(), page=page_request(1, CONTRACT_DELIVERIES_SHOWN), contract_id=row.id
    )
    return _page(
        "contract.html",
        status,
        contract=row,
        cooperative=cooperatives[row.cooperative_id],
        buyer=buyers[row.buyer_id],
        timeline=timeline,
        deliveries=deliveries,
        delivery_count=delivery_count,
        may_close=row.status in ledger.OPEN_FOR_DELIVERY,
        close_form=form,
    )


@admin.get("/contracts/<int:contract_id>")
def contract(contract_id: int):
    return _contract_page(contract_id, CloseContractForm())


@admin.post("/contracts/<int:contract_id>/close")
def close_contract(contract_id: int):
    form = CloseContractForm()
    if not form.validate_on_submit():
        return _contract_page(contract_id, form, 422)
    try:
        closed = ledger.close_contract(db(), actor=actor(), contract_id=contract_id, reason=form.reason.data)
    except Conflict:
        db().rollback()
        current = contracts.get_contract(db(), actor=actor(), contract_id=contract_id)
        if current.status in ledger.OPEN_FOR_DELIVERY:
            message = _(
                "Contract %(id)s was not closed: it has deliveries awaiting acceptance. "
                "Have them accepted at the weighbridge first.",
                id=contract_id,
            )
        else:
            message = _(
                "Contract %(id)s was not closed: only a confirmed contract or one in delivery can be closed short; "
                "it is %(status)s.",
                id=contract_id,
                status=i18n.label(i18n.CONTRACT_STATUSES, current.status),
            )
        flash(message, "error")
        return redirect(url_for("admin.contract", contract_id=contract_id), 303)
    released = max(closed.quantity_kg - closed.accepted_kg, 0)
    db().commit()
    log.info("admin console: contract %s closed short by account %s", contract_id, g.admin_account.id)
    flash(
        _(
            "Contract %(id)s closed short: the %(tonnes)s t never accepted go back to the buyer's order.",
            id=contract_id,
            tonnes=formatting.kg(released),
        ),
        "success",
    )
    return redirect(url_for("admin.contract", contract_id=contract_id), 303)


# --- deliveries ----------------------------------------------------------------------------


@admin.get("/deliveries")
def delivery_list():
    form = DeliveryFilterForm(formdata=request.args)
    form.validate()
    status = DeliveryStatus(form.status.data) if form.status.data and not form.status.errors else None
    contract_id = form.contract.data if not form.contract.errors else None
    page = requested_page()
    per_page = paging.PER_PAGE
    rows, count = ledger.list_deliveries(
        db(), actor=actor(), page=page_request(page, per_page), contract_id=contract_id, status=status
    )
    their_contracts = {
        cid: contracts.get_contract(db(), actor=actor(), contract_id=cid) for cid in {d.contract_id for d in rows}
    }
    cooperatives, buyers = _parties(list(their_contracts.values()))
    return _page(
        "deliveries.html",
        deliveries=rows,
        contracts=their_contracts,
        cooperatives=cooperatives,
        buyers=buyers,
        pager=Pager(page, count, per_page),
        form=form,
    )


# --- reports --------------------------------------------------------------------------------


@admin.get("/reports")
def report_page():
    form = SummaryForm(formdata=request.args)
    form.validate()
    group_by = form.grouping()
    date_from, date_to = form.period()
    summary = reports.summary(db(), actor=actor(), group_by=group_by, date_from=date_from, date_to=date_to)
    towns, poverty_total = reports.poverty(db(), actor=actor(), date_from=date_from, date_to=date_to)
    period = _period_args(date_from, date_to)
    return _page(
        "reports.html",
        form=form,
        summary=summary,
        towns=towns,
        poverty_total=poverty_total,
        summary_args={"group_by": group_by.value, **period},
        period_args=period,
    )


class _BadDownload(Exception):
    """A download asked for with a bad period or grouping: answered with an error page, never a file."""


def _checked_period(form: PeriodForm) -> tuple[date | None, date | None]:
    """A download's period (and grouping): a bad one is refused, since a file must never silently cover
    another period than the one asked for."""
    if not form.validate():
        problems = _("; ").join(
            _("%(field)s: %(error)s", field=field.label.text, error=error) for field in form for error in field.errors
        )
        raise _BadDownload(problems)
    return form.date_from.data, form.date_to.data


@admin.get("/reports/summary.<any(csv, xlsx):fmt>")
def summary_download(fmt: str):
    form = SummaryForm(formdata=request.args)
    date_from, date_to = _checked_period(form)
    group_by = form.grouping()
    result = reports.summary(db(), actor=actor(), group_by=group_by, date_from=date_from, date_to=date_to)
    return report_file(summary_sheet(result), fmt, f"market-summary-{group_by.value}", date_from, date_to)


@admin.get("/reports/poverty.<any(csv, xlsx):fmt>")
def poverty_download(fmt: str):
    date_from, date_to = _checked_period(PeriodForm(formdata=request.args))
    towns, total = reports.poverty(db(), actor=actor(), date_from=date_from, date_to=date_to)
    return report_file(poverty_sheet(towns, total), fmt, "market-poverty", date_from, date_to)


# --- errors, as pages in the console's language ----------------------------------------------


def _error_page(status: int, message: str):
    return _page("error.html", status, code=status, message=message)


@admin.errorhandler(DomainError)
def _domain_error(error: DomainError):
    db().rollback()
    if isinstance(error, NotFound):
        return _error_page(404, _("There is no such page, or what it showed no longer exists."))
    if isinstance(error, Forbidden):
        return _error_page(403, _("This account may not do that."))
    return _error_page(error.status, error.detail)


@admin.errorhandler(_BadDownload)
def _bad_download(error: _BadDownload):
    return _error_page(400, _("This report cannot be downloaded: %(problems)s", problems=str(error)))


@admin.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    from flask_wtf.csrf import CSRFError

    if isinstance(error, CSRFError):
        log.warning("admin console: refused a form without a valid CSRF token: %s", error.description)
        return _error_page(
            400,
            _(
                "This form has expired or did not come from this console, so nothing was changed. "
                "Go back, reload the page and try again."
            ),
        )
    return _error_page(error.code or 500, error.description or error.name)


@admin.errorhandler(OperationalError)
def _database_down(error: OperationalError):
    log.error("admin console: database unavailable: %s", error.orig)
    return _error_page(503, _("The database is unavailable; try again in a moment."))


@admin.errorhandler(Exception)
def _unexpected(error: Exception):
    log.exception("admin console: unhandled error")
    return _error_page(500, _("Something went wrong on our side; it has been logged."))
