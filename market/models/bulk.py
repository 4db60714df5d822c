"""Batches: many offers or orders in one request, each item exactly the single create's body.

A batch is all or nothing. Every error names its item the way a client indexes it,
`items[3].tonnes`, so a clerk's program can point at the line to fix; the same naming
(`field_errors`) serves `market import`, which prefixes a file's row instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator
from pydantic import Field as PydanticField
from pydantic_core import InitErrorDetails

from market.models.common import InvalidField, RequestModel
from market.models.offer import OfferCreate, OfferPublic
from market.models.order import OrderCreate, OrderPublic

# The most items one batch request may carry (the body stays well under the 1 MiB request limit).
MAX_BATCH_ITEMS = 1000


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """A pydantic location as a client writes it: ("items", 3, "tonnes") -> "items[3].tonnes"."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "body"


def field_errors(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Each failure of a request model as (field, message), the field under `prefix` ("items[3]").

    The same wording as the single creates' problems: a model-level check names its own field
    (InvalidField), an unknown field is "unknown field", and pydantic's "Value error, " goes.
    """
    found: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, InvalidField):
            found.append((field_path([*item["loc"], cause.field], prefix), cause.message))
        elif item["type"] == "extra_forbidden":
            found.append((field_path(item["loc"], prefix), "unknown field"))
        else:
            found.append((field_path(item["loc"], prefix), item["msg"].removeprefix("Value error, ")))
    return found


class _Batch(RequestModel):
    """Rewrites the items' errors to name `items[i].field` (the problem handler shows InvalidField as is)."""

    @model_validator(mode="wrap")
    @classmethod
    def _name_items(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as error:
            details: list[InitErrorDetails] = []
            for raw, (field, message) in zip(error.errors(include_url=False), field_errors(error), strict=True):
                if raw["loc"][:1] == ("items",) and len(raw["loc"]) > 1:
                    details.append(
                        InitErrorDetails(
                            type="value_error",
                            loc=(),
                            input=raw.get("input"),
                            ctx={"error": InvalidField(field, message)},
                        )
                    )
                else:  # about the body or the list itself: as pydantic said it
                    detail = InitErrorDetails(type=raw["type"], loc=raw["loc"], input=raw.get("input"))
                    if raw.get("ctx"):
                        detail["ctx"] = raw["ctx"]
                    details.append(detail)
            raise ValidationError.from_exception_data(cls.__name__, details) from None


class OfferBatchCreate(_Batch):
    """Up to 1,000 offers, each exactly the body of POST /api/v1/offers."""

    items: list[OfferCreate] = PydanticField(min_length=1, max_length=MAX_BATCH_ITEMS)


class OrderBatchCreate(_Batch):
    """Up to 1,000 orders, each exactly the body of POST /api/v1/orders."""

    items: list[OrderCreate] = PydanticField(min_length=1, max_length=MAX_BATCH_ITEMS)


class OfferBatchPublic(BaseModel):
    data: list[OfferPublic] = PydanticField(description="The created offers, in the order of the request's items.")
    count: int


class OrderBatchPublic(BaseModel):
    data: list[OrderPublic] = PydanticField(description="The created orders, in the order of the request's items.")
    count: int
