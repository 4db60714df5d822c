"""APIBlueprint with what every v1 endpoint shares: bearer auth and the problem responses it may give."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from market.api.http import API_PREFIX
from market.models.common import MAX_ID

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

_PROBLEMS = {
    400: "The body is not JSON.",
    401: "No token, or not a valid one.",
    403: "This account's role may not call this endpoint.",
    404: "No such object, or it belongs to another tenant.",
    409: "The request clashes with the current state (a duplicate reference, tonnes no longer available).",
    413: "The body is larger than 1 MiB.",
    422: "A field is invalid; `errors` names each one.",
    429: "This account made more requests than the rate limit allows; retry after Retry-After seconds.",
    503: "The database is unavailable; retry shortly.",
}

_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}}
}

PROBLEM_RESPONSES = {
    status: {
        "description": text,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
        **({"headers": _RETRY_AFTER} if status in (429, 503) else {}),
    }
    for status, text in _PROBLEMS.items()
}


def v1_blueprint(name: str, path: str, tag: str, description: str) -> APIBlueprint:
    return APIBlueprint(
        name,
        __name__,
        url_prefix=f"{API_PREFIX}{path}",
        abp_tags=[Tag(name=tag, description=description)],
        abp_security=[{"bearerAuth": []}],
        abp_responses=PROBLEM_RESPONSES,
    )


class IdPath(BaseModel):
    id: int = Field(ge=1, le=MAX_ID, description="The object's id.")
