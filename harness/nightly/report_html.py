"""`report.html`: the report for a person, one self-contained file that opens offline.

Made from the report dict alone (`report_json.build`): inline CSS, inline SVG plots
(`svg`), no script, no external resource. Every value from the run is escaped.

Sections: summary; throughput and coverage over time (findings marked); findings, each with its
reproducer; faults per op kind; resident memory, open fds and memory mappings of the workers over
time; corpus replay; worker deaths; errors.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path

from harness.findings import write_atomically
from harness.nightly import svg

KIND_COLORS = {"divergence": "#2563eb", "crash": "#dc2626", "hang": "#d97706", "oom": "#7c3aed"}
EXIT_MEANING = {0: "clean", 1: "findings", 2: "harness error"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; margin: 0; background: #f9fafb; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
.sub { color: #6b7280; margin: 0 0 16px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 13px; font-weight: 600; }
.status-0 { background: #d1fae5; color: #065f46; } .status-1 { background: #fee2e2; color: #991b1b; }
.status-2 { background: #fef3c7; color: #92400e; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px; }
.fact { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px 12px; }
.fact b { display: block; font-size: 18px; } .fact span { color: #6b7280; font-size: 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { font-size: 12px; color: #6b7280; font-weight: 600; } td code { font-size: 12px; }
details { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 6px 12px; margin: 6px 0; }
summary { cursor: pointer; font-weight: 600; } pre { background: #f3f4f6; padding: 8px; overflow-x: auto; font-size: 12px; }
.chart { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; margin: 6px 0; max-width: 100%; height: auto; }
.chart-title { font-size: 13px; font-weight: 600; fill: #111827; } .tick, .legend { font-size: 11px; fill: #4b5563; }
.label { font-size: 11px; fill: #6b7280; } .grid { stroke: #f3f4f6; } .axis { stroke: #9ca3af; }
.marker { stroke: #dc2626; stroke-dasharray: 3 3; } .empty { font-size: 13px; fill: #9ca3af; }
.kind { font-weight: 600; } .muted { color: #6b7280; }
"""


def render(report: dict) -> str:
    """The whole HTML document."""
    run = report["run"]
    title = f"poolfuzz nightly {run['id']}"
    body = "".join([
        _header(report),
        _section("Throughput and coverage", _throughput(report) + _coverage(report)),
        _section(f"Findings ({len(report['findings'])})", _findings(report)),
        _section("Faults per op kind", _faults(report)),
        _section("Workers' resources", _resources(report)),
        _section("Corpus replay", _corpus(report)),
        _section(f"Worker deaths ({len(report['deaths'])})", _deaths(report)),
        _section(f"Errors ({len(report['errors'])})", _errors(report)),
    ])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><main>{body}</main></body></html>\n')


def write(report: dict, path: Path) -> None:
    write_atomically(path, render(report))


def _section(title: str, content: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{content}</section>"


def _header(report: dict) -> str:
    run, settings, budget, execs = report["run"], report["settings"], report["budget"], report["execs"]
    status = report["exit_status"]
    facts = [
        (f"{svg.duration(budget['consumed'])} / {svg.duration(budget['seconds'])}", "time used / budget"),
        (", ".join(settings["targets"]), "targets"),
        (f"{settings['workers']} × {settings['engine']}", f"workers (profile {settings['profile']})"),
        (svg.number(execs["sequences"]), "sequences run"),
        (svg.number(execs["ops"]), f"ops checked ({execs['ops_per_s']:g}/s)"),
        (str(report["coverage"]["final"]), _coverage_name(report)),
        (str(len(report["findings"])), "findings"),
        (str(len(run["sessions"])), "sessions (resumes + 1)"),
    ]
    cards = "".join(f'<div class="fact"><b>{escape(value)}</b><span>{escape(label)}</span></div>' for value, label in facts)
    return (f'<h1>poolfuzz nightly <code>{escape(run["id"])}</code> '
            f'<span class="badge status-{status}">exit {status}: {EXIT_MEANING[status]}</span></h1>'
            f'<p class="sub">{escape(run["status"])} · created {escape(run["created"])} · {escape(run["folder"])}</p>'
            f'<div class="facts">{cards}</div>')


def _coverage_name(report: dict) -> str:
    return "engine coverage" if report["coverage"]["kind"] == "engine" else "behaviour features seen"


def _markers(report: dict) -> list[tuple[float, str]]:
    return [(f["seconds"], f"{f['signature']} on {f['target']}") for f in report["findings"]]


def _throughput(report: dict) -> str:
    points = [(s["t"], s["ops_per_s"]) for s in report["series"] if s["ops_per_s"] is not None]
    return svg.line_chart([svg.Line("ops/s", points)], title="Throughput: checked ops per second",
                          x_label="campaign time", y_label="ops/s", markers=_markers(report))


def _coverage(report: dict) -> str:
    series = report["series"]
    lines = [svg.Line("behaviour features", [(s["t"], s["features"]) for s in series])]
    engine = [(s["t"], s["coverage"]) for s in series if s["coverage"] is not None]
    if engine:
        lines.append(svg.Line("engine coverage", engine))
    return svg.line_chart(lines, title="Coverage over time", x_label="campaign time", y_label="count",
                          markers=_markers(report))


def _findings(report: dict) -> str:
    findings = report["findings"]
    if not findings:
        return '<p class="muted">None.</p>'
    rows = "".join(
        f'<tr><td><code>{escape(f["signature"])}</code></td>'
        f'<td class="kind" style="color:{KIND_COLORS[f["kind"]]}">{escape(f["kind"])}</td><td>{escape(f["target"])}</td>'
        f'<td>{f["seconds"]:.1f} s</td><td>{f["ops"] if f["ops"] is not None else "–"} / {f["raw_ops"]}'
        f'{"" if f["minimized"] else " (not minimized)"}</td><td>{f["detections"]}</td></tr>'
        for f in findings)
    table = (f"<table><tr><th>signature</th><th>kind</th><th>target</th><th>found at</th>"
             f"<th>statements (saved / seen)</th><th>seen</th></tr>{rows}</table>")
    details = "".join(
        f'<details><summary>{escape(f["signature"])} on {escape(f["target"])}</summary>'
        f'<p>{escape(f["description"]).replace(chr(10), "<br>")}</p>'
        f'<p class="muted">seen by {escape(f["source"])}; file: <code>{escape(f["path"] or "(not saved)")}</code></p>'
        + (f'<p>replay: <code>{escape(f["replay"])}</code></p>' if f["replay"] else "")
        + f'<pre>{escape(f["reproducer"])}</pre>'
        + (f'<p>stack (innermost first): <code>{escape(" ← ".join(f["stack"]))}</code></p>' if f["stack"] else "")
        + (f'<details><summary>last output of the process that saw it</summary><pre>{escape(f["detail"])}</pre></details>'
           if f["detail"] else "")
        + '</details>'
        for f in findings)
    return table + details


def _faults(report: dict) -> str:
    table = report["faults_by_op_kind"]
    categories = list(table)
    stacks = {kind: [table[c][kind] for c in categories] for kind in KIND_COLORS}
    return svg.bar_chart(categories, stacks, title="Detections per op kind (duplicates included)", y_label="detections",
                         colors=KIND_COLORS)


def _resources(report: dict) -> str:
    per_process: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for sample in report["resources"]["samples"]:
        for process in sample["processes"]:
            for measure in ("rss", "fds", "maps"):
                per_process[measure][process["name"]].append((sample["t"], process[measure]))
    charts = []
    for measure, title, y_label, fmt in (("rss", "Resident memory per process", "RSS", svg.mebibytes),
                                         ("fds", "Open file descriptors per process", "fds", svg.number),
                                         ("maps", "Memory mappings per process", "mappings", svg.number)):
        lines = [svg.Line(name, points) for name, points in sorted(per_process[measure].items())]
        charts.append(svg.line_chart(lines, title=title, x_label="campaign time", y_label=y_label, y_format=fmt))
    peak = report["resources"]["peak"]
    return (f'<p class="muted">peaks: {svg.mebibytes(peak["rss"])} resident, {peak["fds"]} fds, '
            f'{peak["maps"]} mappings</p>' + "".join(charts))


def _corpus(report: dict) -> str:
    corpus = report["corpus"]
    counts = ", ".join(f"{n} {status}" for status, n in corpus["counts"].items())
    head = (f'<p>{escape(corpus["folder"] or "(no corpus)")}: {escape(counts)}'
            f'{"" if corpus["complete"] else " — not complete (the run stopped first)"}</p>')
    if not corpus["problems"]:
        return head
    rows = "".join(f'<tr><td><code>{escape(p["path"])}</code></td><td>{escape(p["target"])}</td>'
                   f'<td>{escape(p["status"])}</td><td>{escape(p["signature"] or "")}</td>'
                   f'<td>{escape(p["detail"][:300])}</td></tr>' for p in corpus["problems"])
    return head + f"<table><tr><th>file</th><th>target</th><th>status</th><th>signature</th><th>detail</th></tr>{rows}</table>"


def _deaths(report: dict) -> str:
    if not report["deaths"]:
        return '<p class="muted">No worker died.</p>'
    rows = "".join(f'<tr><td>{d["seconds"]:.1f} s</td><td>worker {d["slot"]}</td><td>{escape(d["target"])}</td>'
                   f'<td>{escape(d["cause"] or "")}</td><td><code>{escape(d["signature"])}</code></td></tr>'
                   for d in report["deaths"])
    return f"<table><tr><th>at</th><th>slot</th><th>target</th><th>cause</th><th>finding</th></tr>{rows}</table>"


def _errors(report: dict) -> str:
    if not report["errors"]:
        return '<p class="muted">None.</p>'
    return "".join(f'<details open><summary>at {e["seconds"]:.1f} s</summary><pre>{escape(e["message"])}</pre></details>'
                   for e in report["errors"])
