"""What every API handler shares: the request's session and actor, roles, paging and idempotent writes.

A handler parses (flask-openapi3 validates), authorises (`allow`), calls one
service and returns `respond(...)`, which commits the request's one transaction.
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from json import JSONDecodeError
from typing import Any

from flask import Flask, Request, Response, current_app, g, json, request
from flask_openapi3.models import Header
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from werkzeug.exceptions import BadRequest

from market.api.problems import problem
from market.api.ratelimit import register_rate_limit
from market.config import Settings
from market.models.common import MAX_ID, QueryInt, Role
from market.runtime import collector_paused
from market.services import accounts, idempotency
from market.services.actors import Actor
from market.services.errors import Conflict
from market.services.listing import PageRequest

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class MarketRequest(Request):
    """An empty body reads as an empty JSON object: a body of optional fields only (a match run's) may be
    left out, and one with required fields is a 422 naming each of them."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not self.get_data(cache=True):
            return {}
        return super().get_json(force=force, silent=silent, cache=cache)


def settings() -> Settings:
    return current_app.config["MARKET_SETTINGS"]


def db() -> Session:
    """The request's session, opened on first use and closed (rolled back if uncommitted) at teardown."""
    if "db" not in g:
        g.db = Session(current_app.extensions["market.engine"], expire_on_commit=False)
    return g.db


def current_actor() -> Actor:
    return g.actor


def allow(*roles: Role) -> Callable:
    """Which roles may call an endpoint; others get 403 before their body is even read."""

    def mark(view: Callable) -> Callable:
        view.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        view.__doc__ = (view.__doc__ or "").rstrip() + f"\n\nAllowed roles: {', '.join(sorted(roles))}."
        return view

    return mark


class RequestPart(BaseModel):
    """A request's headers or query string as a model. flask-openapi3 builds such a model's JSON schema
    again for every request it validates (to read its fields' types), about a quarter of an order
    create's CPU: here it is built once per model, and each caller gets a copy."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:  # the OpenAPI document's generator, once
            return super().model_json_schema(*args, **kwargs)
        return copy.deepcopy(cls._default_json_schema())

    @classmethod
    @functools.cache
    def _default_json_schema(cls) -> dict[str, Any]:
        return super().model_json_schema()


def respond(payload: dict[str, Any] | BaseModel | bytes, status: int = 200) -> Response:
    """Commit the request's transaction, then answer with `payload` as JSON (bytes: JSON already
    written, as `serialize.orders_batch_json` writes a batch's answer)."""
    pending = g.pop("idempotency", None)
    if isinstance(payload, bytes):
        text, body = payload, (from_json(payload) if pending is not None else None)
    else:
        body = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        text = json.dumps(body)
    try:
        if pending is not None:
            # A request racing this one with the same key has inserted it first: the unique
            # (account, key) constraint refuses this one, here or at the commit.
            idempotency.remember(db(), status_code=status, response_body=body, **pending)
        db().commit()
    except IntegrityError:
        db().rollback()
        if pending is not None:
            raise Conflict(
                "another request with this Idempotency-Key is in progress; retry it",
                [(idempotency.KEY_HEADER, "in use")],
            ) from None
        raise
    return Response(text, status=status, mimetype="application/json")


class IdempotencyHeader(RequestPart):
    """The header a retried create sends; declared so the document shows it on every operation that honours it."""

    # The rule is shown here and checked by `idempotency.check_key` (one message for every way to break it).
    idempotency_key: str | None = Field(
        default=None,
        alias=idempotency.KEY_HEADER,
        json_schema_extra={"pattern": idempotency.KEY_PATTERN, "maxLength": idempotency.MAX_KEY_LENGTH},
        description="Makes a retry safe: the same key and body (by the same account, within its lifetime) "
        "replay the first answer, marked Idempotent-Replayed: true, and create nothing; the same key "
        "with another body is a 422.",
    )


def idempotent(view: Callable) -> Callable:
    """Honour an Idempotency-Key: the same key and body replay the first answer and create nothing."""

    @wraps(view)
    def wrapper(*args: Any, header: IdempotencyHeader | None = None, **kwargs: Any) -> Response:
        key = header.idempotency_key if header is not None else None
        if key is None:
            return view(*args, **kwargs)
        idempotency.check_key(key)
        endpoint = f"{request.method} {request.path}"
        fingerprint = idempotency.request_fingerprint(endpoint, request.get_json(silent=True))
        account_id = current_actor().account_id
        ttl = timedelta(hours=settings().idempotency_ttl_hours)
        record = idempotency.find_replay(
            db(), account_id=account_id, key=key, endpoint=endpoint, fingerprint=fingerprint, ttl=ttl
        )
        if record is not None:
            response = Response(
                json.dumps(record.response_body), status=record.status_code, mimetype="application/json"
            )
            response.headers[idempotency.REPLAYED_HEADER] = "true"
            return response
        g.idempotency = {"account_id": account_id, "key": key, "endpoint": endpoint, "fingerprint": fingerprint}
        return view(*args, **kwargs)

    # flask-openapi3 reads the parameters from the annotations: the header is the wrapper's, not the view's.
    wrapper.__annotations__ = {**view.__annotations__, "header": IdempotencyHeader}
    return wrapper


_REPLAYED_DOC = Header.model_validate(
    {
        "description": "true when this is the first answer given to the same Idempotency-Key and body, "
        "replayed: nothing was created again. Absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    }
)


def declare_replayed_header(paths: dict[str, Any]) -> None:
    """Show `Idempotent-Replayed` on the success answers of every operation that takes an Idempotency-Key."""
    for item in paths.values():
        for method in ("post", "put", "patch"):
            operation = getattr(item, method, None)
            if operation is None or not any(p.name == idempotency.KEY_HEADER for p in operation.parameters or ()):
                continue
            for status, response in operation.responses.items():
                if status.startswith("2"):
                    response.headers = {**(response.headers or {}), idempotency.REPLAYED_HEADER: _REPLAYED_DOC}


class PageQuery(RequestPart):
    model_config = ConfigDict(extra="forbid")

    limit: QueryInt = Field(
        default=50, ge=1, le=MAX_ID, description="Page size; values above the server's cap are capped (500)."
    )
    offset: QueryInt = Field(default=0, ge=0, le=MAX_ID)

    def page(self) -> PageRequest:
        return PageRequest(limit=min(self.limit, settings().max_page_size), offset=self.offset)


def page_of(items: list[Any], count: int) -> dict[str, Any]:
    return {"data": items, "count": count}


def why_not_json(data: bytes) -> str:
    """What is wrong with a body the JSON parser refused, where it can say: the client fixes the spot named.
    The app's own parser reads it again, so the reason given is the one it refused it for."""
    try:
        current_app.json.loads(data)
    except JSONDecodeError as error:
        return f"the body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
    except UnicodeDecodeError:
        return "the body is not valid JSON: it is not UTF-8 text"
    except RecursionError:
        return "the body nests arrays or objects too deeply"
    except ValueError:  # the interpreter's limit on converting long digit strings to integers
        return f"the body holds a number of more than {sys.get_int_max_str_digits():,} digits"
    return "the body is not valid JSON"


# --- request hooks ------------------------------------------------------------------------


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _pause_collector_for_batches() -> None:
        """A batch's thousand items are parsed, validated, written and answered with the collector
        paused (as `market import` is): its objects form no cycles."""
        if request.method == "POST" and request.path.endswith("/batch"):
            g.collector_paused = collector_paused()
            g.collector_paused.__enter__()

    @app.teardown_request
    def _resume_collector(_error: BaseException | None) -> None:
        paused = g.pop("collector_paused", None)
        if paused is not None:
            paused.__exit__(None, None, None)

    @app.before_request
    def _authenticate() -> Response | None:
        if not request.path.startswith(API_PREFIX + "/") or request.endpoint is None:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        account = accounts.authenticate(db(), token.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            return problem(
                401,
                "Unauthorized",
                "send a valid API token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="market"'},
            )
        g.actor = Actor.of(account)
        return None

    # Right after authentication, so every authenticated call counts against its account (a 403 too).
    register_rate_limit(app, app.config["MARKET_SETTINGS"])

    @app.before_request
    def _authorise() -> Response | None:
        # OPTIONS only asks which methods a path has: it is answered for every role alike, whichever
        # of the path's endpoints (and their roles) it was routed to.
        if "actor" not in g or request.method == "OPTIONS":
            return None
        allowed = getattr(current_app.view_functions[request.endpoint], "allowed_roles", None)
        if allowed is not None and g.actor.role not in allowed:
            return problem(403, "Forbidden", f"{g.actor.role.value} accounts may not call this endpoint")
        return None

    @app.before_request
    def _parse_json_body() -> Response | None:
        """A body that is not JSON is a 400, before anything else looks at it; a body that is not a JSON
        object is a 422; an action that takes no body refuses one (422 naming each field), so nothing
        sent along is silently dropped."""
        if request.method not in ("POST", "PUT", "PATCH") or not request.path.startswith("/api/"):
            return None
        if not request.get_data(cache=True):
            return None
        if not request.is_json:
            return problem(400, "Bad request", "the body must be JSON, sent with Content-Type: application/json")
        try:
            payload = request.get_json()
        except (BadRequest, RecursionError):  # werkzeug's on malformed JSON; the parser's on deep nesting
            return problem(400, "Bad request", why_not_json(request.get_data()))
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None:
            return None
        if "body" in inspect.signature(view).parameters:
            if isinstance(payload, dict):
                return None
            # Every body is an object; a JSON string would otherwise be decoded again as a body.
            errors = [("body", "a JSON object is required")]
        elif payload != {}:
            errors = [(str(field), "unknown field") for field in payload] if isinstance(payload, dict) else []
            errors = errors or [("body", "this endpoint takes no body")]
        else:
            return None
        return problem(422, "Invalid request", "; ".join(f"{field}: {text}" for field, text in errors), errors)

    @app.teardown_request
    def _close_session(_error: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is None:
            return
        try:
            session.close()
        except OperationalError as exc:
            # The connection died after the answer was made (the database restarting): rolling back
            # what is left cannot succeed. Drop the connection; the answer already given stands.
            log.warning("request's database connection lost while closing it: %s", exc.orig)
            session.invalidate()
