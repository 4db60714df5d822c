"""The shapes of the summary and poverty-alleviation reports in the API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from market.models.common import TonnesOut, YuanOut
from market.units import fen_to_yuan, kg_to_tonnes


class FiguresPublic(BaseModel):
    tonnes_offered: TonnesOut = Field(description="Posted, less what was withdrawn; dated by availability.")
    tonnes_contracted: TonnesOut = Field(description="Approved contracts (closed-short ones at what was accepted).")
    tonnes_delivered: TonnesOut = Field(description="Accepted at the weighbridge; dated by shipping day.")
    revenue_contracted: YuanOut
    revenue_earned: YuanOut = Field(description="Accepted tonnes x contract price.")

    @staticmethod
    def values(figures) -> dict[str, str]:
        """A services.reports.Figures as the API's decimal strings."""
        return {
            "tonnes_offered": kg_to_tonnes(figures.offered_kg),
            "tonnes_contracted": kg_to_tonnes(figures.contracted_kg),
            "tonnes_delivered": kg_to_tonnes(figures.delivered_kg),
            "revenue_contracted": fen_to_yuan(figures.contracted_fen),
            "revenue_earned": fen_to_yuan(figures.earned_fen),
        }


class SummaryRow(FiguresPublic):
    key: str = Field(description="The group: a product, a cooperative/buyer/agreement id, a township, a YYYY-MM month.")
    name: str | None = None
    name_zh: str | None = None


class SummaryPublic(BaseModel):
    group_by: str
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")
    rows: list[SummaryRow]
    totals: FiguresPublic

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class PovertyRow(BaseModel):
    township: str
    township_zh: str | None
    cooperatives: int = Field(description="Cooperatives of the township that earned revenue in the period.")
    registered_poor_households: int = Field(description="建档立卡户 in those cooperatives.")
    revenue_earned: YuanOut
    revenue_to_cooperatives_with_poor_households: YuanOut
    revenue_per_poor_household: YuanOut | None

    @classmethod
    def of(cls, town) -> PovertyRow:
        """A services.reports.TownshipRow as the API shows it."""
        per = town.per_poor_household_fen
        return cls(
            township=town.township,
            township_zh=town.township_zh,
            cooperatives=town.cooperatives,
            registered_poor_households=town.registered_poor_households,
            revenue_earned=fen_to_yuan(town.earned_fen),
            revenue_to_cooperatives_with_poor_households=fen_to_yuan(town.earned_with_poor_fen),
            revenue_per_poor_household=None if per is None else fen_to_yuan(per),
        )


class PovertyPublic(BaseModel):
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")
    rows: list[PovertyRow]
    totals: PovertyRow

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
