"""The SVG bar charts the console draws on the server."""

from __future__ import annotations

import re
from decimal import Decimal

from market.admin.charts import Bar, bar_chart, progress_bar


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
