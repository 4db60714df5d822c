"""Figures for people: decimal strings (exact tonnes and yuan) grouped by the page's locale, times in Beijing time.

Every figure arrives as the API's exact decimal string (or as kg / fen, converted by
market.units) and is formatted with Babel from a Decimal: nothing passes through a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import format_datetime, format_decimal, format_percent

from market.models.common import as_utc
from market.units import fen_to_yuan, kg_to_tonnes


def tonnes(value: str | Decimal | None) -> str:
    """ "7660.5" -> "7,660.5" (to the kilogram, no trailing zeros)."""
    if value is None:
        return "–"
    return format_decimal(Decimal(value), format="#,##0.###")


def yuan(value: str | Decimal | None) -> str:
    """ "119690561.8" -> "119,690,561.80" (always to the fen)."""
    if value is None:
        return "–"
    return format_decimal(Decimal(value), format="#,##0.00")


def share(value: str | Decimal | None) -> str:
    """ "0.9590" -> "95.9%"."""
    if value is None:
        return "–"
    return format_percent(Decimal(value), format="#,##0.0%")


def kg(value: int) -> str:
    return tonnes(kg_to_tonnes(value))


def fen(value: int) -> str:
    return yuan(fen_to_yuan(value))


def moment(value: datetime | None) -> str:
    """A stored time (UTC) in the office's time zone, to the minute."""
    if value is None:
        return "–"
    return format_datetime(as_utc(value), format="yyyy-MM-dd HH:mm")


def iso(value: datetime | None) -> str:
    return "" if value is None else as_utc(value).isoformat()


FILTERS = {"tonnes": tonnes, "yuan": yuan, "share": share, "kg": kg, "fen": fen, "moment": moment, "iso": iso}
