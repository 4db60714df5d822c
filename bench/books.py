"""Synthetic one-product books straight into the matching core's values (no database).

Realistic in the ways that matter to the solvers: lots leave from Zhaoyang's twenty
townships and go to the eastern destinations, with freight from market.matching.transport;
weekly windows of one to eight weeks over a season; three grades; farm-gate asks and
delivered bids spread so that a share of the compatible pairs can trade.
"""

from __future__ import annotations

import random
from datetime import date

from market.matching import Book, Offer, Order
from market.matching.transport import freight_fen_per_tonne
from market.places import DESTINATIONS, ORIGINS

SEASON_START = date(2020, 9, 7).toordinal()  # a Monday
SEASON_WEEKS = 30

# (farm-gate ask, delivered bid) centres in fen per tonne.
PRICES = {"apple": (530_000, 760_000), "vegetable": (175_000, 340_000), "potato": (105_000, 220_000)}


def synthetic_book(product: str, offers: int, orders: int, seed: int = 1) -> Book:
    rng = random.Random(f"{product}-{offers}-{orders}-{seed}")
    origins = list(ORIGINS.values())
    destinations = [place for key, place in DESTINATIONS.items() if key != "kunming"]
    freight = tuple(
        tuple(
            freight_fen_per_tonne(product, (o.latitude, o.longitude), (d.latitude, d.longitude)) for d in destinations
        )
        for o in origins
    )
    ask_centre, bid_centre = PRICES[product]

    def window() -> tuple[int, int]:
        start = SEASON_START + 7 * rng.randrange(SEASON_WEEKS - 2)
        return start, start + 7 * rng.randint(1, 8) - 1

    def grade() -> int:
        return rng.choices((3, 2, 1), weights=(2, 5, 3))[0]

    book_offers = []
    for index in range(offers):
        start, end = window()
        rank = grade()
        book_offers.append(
            Offer(
                id=index + 1,
                cooperative_id=1 + index % max(20, offers // 250),
                grade=rank,
                kg=1000 * rng.randint(5, 200),
                ask=round(ask_centre * rng.uniform(0.8, 1.25) * (1 + 0.08 * (rank - 2))),
                start=start,
                end=end,
                origin=rng.randrange(len(origins)),
                poor_households=rng.randint(0, 300),
                member_households=300,
            )
        )
    book_orders = []
    for index in range(orders):
        start, end = window()
        rank = grade()
        book_orders.append(
            Order(
                id=index + 1,
                buyer_id=1 + index % max(10, orders // 500),
                min_grade=rank,
                kg=1000 * rng.randint(5, 200),
                bid=round(bid_centre * rng.uniform(0.8, 1.2) * (1 + 0.08 * (rank - 2))),
                start=start,
                end=end,
                destination=rng.randrange(len(destinations)),
            )
        )
    return Book(offers=tuple(book_offers), orders=tuple(book_orders), freight=freight)
