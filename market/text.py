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


def _table(headers: list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    """Columns padded to width (counting a CJK character as two), numbers right-aligned."""
    cells = [headers, *rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = []
        for column, (cell, width) in enumerate(zip(row, widths, strict=True)):
            pad = " " * (width - _width(cell))
            parts.append(pad + cell if column >= numeric_from else cell + pad)
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
        *_book("Open supply 供货", summary["supply"], "at the cooperatives' asking prices"),
        "",
        *_book("Open demand 采购订单", summary["demand"], "at the buyers' limit prices"),
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
