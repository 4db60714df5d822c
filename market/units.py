"""Exact quantities: tonnes are stored as integer kilograms, yuan as integer fen.

The API speaks decimal strings ("12.5" t, "3450.00" yuan); these helpers are
the only place where the two meet.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

KG_PER_TONNE = 1000
FEN_PER_YUAN = 100


def tonnes_to_kg(tonnes: Decimal) -> int:
    kg = tonnes * KG_PER_TONNE
    if kg != kg.to_integral_value():
        raise ValueError(f"{tonnes} t is not a whole number of kilograms")
    return int(kg)


def yuan_to_fen(yuan: Decimal) -> int:
    fen = yuan * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"{yuan} yuan is not a whole number of fen")
    return int(fen)


# Written with integer arithmetic (exact, and several times cheaper than going through Decimal: an
# answer of a thousand orders spells four tonnages and a price for each).


def kg_to_tonnes(kg: int) -> str:
    """3000000 -> "3000", 12500 -> "12.5", 1 -> "0.001"."""
    whole, rest = divmod(abs(kg), KG_PER_TONNE)
    text = f"{whole}.{rest:03d}".rstrip("0").rstrip(".") if rest else str(whole)
    return "-" + text if kg < 0 else text


def fen_to_yuan(fen: int) -> str:
    """345000 -> "3450.00"."""
    whole, rest = divmod(abs(fen), FEN_PER_YUAN)
    return f"{'-' if fen < 0 else ''}{whole}.{rest:02d}"


def value_fen(kg: int, fen_per_tonne: int) -> int:
    """What `kg` kilograms cost at `fen_per_tonne`, rounded half up to the fen."""
    return fen_from_kg_fen(kg * fen_per_tonne)


def fen_from_kg_fen(kg_times_fen_per_tonne: int | Decimal) -> int:
    """A sum of kg x fen-per-tonne products, in fen: divided and rounded once (half away from zero),
    so totals stay exact."""
    if type(kg_times_fen_per_tonne) is int:  # integer arithmetic, as exact and many times cheaper
        whole, rest = divmod(abs(kg_times_fen_per_tonne), KG_PER_TONNE)
        fen = whole + (2 * rest >= KG_PER_TONNE)
        return fen if kg_times_fen_per_tonne >= 0 else -fen
    return int((Decimal(kg_times_fen_per_tonne) / KG_PER_TONNE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_per(total_fen: int, count: int) -> int | None:
    """An amount shared out over `count` (households, say), rounded half up to the fen; None over nobody."""
    if count == 0:
        return None
    return int((Decimal(total_fen) / count).quantize(Decimal(1), rounding=ROUND_HALF_UP))
