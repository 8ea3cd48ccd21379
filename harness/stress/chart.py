"""Line charts as SVG: one panel per metric, one line per series, sharing the time axis.

    svg_text = panels("soak", [Panel("RSS (MiB)", {"worker 0": [(0.0, 41.2), ...]})], marker=12.0)

`marker` draws a dashed vertical line at that time in every panel (the end of the warm-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.stress import svg

WIDTH = 820
PANEL_HEIGHT = 150
LEFT, RIGHT, TOP, GAP = 70, 150, 58, 46

Series = list[tuple[float, float]]


@dataclass
class Panel:
    """One metric: its title and its series by name (points as (seconds, value))."""

    title: str
    series: dict[str, Series]
    note: str = ""


def panels(title: str, charts: list[Panel], marker: float | None = None) -> str:
    """The SVG document: `charts` stacked under `title`."""
    times = [t for chart in charts for points in chart.series.values() for t, _ in points]
    span = (min(times, default=0.0), max(times, default=1.0))
    height = TOP + len(charts) * (PANEL_HEIGHT + GAP)
    elements = [svg.text(LEFT, 22, title, size=14, weight="bold")]
    for n, chart in enumerate(charts):
        elements += _panel(chart, TOP + n * (PANEL_HEIGHT + GAP), span, marker)
    return svg.document(WIDTH, height, elements)


def _panel(chart: Panel, top: float, span: tuple[float, float],
           marker: float | None) -> list[str]:
    values = [v for points in chart.series.values() for _, v in points] or [0.0]
    y_ticks = svg.nice_ticks(0.0, max(max(values), 1.0), 4)
    y_top = max(y_ticks[-1], max(values))
    t0, t1 = span[0], max(span[1], span[0] + 1e-9)
    plot_w = WIDTH - LEFT - RIGHT
    bottom = top + PANEL_HEIGHT

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return bottom - v / y_top * (PANEL_HEIGHT - 10) if y_top else bottom

    parts = [svg.text(LEFT, top - 6, chart.title, weight="bold"),
             svg.line(LEFT, bottom, LEFT + plot_w, bottom, "#444"),
             svg.line(LEFT, top, LEFT, bottom, "#444")]
    if chart.note:
        parts.append(svg.text(LEFT + plot_w, top - 6, chart.note, anchor="end", size=10,
                              fill="#d62728"))
    for tick in y_ticks:
        parts += [svg.line(LEFT - 4, y(tick), LEFT + plot_w, y(tick), "#eee"),
                  svg.text(LEFT - 6, y(tick) + 4, f"{tick:g}", anchor="end", size=10)]
    for tick in svg.nice_ticks(t0, t1, 6):
        parts += [svg.line(x(tick), bottom, x(tick), bottom + 4, "#444"),
                  svg.text(x(tick), bottom + 15, f"{tick:g} s", anchor="middle", size=10)]
    if marker is not None and t0 <= marker <= t1:
        parts.append(svg.line(x(marker), top, x(marker), bottom, "#888", dash="4 3"))
    for k, (name, points) in enumerate(sorted(chart.series.items())):
        colour = svg.PALETTE[k % len(svg.PALETTE)]
        if points:
            parts.append(svg.polyline([(x(t), y(v)) for t, v in points], colour))
        parts.append(svg.text(LEFT + plot_w + 10, top + 14 + 14 * k, name, fill=colour))
    return parts
