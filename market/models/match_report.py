"""The report of a match run: what the admin reviews before approving, the same in the API and the CLI.

Tonnes and yuan are decimal strings, as everywhere in the API; shares are decimal
strings with four places ("0.8731").
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from market.models.common import Product, TonnesOut, YuanOut

Share = str


class Matched(BaseModel):
    contracts: int
    tonnes: TonnesOut
    value: YuanOut = Field(description="What the buyers pay the cooperatives, delivered.")


class ProductLine(Matched):
    product: Product
    offered_tonnes: TonnesOut = Field(description="Open supply the run saw.")
    demanded_tonnes: TonnesOut = Field(description="Open demand the run saw.")
    fill_rate: Share
    gains_from_trade: YuanOut
    transport_cost: YuanOut


class CooperativeLine(Matched):
    cooperative_id: int
    name: str
    name_zh: str
    township: str
    registered_poor_households: int
    value_per_poor_household: YuanOut | None


class BuyerLine(Matched):
    buyer_id: int
    name: str
    name_zh: str


class AgreementLine(Matched):
    agreement_id: int
    reference: str | None
    buyer: str
    cooperative: str
    agreement_tonnes: TonnesOut
    contracted_tonnes: TonnesOut = Field(description="On the agreement after this run, approved or proposed.")
    fulfilled_share: Share = Field(description="contracted_tonnes / agreement_tonnes.")


class UnmatchedOrder(BaseModel):
    order_id: int
    reference: str | None = Field(description="The buyer's own order number, if it gave one.")
    buyer_id: int
    agreement_id: int | None
    product: Product
    tonnes_unmatched: TonnesOut
    reason: str = Field(
        description="no_supply_of_grade | windows_do_not_meet | price_gap | supply_exhausted",
        examples=["price_gap"],
    )


class Outcome(BaseModel):
    tonnes: TonnesOut
    value: YuanOut
    gains_from_trade: YuanOut
    fill_rate: Share


class Comparison(BaseModel):
    method: str = "first_come_first_served"
    description: str = (
        "Agreement call-offs first, then each order in arrival order, filled from the cheapest eligible offers."
    )
    optimum: Outcome
    baseline: Outcome
    extra_gains_from_trade: YuanOut = Field(description="Optimum minus baseline.")
    baseline_share_of_optimum: Share | None


class Poverty(BaseModel):
    """带贫: what the run brings the cooperatives, and the registered poor households among their members."""

    revenue_to_cooperatives: YuanOut = Field(description="Contract value, delivered.")
    freight: YuanOut = Field(description="Estimated freight the cooperatives pay out of it.")
    net_to_cooperatives: YuanOut = Field(description="Revenue less freight: what reaches the cooperatives.")
    net_to_cooperatives_with_poor_households: YuanOut
    registered_poor_households: int = Field(description="In the cooperatives that won contracts in this run.")
    net_per_poor_household: YuanOut | None


class SolverLine(BaseModel):
    product: Product
    phase: str = Field(description="agreements or open market")
    solver: str
    network: str
    nodes: int
    arcs: int
    milliseconds: int


class Totals(Matched):
    offered_tonnes: TonnesOut
    demanded_tonnes: TonnesOut
    fill_rate: Share
    gains_from_trade: YuanOut
    transport_cost: YuanOut


class MatchReport(BaseModel):
    products: list[Product]
    pricing: str
    poverty_weight_per_tonne: YuanOut
    totals: Totals
    by_product: list[ProductLine]
    by_cooperative: list[CooperativeLine]
    by_buyer: list[BuyerLine]
    by_agreement: list[AgreementLine]
    poverty: Poverty
    comparison: Comparison
    unmatched_orders: list[UnmatchedOrder]
    solver: list[SolverLine] = Field(description="Timings differ from run to run; everything else is reproducible.")
