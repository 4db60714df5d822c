"""Request bodies a test can start from and change one field of."""

from __future__ import annotations

from typing import Any


def cooperative_body(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "Guiqing Breeding Cooperative",
        "name_zh": "苏甲乡桂庆养殖专业合作社",
        "township": "Sujia",
        "township_zh": "苏甲乡",
        "county": "Zhaoyang District",
        "latitude": 27.09,
        "longitude": 103.52,
        "member_households": 210,
        "poor_households": 96,
    }
    return _changed(body, changes)


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
    return _changed(body, changes)


def order_body(**changes: Any) -> dict[str, Any]:
    body = {
        "product": "apple",
        "min_grade": "second",
        "tonnes": "100",
        "max_price_per_tonne": "7500.00",
        "deliver_from": "2020-10-01",
        "deliver_until": "2020-10-31",
    }
    return _changed(body, changes)


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
    return _changed(body, changes)


def _changed(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`body` with `changes` applied; a field changed to None is left out."""
    return {key: value for key, value in (body | changes).items() if value is not None}


def field_names(response) -> set[str]:
    return {error["field"] for error in response.json["errors"]}
