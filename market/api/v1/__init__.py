"""HTTP API v1: the contract clients are written against."""

from __future__ import annotations

from flask_openapi3 import OpenAPI

from market.api.http import declare_replayed_header
from market.api.v1.accounts import accounts_api, me_api
from market.api.v1.agreements import agreements_api
from market.api.v1.contracts import contracts_api
from market.api.v1.deliveries import deliveries_api
from market.api.v1.destinations import destinations_api
from market.api.v1.match_runs import match_runs_api
from market.api.v1.offers import offers_api
from market.api.v1.orders import orders_api
from market.api.v1.parties import buyers_api, cooperatives_api
from market.api.v1.reports import reports_api

BLUEPRINTS = (
    cooperatives_api,
    buyers_api,
    accounts_api,
    me_api,
    offers_api,
    orders_api,
    agreements_api,
    destinations_api,
    match_runs_api,
    contracts_api,
    deliveries_api,
    reports_api,
)


def register_v1(app: OpenAPI) -> None:
    for blueprint in BLUEPRINTS:
        app.register_api(blueprint)
    declare_replayed_header(app.paths)
