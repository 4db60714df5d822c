"""Properties of the matching core over random books, and its optimum against an independent LP."""

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from market.matching import Book, Line, Offer, Order, Policy, Pricing, first_come_first_served, match
from market.matching.engine import make_line, poverty_premium
from market.matching.network import hub_network, pair_network
from market.matching.solver import solve
from tests.matching.books import books, lp_optimum

EXAMPLES = settings(max_examples=150, deadline=None)


def _eligible(line, book: Book) -> None:
    offer = next(offer for offer in book.offers if offer.id == line.offer_id)
    order = next(order for order in book.orders if order.id == line.order_id)
    assert offer.grade >= order.min_grade
    assert offer.start <= order.end and order.start <= offer.end
    assert line.freight == book.freight[offer.origin][order.destination]
    if order.agreement_id is None:
        assert line.agreement_id is None
        assert line.surplus == order.bid - offer.ask - line.freight > 0
    else:
        terms = next(terms for terms in book.agreements if terms.id == order.agreement_id)
        assert line.agreement_id == terms.id and offer.cooperative_id == terms.cooperative_id
        assert line.price == terms.price
        assert line.surplus == terms.price - offer.ask - line.freight > 0


@EXAMPLES
@given(books())
def test_conservation_and_eligibility(book):
    allocation = match(book)
    per_offer, per_order, per_agreement = Counter(), Counter(), Counter()
    for line in allocation.lines:
        assert line.kg > 0
        _eligible(line, book)
        per_offer[line.offer_id] += line.kg
        per_order[line.order_id] += line.kg
        if line.agreement_id is not None:
            per_agreement[line.agreement_id] += line.kg
    assert all(per_offer[offer.id] <= offer.kg for offer in book.offers)
    assert all(per_order[order.id] <= order.kg for order in book.orders)
    assert all(per_agreement[terms.id] <= terms.kg for terms in book.agreements)
    # Orders against an agreement that does not reach the matcher are never served.
    known = {terms.id for terms in book.agreements}
    assert all(line.agreement_id in known for line in allocation.lines if line.agreement_id is not None)


@EXAMPLES
@given(books(), st.randoms(use_true_random=False))
def test_the_same_book_in_any_order_gives_the_same_contracts(book, random):
    offers, orders = list(book.offers), list(book.orders)
    random.shuffle(offers)
    random.shuffle(orders)
    shuffled = replace(book, offers=tuple(offers), orders=tuple(orders))
    assert match(book).lines == match(shuffled).lines == match(book).lines


@EXAMPLES
@given(books(agreements=False))
def test_the_open_market_optimum_equals_an_independent_lp(book):
    assert match(book).gains == lp_optimum(book)


@EXAMPLES
@given(books(agreements=False), st.integers(1, 3_000))
def test_the_poverty_weight_optimum_equals_the_lp_with_the_premium(book, weight):
    policy = Policy(poverty_weight=weight)
    allocation = match(book, policy)
    premium = {offer.id: poverty_premium(offer, policy) for offer in book.offers}
    weighted = sum(line.kg * (line.surplus + premium[line.offer_id]) for line in allocation.lines)
    assert weighted == lp_optimum(book, lambda offer: poverty_premium(offer, policy))
    assert all(line.surplus > 0 for line in allocation.lines)


@EXAMPLES
@given(books(agreements=False, max_offers=10, max_orders=10))
def test_the_hub_network_and_the_pair_list_reach_the_same_optimum(book):
    offers, orders = sorted(book.offers, key=lambda o: o.id), sorted(book.orders, key=lambda o: o.id)
    capacities = [offer.kg for offer in offers]
    hubs = hub_network(offers, capacities, orders, book.freight)
    pairs = pair_network(offers, capacities, orders, book.freight)
    hub_flows, _ = solve(hubs)
    pair_flows, _ = solve(pairs)
    hub_cost = sum(flow * cost for flow, cost in zip(hub_flows, hubs.costs, strict=True))
    pair_cost = sum(flow * cost for flow, cost in zip(pair_flows, pairs.costs, strict=True))
    assert hub_cost == pair_cost == -lp_optimum(book)


@EXAMPLES
@given(books())
def test_agreements_are_filled_as_far_as_their_cooperative_can(book):
    """No call-off is left short while its cooperative still has eligible supply it did not sell elsewhere."""
    allocation = match(book)
    sold = Counter()
    for line in allocation.lines:
        sold[line.offer_id] += line.kg
    filled = Counter()
    for line in allocation.lines:
        if line.agreement_id is not None:
            filled[line.order_id] += line.kg
    terms = {t.id: t for t in book.agreements}
    agreement_filled = Counter()
    for line in allocation.lines:
        if line.agreement_id is not None:
            agreement_filled[line.agreement_id] += line.kg
    for order in book.orders:
        if order.agreement_id not in terms or filled[order.id] == order.kg:
            continue
        agreement = terms[order.agreement_id]
        if agreement_filled[agreement.id] == agreement.kg:
            continue
        for offer in book.offers:
            eligible = (
                offer.cooperative_id == agreement.cooperative_id
                and offer.grade >= order.min_grade
                and offer.start <= order.end
                and order.start <= offer.end
                and agreement.price - offer.ask - book.freight[offer.origin][order.destination] > 0
            )
            # An open-market sale may not take what a short call-off could have used.
            open_sales = sum(
                line.kg for line in allocation.lines if line.offer_id == offer.id and line.agreement_id is None
            )
            assert not (eligible and (sold[offer.id] < offer.kg or open_sales > 0)), (order, offer)


@EXAMPLES
@given(books(agreements=False))
def test_first_come_first_served_never_beats_the_optimum(book):
    baseline = first_come_first_served(book)
    assert baseline.gains <= match(book).gains
    per_offer = Counter()
    for line in baseline.lines:
        _eligible(line, book)
        per_offer[line.offer_id] += line.kg
    assert all(per_offer[offer.id] <= offer.kg for offer in book.offers)


@EXAMPLES
@given(books(), st.sampled_from(list(Pricing)))
def test_prices_respect_both_limits(book, pricing):
    for line in match(book, Policy(pricing=pricing)).lines:
        offer = next(offer for offer in book.offers if offer.id == line.offer_id)
        order = next(order for order in book.orders if order.id == line.order_id)
        assert line.price - line.freight >= offer.ask  # the seller nets at least its ask
        if line.agreement_id is None:
            assert line.price <= order.bid  # the buyer pays at most its bid, delivered
            expected = {
                Pricing.ask: offer.ask + line.freight,
                Pricing.bid: order.bid,
                Pricing.midpoint: offer.ask + line.freight + (line.surplus + 1) // 2,
            }[pricing]
            assert line.price == expected


def test_a_worked_example():
    """Two lots, two orders: the optimum pairs them the way first come, first served does not."""
    book = Book(
        offers=(
            Offer(1, 10, grade=3, kg=1_000, ask=5_000, start=0, end=30, origin=0),
            Offer(2, 11, grade=1, kg=1_000, ask=4_000, start=0, end=30, origin=0),
        ),
        orders=(
            # Arrives first, takes any grade, pays little: FCFS gives it the premium lot too.
            Order(5, 20, min_grade=1, kg=2_000, bid=6_000, start=0, end=30, destination=0),
            Order(6, 21, min_grade=3, kg=1_000, bid=9_000, start=0, end=30, destination=0),
        ),
        freight=((500,),),
    )
    optimum = match(book)
    assert {(line.offer_id, line.order_id, line.kg) for line in optimum.lines} == {(1, 6, 1_000), (2, 5, 1_000)}
    assert optimum.gains == 1_000 * (9_000 - 5_500) + 1_000 * (6_000 - 4_500)
    baseline = first_come_first_served(book)
    assert {(line.offer_id, line.order_id, line.kg) for line in baseline.lines} == {(2, 5, 1_000), (1, 5, 1_000)}
    assert baseline.gains == 1_000 * 1_500 + 1_000 * 500
    midpoint = {line.order_id: line.price for line in optimum.lines}
    assert midpoint == {6: 5_500 + 1_750, 5: 4_500 + 750}


@EXAMPLES
@given(books(agreements=False, max_offers=10, max_orders=10))
def test_both_solvers_reach_the_same_optimum(book):
    from market.matching.solver import NETWORK_SIMPLEX, ORTOOLS

    offers, orders = sorted(book.offers, key=lambda o: o.id), sorted(book.orders, key=lambda o: o.id)
    network = hub_network(offers, [offer.kg for offer in offers], orders, book.freight)
    costs = {}
    for name in (NETWORK_SIMPLEX, ORTOOLS):
        flows, stats = solve(network, solver=name)
        assert stats.solver == name
        for arc, flow in enumerate(flows):
            assert 0 <= flow <= network.capacities[arc]
        costs[name] = sum(flow * cost for flow, cost in zip(flows, network.costs, strict=True))
    assert costs[NETWORK_SIMPLEX] == costs[ORTOOLS] == -lp_optimum(book)


def _reference_first_come_first_served(book: Book, policy: Policy) -> list[Line]:
    """The baseline's definition, written the slow and obvious way; its lines as `make_line` makes them."""
    offers = sorted(book.offers, key=lambda offer: offer.id)
    left = {offer.id: offer.kg for offer in offers}
    terms = {t.id: t for t in book.agreements}
    agreement_left = {t.id: t.kg for t in book.agreements}
    lines = []
    for order in sorted(book.orders, key=lambda order: (order.agreement_id is None, order.id)):
        terms_of = terms.get(order.agreement_id) if order.agreement_id is not None else None
        if order.agreement_id is not None and terms_of is None:
            continue
        paid = order.bid if terms_of is None else terms_of.price
        wanted = order.kg if terms_of is None else min(order.kg, agreement_left[terms_of.id])

        def delivered(offer, order=order):
            return offer.ask + book.freight[offer.origin][order.destination]

        eligible = [
            offer
            for offer in offers
            if left[offer.id] > 0
            and offer.grade >= order.min_grade
            and offer.start <= order.end
            and order.start <= offer.end
            and paid - delivered(offer) > 0
            and (terms_of is None or offer.cooperative_id == terms_of.cooperative_id)
        ]
        filled = 0
        for offer in sorted(eligible, key=lambda offer: (delivered(offer), offer.id)):
            kg = min(wanted - filled, left[offer.id])
            if kg == 0:
                break
            left[offer.id] -= kg
            filled += kg
            lines.append(make_line(offer, order, kg, book, policy, None if terms_of is None else terms_of.price))
        if terms_of is not None:
            agreement_left[terms_of.id] -= filled
    return lines


@settings(max_examples=300, deadline=None)
# More orders than offers: lots sell out, and walks jump over them.
@given(books(max_offers=12, max_orders=30), st.sampled_from(list(Pricing)))
def test_the_fast_baseline_follows_its_definition(book, pricing):
    policy = Policy(pricing=pricing)
    assert first_come_first_served(book, policy).lines == _reference_first_come_first_served(book, policy)


def test_first_come_first_served_with_no_offers_fills_nothing():
    order = Order(id=1, buyer_id=1, min_grade=1, kg=1000, bid=500_000, start=10, end=20, destination=0)
    assert first_come_first_served(Book(offers=(), orders=(order,), freight=())).lines == []
