"""The report of a match run, from its contracts (summed by the database) and its per-product parts."""

from __future__ import annotations

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


def build_report(session: Session, run: MatchRun, parts: list[MatchRunPart]) -> dict[str, Any]:
    contracts = Contract.__table__.c
    sums = (
        func.count().label("contracts"),
        func.sum(contracts.quantity_kg).label("kg"),
        func.sum(contracts.value_fen).label("value"),
    )
    transport_sum = func.sum(contracts.transport_fen).label("transport")
    of_run = contracts.match_run_id == run.id

    by_product = {
        row[0]: row[1:]
        for row in session.execute(
            select(contracts.product, *sums, transport_sum).where(of_run).group_by(contracts.product)
        )
    }
    product_lines = []
    for part in parts:
        count, kg, value, transport = by_product.get(part.product, (0, 0, 0, 0))
        summary = part.summary
        product_lines.append(
            ProductLine(
                product=part.product,
                contracts=count,
                tonnes=kg_to_tonnes(int(kg or 0)),
                value=fen_to_yuan(int(value or 0)),
                offered_tonnes=kg_to_tonnes(summary["offered_kg"]),
                demanded_tonnes=kg_to_tonnes(summary["demanded_kg"]),
                fill_rate=share(int(kg or 0), summary["demanded_kg"]),
                gains_from_trade=fen_to_yuan(fen_from_kg_fen(summary["gains_kg_fen"])),
                transport_cost=fen_to_yuan(int(transport or 0)),
            )
        )

    # Each grouping sums the run's contracts alone, then joins the few names: joining first would
    # carry every contract's name columns through the sort.
    def grouped(key):
        return select(key.label("key"), *sums, transport_sum).where(of_run).group_by(key).subquery()

    by_cooperative = grouped(contracts.cooperative_id)
    cooperative_rows = session.execute(
        select(
            Cooperative.id,
            Cooperative.name,
            Cooperative.name_zh,
            Cooperative.township,
            Cooperative.poor_households,
            by_cooperative.c.contracts,
            by_cooperative.c.kg,
            by_cooperative.c.value,
            by_cooperative.c.transport,
        )
        .join(by_cooperative, by_cooperative.c.key == Cooperative.id)
        .order_by(by_cooperative.c.value.desc(), Cooperative.id)
    ).all()
    by_buyer = grouped(contracts.buyer_id)
    buyer_rows = session.execute(
        select(Buyer.id, Buyer.name, Buyer.name_zh, by_buyer.c.contracts, by_buyer.c.kg, by_buyer.c.value)
        .join(by_buyer, by_buyer.c.key == Buyer.id)
        .order_by(by_buyer.c.value.desc(), Buyer.id)
    ).all()
    by_agreement = grouped(contracts.agreement_id)
    agreement_rows = session.execute(
        select(
            PurchaseAgreement,
            Buyer.name_zh,
            Cooperative.name_zh,
            by_agreement.c.contracts,
            by_agreement.c.kg,
            by_agreement.c.value,
        )
        .join(by_agreement, by_agreement.c.key == PurchaseAgreement.id)
        .join(Buyer, Buyer.id == PurchaseAgreement.buyer_id)
        .join(Cooperative, Cooperative.id == PurchaseAgreement.cooperative_id)
        .order_by(PurchaseAgreement.id)
    ).all()

    matched_kg = sum(int(kg or 0) for _, kg, _, _ in by_product.values())
    value = sum(int(v or 0) for _, _, v, _ in by_product.values())
    demanded_kg = sum(part.summary["demanded_kg"] for part in parts)
    gains = fen_from_kg_fen(sum(part.summary["gains_kg_fen"] for part in parts))
    baseline_kg = sum(part.summary["baseline"]["kg"] for part in parts)
    baseline_gains = fen_from_kg_fen(sum(part.summary["baseline"]["gains_kg_fen"] for part in parts))
    transport = sum(int(t or 0) for _, _, _, t in by_product.values())
    with_poor = [row for row in cooperative_rows if row.poor_households > 0]
    poor_households = sum(row.poor_households for row in with_poor)
    with_poor_net = sum(int(row[7]) - int(row[8]) for row in with_poor)
    # A part written before parts carried the references (an upgrade in the middle of a run) has them looked up.
    references = order_references(
        session, [item["order_id"] for part in parts for item in part.summary["unmatched"] if "reference" not in item]
    )

    report = MatchReport(
        products=[part.product for part in parts],
        pricing=run.policy.value,
        poverty_weight_per_tonne=fen_to_yuan(run.parameters.get("poverty_weight_fen", 0)),
        totals=Totals(
            contracts=sum(count for count, _, _, _ in by_product.values()),
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
                cooperative_id=row.id,
                name=row.name,
                name_zh=row.name_zh,
                township=row.township,
                registered_poor_households=row.poor_households,
                contracts=row[5],
                tonnes=kg_to_tonnes(int(row[6])),
                value=fen_to_yuan(int(row[7])),
                value_per_poor_household=_per(int(row[7]), row.poor_households),
            )
            for row in cooperative_rows
        ],
        by_buyer=[
            BuyerLine(
                buyer_id=row.id,
                name=row.name,
                name_zh=row.name_zh,
                contracts=row[3],
                tonnes=kg_to_tonnes(int(row[4])),
                value=fen_to_yuan(int(row[5])),
            )
            for row in buyer_rows
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
