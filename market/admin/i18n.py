"""The console's two languages, and the words for the domain's codes (products, statuses, reasons).

The page's language comes from the session (set by the switch on every page), else from
Accept-Language, else Chinese: the office works in Chinese.
"""

from __future__ import annotations

from flask import request, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from market.models.common import ContractStatus, DeliveryStatus, Grade, MatchRunStatus, PricePolicy, Product
from market.services.reports import GroupBy

# Babel locale identifier -> (the name the switch shows, the HTML lang attribute).
LANGUAGES = {"zh_Hans_CN": ("中文", "zh-CN"), "en": ("English", "en")}
DEFAULT_LANGUAGE = "zh_Hans_CN"
SESSION_KEY = "lang"


def select_locale() -> str:
    chosen = session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"]) if request else None
    if best is None:
        return DEFAULT_LANGUAGE
    return "en" if best == "en" else "zh_Hans_CN"


PRODUCTS = {
    Product.apple: _l("Apple"),
    Product.vegetable: _l("Vegetables"),
    Product.egg: _l("Eggs"),
    Product.sichuan_pepper: _l("Sichuan pepper"),
    Product.potato: _l("Potatoes"),
}

GRADES = {
    Grade.premium: _l("Premium grade"),
    Grade.first: _l("First grade"),
    Grade.second: _l("Second grade"),
}

RUN_STATUSES = {
    MatchRunStatus.queued: _l("Queued"),
    MatchRunStatus.running: _l("Running"),
    MatchRunStatus.proposed: _l("Awaiting review"),
    MatchRunStatus.approved: _l("Approved"),
    MatchRunStatus.rejected: _l("Rejected"),
    MatchRunStatus.failed: _l("Failed"),
}

CONTRACT_STATUSES = {
    ContractStatus.proposed: _l("Proposed"),
    ContractStatus.confirmed: _l("Confirmed"),
    ContractStatus.in_delivery: _l("In delivery"),
    ContractStatus.fulfilled: _l("Fulfilled"),
    ContractStatus.closed_short: _l("Closed short"),
    ContractStatus.cancelled: _l("Cancelled"),
}

DELIVERY_STATUSES = {
    DeliveryStatus.shipped: _l("Awaiting acceptance"),
    DeliveryStatus.accepted: _l("Accepted"),
}

# What a report's rows are grouped by.
GROUPINGS = {
    GroupBy.product: _l("Product"),
    GroupBy.cooperative: _l("Cooperative"),
    GroupBy.buyer: _l("Buyer"),
    GroupBy.agreement: _l("Purchase agreement"),
    GroupBy.township: _l("Township"),
    GroupBy.month: _l("Month"),
}

POLICIES = {
    PricePolicy.midpoint: _l("Midpoint: the seller nets its ask plus half the surplus"),
    PricePolicy.ask: _l("Ask: the seller nets its asking price"),
    PricePolicy.bid: _l("Bid: the buyer pays its limit price"),
}

POLICY_NAMES = {
    PricePolicy.midpoint: _l("Midpoint"),
    PricePolicy.ask: _l("Ask"),
    PricePolicy.bid: _l("Bid"),
}

UNMATCHED_REASONS = {
    "no_supply_of_grade": _l("No supply of that grade"),
    "windows_do_not_meet": _l("Delivery and availability windows do not meet"),
    "price_gap": _l("Price gap: ask plus freight is not below the bid"),
    "supply_exhausted": _l("Supply exhausted"),
}

SOLVER_PHASES = {"agreements": _l("Purchase agreements"), "open market": _l("Open market")}

# Audit actions shown in a contract's history.
ACTIONS = {
    "match_run.request": _l("Match run requested"),
    "match_run.start": _l("Match run started"),
    "match_run.propose": _l("Match run proposed its contracts"),
    "match_run.approve": _l("Match run approved"),
    "match_run.reject": _l("Match run rejected"),
    "match_run.fail": _l("Match run failed"),
    "contract.propose": _l("Contract proposed"),
    "contract.confirm": _l("Contract confirmed"),
    "contract.cancel": _l("Contract cancelled"),
    "contract.ship": _l("Load shipped"),
    "contract.accept": _l("Delivery accepted at the weighbridge"),
    "contract.close_short": _l("Contract closed short"),
    "delivery.record": _l("Delivery recorded"),
    "delivery.accept": _l("Delivery accepted"),
}

# The parts of the system that act on their own (Actor.system).
SYSTEM_ACTORS = {
    "matching": _l("the matcher"),
    "auto-approve": _l("automatic approval"),
    "cli": _l("the command line"),
    "seed": _l("the seed scenario"),
}


def label(table: dict, code: object) -> str:
    """The word for a code in the page's language; an unknown code is shown as it is."""
    if code is None:
        return ""
    try:
        return str(table[code])
    except KeyError:
        return str(code)


def party_name(party: object) -> str:
    """A cooperative's or buyer's name in the page's language: a row, or a line of a run's report."""
    field = "name_zh" if str(get_locale()).startswith("zh") else "name"
    return party[field] if isinstance(party, dict) else getattr(party, field)


def group_label(group_by: GroupBy, row: object) -> str:
    """The name of one row of the summary report (services.reports.Row) in the page's language."""
    from market.admin.formatting import month

    if group_by == GroupBy.product:
        return label(PRODUCTS, row.key)
    if group_by == GroupBy.month:
        return month(row.key)
    if group_by == GroupBy.agreement:
        return row.name or f"#{row.key}"
    if row.name is None and row.name_zh is None:
        return row.key
    return party_name(row) or row.name or row.key


def _labeller(table: dict):
    return lambda code: label(table, code)


# Available in every console template and macro.
JINJA_GLOBALS = {
    "product_label": _labeller(PRODUCTS),
    "grade_label": _labeller(GRADES),
    "run_status_label": _labeller(RUN_STATUSES),
    "contract_status_label": _labeller(CONTRACT_STATUSES),
    "delivery_status_label": _labeller(DELIVERY_STATUSES),
    "grouping_label": _labeller(GROUPINGS),
    "group_label": group_label,
    "policy_label": _labeller(POLICY_NAMES),
    "reason_label": _labeller(UNMATCHED_REASONS),
    "phase_label": _labeller(SOLVER_PHASES),
    "action_label": _labeller(ACTIONS),
    "system_label": _labeller(SYSTEM_ACTORS),
    "party_name": party_name,
}
