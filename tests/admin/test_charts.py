"""The SVG bar charts the console draws on the server."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from market.admin.charts import Bar, Group, Series, bar_chart, grouped_bar_chart, progress_bar


def _widths(svg: str) -> list[str]:
    return re.findall(r'<rect class="bar" x="0" y="\d+" width="([\d.]+)%"', svg)


def test_bars_are_proportional_to_the_largest():
    svg = bar_chart(
        [Bar("optimum", Decimal("13300"), "13,300 t"), Bar("fcfs", "9975", "9,975 t", "b"), Bar("none", 0, "0 t")],
        title="Tonnes",
    )
    assert _widths(svg) == ["100.0", "75.0", "0"]
    assert svg.startswith('<svg class="chart" role="img" width="100%" height="')
    assert "<title>Tonnes</title>" in svg and 'aria-label="Tonnes"' in svg
    assert 'class="row tone-a"' in svg and 'class="row tone-b"' in svg
    assert ">13,300 t</text>" in svg and ">fcfs</text>" in svg


def test_a_fixed_scale_clamps_and_nothing_is_negative():
    bars = [Bar("a", "150", "150"), Bar("b", "-5", "-5"), Bar("c", "0.001", "0.001")]
    svg = bar_chart(bars, title="t", max_value=100)
    assert _widths(svg) == ["100.0", "0", "0.0"]
    assert _widths(bar_chart([Bar("a", "5", "5")], title="t", max_value=0)) == ["0"]
    assert bar_chart([], title="empty").count("<rect") == 0


def test_text_is_escaped():
    svg = bar_chart([Bar('<script>alert("x")</script>', 1, "1 & 2", "zz")], title='"quoted" <title>')
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "1 &amp; 2" in svg
    assert 'aria-label="&#34;quoted&#34; &lt;title&gt;"' in svg
    assert "tone-a" in svg  # an unknown tone falls back to the first colour


def test_a_progress_bar_fills_to_its_share():
    svg = progress_bar("45", "60", label="Delivered", text="75.0%")
    assert 'width="52.5%"' in svg  # 75% of the 70% the track takes
    assert 'aria-label="Delivered: 75.0%"' in svg and ">75.0%</text>" in svg
    assert 'width="70.0%"' in progress_bar("90", "60", label="Over", text="150%")  # clamped to a full track


def test_a_progress_bar_without_its_figure_takes_the_whole_width():
    svg = progress_bar(30, 60, label="Delivered", text="30 of 60 t", with_text=False)
    assert 'class="track" x="0" y="2" width="100%"' in svg and 'class="bar" x="0" y="2" width="50.0%"' in svg
    assert "<text" not in svg
    assert 'aria-label="Delivered: 30 of 60 t"' in svg  # still named for screen readers and on hover


SERIES = [Series("Contracted", "c"), Series("Delivered", "a")]


def _grouped_widths(svg: str) -> list[str]:
    return re.findall(r'<rect class="bar" x="0" y="\d+" width="([\d.]+)%"', svg)


def test_grouped_bars_share_one_scale_across_groups_and_series():
    svg = grouped_bar_chart(
        [
            Group("2020-10", [100_000, 39_500], ["100 t", "39.5 t"]),
            Group("2020-11", [0, 30_000], ["0 t", "30 t"]),
        ],
        series=SERIES,
        title="Tonnes by month",
    )
    # Bars take 62% of the width at most; the largest value (100 t) fills it.
    assert _grouped_widths(svg) == ["62.0", "24.5", "0.0", "18.6"]
    assert svg.startswith('<svg class="chart grouped" role="img" width="100%" height="')
    assert 'aria-label="Tonnes by month"' in svg and "<title>Tonnes by month</title>" in svg
    # A legend names each series in its colour, and each bar says what it is.
    assert '<g class="legend"><g class="row tone-c">' in svg
    assert '<text class="label" x="0.0%" dx="17" y="14">Contracted</text>' in svg
    assert '<text class="label" x="50.0%" dx="17" y="14">Delivered</text>' in svg
    assert "<title>2020-10 · Delivered: 39.5 t</title>" in svg
    assert '<text class="label group" x="0" y="' in svg and ">2020-11</text>" in svg
    assert svg.count('text-anchor="end">') == 4
    # Height: the legend, then a label line and one bar line per series for each group.
    height = int(re.search(r'height="(\d+)"', svg).group(1))
    assert height == 24 + 2 * (18 + 2 * 17 + 12) - 12


def test_grouped_bars_clamp_and_escape():
    svg = grouped_bar_chart(
        [Group("<b>", ["150", "-5"], ["150 & more", "-5"])],
        series=[Series("a<", "zz"), Series("b", "b")],
        title='"t"',
        max_value=100,
    )
    assert _grouped_widths(svg) == ["62.0", "0.0"]
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "150 &amp; more" in svg and "a&lt;" in svg
    assert "tone-zz" not in svg and 'class="row tone-a"' in svg  # an unknown tone falls back to the first colour


def test_an_empty_grouped_chart_is_only_its_legend():
    svg = grouped_bar_chart([], series=SERIES, title="Nothing")
    assert _grouped_widths(svg) == [] and 'height="24"' in svg
    zeros = grouped_bar_chart([Group("x", [0, 0], ["0", "0"])], series=SERIES, title="zeros")
    assert _grouped_widths(zeros) == ["0.0", "0.0"]  # nothing to scale against: empty bars, no division by zero


def test_each_group_needs_a_value_and_a_text_per_series():
    with pytest.raises(ValueError, match="one value and one text per series"):
        grouped_bar_chart([Group("x", [1], ["1"])], series=SERIES, title="t")
