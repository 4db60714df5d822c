"""The matching core: pure functions from a book of offers and orders to contract lines.

No database, no web, no Celery: arrays and integers in, allocations out, so it can be
tested by property and benchmarked alone. See `engine.match` and `baseline.first_come_first_served`.
"""

from market.matching.baseline import first_come_first_served
from market.matching.book import AgreementTerms, Allocation, Book, Line, Offer, Order, Policy, Pricing, SolveStats
from market.matching.diagnose import Reason, unmatched_orders
from market.matching.engine import match

__all__ = [
    "AgreementTerms",
    "Allocation",
    "Book",
    "Line",
    "Offer",
    "Order",
    "Policy",
    "Pricing",
    "Reason",
    "SolveStats",
    "first_come_first_served",
    "match",
    "unmatched_orders",
]
