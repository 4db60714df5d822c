"""Plain-text rendering for the terminal: the demo's market summary."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from market.models.common import Product
from market.units import fen_to_yuan, kg_to_tonnes

PRODUCT_NAMES = {
    Product.apple: "apple 苹果",
    Product.vegetable: "vegetable 蔬菜",
    Product.egg: "egg 鸡蛋",
    Product.sichuan_pepper: "Sichuan pepper 花椒",
    Product.potato: "potato 马铃薯",
}


def _table(
    headers: list[str], rows: list[list[str]], numeric_from: int = 1, numeric_to: int | None = None
) -> list[str]:
    """Columns padded to width (counting a CJK character as two), numbers right-aligned."""
    cells = [headers, *rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = []
        for column, (cell, width) in enumerate(zip(row, widths, strict=True)):
            pad = " " * (width - _width(cell))
            numeric = column >= numeric_from and (numeric_to is None or column < numeric_to)
            parts.append(pad + cell if numeric else cell + pad)
        lines.append("  " + "  ".join(parts).rstrip())
        if index == 0:
            lines.append("  " + "  ".join("-" * width for width in widths))
    return lines


def _width(text: str) -> int:
    return sum(2 if ord(char) > 0x2E80 else 1 for char in text)


def _tonnes(kg: int) -> str:
    return f"{Decimal(kg_to_tonnes(kg)):,}"


def _yuan(fen: int) -> str:
    return f"{Decimal(fen_to_yuan(fen)):,}"


def _yuan_millions(fen: int) -> str:
    return f"{(Decimal(fen) / 100_000_000).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} million"


def _book(title: str, rows: list[dict[str, Any]], price_label: str) -> list[str]:
    body = [
        [PRODUCT_NAMES[row["product"]], str(row["lots"]), _tonnes(row["kg"]), _yuan(row["value_fen"])] for row in rows
    ]
    total_kg = sum(row["kg"] for row in rows)
    total_fen = sum(row["value_fen"] for row in rows)
    body.append(["total", str(sum(row["lots"] for row in rows)), _tonnes(total_kg), _yuan(total_fen)])
    return [
        f"{title}: {_tonnes(total_kg)} t, worth {_yuan_millions(total_fen)} yuan {price_label}",
        *_table(["product", "lots", "tonnes", "value, yuan"], body),
    ]


def render_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['cooperatives']} cooperatives in Zhaoyang ({summary['poor_households']} registered poor"
        f" households 建档立卡户), {summary['buyers']} buyers in the east.",
        "",
        *_book("Open supply 供货", summary["supply"], "at the cooperatives' asking prices (farm gate)"),
        "",
        *_book("Open demand 采购订单", summary["demand"], "at the buyers' limit prices (delivered)"),
        "",
        "Purchase agreements 采购协议",
    ]
    agreement_rows = [
        [
            f"{row['buyer_zh']} <- {row['cooperative_zh']}",
            PRODUCT_NAMES[row["product"]],
            _tonnes(row["kg"]),
            _yuan(row["price_fen"]),
            _tonnes(row["called_off_kg"]),
            _tonnes(row["contracted_kg"]),
            _tonnes(row["delivered_kg"]),
        ]
        for row in summary["agreements"]
    ]
    lines += _table(
        ["buyer <- seller", "product", "tonnes", "yuan/t", "called off", "contracted", "delivered"],
        agreement_rows,
        numeric_from=2,
    )
    return "\n".join(lines)


def _t(tonnes: str) -> str:
    return f"{Decimal(tonnes):,}"


def _y(yuan: str | None) -> str:
    return "-" if yuan is None else f"{Decimal(yuan):,}"


def _pct(share: str | None) -> str:
    return "-" if share is None else f"{(Decimal(share) * 100).quantize(Decimal('0.1'))}%"


REASONS = {
    "no_supply_of_grade": "no supply of that grade",
    "windows_do_not_meet": "windows do not meet",
    "price_gap": "price gap (ask + freight >= bid)",
    "supply_exhausted": "supply exhausted",
}


def render_match_report(run_id: int, status: str, report: dict[str, Any]) -> str:
    """The match report as tables, for the terminal."""
    totals = report["totals"]
    lines = [
        f"Match run {run_id} ({status}), {report['pricing']} pricing, poverty weight "
        f"{report['poverty_weight_per_tonne']} yuan/t",
        f"Matched {_t(totals['tonnes'])} t of {_t(totals['demanded_tonnes'])} t demanded ({_pct(totals['fill_rate'])})"
        f" in {totals['contracts']} contracts worth {_y(totals['value'])} yuan; gains from trade"
        f" {_y(totals['gains_from_trade'])} yuan after {_y(totals['transport_cost'])} yuan of freight.",
        "",
        "By product",
        *_table(
            ["product", "offered t", "demanded t", "matched t", "fill", "value, yuan", "gains, yuan"],
            [
                [
                    PRODUCT_NAMES[row["product"]],
                    _t(row["offered_tonnes"]),
                    _t(row["demanded_tonnes"]),
                    _t(row["tonnes"]),
                    _pct(row["fill_rate"]),
                    _y(row["value"]),
                    _y(row["gains_from_trade"]),
                ]
                for row in report["by_product"]
            ],
        ),
    ]
    if report["by_agreement"]:
        lines += [
            "",
            "Purchase agreements 采购协议",
            *_table(
                ["buyer <- seller", "agreed t", "this run t", "contracted t", "fulfilled", "value, yuan"],
                [
                    [
                        f"{row['buyer']} <- {row['cooperative']}",
                        _t(row["agreement_tonnes"]),
                        _t(row["tonnes"]),
                        _t(row["contracted_tonnes"]),
                        _pct(row["fulfilled_share"]),
                        _y(row["value"]),
                    ]
                    for row in report["by_agreement"]
                ],
            ),
        ]
    comparison = report["comparison"]
    optimum, baseline = comparison["optimum"], comparison["baseline"]
    lines += [
        "",
        "Optimum vs first come, first served",
        *_table(
            ["", "tonnes", "fill", "value, yuan", "gains from trade, yuan"],
            [
                [
                    "optimum",
                    _t(optimum["tonnes"]),
                    _pct(optimum["fill_rate"]),
                    _y(optimum["value"]),
                    _y(optimum["gains_from_trade"]),
                ],
                [
                    "first come, first served",
                    _t(baseline["tonnes"]),
                    _pct(baseline["fill_rate"]),
                    _y(baseline["value"]),
                    _y(baseline["gains_from_trade"]),
                ],
            ],
        ),
        f"  Optimisation adds {_y(comparison['extra_gains_from_trade'])} yuan of gains from trade"
        f" (first come, first served reaches {_pct(comparison['baseline_share_of_optimum'])} of the optimum).",
        "",
        "Cooperatives 合作社",
        *_table(
            ["cooperative", "township", "tonnes", "value, yuan", "poor households", "yuan per household"],
            [
                [
                    row["name_zh"],
                    row["township"],
                    _t(row["tonnes"]),
                    _y(row["value"]),
                    str(row["registered_poor_households"]),
                    _y(row["value_per_poor_household"]),
                ]
                for row in report["by_cooperative"]
            ],
            numeric_from=2,
        ),
        "",
        "Buyers 采购方",
        *_table(
            ["buyer", "tonnes", "value, yuan"],
            [[row["name_zh"], _t(row["tonnes"]), _y(row["value"])] for row in report["by_buyer"]],
        ),
    ]
    poverty = report["poverty"]
    lines += [
        "",
        f"带贫 The cooperatives receive {_y(poverty['revenue_to_cooperatives'])} yuan delivered and keep"
        f" {_y(poverty['net_to_cooperatives'])} yuan after {_y(poverty['freight'])} yuan of freight;",
        f"   those with registered poor households keep {_y(poverty['net_to_cooperatives_with_poor_households'])}"
        f" yuan for {poverty['registered_poor_households']:,} households:"
        f" {_y(poverty['net_per_poor_household'])} yuan per household.",
    ]
    unmatched = report["unmatched_orders"]
    if unmatched:
        lines += [
            "",
            f"Unmatched orders ({len(unmatched)})",
            *_table(
                ["order", "product", "tonnes unmatched", "reason"],
                [
                    [
                        row["reference"] or f"#{row['order_id']}",
                        PRODUCT_NAMES[row["product"]],
                        _t(row["tonnes_unmatched"]),
                        REASONS.get(row["reason"], row["reason"]),
                    ]
                    for row in unmatched
                ],
                numeric_from=2,
                numeric_to=3,
            ),
        ]
    lines += [
        "",
        "Solver",
        *_table(
            ["product", "phase", "network", "nodes", "arcs", "ms"],
            [
                [
                    PRODUCT_NAMES[row["product"]],
                    row["phase"],
                    row["network"],
                    str(row["nodes"]),
                    str(row["arcs"]),
                    str(row["milliseconds"]),
                ]
                for row in report["solver"]
            ],
            numeric_from=3,
        ),
    ]
    return "\n".join(lines)


def render_ledger(by_product: dict[str, Any], poverty: dict[str, Any], agreements: list[dict[str, Any]]) -> str:
    """After deliveries: the summary report by product, agreements' fulfilment and 带贫 by township."""
    totals = by_product["totals"]
    lines = [
        f"Delivered {_t(totals['tonnes_delivered'])} t of {_t(totals['tonnes_contracted'])} t contracted;"
        f" revenue earned {_y(totals['revenue_earned'])} yuan of {_y(totals['revenue_contracted'])} contracted.",
        *_table(
            ["product", "offered t", "contracted t", "delivered t", "contracted, yuan", "earned, yuan"],
            [
                [
                    PRODUCT_NAMES[row["key"]],
                    _t(row["tonnes_offered"]),
                    _t(row["tonnes_contracted"]),
                    _t(row["tonnes_delivered"]),
                    _y(row["revenue_contracted"]),
                    _y(row["revenue_earned"]),
                ]
                for row in by_product["rows"]
            ],
        ),
        "",
        "Purchase agreements 采购协议",
        *_table(
            ["reference", "agreed t", "delivered t", "fulfilled", "revenue, yuan", "days left", "pace"],
            [
                [
                    row["reference"] or f"#{row['id']}",
                    _t(row["tonnes"]),
                    _t(row["tonnes_delivered"]),
                    _pct(row["fulfilled_share"]),
                    _y(row["revenue"]),
                    str(row["days_left"]),
                    "behind" if row["behind_pace"] else "on pace",
                ]
                for row in agreements
            ],
            numeric_from=1,
            numeric_to=6,
        ),
        "",
        "带贫 Revenue earned by township",
        *_table(
            ["township", "cooperatives", "poor households", "earned, yuan", "per poor household, yuan"],
            [
                [
                    f"{row['township_zh'] or ''} {row['township']}".strip(),
                    str(row["cooperatives"]),
                    f"{row['registered_poor_households']:,}",
                    _y(row["revenue_earned"]),
                    _y(row["revenue_per_poor_household"]),
                ]
                for row in [*poverty["rows"], poverty["totals"]]
            ],
        ),
    ]
    return "\n".join(lines)
