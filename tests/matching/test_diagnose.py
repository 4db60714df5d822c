"""Why an order went unmatched, checked against the rule written out plainly, offer by offer."""

from __future__ import annotations

from hypothesis import given, settings

from market.matching import Book, match, unmatched_orders
from market.matching.diagnose import Reason
from tests.matching.books import books


def _reasons_plainly(book: Book, filled: dict[int, int]) -> list[tuple[int, int, Reason]]:
    terms = {agreement.id: agreement for agreement in book.agreements}
    found = []
    for order in sorted(book.orders, key=lambda order: order.id):
        left = order.kg - filled.get(order.id, 0)
        if left <= 0:
            continue
        agreement = terms.get(order.agreement_id)
        paid = order.bid if agreement is None else agreement.price
        supplier = None if agreement is None else agreement.cooperative_id
        offers = [
            offer
            for offer in book.offers
            if offer.grade >= order.min_grade and supplier in (None, offer.cooperative_id)
        ]
        in_window = [offer for offer in offers if offer.start <= order.end and order.start <= offer.end]
        worth = [offer for offer in in_window if paid - offer.ask - book.freight[offer.origin][order.destination] > 0]
        if not offers:
            reason = Reason.no_supply_of_grade
        elif not in_window:
            reason = Reason.windows_do_not_meet
        elif not worth:
            reason = Reason.price_gap
        else:
            reason = Reason.supply_exhausted
        found.append((order.id, left, reason))
    return found


@settings(max_examples=200, deadline=None)
@given(books(max_offers=10, max_orders=20))
def test_each_unmatched_order_gets_the_first_reason_that_explains_it(book):
    allocation = match(book)
    filled: dict[int, int] = {}
    for line in allocation.lines:
        filled[line.order_id] = filled.get(line.order_id, 0) + line.kg
    found = [(order.id, left, reason) for order, left, reason in unmatched_orders(book, allocation)]
    assert found == _reasons_plainly(book, filled)
