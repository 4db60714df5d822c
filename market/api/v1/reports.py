"""/api/v1/reports: tonnage and revenue, grouped, as JSON, CSV or XLSX; and the poverty-alleviation figures."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from flask import Response
from pydantic import ConfigDict, Field

from market.api.blueprints import v1_blueprint
from market.api.http import RequestPart, allow, current_actor, db, respond
from market.exports import Column, Sheet, to_csv, to_xlsx
from market.models.common import Day, Role
from market.models.report import FiguresPublic, PovertyPublic, PovertyRow, SummaryPublic, SummaryRow
from market.services import reports
from market.services.errors import Invalid
from market.services.reports import GroupBy

reports_api = v1_blueprint(
    "reports",
    "/reports",
    "Reports",
    "Offered, contracted and delivered tonnes and revenue. Cooperatives see their own, buyers theirs, admins all.",
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Format(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class PeriodQuery(RequestPart):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: Day | None = Field(default=None, alias="from", description="First day counted (inclusive).")
    date_to: Day | None = Field(default=None, alias="to", description="Last day counted (inclusive).")
    format: Format = Format.json

    def checked(self) -> PeriodQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise Invalid.field("to", "must not be before from")
        return self


class SummaryQuery(PeriodQuery):
    group_by: GroupBy = GroupBy.product


def _file_responses(schema: str) -> dict:
    return {
        200: {
            "description": "The report: JSON, or a file when format=csv or format=xlsx.",
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


GROUP_COLUMNS = {
    GroupBy.product: Column("产品", "Product"),
    GroupBy.cooperative: Column("合作社", "Cooperative"),
    GroupBy.buyer: Column("采购方", "Buyer"),
    GroupBy.agreement: Column("采购协议", "Agreement"),
    GroupBy.township: Column("乡镇", "Township"),
    GroupBy.month: Column("月份", "Month"),
}
FIGURE_COLUMNS = [
    Column("供货吨数", "Tonnes offered", "tonnes"),
    Column("合同吨数", "Tonnes contracted", "tonnes"),
    Column("交付吨数", "Tonnes delivered", "tonnes"),
    Column("合同金额(元)", "Revenue contracted (yuan)", "yuan"),
    Column("实收金额(元)", "Revenue earned (yuan)", "yuan"),
]
POVERTY_COLUMNS = [
    Column("乡镇", "Township"),
    Column("乡镇(中文)", "Township (Chinese)"),
    Column("合作社数", "Cooperatives", "count"),
    Column("建档立卡户", "Registered poor households", "count"),
    Column("实收金额(元)", "Revenue earned (yuan)", "yuan"),
    Column("带贫合作社收入(元)", "Revenue to cooperatives with poor households (yuan)", "yuan"),
    Column("户均收入(元)", "Revenue per poor household (yuan)", "yuan"),
]
FIGURE_KEYS = ["tonnes_offered", "tonnes_contracted", "tonnes_delivered", "revenue_contracted", "revenue_earned"]


def summary_sheet(result: reports.Summary) -> Sheet:
    """The summary report as a sheet: a row per group, then the totals."""
    label = GROUP_COLUMNS[result.group_by]
    return Sheet(
        title=f"{label.zh} {label.en}",
        columns=[label, Column("名称", "Name"), *FIGURE_COLUMNS],
        rows=[[row.key, row.name_zh or row.name, *_figure_cells(row.figures)] for row in result.rows]
        + [["合计 Total", None, *_figure_cells(result.totals)]],
    )


def _figure_cells(figures: reports.Figures) -> list[str]:
    """A row's figures as the API's decimal strings, in the order of FIGURE_COLUMNS."""
    values = FiguresPublic.values(figures)
    return [values[key] for key in FIGURE_KEYS]


def poverty_sheet(towns: list[reports.TownshipRow], total: reports.TownshipRow) -> Sheet:
    """The poverty report as a sheet: a row per township, then the total."""
    return Sheet(
        title="带贫 Poverty alleviation",
        columns=POVERTY_COLUMNS,
        rows=[
            [
                row.township,
                row.township_zh,
                row.cooperatives,
                row.registered_poor_households,
                row.revenue_earned,
                row.revenue_to_cooperatives_with_poor_households,
                row.revenue_per_poor_household,
            ]
            for row in (PovertyRow.of(town) for town in [*towns, total])
        ],
    )


def report_file(sheet: Sheet, fmt: str, stem: str, date_from: date | None, date_to: date | None) -> Response:
    """A report as a CSV or XLSX download, named after the report and its period (API and console alike)."""
    body, mimetype = (to_csv(sheet), "text/csv") if fmt == Format.csv else (to_xlsx(sheet), XLSX)
    response = Response(body, mimetype=mimetype)
    name = f"{stem}-{date_from or 'start'}_{date_to or 'end'}.{fmt}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@reports_api.get("/summary", responses=_file_responses("SummaryPublic"))
@allow(Role.admin, Role.cooperative, Role.buyer)
def summary_report(query: SummaryQuery):
    """Offered, contracted and delivered tonnes with revenue contracted and earned, by group_by."""
    query.checked()
    result = reports.summary(
        db(), actor=current_actor(), group_by=query.group_by, date_from=query.date_from, date_to=query.date_to
    )
    if query.format == Format.json:
        rows = [
            SummaryRow(key=row.key, name=row.name, name_zh=row.name_zh, **FiguresPublic.values(row.figures))
            for row in result.rows
        ]
        body = SummaryPublic(
            group_by=result.group_by.value,
            date_from=result.date_from,
            date_to=result.date_to,
            rows=rows,
            totals=FiguresPublic(**FiguresPublic.values(result.totals)),
        )
        return respond(body)
    return report_file(
        summary_sheet(result), query.format, f"market-summary-{query.group_by.value}", query.date_from, query.date_to
    )


@reports_api.get("/poverty", responses=_file_responses("PovertyPublic"))
@allow(Role.admin, Role.cooperative, Role.buyer)
def poverty_report(query: PeriodQuery):
    """带贫: revenue earned per township, the part reaching cooperatives with registered poor households,
    and that part per registered poor household."""
    query.checked()
    towns, total = reports.poverty(db(), actor=current_actor(), date_from=query.date_from, date_to=query.date_to)
    if query.format == Format.json:
        rows = [PovertyRow.of(town) for town in towns]
        return respond(
            PovertyPublic(date_from=query.date_from, date_to=query.date_to, rows=rows, totals=PovertyRow.of(total))
        )
    return report_file(poverty_sheet(towns, total), query.format, "market-poverty", query.date_from, query.date_to)
