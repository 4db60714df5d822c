"""Every error leaves as application/problem+json: {type, title, status, detail, errors: [{field, message}]}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from market.models.common import InvalidField
from market.services.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://market.zhaoyang.example/problems/"


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"field": field, "message": message} for field, message in errors or []],
    }
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_problem(error: ValidationError) -> Response:
    """flask-openapi3 hands every pydantic failure (body, query, path) to this callback."""
    fields = [_field_error(item) for item in error.errors(include_url=False)]
    detail = "; ".join(f"{field}: {message}" for field, message in fields)
    return problem(422, "Invalid request", detail, fields)


def _field_error(item: dict[str, Any]) -> tuple[str, str]:
    cause = (item.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidField):
        return cause.field, cause.message
    field = ".".join(str(part) for part in item["loc"]) or "body"
    if item["type"] == "extra_forbidden":
        return field, "unknown field"
    if item["type"] == "model_type" and field == "body":
        return field, "a JSON object is required"
    return field, item["msg"].removeprefix("Value error, ")


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        return problem(error.status, error.title, error.detail, error.errors)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        if error.response is not None:  # already a full response (e.g. from validation)
            return error.response
        status = error.code or 500
        headers = {}
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return problem(status, error.name, error.description or error.name, headers=headers)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError) -> Response:
        log.info("integrity error turned into 409: %s", error.orig)
        return problem(409, "Conflict", "the request conflicts with the current state of the data; retry it")

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError) -> Response:
        log.error("database unavailable: %s", error.orig)
        return problem(
            503, "Service unavailable", "the database is unavailable; retry shortly", headers={"Retry-After": "5"}
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal server error", "an unexpected error occurred; it has been logged")
