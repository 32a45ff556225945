"""Bar charts as SVG geometry, computed here and drawn by a template.

>>> chart = bar_chart([("08h", 10), ("09h", 30)], width=200, height=100)
>>> [round(bar.height) for bar in chart.bars]
[20, 60]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    baseline: float
    maximum: float
    bars: tuple[Bar, ...]


def bar_chart(
    points: Sequence[tuple[str, float]], width: int = 640, height: int = 200, margin: int = 20
) -> BarChart:
    """Lay out one bar per point, scaled so the tallest fills the plot area."""
    maximum = max((value for _, value in points), default=0.0)
    plot_height = height - 2 * margin
    slot = (width - margin) / max(1, len(points))
    bars = []
    for index, (label, value) in enumerate(points):
        bar_height = 0.0 if maximum <= 0 else plot_height * value / maximum
        bars.append(
            Bar(
                label=label,
                value=value,
                x=margin + index * slot + slot * 0.1,
                y=height - margin - bar_height,
                width=slot * 0.8,
                height=bar_height,
            )
        )
    return BarChart(width, height, height - margin, maximum, tuple(bars))
