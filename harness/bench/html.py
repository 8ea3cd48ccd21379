"""`bench.html`: the benchmark's page among the HTML reports, one self-contained file that opens
offline (inline CSS, inline SVG charts, no script), in the nightly report's style.

Made from the report dict alone (`harness.bench.results.collect`):

1. the targets as charts, each measured ratio against its limit: reference/Wasmtime per cycle
   case, reference/C floor per case that dirties pages, checked/unchecked per engine;
2. cycle cost by pool size (reference and Wasmtime), op cost by sequence length (checked and
   unchecked);
3. every table of `harness.bench.tables`.

A figure that was not measured (no Wasmtime) draws as nothing, and its chart says so.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from harness.bench import tables
from harness.findings import write_atomically
from harness.nightly import svg
from harness.nightly.report_html import CSS

PAGE_CSS = CSS + "td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }\n"


def render(report: dict) -> str:
    """The whole HTML document."""
    charts = [*_target_charts(report), *_scaling_charts(report)]
    body = "".join([
        "<h1>poolfuzz bench</h1>",
        f'<p class="sub">{escape(tables.about(report["meta"]))}</p>',
        "<h2>Targets and scaling</h2>",
        *charts,
        *(table.html() for table in tables.tables(report)),
    ])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>poolfuzz bench</title>'
            f"<style>{PAGE_CSS}</style></head><body><main>{body}</main></body></html>\n")


def write(report: dict, path: Path) -> None:
    """Renders `report` into `path`, atomically."""
    write_atomically(path, render(report))


def _limit(report: dict, figure: str) -> float:
    """The limit of the target whose figure is `figure` (see `results.GOALS`)."""
    return next(target["limit"] for target in report["targets"] if target["figure"] == figure)


def _ratio_chart(title: str, values: dict[str, float | None], limit: float) -> str:
    return svg.bar_chart(list(values), {"measured": [value or 0 for value in values.values()]},
                         title=title, y_label="ratio", rules=[(limit, f"limit {limit:.2f}x")],
                         y_format=lambda y: f"{y:g}x")


def _target_charts(report: dict) -> list[str]:
    cycle, ops = report["cycle"], report["ops_per_s"]
    per_wasmtime = {case: figures["reference_per_wasmtime"] for case, figures in cycle.items()}
    per_floor = {case: figures["reference_per_floor"] for case, figures in cycle.items() if figures["pages"]}
    checked = {**{engine: figures["checked_per_unchecked"] for engine, figures in ops["engines"].items()},
               "all": ops["checked_per_unchecked"]}
    return [
        _ratio_chart("Cycle, reference / Wasmtime (at most the limit)", per_wasmtime,
                     _limit(report, "max reference/Wasmtime")),
        _ratio_chart("Cycle with pages dirtied, reference / C floor (at most the limit)", per_floor,
                     _limit(report, "max reference/floor, N>0")),
        _ratio_chart("Checked / unchecked ops per second (at least the limit)", checked,
                     _limit(report, "checked/unchecked")),
    ]


def _scaling_charts(report: dict) -> list[str]:
    scaling, op_cost = report["scaling"], report["op_cost"]
    pools = {label: [figures[key] or 0 for figures in scaling.values()]
             for key, label in (("reference_us", "reference"), ("wasmtime_us", "Wasmtime"))}
    lengths = {label: [figures[key] for figures in op_cost.values()]
               for key, label in (("checked_us", "checked"), ("unchecked_us", "unchecked"))}
    return [
        svg.bar_chart([f"{int(slots):,} slots" for slots in scaling], pools, grouped=True,
                      title="Cycle N=16 kr=off by pool size (CPU µs per cycle)", y_label="µs"),
        svg.bar_chart([f"{int(length):,} ops" for length in op_cost], lengths, grouped=True,
                      title="Op cost by sequence length, atheris-decoded (CPU µs per op)", y_label="µs"),
    ]
