"""Solving a flow network exactly, with integer capacities and costs.

Two well-kept solvers, chosen by measuring (bench/matching.py):
- LEMON's network simplex (through `pylmcf`, block-search pivots) for minimum-cost flows:
  the fastest on the hub networks of the open market;
- OR-Tools' min-cost-flow solver for "as much flow as possible, then the cheapest", which
  serves purchase agreements first, and as an independent check in the tests and benchmarks.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.graph.python import min_cost_flow
from pylmcf import Graph

from market.matching.book import SolveStats
from market.matching.network import Network

NETWORK_SIMPLEX = "lemon.network_simplex"
ORTOOLS = "ortools.min_cost_flow"


class SolverError(RuntimeError):
    pass


def solve(
    network: Network, *, max_flow_first: bool = False, solver: str = NETWORK_SIMPLEX
) -> tuple[np.ndarray, SolveStats]:
    """Arc flows of a minimum-cost flow that sends the network's whole supply from source to sink.

    With `max_flow_first` (OR-Tools only), the flow is as large as possible and, among the largest,
    the cheapest: how purchase agreements are served before anything else is weighed.
    """
    started = time.perf_counter()
    if max_flow_first or solver == ORTOOLS:
        flows = _ortools(network, max_flow_first)
        solver = ORTOOLS
    elif solver == NETWORK_SIMPLEX:
        flows = _network_simplex(network)
    else:
        raise SolverError(f"unknown solver {solver!r}")
    stats = SolveStats(
        solver=solver,
        network=network.kind,
        nodes=network.num_nodes,
        arcs=len(network.tails),
        seconds=time.perf_counter() - started,
    )
    return flows, stats


def _ortools(network: Network, max_flow_first: bool) -> np.ndarray:
    solver = min_cost_flow.SimpleMinCostFlow()
    if len(network.tails):
        solver.add_arcs_with_capacity_and_unit_cost(
            np.asarray(network.tails, dtype=np.int32),
            np.asarray(network.heads, dtype=np.int32),
            np.asarray(network.capacities, dtype=np.int64),
            np.asarray(network.costs, dtype=np.int64),
        )
    solver.set_node_supply(Network.SOURCE, network.supply)
    solver.set_node_supply(Network.SINK, -network.supply)
    status = solver.solve_max_flow_with_min_cost() if max_flow_first else solver.solve()
    if status != solver.OPTIMAL:
        raise SolverError(f"min-cost flow ended with status {status} on the {network.kind} network")
    if not len(network.tails):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(solver.flows(np.arange(len(network.tails), dtype=np.int32)), dtype=np.int64)


def _network_simplex(network: Network) -> np.ndarray:
    """LEMON wants arcs sorted by (tail, head) and costs >= 0.

    An arc of negative cost is turned around: it is taken as saturated (its tail gives up, its
    head receives, its whole capacity) and the reversed arc, of the opposite cost, carries what
    the original would not. The optimum is the same; its flow is read back through the same turn.
    """
    if not len(network.tails):
        return np.zeros(0, dtype=np.int64)
    tails = np.asarray(network.tails, dtype=np.int64)
    heads = np.asarray(network.heads, dtype=np.int64)
    capacities = np.asarray(network.capacities, dtype=np.int64)
    costs = np.asarray(network.costs, dtype=np.int64)
    supply = np.zeros(network.num_nodes, dtype=np.int64)
    supply[Network.SOURCE] = network.supply
    supply[Network.SINK] = -network.supply

    negative = costs < 0
    np.subtract.at(supply, tails[negative], capacities[negative])
    np.add.at(supply, heads[negative], capacities[negative])
    starts = np.where(negative, heads, tails)
    ends = np.where(negative, tails, heads)

    order = np.lexsort((ends, starts))
    graph = Graph(network.num_nodes, starts[order], ends[order])
    graph.set_node_supply(supply)
    graph.set_edge_capacities(capacities[order])
    graph.set_edge_costs(np.abs(costs)[order])
    graph.set_pivot_rule("block_search")
    graph.solve()
    solved = np.empty_like(capacities)
    solved[order] = graph.result()
    if np.any(solved < 0) or np.any(solved > capacities):
        raise SolverError(f"network simplex returned an infeasible flow on the {network.kind} network")
    return np.where(negative, capacities - solved, solved)
