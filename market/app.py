"""The Flask application factory."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask.json.provider import DefaultJSONProvider
from flask_openapi3 import Info, OpenAPI
from flask_openapi3.models import Schema

from market.admin import register_admin
from market.api.docs import docs
from market.api.health import health
from market.api.http import MarketRequest, register_request_hooks
from market.api.problems import register_problem_handlers, validation_problem
from market.api.v1 import register_v1
from market.config import Settings, get_settings
from market.db import check_connection, make_engine
from market.jobs import Jobs
from market.models.common import Problem
from market.models.report import PovertyPublic, SummaryPublic

API_DESCRIPTION = """\
Procurement matching for east-west agricultural trade: cooperatives of Zhaoyang (Yunnan)
post supply, buyers of Dongguan post orders and call them off against purchase agreements.

Tonnes and yuan travel as decimal strings ("12.5" t, "3450.00" yuan). Dates are ISO 8601.
Every error is application/problem+json with an `errors` list naming each bad field.
Send `Authorization: Bearer <token>` on everything but /healthz and /api/openapi.json.

Matching pairs an offer with an order when the product is the same, the offer's grade is at
least the order's minimum grade (premium > first > second), the offer's availability window and
the order's delivery window share at least one calendar day (both ends inclusive), and the bid
exceeds the ask plus freight. Every match run, the first-come-first-served baseline in its
report and the reasons given for unmatched orders use this one rule.
"""


class ExactJSONProvider(DefaultJSONProvider):
    """Numbers with a fraction are read as Decimal, so 12.345 t is never a float on the way in."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_float", Decimal)
        return super().loads(s, **kwargs)


def create_app(settings: Settings | None = None, *, check_database: bool = False) -> OpenAPI:
    settings = settings or get_settings()
    engine = make_engine(settings)
    if check_database:
        check_connection(engine, settings)

    app = OpenAPI(
        __name__,
        info=Info(title="market", version="1", description=API_DESCRIPTION),
        security_schemes={"bearerAuth": {"type": "http", "scheme": "bearer"}},
        doc_prefix="/api",
        doc_url="/openapi.json",
        validation_error_callback=validation_problem,
    )
    app.json = ExactJSONProvider(app)
    app.request_class = MarketRequest
    app.config.update(
        SECRET_KEY=settings.flask_secret_key(),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MARKET_SETTINGS=settings,
    )
    app.extensions["market.engine"] = engine
    jobs = app.extensions["market.jobs"] = Jobs(settings, engine)
    app.before_request(jobs.ensure_sealer)

    register_request_hooks(app)
    register_problem_handlers(app)
    register_v1(app)
    app.register_blueprint(health)
    app.register_blueprint(docs)
    register_admin(app)
    # Referenced by hand-written response entries (problems, file downloads), so registered by hand.
    for model in (Problem, SummaryPublic, PovertyPublic):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        for name, definition in schema.pop("$defs", {}).items():
            app.components_schemas[name] = Schema(**definition)
        app.components_schemas[model.__name__] = Schema(**schema)
    return app
