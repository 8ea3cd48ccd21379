"""The report as tables: plain text for the terminal, Markdown and HTML for `reports/bench/`.

`tables(report)` lays every section out as a `Table`; `text(report)` and `markdown(report)`
render them all, `Table.html` one (for `harness.bench.html`). A figure that was not measured
shows as `n/a`.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

NA = "n/a"
NUMERIC = ' class="num"'  # the attribute of a figure's cell in `Table.html`


@dataclass(frozen=True)
class Table:
    """A titled table of strings; the first `left` columns are left-aligned, the others (the
    figures) right-aligned."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    left: int = 1

    def text(self) -> str:
        widths = [max(len(row[i]) for row in (self.headers, *self.rows)) for i in range(len(self.headers))]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(cell.ljust(width) if i < self.left else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

        out = [self.title, line(self.headers), "  ".join("-" * w for w in widths)]
        out += [line(row) for row in self.rows]
        if self.note:
            out.append(self.note)
        return "\n".join(out)

    def markdown(self) -> str:
        aligns = [":---"] * self.left + ["---:"] * (len(self.headers) - self.left)
        out = [f"## {self.title}", "", "| " + " | ".join(self.headers) + " |",
               "|" + "|".join(aligns) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out)


    def html(self) -> str:
        """The table as an HTML section: heading, table (figures right-aligned), note; escaped."""
        def row(cells: tuple[str, ...], tag: str) -> str:
            return "<tr>" + "".join(f"<{tag}{'' if i < self.left else NUMERIC}>{escape(cell)}</{tag}>"
                                    for i, cell in enumerate(cells)) + "</tr>"

        note = f'<p class="muted">{escape(self.note)}</p>' if self.note else ""
        return (f"<h2>{escape(self.title)}</h2><table><thead>{row(self.headers, 'th')}</thead><tbody>"
                + "".join(row(cells, "td") for cells in self.rows) + f"</tbody></table>{note}")


def us(value: object) -> str:
    """Microseconds, to 3 significant figures or so."""
    if value is None:
        return NA
    v = float(value)  # type: ignore[arg-type]
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def times(value: object) -> str:
    """A ratio, as `1.95x`."""
    return NA if value is None else f"{float(value):.2f}x"  # type: ignore[arg-type]


def rate(value: object) -> str:
    """Ops per second, whole."""
    return NA if value is None else f"{float(value):,.0f}"  # type: ignore[arg-type]


def count(value: object) -> str:
    """An exact count (or a mean, if the counts varied)."""
    if value is None:
        return NA
    return str(value) if isinstance(value, int) else f"{float(value):.2f}"  # type: ignore[arg-type]


def tables(report: dict) -> list[Table]:
    """Every section of `report` (see `harness.bench.results`) as a table."""
    meta = report["meta"]
    runs, program_runs = f"median of {meta['repeats']} runs", f"median of {meta['program_repeats']} runs"
    return [
        cycle_table(report["cycle"], runs, meta["cycles_per_run"]),
        throughput_table(report["ops_per_s"], program_runs),
        scaling_table(report["scaling"], runs),
        op_cost_table(report["op_cost"], program_runs),
        claims_table(report["claims"]),
        targets_table(report["targets"]),
    ]


def cycle_table(cycle: dict, runs: str, cycles: int) -> Table:
    rows = tuple(
        (case, us(f["reference_us"]), us(f["floor_us"]), us(f["wasmtime_us"]),
         times(f["reference_per_floor"]), times(f["reference_per_wasmtime"]))
        for case, f in cycle.items()
    )
    return Table(
        f"1. Cycle: instantiate, dirty N OS pages, deallocate (CPU us per cycle, {runs} of {cycles})",
        ("case", "reference", "C floor", "Wasmtime", "ref/floor", "ref/Wasmtime"), rows,
        "N: pages dirtied of a 1 MiB memory; kr: keep-resident of the whole memory (memset) or "
        "none (madvise).",
    )


def throughput_table(ops: dict, runs: str) -> Table:
    rows = tuple(
        (name, rate(f["checked"]), rate(f["unchecked"]), times(f["checked_per_unchecked"]))
        for name, f in [*ops["engines"].items(), ("all", ops)]
    )
    return Table(f"2. Harness throughput (ops per CPU second, {runs})",
                 ("sequences", "checked", "unchecked", "checked/unchecked"), rows,
                 note="Each engine's programs run checked and unchecked in a process of their own, "
                      "as each engine's campaign does; the four are timed in turn.")


def scaling_table(scaling: dict, runs: str) -> Table:
    smallest = scaling[min(scaling, key=int)]["reference_us"]
    rows = tuple(
        (slots, us(f["reference_us"]), us(f["wasmtime_us"]),
         times(f["reference_us"] / smallest if smallest else None),
         times(f["reference_us"] / f["wasmtime_us"] if f["wasmtime_us"] else None))
        for slots, f in scaling.items()
    )
    return Table(f"3a. Cycle N=16 kr=off by pool size, every slot warm (CPU us per cycle, {runs})",
                 ("slots", "reference", "Wasmtime", "ref vs smallest", "ref/Wasmtime"), rows)


def op_cost_table(op_cost: dict, runs: str) -> Table:
    rows = tuple(
        (length, f"{f['ops']:.0f}", us(f["checked_us"]), us(f["unchecked_us"]),
         times(f["checked_us"] / f["unchecked_us"] if f["unchecked_us"] else None))
        for length, f in op_cost.items()
    )
    return Table(f"3b. Op cost by sequence length, atheris-decoded (CPU us per op, {runs})",
                 ("length", "mean ops", "checked", "unchecked", "checked/unchecked"), rows)


def claims_table(claims: dict) -> Table:
    mprotect, faults, syscalls = (claims["mprotect_per_reuse"], claims["faults_per_reuse"],
                                  claims["syscalls_per_reuse"])
    wasmtime = faults.get("wasmtime") or {}
    calls = syscalls["calls"]
    rows = (
        ("mprotect per reuse, static (grow 1 page)", count(mprotect["static"]), NA),
        ("mprotect per reuse, dynamic (grow 1 page)", count(mprotect["dynamic"]), NA),
        ("faults per reuse, 16 pages, keep-resident off", count(faults["keep_resident_off"]),
         count(wasmtime.get("keep_resident_off"))),
        ("faults per reuse, 16 pages, keep-resident on", count(faults["keep_resident_on"]),
         count(wasmtime.get("keep_resident_on"))),
        ("syscalls per reuse, fast path (keep-resident)", count(syscalls["fast_path"]), NA),
        ("syscalls per reuse, decommit path", count(syscalls["decommit_path"]), NA),
    )
    described = "; ".join(f"{path}: " + ", ".join(f"{c} {count(n)}" for c, n in per.items())
                          for path, per in calls.items())
    return Table("4. Claims (exact counts per reuse)", ("claim", "reference", "Wasmtime"), rows,
                 f"Calls per reuse: {described}.")


def targets_table(targets: list) -> Table:
    rows = tuple(
        (t["goal"], t["figure"], times(t["measured"]), times(t["limit"]),
         NA if t["met"] is None else "yes" if t["met"] else "NO")
        for t in targets
    )
    return Table("5. Targets", ("goal", "figure", "measured", "limit", "met"), rows, left=2)


def text(report: dict) -> str:
    """Every table, for the terminal."""
    meta = report["meta"]
    head = (f"poolfuzz bench ({meta['plan']}): Python {meta['python']}, Linux {meta['kernel']}, "
            f"{meta['cpus']} CPUs, load {meta['load_average_before']} -> "
            f"{meta.get('load_average_after', NA)}, Wasmtime {meta['wasmtime'] or NA}, "
            f"{meta.get('seconds', NA)} s\nTimes are the CPU time of the benchmarking thread (user + system).")
    return "\n\n".join([head, *(table.text() for table in tables(report))]) + "\n"


def about(meta: dict) -> str:
    """One paragraph on the run: plan, date, machine, load, Wasmtime, duration, what times are."""
    return (
        f"Plan {meta['plan']} ({meta['repeats']} runs per cycle figure, "
        f"{meta['program_repeats']} per program figure), {meta['date']}: Python "
        f"{meta['python']}, Linux {meta['kernel']}, {meta['cpus']} CPUs, load average "
        f"{meta['load_average_before']} before and {meta.get('load_average_after', NA)} after, "
        f"Wasmtime {meta['wasmtime'] or NA}; {meta.get('seconds', NA)} s. Times are the CPU time of "
        "the benchmarking thread (user + system), so that waiting for a CPU does not count."
    )


def markdown(report: dict, plot: str | None = None) -> str:
    """Every table as Markdown, with the plot `plot` (a file name beside it) if there is one."""
    head = ["# poolfuzz bench", "", about(report["meta"])]
    if plot:
        head += ["", f"![figures]({plot})"]
    return "\n\n".join(["\n".join(head), *(table.markdown() for table in tables(report))]) + "\n"
