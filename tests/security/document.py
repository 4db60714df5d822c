"""The OpenAPI document as data for the security tests: operations, roles, bodies, parameters.

Tests iterate over what the document lists, so a new endpoint is covered without touching them;
a new kind of resource or request body fails with a message saying what to add here.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from tests.api.helpers import agreement_body, offer_body, order_body

# The object a path's {id} names, by the first path segment after /api/v1/.
KIND_OF_SEGMENT = {
    "offers": "offer",
    "orders": "order",
    "agreements": "agreement",
    "contracts": "contract",
    "deliveries": "delivery",
    "match-runs": "match_run",
    "cooperatives": "cooperative",
    "buyers": "buyer",
}
ROLES = ("admin", "cooperative", "buyer")
_ROLES_LINE = re.compile(r"Allowed roles: ([a-z_, ]+)\.")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def roles(self) -> frozenset[str]:
        """The roles `allow(...)` lets in, as the document states them."""
        found = _ROLES_LINE.search(self.spec.get("description") or "")
        assert found, f"{self}: no 'Allowed roles' in its description; mark the view with allow(...)"
        return frozenset(role.strip() for role in found.group(1).split(","))

    @property
    def admin_only(self) -> bool:
        return self.roles == {"admin"}

    @property
    def segment(self) -> str:
        return self.path.removeprefix("/api/v1/").split("/")[0]

    @property
    def path_kind(self) -> str | None:
        """The kind of object the path's {id} names, or None for a path without one."""
        names = re.findall(r"{(\w+)}", self.path)
        if not names:
            return None
        assert names == ["id"], f"{self}: path parameters {names}; teach tests/security/document.py about them"
        assert self.segment in KIND_OF_SEGMENT, (
            f"{self}: a new kind of resource; add its objects to the `market` fixture and to KIND_OF_SEGMENT"
        )
        return KIND_OF_SEGMENT[self.segment]

    def url(self, object_id: int | None = None) -> str:
        return self.path if object_id is None else self.path.replace("{id}", str(object_id))

    @property
    def body_schema(self) -> str | None:
        body = self.spec.get("requestBody")
        if body is None:
            return None
        return body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

    @property
    def query(self) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == "query"]


def operations(document: dict[str, Any]) -> list[Operation]:
    found = [
        Operation(method, path, spec)
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, spec in methods.items()
    ]
    assert len(found) > 30, "the document lists the v1 endpoints"
    return found


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def enum_values(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The allowed values of an enum-typed parameter (through $ref and anyOf), else []."""
    schema = resolve(document, schema)
    if "enum" in schema:
        return list(schema["enum"])
    return [value for option in schema.get("anyOf", []) for value in enum_values(document, option)]


def properties(document: dict[str, Any], schema_name: str) -> set[str]:
    return set(document["components"]["schemas"][schema_name].get("properties", {}))


def valid_body(schema_name: str, *, cooperative_id: int, buyer_id: int) -> dict[str, Any]:
    """A body each request schema accepts, so any refusal is about what a test changes in it."""
    bodies = {
        "OfferCreate": offer_body(),
        "OrderCreate": order_body(),
        "OfferBatchCreate": {"items": [offer_body()]},
        "OrderBatchCreate": {"items": [order_body()]},
        "AgreementCreate": agreement_body(buyer_id, cooperative_id, tonnes="10"),
        "AccountCreate": {"role": "buyer", "name": "probe clerk", "buyer_id": buyer_id},
        "CooperativeCreate": {
            "name": "Probe Cooperative",
            "name_zh": "探针合作社",
            "township": "Probe",
            "latitude": 27.3,
            "longitude": 103.7,
        },
        "BuyerCreate": {
            "name": "Probe Buyer",
            "name_zh": "探针公司",
            "city": "Dongguan",
            "latitude": 23.0,
            "longitude": 113.7,
        },
        "MatchRunCreate": {"policy": "midpoint"},
        "DeliveryCreate": {"tonnes": "1", "shipped_on": "2020-10-14", "ticket": "probe"},
        "DeliveryAccept": {"accepted_tonnes": "1", "reason": "probe"},
        "ContractClose": {"reason": "probe"},
    }
    assert schema_name in bodies, f"new request body {schema_name}: add a valid one to tests/security/document.py"
    return bodies[schema_name]


def response_text(response) -> str:
    """What a response shows a reader: JSON and CSV as text, a workbook's cells joined."""
    if response.mimetype.endswith("spreadsheetml.sheet"):
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(response.data), read_only=True)
        return "\n".join(
            ",".join("" if value is None else str(value) for value in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    return response.get_data(as_text=True)


def leaked(text: str, secrets: dict[str, Any]) -> list[str]:
    """The secrets that appear in `text` as whole values (so "5011.37" is not found in "15011.37")."""
    return [secret for secret in secrets if re.search(rf"(?<![\w.]){re.escape(secret)}(?![\w])", text) is not None]
