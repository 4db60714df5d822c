"""Bar charts as inline SVG, drawn on the server: no JavaScript, no chart library, nothing fetched.

`bar_chart` draws labelled horizontal bars (a label and its figure on one line, the bar
under them). Lengths are percentages of the page's width and text keeps its CSS size,
so a chart stays legible from a phone to a wide screen.
`grouped_bar_chart` draws several series per group (tonnes contracted and delivered, per
month or per product): the group's label, then one thin bar per series with its figure at
the right, under a legend naming the series.
`progress_bar` is one bar measured against a target. All return Markup for templates
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
    done: Decimal | int | str,
    total: Decimal | int | str,
    *,
    label: str,
    text: str,
    tone: str = "a",
    with_text: bool = True,
) -> Markup:
    """One compact bar filled to done / total (say, an agreement's tonnes delivered), its figure beside it.

    Small enough for a table cell; `label` names it for screen readers and on hover. With
    `with_text=False` the bar takes the whole width and the page prints the figure itself
    (where the figure is too long to share the bar's line on a phone).
    """
    tone = tone if tone in TONES else "a"
    title = f"{label}: {text}"
    # The bar takes the left 70% of the width, the figure ends at the right edge.
    track = Decimal(70) if with_text else Decimal(100)
    length = _percent(Decimal(done), Decimal(total)) * track / 100
    figure = f'<text class="figure" x="100%" y="13" text-anchor="end">{escape(text)}</text>' if with_text else ""
    return Markup(
        f'<svg class="chart progress" role="img" width="100%" height="16" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<g class="row tone-{tone}">'
        f'<rect class="track" x="0" y="2" width="{track}%" height="12" rx="3"/>'
        f'<rect class="bar" x="0" y="2" width="{length.quantize(Decimal("0.1"))}%" height="12" rx="3"/>'
        f"{figure}</g></svg>"
    )


@dataclass(frozen=True)
class Series:
    name: str
    tone: str = "a"


@dataclass(frozen=True)
class Group:
    label: str
    values: Sequence[Decimal | int | str]  # one per series, in the chart's order
    texts: Sequence[str]  # each figure as people read it


LEGEND = 24  # px for the legend line
GROUP_LABEL = 18  # px from a group's top to its first bar
SERIES_ROW = 17  # px per series bar in a group
SERIES_BAR = 12
GROUP_GAP = 12
TRACK = Decimal("0.62")  # the bars take the left 62% of the width; the figures end at the right edge


def grouped_bar_chart(
    groups: Sequence[Group], *, series: Sequence[Series], title: str, max_value: Decimal | int | str | None = None
) -> Markup:
    """Groups of horizontal bars, one per series; every bar is measured against the same scale
    (default: the largest value in the chart), so bars compare across groups and series."""
    for group in groups:
        if not len(group.values) == len(group.texts) == len(series):
            raise ValueError(f"group {group.label!r} needs one value and one text per series")
    values = [[Decimal(value) for value in group.values] for group in groups]
    scale = Decimal(max_value) if max_value is not None else max((v for row in values for v in row), default=Decimal(0))
    per_group = GROUP_LABEL + SERIES_ROW * len(series) + GROUP_GAP
    height = LEGEND + per_group * len(groups) - (GROUP_GAP if groups else 0)
    tones = [item.tone if item.tone in TONES else "a" for item in series]
    parts = [
        f'<svg class="chart grouped" role="img" width="100%" height="{height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        '<g class="legend">',
    ]
    share = Decimal(100) / max(len(series), 1)
    for index, (item, tone) in enumerate(zip(series, tones, strict=True)):
        left = (share * index).quantize(Decimal("0.1"))
        parts += [
            f'<g class="row tone-{tone}">',
            f'<rect class="bar" x="{left}%" y="3" width="12" height="12" rx="2"/>',
            f'<text class="label" x="{left}%" dx="17" y="14">{escape(item.name)}</text>',
            "</g>",
        ]
    parts.append("</g>")
    for index, (group, row) in enumerate(zip(groups, values, strict=True)):
        top = LEGEND + index * per_group
        parts.append(f'<text class="label group" x="0" y="{top + 13}">{escape(group.label)}</text>')
        for position, (item, tone, value, text) in enumerate(zip(series, tones, row, group.texts, strict=True)):
            y = top + GROUP_LABEL + position * SERIES_ROW
            length = (_percent(value, scale) * TRACK).quantize(Decimal("0.1"))
            parts += [
                f'<g class="row tone-{tone}">',
                f'<rect class="track" x="0" y="{y}" width="{TRACK * 100:.0f}%" height="{SERIES_BAR}" rx="2"/>',
                f'<rect class="bar" x="0" y="{y}" width="{length}%" height="{SERIES_BAR}" rx="2">'
                f"<title>{escape(group.label)} · {escape(item.name)}: {escape(text)}</title></rect>",
                f'<text class="figure" x="100%" y="{y + 11}" text-anchor="end">{escape(text)}</text>',
                "</g>",
            ]
    parts.append("</svg>")
    return Markup("".join(parts))


JINJA_GLOBALS = {
    "bar_chart": bar_chart,
    "grouped_bar_chart": grouped_bar_chart,
    "progress_bar": progress_bar,
    "Bar": Bar,
    "Group": Group,
    "Series": Series,
}
