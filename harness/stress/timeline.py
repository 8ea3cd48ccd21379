"""Timelines of a concurrent history: an HTML page with one SVG per partition.

Each thread is a lane; each operation a bar from its invocation to its response. The horizontal
axis is the order of events (every distinct invocation or response time gets the next
position), not their durations: real-time order is what linearizability depends on, and a 2 µs
load beside a 3 ms instantiation stays visible. Exact times are in each bar's tooltip and in
the table under the picture.

For a partition that is not linearizable, the colours say what the checker found:

* green, numbered: the longest order the model accepts, in that order;
* red: the operations that could come next and that the model refuses there;
* grey: the rest.

A bar's label goes above or below it, wherever it does not overlap an earlier label of its
lane; a label with room in neither is left out (the tooltip and the table still name the
operation).

`render(history, result, title)` returns the page; `write(...)` saves it.
"""

from __future__ import annotations

from pathlib import Path

from harness.stress import svg
from harness.stress.history import Operation
from harness.stress.linearizability import CheckResult, PartitionResult

LANE = 46
STEP = 26
LEFT = 70
TOP = 28

ACCEPTED, REFUSED, OTHER = "#2ca02c", "#d62728", "#b0b0b0"
LABEL_CHARS = 34
CHAR_WIDTH = 5.5
"""A generous width of one character of a 9-pixel label, to keep labels apart."""


def render(result: CheckResult, title: str, notes: str = "") -> str:
    """The HTML page: the verdict, then every violating partition (all of them if none)."""
    shown = result.violations() or result.partitions
    sections = [_section(p) for p in shown]
    passed = [p.key for p in result.partitions if p not in shown]
    summary = (f"<p>{len(passed)} other partition(s) linearizable or undecided: "
               f"{svg.escape(', '.join(passed))}</p>" if passed else "")
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{svg.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}pre{background:#f6f6f6;padding:.6em;"
        "overflow-x:auto}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid "
        "#ccc;padding:2px 6px;text-align:left}.svg{overflow-x:auto}</style></head><body>\n"
        f"<h1>{svg.escape(title)}</h1>\n<p>verdict: <b>{svg.escape(result.verdict)}</b></p>\n"
        f"{_pre(notes)}{summary}\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def write(result: CheckResult, path: Path, title: str, notes: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, title, notes))
    return path


def _pre(text: str) -> str:
    return f"<pre>{svg.escape(text)}</pre>\n" if text else ""


def _section(partition: PartitionResult) -> str:
    order = {op.id: n + 1 for n, op in enumerate(partition.longest)}
    refused = {op.id for op, _ in partition.stuck}
    heading = (f"<h2>partition {svg.escape(partition.key)}: {svg.escape(partition.verdict)} "
               f"({len(partition.ops)} operations)</h2>\n")
    picture = f"<div class='svg'>{draw(partition.ops, order, refused)}</div>\n"
    return heading + _pre(partition.explain()) + picture + _table(partition.ops, order, refused)


def draw(ops: list[Operation], order: dict[int, int] | None = None,
         refused: set[int] | None = None) -> str:
    """The SVG of `ops`: one lane per thread, bars coloured as the module docstring says."""
    order, refused = order or {}, refused or set()
    times = sorted({t for op in ops for t in (op.call, op.ret)})
    position = {t: n for n, t in enumerate(times)}
    threads = sorted({op.thread for op in ops})
    lane_of = {thread: n for n, thread in enumerate(threads)}
    width = LEFT + STEP * (len(times) + 1)
    height = TOP + LANE * len(threads) + 10
    elements = [svg.text(LEFT, 16, "events in time order →", size=10, fill="#666")]
    for thread, lane in lane_of.items():
        y = TOP + lane * LANE
        elements.append(svg.line(LEFT, y + LANE - 4, width, y + LANE - 4, stroke="#eee"))
        elements.append(svg.text(8, y + 26, f"thread {thread}", weight="bold"))
    free = {thread: [0.0, 0.0] for thread in threads}  # per lane: where each label row is free
    for op in sorted(ops, key=lambda o: o.call):
        elements += _bar(op, free[op.thread], position, TOP + lane_of[op.thread] * LANE, order,
                         refused)
    return svg.document(width, height, elements)


def _bar(op: Operation, free: list[float], position: dict[int, int], y: float,
         order: dict[int, int], refused: set[int]) -> list[str]:
    """The bar of `op`, its number, and its label in the first row of `free` it fits in."""
    x1 = LEFT + STEP * position[op.call] + 4
    x2 = LEFT + STEP * position[op.ret] + STEP - 4
    colour = ACCEPTED if op.id in order else REFUSED if op.id in refused else OTHER
    status = (f"linearized #{order[op.id]}" if op.id in order
              else "refused next" if op.id in refused else "not reached")
    tip = (f"t{op.thread} {op.describe()}\ninvoked {op.call} ns, returned {op.ret} ns "
           f"({(op.ret - op.call) / 1000:.1f} µs)\n{status}")
    label = op.describe()
    if len(label) > LABEL_CHARS:
        label = label[:LABEL_CHARS - 1] + "…"
    parts = [svg.rect(x1, y + 16, x2 - x1, 14, colour, tip)]
    row = next((r for r in (0, 1) if free[r] <= x1), None)
    if row is not None:
        free[row] = x1 + CHAR_WIDTH * len(label) + 6
        parts.append(svg.text(x1, y + (12, 40)[row], label, size=9))
    if op.id in order:
        parts.append(svg.text(x1 + 3, y + 27, f"#{order[op.id]}", size=9, fill="white",
                              weight="bold"))
    return parts


def _table(ops: list[Operation], order: dict[int, int], refused: set[int]) -> str:
    start = min(op.call for op in ops)
    rows = []
    for op in sorted(ops, key=lambda o: o.call):
        status = (f"#{order[op.id]}" if op.id in order else "refused" if op.id in refused else "")
        rows.append(
            f"<tr><td>{op.id}</td><td>t{op.thread}</td><td>{(op.call - start) / 1000:.1f}</td>"
            f"<td>{(op.ret - start) / 1000:.1f}</td><td>{svg.escape(op.describe())}</td>"
            f"<td>{status}</td></tr>"
        )
    return ("<table><tr><th>id</th><th>thread</th><th>invoked (µs)</th><th>returned (µs)</th>"
            "<th>operation</th><th>order</th></tr>\n" + "\n".join(rows) + "</table>\n")
