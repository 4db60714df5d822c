"""Figures for people: decimal strings (exact tonnes and yuan) grouped by the page's locale, times in Beijing time.

Every figure arrives as the API's exact decimal string (or as kg / fen, converted by
market.units) and is formatted with Babel from a Decimal: nothing passes through a float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_skeleton
from flask_babel import format_date, format_datetime, format_decimal, format_percent, get_locale
from flask_babel import gettext as _

from market.clock import office_today
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


def share_of(part: int, whole: int) -> str:
    """One exact quantity as a share of another (delivered of contracted): "95.9%"; "–" of nothing."""
    if not whole:
        return "–"
    return share(Decimal(part) / Decimal(whole))


def number(value: int | None) -> str:
    """A count (households, cooperatives), grouped: 3,276."""
    return "–" if value is None else format_decimal(value, format="#,##0")


def kg(value: int) -> str:
    return tonnes(kg_to_tonnes(value))


def fen(value: int) -> str:
    return yuan(fen_to_yuan(value))


def moment(value: datetime | None) -> str:
    """A stored time (UTC) in the office's time zone, to the minute."""
    if value is None:
        return "–"
    return format_datetime(as_utc(value), format="yyyy-MM-dd HH:mm")


def iso(value: datetime | date | None) -> str:
    if value is None:
        return ""
    return as_utc(value).isoformat() if isinstance(value, datetime) else value.isoformat()


def day(value: date | None) -> str:
    """A calendar day, the same in both languages: 2020-10-08."""
    return "–" if value is None else format_date(value, format="yyyy-MM-dd")


def month(key: str | None) -> str:
    """A report's month key ("2020-10") as people read it: "2020年10月", "Oct 2020"."""
    if not key:
        return _("No date")
    try:
        first = date.fromisoformat(f"{key}-01")
    except ValueError:
        return key
    return format_skeleton("yMMM", first, locale=get_locale())


def today() -> date:
    """Today in the office's time zone (Beijing time), which the agreements' seasons are counted in."""
    return office_today()


FILTERS = {
    "tonnes": tonnes,
    "yuan": yuan,
    "share": share,
    "share_of": share_of,
    "number": number,
    "kg": kg,
    "fen": fen,
    "moment": moment,
    "iso": iso,
    "day": day,
    "month": month,
}
