"""Solving a flow network exactly with OR-Tools' min-cost-flow solver (integer capacities and costs)."""

from __future__ import annotations

import time

import numpy as np
from ortools.graph.python import min_cost_flow

from market.matching.book import SolveStats
from market.matching.network import Network

SOLVER_NAME = "ortools.min_cost_flow"


class SolverError(RuntimeError):
    pass


def solve(network: Network, *, max_flow_first: bool = False) -> tuple[list[int], SolveStats]:
    """Arc flows of a minimum-cost flow.

    With `max_flow_first`, the flow is as large as possible and, among the largest,
    the cheapest: how purchase agreements are served before anything else is weighed.
    """
    started = time.perf_counter()
    solver = min_cost_flow.SimpleMinCostFlow()
    if network.tails:
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
    flows = solver.flows(np.arange(len(network.tails), dtype=np.int32)).tolist() if network.tails else []
    stats = SolveStats(
        solver=SOLVER_NAME,
        network=network.kind,
        nodes=network.num_nodes,
        arcs=len(network.tails),
        seconds=time.perf_counter() - started,
    )
    return flows, stats
