"""Small SVG charts for the HTML report, drawn here so the report needs nothing else to open.

    line_chart([Line("ops/s", [(0, 10), (5, 12)])], title="Throughput", x_label="s", y_label="ops/s")
    bar_chart(["grow", "write"], {"crash": [1, 0], "divergence": [0, 2]}, title="Faults per op kind")
    bar_chart(["N=0", "N=16"], {"ref/floor": [1.2, 2.3]}, title="...", y_label="x", rules=[(3, "limit 3x")])

Every function returns one `<svg>` element as text, with a `<title>` and an `aria-label`; all
text is escaped. A chart without data is a frame saying so (never an error).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 40


@dataclass
class Line:
    name: str
    points: list[tuple[float, float]]
    color: str | None = None


def number(value: float) -> str:
    """A short label: 950, 1.2k, 3.4M."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if magnitude < 100 else f"{value:.0f}"


def mebibytes(value: float) -> str:
    return f"{value / (1 << 20):.0f} MiB" if value >= 1 << 20 else f"{value / 1024:.0f} KiB"


def duration(seconds: float) -> str:
    """A time-axis label: 45s, 12m, 2.5h."""
    if abs(seconds) < 120:
        return f"{seconds:.3g}s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.3g}m"
    return f"{seconds / 3600:.3g}h"


TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About `count` round times (whole seconds, minutes or hours) covering [low, high]."""
    span = max(high - low, 1.0)
    step = next((s for s in TIME_STEPS if span / s <= count), TIME_STEPS[-1])
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


def nice_ticks(low: float, high: float, count: int = 5, whole: bool = False) -> list[float]:
    """About `count` round values covering [low, high] (whole numbers only, if `whole`)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    if whole:
        step = max(1.0, math.ceil(step))
    first = math.floor(low / step) * step
    ticks = [round(first, 10)]
    while ticks[-1] < high:  # the last tick reaches `high`, whatever the rounding of the steps
        ticks.append(round(first + len(ticks) * step, 10))
    return ticks


def _frame(title: str, body: str, width: int, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
            f'<text x="{LEFT}" y="18" class="chart-title">{escape(title)}</text>{body}</svg>')


def empty(title: str, message: str = "no data", width: int = WIDTH, height: int = 120) -> str:
    text = f'<text x="{width / 2}" y="{height / 2 + 10}" text-anchor="middle" class="empty">{escape(message)}</text>'
    return _frame(title, text, width, height)


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_format: Callable[[float], str] = number,
    time_axis: bool = True,
    markers: Sequence[tuple[float, str]] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Lines over a shared x axis (campaign seconds when `time_axis`); `markers` are labelled
    vertical rules (e.g. findings)."""
    lines = [line for line in lines if line.points]
    if not lines:
        return empty(title, width=width)
    xs = [x for line in lines for x, _ in line.points] + [x for x, _ in markers]
    ys = [y for line in lines for _, y in line.points]
    x_ticks = time_ticks(min(xs), max(xs)) if time_axis else nice_ticks(min(xs), max(xs))
    y_ticks = nice_ticks(min(0.0, min(ys)), max(ys) or 1.0)
    x_format = duration if time_axis else number
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / ((x1 - x0) or 1) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h

    parts = [_axes(x_ticks, y_ticks, px, py, x_format, y_format, x_label, y_label, width, height)]
    for x, label in markers:
        parts.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" y2="{TOP + plot_h}" class="marker">'
                     f'<title>{escape(label)}</title></line>')
    for index, line in enumerate(lines):
        color = line.color or PALETTE[index % len(PALETTE)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line.points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2" class="series">'
                     f'<title>{escape(line.name)}</title></polyline>')
        if len(line.points) == 1:
            x, y = line.points[0]
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
    parts.append(_legend([(line.name, line.color or PALETTE[i % len(PALETTE)]) for i, line in enumerate(lines)], width))
    return _frame(title, "".join(parts), width, height)


def bar_chart(
    categories: Sequence[str],
    stacks: dict[str, Sequence[float]],
    *,
    title: str,
    y_label: str,
    colors: dict[str, str] | None = None,
    grouped: bool = False,
    rules: Sequence[tuple[float, str]] = (),
    y_format: Callable[[float], str] = number,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One bar per category, its parts stacked; with `grouped`, the parts side by side instead
    (one bar each). `stacks` maps a part's name to its value per category. `rules` are labelled
    horizontal lines (e.g. a limit); the axis then reaches them too, and is not whole numbers
    only."""
    tops = ([max(values[i] for values in stacks.values()) if grouped else sum(values[i] for values in stacks.values())
             for i in range(len(categories))] if stacks else [])
    if not categories or not any(tops):
        return empty(title, "nothing to show", width=width)
    y_ticks = nice_ticks(0, max([*tops, *(value for value, _ in rules)]), whole=not rules)
    top = y_ticks[-1] or 1
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    band = plot_w / len(categories)

    def py(y: float) -> float:
        return TOP + plot_h - y / top * plot_h

    parts = [_axes([], y_ticks, lambda x: LEFT, py, number, y_format, "", y_label, width, height)]
    names = [name for name, values in stacks.items() if any(values)]
    color_of = {name: (colors or {}).get(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(names)}
    bar = band * 0.6 / (len(names) if grouped else 1)
    for i, category in enumerate(categories):
        x = LEFT + i * band + band * 0.2
        base = 0.0
        for k, name in enumerate(names):
            value = stacks[name][i]
            if value:
                left = x + k * bar if grouped else x
                bottom = 0.0 if grouped else base
                parts.append(f'<rect x="{left:.1f}" y="{py(bottom + value):.1f}" width="{bar:.1f}" '
                             f'height="{py(bottom) - py(bottom + value):.1f}" fill="{color_of[name]}">'
                             f'<title>{escape(category)}: {value:g} {escape(name)}</title></rect>')
                base += value
        parts.append(f'<text x="{x + band * 0.3:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" class="tick">'
                     f'{escape(category)}</text>')
    for value, label in rules:
        parts.append(f'<line x1="{LEFT}" y1="{py(value):.1f}" x2="{width - RIGHT}" y2="{py(value):.1f}" class="marker">'
                     f'<title>{escape(label)}</title></line>'
                     f'<text x="{LEFT + 4}" y="{py(value) + (12 if py(value) < TOP + 14 else -4):.1f}" '
                     f'class="label">{escape(label)}</text>')  # below a rule at the top
    parts.append(_legend([(name, color_of[name]) for name in names], width))
    return _frame(title, "".join(parts), width, height)


def _axes(x_ticks: list[float], y_ticks: list[float], px: Callable[[float], float], py: Callable[[float], float],
          x_format: Callable[[float], str], y_format: Callable[[float], str], x_label: str, y_label: str,
          width: int, height: int) -> str:
    plot_bottom, plot_right = height - BOTTOM, width - RIGHT
    parts = []
    for y in y_ticks:
        parts.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{plot_right}" y2="{py(y):.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end" class="tick">{escape(y_format(y))}</text>')
    for x in x_ticks:
        parts.append(f'<text x="{px(x):.1f}" y="{plot_bottom + 16}" text-anchor="middle" class="tick">'
                     f'{escape(x_format(x))}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" class="axis"/>'
                 f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{plot_bottom}" class="axis"/>')
    if x_label:
        parts.append(f'<text x="{(LEFT + plot_right) / 2}" y="{height - 6}" text-anchor="middle" class="label">'
                     f'{escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{(TOP + plot_bottom) / 2}" text-anchor="middle" class="label" '
                 f'transform="rotate(-90 14 {(TOP + plot_bottom) / 2})">{escape(y_label)}</text>')
    return "".join(parts)


def _legend(entries: list[tuple[str, str]], width: int) -> str:
    parts = []
    x = width - RIGHT
    for name, color in reversed(entries):
        x -= 14 + 7 * len(name)
        parts.append(f'<rect x="{x}" y="9" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + 14}" y="18" class="legend">{escape(name)}</text>')
    return "".join(parts)
