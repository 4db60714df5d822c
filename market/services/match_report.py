"""The report of a match run, from its per-product parts.

Each part carries its contracts summed as the report groups them (`contract_sums`, worked out from
the rows as they were written, in the product's own transaction and process), so the run's last,
serial step merges a few hundred figures and looks up names instead of grouping every contract.
A part written before parts carried the sums has them summed from its contracts by the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from market.db import one_of
from market.models import Buyer, Contract, Cooperative, DemandOrder, MatchRun, MatchRunPart, PurchaseAgreement
from market.models.match_report import (
    AgreementLine,
    BuyerLine,
    Comparison,
    CooperativeLine,
    MatchReport,
    Outcome,
    Poverty,
    ProductLine,
    SolverLine,
    Totals,
)
from market.units import fen_from_kg_fen, fen_per, fen_to_yuan, kg_to_tonnes


def share(part: int, whole: int) -> str:
    if whole == 0:
        return "0.0000"
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _per(total_fen: int, count: int) -> str | None:
    share_fen = fen_per(total_fen, count)
    return None if share_fen is None else fen_to_yuan(share_fen)


# A part's sums: [contracts, kg, value fen, transport fen] in all and per cooperative, buyer and
# agreement (keyed by id, as text in the stored JSON).
_GROUPS = ("by_cooperative", "by_buyer", "by_agreement")


def contract_sums(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One product's contracts, given as the rows written, summed as the report groups them."""
    # Summed per (cooperative, buyer, agreement) first, one dictionary step a row: far fewer of those.
    by_parties: dict[tuple[int, int, int | None], list[int]] = {}
    for row in rows:
        parties = (row["cooperative_id"], row["buyer_id"], row["agreement_id"])
        sums = by_parties.get(parties)
        if sums is None:
            by_parties[parties] = [1, row["quantity_kg"], row["value_fen"], row["transport_fen"]]
        else:
            sums[0] += 1
            sums[1] += row["quantity_kg"]
            sums[2] += row["value_fen"]
            sums[3] += row["transport_fen"]
    return _summed((*parties, *sums) for parties, sums in by_parties.items())


def _sums_from_contracts(session: Session, run_id: int, product: Any) -> dict[str, Any]:
    """`contract_sums` for a part written before parts carried them: grouped by the database first."""
    contracts = Contract.__table__.c
    keys = (contracts.cooperative_id, contracts.buyer_id, contracts.agreement_id)
    figures = (
        func.count(),
        *(func.sum(column) for column in (contracts.quantity_kg, contracts.value_fen, contracts.transport_fen)),
    )
    rows = session.execute(
        select(*keys, *figures).where(contracts.match_run_id == run_id, contracts.product == product).group_by(*keys)
    )
    return _summed(rows)


def _summed(rows: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """Rows of (cooperative, buyer, agreement or None, contracts, kg, value fen, transport fen), one per
    combination of the three, summed per cooperative, buyer and agreement, and in all."""
    total = [0, 0, 0, 0]
    groups: dict[str, dict[int, list[int]]] = {name: {} for name in _GROUPS}
    for *keys, count, kg, value, transport in rows:
        figures = (count, int(kg), int(value), int(transport))
        _add(total, figures)
        for name, key in zip(_GROUPS, keys, strict=True):
            if key is not None:  # an open-market contract is under no agreement
                _add(groups[name].setdefault(key, [0, 0, 0, 0]), figures)
    return {"total": total} | {name: {str(key): sums for key, sums in group.items()} for name, group in groups.items()}


def _merged(parts_sums: list[dict[str, Any]], name: str) -> dict[int, list[int]]:
    merged: dict[int, list[int]] = {}
    for sums in parts_sums:
        for key, figures in sums[name].items():
            _add(merged.setdefault(int(key), [0, 0, 0, 0]), figures)
    return merged


def _add(sums: list[int], figures: Iterable[int]) -> None:
    """Add [contracts, kg, value fen, transport fen] to `sums`, in place."""
    for index, figure in enumerate(figures):
        sums[index] += figure


def _parties(session: Session, merged: dict[int, list[int]], key: Any, *columns: Any) -> list[tuple[Any, ...]]:
    """The parties the merged sums name, each as (its row of `key` and `columns`, *its sums), most valuable
    first, then by id: only the few parties' names are read, by id."""
    rows = {row[0]: row for row in session.execute(select(key, *columns).where(one_of(session, key, list(merged))))}
    return [(rows[party], *merged[party]) for party in sorted(merged, key=lambda party: (-merged[party][2], party))]


def build_report(session: Session, run: MatchRun, parts: list[MatchRunPart]) -> dict[str, Any]:
    parts_sums = [part.summary.get("sums") or _sums_from_contracts(session, run.id, part.product) for part in parts]
    product_lines = []
    for part, sums in zip(parts, parts_sums, strict=True):
        count, kg, value, transport = sums["total"]
        summary = part.summary
        product_lines.append(
            ProductLine(
                product=part.product,
                contracts=count,
                tonnes=kg_to_tonnes(kg),
                value=fen_to_yuan(value),
                offered_tonnes=kg_to_tonnes(summary["offered_kg"]),
                demanded_tonnes=kg_to_tonnes(summary["demanded_kg"]),
                fill_rate=share(kg, summary["demanded_kg"]),
                gains_from_trade=fen_to_yuan(fen_from_kg_fen(summary["gains_kg_fen"])),
                transport_cost=fen_to_yuan(transport),
            )
        )

    cooperative_rows = _parties(
        session,
        _merged(parts_sums, "by_cooperative"),
        Cooperative.id,
        Cooperative.name,
        Cooperative.name_zh,
        Cooperative.township,
        Cooperative.poor_households,
    )
    buyer_rows = _parties(session, _merged(parts_sums, "by_buyer"), Buyer.id, Buyer.name, Buyer.name_zh)
    by_agreement = _merged(parts_sums, "by_agreement")
    agreement_rows = [
        (agreement, buyer_zh, cooperative_zh, *by_agreement[agreement.id][:3])
        for agreement, buyer_zh, cooperative_zh in session.execute(
            select(PurchaseAgreement, Buyer.name_zh, Cooperative.name_zh)
            .join(Buyer, Buyer.id == PurchaseAgreement.buyer_id)
            .join(Cooperative, Cooperative.id == PurchaseAgreement.cooperative_id)
            .where(one_of(session, PurchaseAgreement.id, list(by_agreement)))
            .order_by(PurchaseAgreement.id)
        )
    ]

    matched_kg = sum(sums["total"][1] for sums in parts_sums)
    value = sum(sums["total"][2] for sums in parts_sums)
    demanded_kg = sum(part.summary["demanded_kg"] for part in parts)
    gains = fen_from_kg_fen(sum(part.summary["gains_kg_fen"] for part in parts))
    baseline_kg = sum(part.summary["baseline"]["kg"] for part in parts)
    baseline_gains = fen_from_kg_fen(sum(part.summary["baseline"]["gains_kg_fen"] for part in parts))
    transport = sum(sums["total"][3] for sums in parts_sums)
    with_poor = [(party, figures) for party, *figures in cooperative_rows if party.poor_households > 0]
    poor_households = sum(party.poor_households for party, _ in with_poor)
    with_poor_net = sum(value_fen - transport_fen for _, (_, _, value_fen, transport_fen) in with_poor)
    # A part written before parts carried the references (an upgrade in the middle of a run) has them looked up.
    references = order_references(
        session, [item["order_id"] for part in parts for item in part.summary["unmatched"] if "reference" not in item]
    )

    report = MatchReport(
        products=[part.product for part in parts],
        pricing=run.policy.value,
        poverty_weight_per_tonne=fen_to_yuan(run.parameters.get("poverty_weight_fen", 0)),
        totals=Totals(
            contracts=sum(sums["total"][0] for sums in parts_sums),
            tonnes=kg_to_tonnes(matched_kg),
            value=fen_to_yuan(value),
            offered_tonnes=kg_to_tonnes(sum(part.summary["offered_kg"] for part in parts)),
            demanded_tonnes=kg_to_tonnes(demanded_kg),
            fill_rate=share(matched_kg, demanded_kg),
            gains_from_trade=fen_to_yuan(gains),
            transport_cost=fen_to_yuan(transport),
        ),
        by_product=product_lines,
        by_cooperative=[
            CooperativeLine(
                cooperative_id=party.id,
                name=party.name,
                name_zh=party.name_zh,
                township=party.township,
                registered_poor_households=party.poor_households,
                contracts=count,
                tonnes=kg_to_tonnes(kg),
                value=fen_to_yuan(amount),
                value_per_poor_household=_per(amount, party.poor_households),
            )
            for party, count, kg, amount, _ in cooperative_rows
        ],
        by_buyer=[
            BuyerLine(
                buyer_id=party.id,
                name=party.name,
                name_zh=party.name_zh,
                contracts=count,
                tonnes=kg_to_tonnes(kg),
                value=fen_to_yuan(amount),
            )
            for party, count, kg, amount, _ in buyer_rows
        ],
        by_agreement=[
            AgreementLine(
                agreement_id=agreement.id,
                reference=agreement.reference,
                buyer=buyer_zh,
                cooperative=cooperative_zh,
                contracts=count,
                tonnes=kg_to_tonnes(int(kg)),
                value=fen_to_yuan(int(amount)),
                agreement_tonnes=kg_to_tonnes(agreement.quantity_kg),
                contracted_tonnes=kg_to_tonnes(agreement.contracted_kg),
                fulfilled_share=share(agreement.contracted_kg, agreement.quantity_kg),
            )
            for agreement, buyer_zh, cooperative_zh, count, kg, amount in agreement_rows
        ],
        poverty=Poverty(
            revenue_to_cooperatives=fen_to_yuan(value),
            freight=fen_to_yuan(transport),
            net_to_cooperatives=fen_to_yuan(value - transport),
            net_to_cooperatives_with_poor_households=fen_to_yuan(with_poor_net),
            registered_poor_households=poor_households,
            net_per_poor_household=_per(with_poor_net, poor_households),
        ),
        comparison=Comparison(
            optimum=Outcome(
                tonnes=kg_to_tonnes(matched_kg),
                value=fen_to_yuan(value),
                gains_from_trade=fen_to_yuan(gains),
                fill_rate=share(matched_kg, demanded_kg),
            ),
            baseline=Outcome(
                tonnes=kg_to_tonnes(baseline_kg),
                value=fen_to_yuan(sum(part.summary["baseline"]["value_fen"] for part in parts)),
                gains_from_trade=fen_to_yuan(baseline_gains),
                fill_rate=share(baseline_kg, demanded_kg),
            ),
            extra_gains_from_trade=fen_to_yuan(gains - baseline_gains),
            baseline_share_of_optimum=share(baseline_gains, gains) if gains else None,
        ),
        unmatched_orders=[],
        solver=[SolverLine(product=part.product, **line) for part in parts for line in part.summary["solver"]],
    ).model_dump(mode="json")
    # Thousands of lines in a large run: spelt as UnmatchedOrder dumps them, without a model each.
    report["unmatched_orders"] = [
        {
            "order_id": item["order_id"],
            "reference": item["reference"] if "reference" in item else references.get(item["order_id"]),
            "buyer_id": item["buyer_id"],
            "agreement_id": item["agreement_id"],
            "product": part.product.value,
            "tonnes_unmatched": kg_to_tonnes(item["kg"]),
            "reason": item["reason"],
        }
        for part in parts
        for item in part.summary["unmatched"]
    ]
    return report


def order_references(session: Session, order_ids: list[int]) -> dict[int, str | None]:
    """The buyers' own numbers of these orders, by id."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(DemandOrder.id, DemandOrder.reference).where(one_of(session, DemandOrder.id, order_ids))
    )
    return {order_id: reference for order_id, reference in rows}
