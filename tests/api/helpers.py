"""Request bodies a test can start from and change one field of."""

from __future__ import annotations

from typing import Any


def offer_body(**changes: Any) -> dict[str, Any]:
    body = {
        "product": "apple",
        "variety": "Red Fuji 红富士",
        "grade": "first",
        "tonnes": "120.5",
        "min_price_per_tonne": "6800.00",
        "available_from": "2020-09-15",
        "available_until": "2020-12-31",
        "brand": "昭阳红",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def order_body(**changes: Any) -> dict[str, Any]:
    body = {
        "product": "apple",
        "min_grade": "second",
        "tonnes": "100",
        "max_price_per_tonne": "7500.00",
        "deliver_from": "2020-10-01",
        "deliver_until": "2020-10-31",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def agreement_body(buyer_id: int, cooperative_id: int, **changes: Any) -> dict[str, Any]:
    body = {
        "buyer_id": buyer_id,
        "cooperative_id": cooperative_id,
        "product": "apple",
        "tonnes": "3000",
        "price_per_tonne": "7200.00",
        "valid_from": "2020-09-01",
        "valid_until": "2021-03-31",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def field_names(response) -> set[str]:
    return {error["field"] for error in response.json["errors"]}
