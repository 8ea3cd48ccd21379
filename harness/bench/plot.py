"""The report as one PNG of three panels, if matplotlib is installed (else nothing is drawn).

1. cycle cost per case, reference / C floor / Wasmtime side by side (log scale);
2. cycle cost by pool size, reference and Wasmtime;
3. µs per op by sequence length, checked and unchecked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CONTENDERS = (("reference_us", "reference"), ("floor_us", "C floor"), ("wasmtime_us", "Wasmtime"))


def available() -> bool:
    """Whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def draw(report: dict, path: Path) -> bool:
    """Draws `report` into `path`; False (and no file) without matplotlib."""
    if not available():
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (cycles, pools, lengths) = pyplot.subplots(1, 3, figsize=(16, 4.8))
    _cycles(cycles, report["cycle"])
    _pools(pools, report["scaling"])
    _lengths(lengths, report["op_cost"])
    figure.suptitle(f"poolfuzz bench ({report['meta']['plan']}; medians of repeated runs)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return True


def _cycles(axes, cycle: dict) -> None:
    cases = list(cycle)
    width = 0.8 / len(CONTENDERS)
    for k, (key, label) in enumerate(CONTENDERS):
        values = [cycle[case][key] or 0 for case in cases]
        axes.bar([i + (k - 1) * width for i in range(len(cases))], values, width, label=label)
    axes.set_xticks(range(len(cases)), cases, rotation=30, ha="right")
    axes.set_yscale("log")
    axes.set_ylabel("CPU µs per cycle")
    axes.set_title("Cycle: instantiate, dirty N pages, deallocate")
    axes.legend()


def _pools(axes, scaling: dict) -> None:
    series = {label: [figures[key] for figures in scaling.values()]
              for key, label in (CONTENDERS[0], CONTENDERS[2])}
    _lines(axes, [int(s) for s in scaling], series, "slots in the pool",
           "CPU µs per cycle (N=16, kr=off)", "Cycle cost by pool size")


def _lengths(axes, op_cost: dict) -> None:
    series = {label: [figures[key] for figures in op_cost.values()]
              for key, label in (("checked_us", "checked"), ("unchecked_us", "unchecked"))}
    _lines(axes, [int(n) for n in op_cost], series, "ops in the sequence", "CPU µs per op",
           "Op cost by sequence length")


def _lines(axes, xs: list[int], series: dict, xlabel: str, ylabel: str, title: str) -> None:
    """One line per series that was measured, over a log x axis, y from 0."""
    for label, values in series.items():
        if None not in values:
            axes.plot(xs, values, marker="o", label=label)
    axes.set_xscale("log")
    axes.set_ylim(bottom=0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
