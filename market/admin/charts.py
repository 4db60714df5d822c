"""Bar charts as inline SVG, drawn on the server: no JavaScript, no chart library, nothing fetched.

`bar_chart` draws labelled horizontal bars (a label and its figure on one line, the bar
under them). Lengths are percentages of the page's width and text keeps its CSS size,
so a chart stays legible from a phone to a wide screen.
`progress_bar` is one bar measured against a target. Both return Markup for templates
(registered as Jinja globals) and are plain functions for tests. Colours come from the
stylesheet (`.chart .tone-a` …), so pages keep a strict Content-Security-Policy.

    bar_chart([Bar("最优", Decimal("13300"), "13,300 t"), Bar("先到先得", Decimal("12000"), "12,000 t", "b")],
              title="Tonnes matched")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup, escape

ROW = 46  # px for one bar: its text line, the bar, and the gap below
BAR_TOP = 21
BAR_HEIGHT = 15
TONES = ("a", "b", "c", "d", "e")


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal | int | str
    text: str  # the figure as people read it ("13,300 t"), drawn at the end of the label line
    tone: str = "a"  # which series colour: a, b, c, d or e


def _percent(value: Decimal, scale: Decimal) -> Decimal:
    """How much of the width a bar takes, in percent to one decimal (only the drawing is rounded)."""
    if scale <= 0 or value <= 0:
        return Decimal(0)
    return min(Decimal(100), 100 * value / scale).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def bar_chart(bars: Sequence[Bar], *, title: str, max_value: Decimal | int | str | None = None) -> Markup:
    """Horizontal bars, longest = `max_value` (default: the largest bar), with an accessible title."""
    values = [Decimal(bar.value) for bar in bars]
    scale = Decimal(max_value) if max_value is not None else max(values, default=Decimal(0))
    height = max(ROW * len(bars) - (ROW - BAR_TOP - BAR_HEIGHT), 1)
    # Widths in percent and no viewBox: the bars stretch with the page, the text keeps its size.
    parts = [
        f'<svg class="chart" role="img" width="100%" height="{height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (bar, value) in enumerate(zip(bars, values, strict=True)):
        top = index * ROW
        tone = bar.tone if bar.tone in TONES else "a"
        parts += [
            f'<g class="row tone-{tone}">',
            f'<text class="label" x="0" y="{top + 14}">{escape(bar.label)}</text>',
            f'<text class="figure" x="100%" y="{top + 14}" text-anchor="end">{escape(bar.text)}</text>',
            f'<rect class="track" x="0" y="{top + BAR_TOP}" width="100%" height="{BAR_HEIGHT}" rx="3"/>',
            f'<rect class="bar" x="0" y="{top + BAR_TOP}" width="{_percent(value, scale)}%" height="{BAR_HEIGHT}" '
            f'rx="3"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>',
            "</g>",
        ]
    parts.append("</svg>")
    return Markup("".join(parts))


def progress_bar(
    done: Decimal | int | str, total: Decimal | int | str, *, label: str, text: str, tone: str = "a"
) -> Markup:
    """One compact bar filled to done / total (say, an agreement's tonnes delivered), its figure beside it.

    Small enough for a table cell; `label` names it for screen readers and on hover.
    """
    tone = tone if tone in TONES else "a"
    title = f"{label}: {text}"
    # The bar takes the left 70% of the width, the figure ends at the right edge.
    length = _percent(Decimal(done), Decimal(total)) * Decimal("0.7")
    return Markup(
        f'<svg class="chart progress" role="img" width="100%" height="16" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<g class="row tone-{tone}">'
        f'<rect class="track" x="0" y="2" width="70%" height="12" rx="3"/>'
        f'<rect class="bar" x="0" y="2" width="{length.quantize(Decimal("0.1"))}%" height="12" rx="3"/>'
        f'<text class="figure" x="100%" y="13" text-anchor="end">{escape(text)}</text>'
        "</g></svg>"
    )


JINJA_GLOBALS = {"bar_chart": bar_chart, "progress_bar": progress_bar, "Bar": Bar}
