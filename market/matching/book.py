"""What the matching core reads and writes: plain values, no database rows.

Quantities are integers: kilograms, and fen per tonne for every price and freight
rate. Days are proportional integers (`date.toordinal()`), windows inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class Pricing(StrEnum):
    """How a pair's surplus (bid - ask - freight) is split into the contract price."""

    midpoint = "midpoint"  # the seller nets its ask plus half the surplus
    ask = "ask"  # the seller nets its ask; the buyer keeps the surplus
    bid = "bid"  # the buyer pays its bid; the seller keeps the surplus


@dataclass(frozen=True)
class Policy:
    pricing: Pricing = Pricing.midpoint
    # Yuan-fen per tonne added to the objective for a trade, times the selling
    # cooperative's share of registered poor households (0 = plain gains from trade).
    poverty_weight: int = 0


DEFAULT_POLICY = Policy()


# Offers and orders are named tuples: a book holds tens of thousands of each, and a tuple is made
# several times faster than a frozen dataclass (which sets each field through object.__setattr__).
class Offer(NamedTuple):
    id: int
    cooperative_id: int
    grade: int  # 3 premium, 2 first, 1 second
    kg: int
    ask: int  # fen per tonne, at the origin
    start: int
    end: int
    origin: int  # index into Book.freight's rows
    poor_households: int = 0
    member_households: int = 0


class Order(NamedTuple):
    id: int
    buyer_id: int
    min_grade: int
    kg: int
    bid: int  # fen per tonne, delivered
    start: int
    end: int
    destination: int  # index into Book.freight's columns
    agreement_id: int | None = None


@dataclass(frozen=True)
class AgreementTerms:
    """A purchase agreement as the matcher needs it: who supplies, at what price, how much more."""

    id: int
    cooperative_id: int
    price: int  # fen per tonne, delivered
    kg: int  # called off but not yet contracted


@dataclass(frozen=True)
class Book:
    """One product's open offers and orders, and freight between their places."""

    offers: tuple[Offer, ...]
    orders: tuple[Order, ...]
    # freight[origin][destination]: fen per tonne for this product.
    freight: tuple[tuple[int, ...], ...]
    agreements: tuple[AgreementTerms, ...] = ()


class Line(NamedTuple):
    """One contract: kg from one offer to one order at one delivered price (a named tuple, as offers
    and orders are: a run makes tens of thousands, and a baseline as many again)."""

    offer_id: int
    order_id: int
    agreement_id: int | None
    kg: int
    price: int  # fen per tonne, what the buyer pays the cooperative, delivered
    freight: int  # fen per tonne
    surplus: int  # fen per tonne: bid (or agreement price) - ask - freight


@dataclass
class SolveStats:
    solver: str
    network: str
    nodes: int = 0
    arcs: int = 0
    seconds: float = 0.0


@dataclass
class Allocation:
    lines: list[Line]
    stats: list[SolveStats] = field(default_factory=list)

    @property
    def kg(self) -> int:
        return sum(line.kg for line in self.lines)

    @property
    def gains(self) -> int:
        """Gains from trade as sum of kg x fen-per-tonne (divide by 1000 once for fen)."""
        return sum(line.kg * line.surplus for line in self.lines)
