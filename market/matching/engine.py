"""The matching core: a pure function from one product's book and a policy to contract lines.

1. Purchase agreements first. Orders called off against an agreement are served only
   by that agreement's cooperative, at the agreement's price, up to its remaining kg:
   as many kg as possible, and among the largest fills the most valuable.
2. Then the open market: what supply is left against the open orders, maximising
   the gains from trade, sum of kg x (bid - ask - freight), plus the policy's poverty
   weight for cooperatives with registered poor households.

Both are exact min-cost-flow problems. Prices follow the policy and are rounded to the fen.
"""

from __future__ import annotations

from collections import defaultdict

from market.matching.book import DEFAULT_POLICY, AgreementTerms, Allocation, Book, Line, Offer, Order, Policy, Pricing
from market.matching.network import Network, decompose, hub_network, overlaps, pair_network
from market.matching.solver import solve
from market.runtime import collector_paused


def poverty_premium(offer: Offer, policy: Policy) -> int:
    """Fen per tonne the policy adds to trades of this offer's cooperative."""
    if policy.poverty_weight == 0 or offer.member_households == 0:
        return 0
    # Rounded half up to the fen, in integers.
    return (2 * policy.poverty_weight * offer.poor_households + offer.member_households) // (
        2 * offer.member_households
    )


def surplus(offer: Offer, order: Order, book: Book, price: int | None = None) -> int:
    """Fen per tonne a pair creates: what the buyer pays (its bid, or the agreement price) less ask and freight."""
    paid = order.bid if price is None else price
    return paid - offer.ask - book.freight[offer.origin][order.destination]


def contract_price(offer: Offer, order: Order, book: Book, policy: Policy, agreement_price: int | None) -> int:
    """The delivered price per tonne the buyer pays the cooperative."""
    if agreement_price is not None:
        return agreement_price
    return open_market_price(policy.pricing, offer.ask + book.freight[offer.origin][order.destination], order.bid)


def open_market_price(pricing: Pricing, delivered: int, bid: int) -> int:
    """The price per tonne of an open-market trade, from the lot's ask plus freight (`delivered`) and the bid."""
    if pricing == Pricing.ask:
        return delivered
    if pricing == Pricing.bid:
        return bid
    # Midpoint: the seller nets its ask plus half the surplus, the half rounded up to the fen.
    return delivered + (bid - delivered + 1) // 2


@collector_paused()  # the network's hundreds of thousands of arcs and lines form no cycles
def match(book: Book, policy: Policy = DEFAULT_POLICY) -> Allocation:
    """The optimal contracts for one product's book. Deterministic for the same book and policy."""
    offers = sorted(book.offers, key=lambda offer: offer.id)
    capacities = [offer.kg for offer in offers]
    allocation = Allocation(lines=[])
    _serve_agreements(book, offers, capacities, policy, allocation)
    _clear_open_market(book, offers, capacities, policy, allocation)
    allocation.lines.sort(key=lambda line: (line.offer_id, line.order_id))
    return allocation


def _serve_agreements(
    book: Book, offers: list[Offer], capacities: list[int], policy: Policy, allocation: Allocation
) -> None:
    terms = {agreement.id: agreement for agreement in book.agreements}
    by_cooperative: dict[int, list[Order]] = defaultdict(list)
    for order in sorted(book.orders, key=lambda order: order.id):
        if order.agreement_id is not None and order.agreement_id in terms:
            by_cooperative[terms[order.agreement_id].cooperative_id].append(order)
    for cooperative_id in sorted(by_cooperative):
        orders = by_cooperative[cooperative_id]
        own = [i for i, offer in enumerate(offers) if offer.cooperative_id == cooperative_id and capacities[i] > 0]
        if not own:
            continue
        network = _agreement_network(book, offers, own, capacities, orders, terms, policy)
        flows, stats = solve(network, max_flow_first=True)
        allocation.stats.append(stats)
        for (i, j), kg in sorted(decompose(network, flows).items()):
            offer, order = offers[i], orders[j]
            agreement = terms[order.agreement_id]
            capacities[i] -= kg
            allocation.lines.append(make_line(offer, order, kg, book, policy, agreement.price))


def _agreement_network(
    book: Book,
    offers: list[Offer],
    own: list[int],
    capacities: list[int],
    orders: list[Order],
    terms: dict[int, AgreementTerms],
    policy: Policy,
) -> Network:
    """Own offers -> eligible call-offs -> their agreement (capped at its remaining kg) -> sink."""
    network = Network("agreements")
    network.supply = sum(capacities[i] for i in own)
    for i in own:
        node = network.node()
        network.offer_node[i] = node
        network.arc(Network.SOURCE, node, capacities[i])
    agreement_node: dict[int, int] = {}
    for agreement_id in sorted({order.agreement_id for order in orders}):
        agreement_node[agreement_id] = network.node()
        network.arc(agreement_node[agreement_id], Network.SINK, terms[agreement_id].kg)
    for j, order in enumerate(orders):
        node = network.node()
        network.order_node[j] = node
        network.arc(node, agreement_node[order.agreement_id], order.kg)
        price = terms[order.agreement_id].price
        for i in own:
            offer = offers[i]
            value = surplus(offer, order, book, price)
            if offer.grade >= order.min_grade and overlaps(offer, order) and value > 0:
                network.arc(
                    network.offer_node[i], node, min(capacities[i], order.kg), -(value + poverty_premium(offer, policy))
                )
    return network


def _clear_open_market(
    book: Book, offers: list[Offer], capacities: list[int], policy: Policy, allocation: Allocation
) -> None:
    orders = sorted((order for order in book.orders if order.agreement_id is None), key=lambda order: order.id)
    if not orders or not any(capacities):
        return
    if policy.poverty_weight == 0:
        network = hub_network(offers, capacities, orders, book.freight)
    else:
        # The premium belongs to the seller while eligibility (positive surplus) belongs to the
        # pair, so the value no longer splits over hubs: list the eligible pairs instead.
        premiums = [poverty_premium(offer, policy) for offer in offers]
        network = pair_network(offers, capacities, orders, book.freight, premiums)
    flows, stats = solve(network)
    allocation.stats.append(stats)
    for (i, j), kg in sorted(decompose(network, flows).items()):
        offer, order = offers[i], orders[j]
        if surplus(offer, order, book) <= 0:
            continue  # worth nothing: part of an optimum only by indifference
        capacities[i] -= kg
        allocation.lines.append(make_line(offer, order, kg, book, policy, None))


def make_line(offer: Offer, order: Order, kg: int, book: Book, policy: Policy, agreement_price: int | None) -> Line:
    return Line(
        offer_id=offer.id,
        order_id=order.id,
        agreement_id=order.agreement_id if agreement_price is not None else None,
        kg=kg,
        price=contract_price(offer, order, book, policy, agreement_price),
        freight=book.freight[offer.origin][order.destination],
        surplus=surplus(offer, order, book, agreement_price),
    )
