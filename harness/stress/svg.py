"""A few SVG primitives, enough for timelines and line charts; no dependency.

Every function returns one element as text; `document` wraps elements in an `<svg>` root.
Text passes through `escape`, so any string (an operation's result, a file name) is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape as _escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
"""Distinct colours for series and threads (cycled)."""


def escape(text: object) -> str:
    return _escape(str(text), quote=True)


def document(width: float, height: float, elements: Iterable[str]) -> str:
    body = "\n".join(elements)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
    )


def rect(x: float, y: float, w: float, h: float, fill: str, title: str = "",
         stroke: str = "none", opacity: float = 1.0) -> str:
    tip = f"<title>{escape(title)}</title>" if title else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1.0):.1f}" height="{h:.1f}" '
            f'fill="{fill}" stroke="{stroke}" fill-opacity="{opacity}">{tip}</rect>')


def text(x: float, y: float, content: object, anchor: str = "start", size: int = 11,
         fill: str = "#222", weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}">{escape(content)}</text>')


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = "#999",
         width: float = 1.0, dash: str = "") -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            f'stroke-width="{width}"{dashes}/>')


def polyline(points: Sequence[tuple[float, float]], stroke: str, width: float = 1.5) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (f'<polyline points="{coords}" fill="none" stroke="{stroke}" '
            f'stroke-width="{width}" stroke-linejoin="round"/>')


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering `[low, high]` (1, 2 or 5 times a power of 10)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    step = _step(raw)
    first = (low // step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 10))
        value += step
    return ticks or [low, high]


def _step(raw: float) -> float:
    magnitude = 1.0
    while magnitude * 10 <= raw:
        magnitude *= 10
    while magnitude > raw:
        magnitude /= 10
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10
