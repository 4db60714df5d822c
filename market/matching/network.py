"""Flow networks for the open market, and turning a flow back into offer-order pairs.

Two shapes carry the same problem (maximise the sum over pairs of kg x value):

* `pair_network`: one arc per eligible offer-order pair. Simple and fully general
  (any per-pair value), but its size grows with offers x orders.
* `hub_network`: eligibility is built into the shape of the network instead of listed
  pair by pair, so its size grows with (offers + orders) x log(days):
  - grade: offers enter at their grade; a zero-cost chain premium -> first -> second
    lets an order drawing at its minimum grade take any better grade too;
  - freight: one arc per (origin, destination) hub pair carries the freight rate;
  - windows (day-exact): two windows overlap exactly when one starts inside the other.
    Part A routes an offer by its start day into a segment tree over those days on the
    destination side, from which each order draws over its own window; part B mirrors
    it: each offer feeds the segment-tree nodes covering its window on the origin side,
    and each order draws at its start day.
  It needs a pair's value to split into offer, freight and order parts, which holds
  for bid - ask - freight; a value that belongs to the pair alone needs pair_network.

Both give the optimum under the same eligibility rule: same product (one network per
product), offer grade >= the order's minimum, windows sharing at least one day, and
positive value. The last needs no arc of its own: a path that loses value is never
part of an optimal flow, and paths worth exactly zero are dropped when decomposing.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np

from market.matching.book import Offer, Order

GRADES = (3, 2, 1)  # premium, first, second: the order of the grade chain


@dataclass
class Network:
    kind: str
    num_nodes: int = 2  # 0 is the source, 1 the sink
    tails: list[int] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    capacities: list[int] = field(default_factory=list)
    costs: list[int] = field(default_factory=list)
    supply: int = 0
    offer_node: dict[int, int] = field(default_factory=dict)  # offer index -> node
    order_node: dict[int, int] = field(default_factory=dict)  # order index -> node

    SOURCE = 0
    SINK = 1

    def node(self) -> int:
        self.num_nodes += 1
        return self.num_nodes - 1

    def costs_array(self) -> np.ndarray:
        return np.asarray(self.costs, dtype=np.int64)

    def arc(self, tail: int, head: int, capacity: int, cost: int = 0) -> None:
        self.tails.append(tail)
        self.heads.append(head)
        self.capacities.append(capacity)
        self.costs.append(cost)


def _frame(
    kind: str,
    offers: list[Offer],
    capacities: list[int],
    orders: list[Order],
    offer_costs: list[int],
    order_values: list[int],
) -> Network:
    """Source -> offers -> ... -> orders -> sink, plus the no-trade arc that lets supply go unsold."""
    network = Network(kind)
    network.supply = sum(capacities)
    for index, capacity in enumerate(capacities):
        if capacity > 0:
            node = network.node()
            network.offer_node[index] = node
            network.arc(Network.SOURCE, node, capacity, offer_costs[index])
    for index, order in enumerate(orders):
        node = network.node()
        network.order_node[index] = node
        network.arc(node, Network.SINK, order.kg, -order_values[index])
    network.arc(Network.SOURCE, Network.SINK, network.supply, 0)
    return network


def overlaps(offer: Offer, order: Order) -> bool:
    return offer.start <= order.end and order.start <= offer.end


def pair_network(
    offers: list[Offer],
    capacities: list[int],
    orders: list[Order],
    freight: tuple[tuple[int, ...], ...],
    premium: list[int] | None = None,
) -> Network:
    """One arc per eligible pair, of value bid - ask - freight (> 0), plus the offer's `premium` (fen/t).

    Built offer by offer with numpy, so the pairs are found at C speed; the arcs are kept as arrays.
    """
    network = _frame("pairs", offers, capacities, orders, [0] * len(offers), [0] * len(orders))
    if not orders:
        return network
    order_nodes = np.array([network.order_node[j] for j in range(len(orders))], dtype=np.int64)
    min_grade = np.array([order.min_grade for order in orders], dtype=np.int64)
    bid = np.array([order.bid for order in orders], dtype=np.int64)
    start = np.array([order.start for order in orders], dtype=np.int64)
    end = np.array([order.end for order in orders], dtype=np.int64)
    order_kg = np.array([order.kg for order in orders], dtype=np.int64)
    destination = np.array([order.destination for order in orders], dtype=np.int64)
    freight_matrix = np.array(freight, dtype=np.int64).reshape(len(freight), -1)
    chunks: list[tuple[np.ndarray, ...]] = []
    for i, offer in enumerate(offers):
        if i not in network.offer_node:
            continue
        value = bid - offer.ask - freight_matrix[offer.origin, destination]
        eligible = np.flatnonzero(
            (min_grade <= offer.grade) & (start <= offer.end) & (offer.start <= end) & (value > 0)
        )
        if eligible.size:
            chunks.append(
                (
                    np.full(eligible.size, network.offer_node[i], dtype=np.int64),
                    order_nodes[eligible],
                    np.minimum(order_kg[eligible], capacities[i]),
                    -(value[eligible] + (premium[i] if premium else 0)),
                )
            )
    if chunks:
        network.tails = np.concatenate([np.asarray(network.tails, dtype=np.int64), *(c[0] for c in chunks)])
        network.heads = np.concatenate([np.asarray(network.heads, dtype=np.int64), *(c[1] for c in chunks)])
        network.capacities = np.concatenate([np.asarray(network.capacities, dtype=np.int64), *(c[2] for c in chunks)])
        network.costs = np.concatenate([np.asarray(network.costs, dtype=np.int64), *(c[3] for c in chunks)])
    return network


class _SegmentTree:
    """Nodes over leaf positions 0..n-1; `cover(lo, hi)` names the O(log n) nodes spanning [lo, hi]."""

    def __init__(self, network: Network, leaves: int, upward: bool, infinity: int) -> None:
        self.size = 1
        while self.size < leaves:
            self.size *= 2
        self.ids = [network.node() for _ in range(2 * self.size)]
        for position in range(2, 2 * self.size):
            child, parent = self.ids[position], self.ids[position // 2]
            if upward:
                network.arc(child, parent, infinity)
            else:
                network.arc(parent, child, infinity)

    def leaf(self, position: int) -> int:
        return self.ids[self.size + position]

    def cover(self, lo: int, hi: int) -> list[int]:
        nodes = []
        lo += self.size
        hi += self.size + 1
        while lo < hi:
            if lo & 1:
                nodes.append(self.ids[lo])
                lo += 1
            if hi & 1:
                hi -= 1
                nodes.append(self.ids[hi])
            lo //= 2
            hi //= 2
        return nodes


def hub_network(
    offers: list[Offer],
    capacities: list[int],
    orders: list[Order],
    freight: tuple[tuple[int, ...], ...],
) -> Network:
    """The open market as hubs and segment trees: near-linear in offers + orders."""
    network = _frame(
        "hubs", offers, capacities, orders, [offer.ask for offer in offers], [order.bid for order in orders]
    )
    infinity = max(network.supply, 1)
    live = [i for i in network.offer_node]
    origins = sorted({offers[i].origin for i in live})
    order_keys = sorted({(order.destination, order.min_grade) for order in orders})

    # Part A: the offer starts inside the order's window.
    start_days = sorted({offers[i].start for i in live})
    day_index = {day: position for position, day in enumerate(start_days)}
    trees_a = {key: _SegmentTree(network, len(start_days), True, infinity) for key in order_keys}
    hubs_a: dict[tuple[int, int, int], int] = {}
    for origin, position in sorted({(offers[i].origin, day_index[offers[i].start]) for i in live}):
        chain = [network.node() for _ in GRADES]
        for grade, node in zip(GRADES, chain, strict=True):
            hubs_a[(origin, position, grade)] = node
        for upper, lower in zip(chain, chain[1:], strict=False):
            network.arc(upper, lower, infinity)
        for (destination, grade), tree in trees_a.items():
            network.arc(hubs_a[(origin, position, grade)], tree.leaf(position), infinity, freight[origin][destination])
    for i in live:
        offer = offers[i]
        network.arc(network.offer_node[i], hubs_a[(offer.origin, day_index[offer.start], offer.grade)], infinity)
    for j, order in enumerate(orders):
        lo, hi = bisect_left(start_days, order.start), bisect_right(start_days, order.end) - 1
        if lo <= hi:
            for node in trees_a[(order.destination, order.min_grade)].cover(lo, hi):
                network.arc(node, network.order_node[j], infinity)

    # Part B: the order starts inside the offer's window.
    order_days = sorted({order.start for order in orders})
    trees_b = {
        (origin, grade): _SegmentTree(network, len(order_days), False, infinity)
        for origin in origins
        for grade in GRADES
    }
    for origin in origins:
        for position in range(len(order_days)):
            chain = [trees_b[(origin, grade)].leaf(position) for grade in GRADES]
            for upper, lower in zip(chain, chain[1:], strict=False):
                network.arc(upper, lower, infinity)
    hubs_b: dict[tuple[int, int, int], int] = {}
    for destination, grade, position in sorted(
        {(order.destination, order.min_grade, bisect_left(order_days, order.start)) for order in orders}
    ):
        hub = network.node()
        hubs_b[(destination, grade, position)] = hub
        for origin in origins:
            network.arc(trees_b[(origin, grade)].leaf(position), hub, infinity, freight[origin][destination])
    for i in live:
        offer = offers[i]
        lo, hi = bisect_left(order_days, offer.start), bisect_right(order_days, offer.end) - 1
        if lo <= hi:
            for node in trees_b[(offer.origin, offer.grade)].cover(lo, hi):
                network.arc(network.offer_node[i], node, infinity)
    for j, order in enumerate(orders):
        hub = hubs_b[(order.destination, order.min_grade, bisect_left(order_days, order.start))]
        network.arc(hub, network.order_node[j], infinity)
    return network


def decompose(network: Network, flows) -> dict[tuple[int, int], int]:
    """Split an (acyclic) flow into kg per (offer index, order index).

    Each offer's kg travel as labelled parcels through the arcs that carry flow, in
    topological order, first in first out; an order's node learns which offers its
    kg came from. Any split of an optimal flow gives pairs of value >= 0.
    """
    node_to_order = {node: index for index, node in network.order_node.items()}
    flows = np.asarray(flows, dtype=np.int64)
    tails = np.asarray(network.tails, dtype=np.int64)
    heads = np.asarray(network.heads, dtype=np.int64)
    outgoing: dict[int, list[tuple[int, int]]] = defaultdict(list)
    indegree: dict[int, int] = defaultdict(int)
    # Only arcs that carry flow matter: in an optimal basic flow there are about as many as nodes.
    for arc in np.flatnonzero(flows > 0).tolist():
        tail, head, flow = int(tails[arc]), int(heads[arc]), int(flows[arc])
        # Parcels stop at the orders: what lies beyond them (caps, the sink) is not about pairs.
        if tail != Network.SOURCE and head != Network.SINK and tail not in node_to_order:
            outgoing[tail].append((head, flow))
            indegree[head] += 1
    parcels: dict[int, deque[list[int]]] = defaultdict(deque)
    for index, node in network.offer_node.items():
        sent = sum(flow for _, flow in outgoing.get(node, ()))
        if sent:
            parcels[node].append([index, sent])
    pairs: dict[tuple[int, int], int] = defaultdict(int)
    ready = deque(node for node in network.offer_node.values() if indegree[node] == 0 and node in outgoing)
    while ready:
        node = ready.popleft()
        queue = parcels.pop(node, deque())
        for head, flow in outgoing.get(node, ()):
            while flow > 0:
                parcel = queue[0]
                moved = min(flow, parcel[1])
                if head in node_to_order:
                    pairs[(parcel[0], node_to_order[head])] += moved
                else:
                    parcels[head].append([parcel[0], moved])
                parcel[1] -= moved
                flow -= moved
                if parcel[1] == 0:
                    queue.popleft()
            indegree[head] -= 1
            if indegree[head] == 0 and head in outgoing:
                ready.append(head)
    return dict(pairs)
