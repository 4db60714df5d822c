"""Vocabulary shared by every table and every request/response model."""

from __future__ import annotations

import enum
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictInt,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from sqlalchemy import JSON, BigInteger, DateTime
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def in_utc(moment: datetime) -> datetime:
    """The moment in UTC, whatever zone it is given in (none: UTC, as `as_utc` reads it)."""
    return as_utc(moment).astimezone(UTC)


class Product(enum.StrEnum):
    apple = "apple"
    vegetable = "vegetable"
    egg = "egg"
    sichuan_pepper = "sichuan_pepper"
    potato = "potato"


class Grade(enum.StrEnum):
    """特级 > 一级 > 二级."""

    premium = "premium"
    first = "first"
    second = "second"

    @property
    def rank(self) -> int:
        return {"premium": 3, "first": 2, "second": 1}[self.value]

    def satisfies(self, minimum: Grade) -> bool:
        return self.rank >= minimum.rank


class Role(enum.StrEnum):
    admin = "admin"
    cooperative = "cooperative"
    buyer = "buyer"


class OfferStatus(enum.StrEnum):
    open = "open"
    partially_matched = "partially_matched"
    matched = "matched"
    withdrawn = "withdrawn"


class OrderStatus(enum.StrEnum):
    open = "open"
    partially_matched = "partially_matched"
    matched = "matched"
    cancelled = "cancelled"


class MatchRunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"
    failed = "failed"


class PricePolicy(enum.StrEnum):
    midpoint = "midpoint"
    ask = "ask"
    bid = "bid"


class ContractStatus(enum.StrEnum):
    proposed = "proposed"
    confirmed = "confirmed"
    in_delivery = "in_delivery"
    fulfilled = "fulfilled"
    closed_short = "closed_short"
    cancelled = "cancelled"


class DeliveryStatus(enum.StrEnum):
    shipped = "shipped"
    accepted = "accepted"


# --- column types ---------------------------------------------------------------------------


def enum_type(enum_class: type[enum.StrEnum]) -> SAEnum:
    """A VARCHAR with a CHECK of the allowed values: portable, and migrations stay plain."""
    return SAEnum(
        enum_class,
        name=f"{enum_class.__name__.lower()}",
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


Timestamp = DateTime(timezone=True)
Kilograms = BigInteger  # every tonnage is stored as whole kilograms
Fen = BigInteger  # every amount of money is stored as whole fen
# none_as_null: a Python None is stored as SQL NULL, so "before IS NULL" finds creations.
JSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


# --- request and response vocabulary --------------------------------------------------------


class InvalidField(ValueError):
    """Raised by a model-level validator so the error still names the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# C0 but tab, line feed and carriage return; DEL and C1. Spelt so that JSON Schema (ECMA) reads it too.
_CONTROL_CLASS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL_CLASS}]")
# The text rule as the document shows it on every string field of a request body.
TEXT_PATTERN = f"^[^{_CONTROL_CLASS}]*$"


def _show_text_rule(schema: dict[str, Any]) -> None:
    """Give every plain string field (not a date, not one with a pattern of its own) the text pattern."""
    for field in schema.get("properties", {}).values():
        for branch in field.get("anyOf", [field]):
            if branch.get("type") == "string" and "pattern" not in branch and "format" not in branch:
                branch["pattern"] = TEXT_PATTERN


class RequestModel(BaseModel):
    """Bodies refuse unknown fields, so `status`, `id` or an owner id can never be mass-assigned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra=_show_text_rule)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Text every place it goes can hold: JSON allows control characters, but a PostgreSQL text
        column refuses NUL (\\u0000) and a spreadsheet cell (the reports' XLSX) the others but tab
        and line breaks."""
        if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
            raise ValueError("must not contain control characters (tab and line breaks are allowed)")
        return value


# Pydantic's lax mode would read a number or digits as a date (seconds since 1970), and "1_000", "1e3"
# or digits of other scripts as decimals (ids and counts in bodies are strict WholeNumbers for the same
# reason: lax, true is 1 and "7" is 7); a request says what the document says, or gets a 422.
# The one spelling of decimal text, in the document (a JSON Schema pattern) and on the server alike.
_DECIMAL_BODY = r" *[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+) *"
DECIMAL_PATTERN = f"^{_DECIMAL_BODY}$"
_DECIMAL_TEXT = re.compile(_DECIMAL_BODY)
_DAY_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class _DecimalText:
    """Decimal text as the document spells it: validated before the Decimal type reads it, and shown
    as the pattern of the schema's string branch."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(_plain_decimal, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        for branch in json_schema.get("anyOf", []):
            if branch.get("type") == "string":
                branch["pattern"] = DECIMAL_PATTERN
        return json_schema


def _plain_decimal(value: Any) -> Any:
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise ValueError("must be a decimal number written like 12.5")
    return value


def _query_digits(value: Any) -> Any:
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number written in digits")
    return value


def _iso_day(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _DAY_TEXT.fullmatch(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


def _whole_number(value: Any) -> Any:
    # JSON Schema's integer is any number without a fraction: 67752.0 (read as a Decimal, or a float
    # from a spreadsheet cell) is 67752. Far too large to be one is left for the strict check to refuse.
    if type(value) is Decimal and value.is_finite() and value.adjusted() < 19 and value == value.to_integral_value():
        return int(value)
    if type(value) is float and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


# An id or count in a body: a JSON number without a fraction, never true or "7" (strict).
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]
# Placed after a type's Field(...): before it, pydantic would hide the Field's bounds from the document.
DecimalText = _DecimalText()
# A day in a request: ISO 8601 text (a date object from a spreadsheet cell too).
Day = Annotated[date, BeforeValidator(_iso_day)]
TonnesIn = Annotated[
    Decimal,
    Field(
        gt=0,
        le=100_000,
        decimal_places=3,
        allow_inf_nan=False,
        description="Tonnes as a decimal string, to the kilogram (at most 3 decimals), at most 100,000 t.",
        examples=["12.5"],
    ),
    DecimalText,
]
PriceIn = Annotated[
    Decimal,
    Field(
        gt=0,
        le=1_000_000,
        decimal_places=2,
        allow_inf_nan=False,
        description="Yuan per tonne as a decimal string, to the fen (at most 2 decimals), at most 1,000,000.",
        examples=["7200.00"],
    ),
    DecimalText,
]
TonnesOut = Annotated[str, Field(description="Tonnes as a decimal string, exact to the kilogram.", examples=["12.5"])]
YuanOut = Annotated[str, Field(description="Yuan as a decimal string with two decimals.", examples=["3450.00"])]
ShortText = Annotated[str, Field(min_length=1, max_length=120)]
# The largest id a table holds (INTEGER keys): a larger one in a request is a 422, never a database error.
MAX_ID = 2**31 - 1
# A whole number in a query string: digits only (lax, "1_0" is 10 and "+1" is 1).
QueryInt = Annotated[int, BeforeValidator(_query_digits)]
# An id in a query string (its bounds inside, so that the document shows them on an optional one too).
QueryId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_query_digits)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int = Field(description="How many items match the filters, across all pages.")


class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemField] = []


def json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """Row values as they go into an audit event: enums as values, dates and times as ISO strings."""
    safe: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = as_utc(value).isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        safe[key] = value
    return safe


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
