"""Running every section and putting the figures together: the report `--json` writes.

```
{"meta":      {plan, repeats, program_repeats, cycles_per_run, machine, versions, seconds},
 "cycle":     {case: {"pages", "keep_resident", "reference_us", "floor_us", "wasmtime_us",
                      "reference_per_floor", "reference_per_wasmtime"}},
 "ops_per_s": {"checked", "unchecked", "checked_per_unchecked", "engines": {engine: {...}}},
 "scaling":   {"10" | "1000" | "10000": {"reference_us", "wasmtime_us"}},
 "op_cost":   {length: {"ops", "checked_us", "unchecked_us"}},
 "claims":    {"mprotect_per_reuse", "faults_per_reuse", "syscalls_per_reuse"},
 "ratios":    {"reference_per_floor": {case: r}, "reference_per_wasmtime": {case: r},
               "checked_per_unchecked": r, "scaling_spread": r},
 "targets":   [{"goal", "measured", "limit", "met"}]}
```

Times are medians, in microseconds of the benchmarking thread's CPU time (`harness.bench.timing`);
`meta.seconds` is the wall-clock time of the whole run. A figure that could not be measured
(Wasmtime not installed) is null, and so is every ratio built on it.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable

from harness.bench.claims import claims
from harness.bench.cycle import cycle_costs
from harness.bench.plan import Plan
from harness.bench.scaling import length_scaling, pool_scaling
from harness.bench.throughput import throughput
from harness.bench.timing import ratio
from harness.bench.wasmtime_cycle import wasmtime_missing
from harness.wasmtime_pool import wasmtime_version

Progress = Callable[[str], None]

GOALS = (
    ("reference cycle within 1.5x of Wasmtime, every case", "max reference/Wasmtime", 1.5, "<="),
    ("reference cycle within 3x of the C floor, pages dirtied", "max reference/floor, N>0", 3.0, "<="),
    ("checked ops/s at least 1/3 of unchecked", "checked/unchecked", 1 / 3, ">="),
    ("cycle cost flat within 20% from 10 to 10,000 slots", "max/min reference", 1.2, "<="),
)
"""The project's targets: goal, what is measured, the limit, and which side of it is met."""


def collect(plan: Plan, progress: Progress = lambda _: None) -> dict[str, object]:
    """Runs every section under `plan` and returns the report (see the module docstring)."""
    started = time.perf_counter()
    meta = machine(plan)
    report: dict[str, object] = {"meta": meta}
    report["cycle"] = with_cycle_ratios(cycle_costs(plan, progress))
    report["ops_per_s"] = throughput(plan, progress)
    report["scaling"] = pool_scaling(plan, progress)
    report["op_cost"] = length_scaling(plan, progress)
    report["claims"] = claims(plan.reuses, progress)
    report["ratios"] = ratios(report)
    report["targets"] = targets(report)
    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["load_average_after"] = _load()
    return report


def machine(plan: Plan) -> dict[str, object]:
    """What the figures were measured on and with."""
    return {
        "plan": plan.name,
        "repeats": plan.repeats,
        "program_repeats": plan.program_repeats,
        "cycles_per_run": plan.cycles,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_average_before": _load(),
        "wasmtime": wasmtime_version() if wasmtime_missing() is None else None,
        "wasmtime_missing": wasmtime_missing(),
    }


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def with_cycle_ratios(cycle: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """Each case with `reference_per_floor` and `reference_per_wasmtime` added."""
    for figures in cycle.values():
        reference = figures["reference_us"]
        figures["reference_per_floor"] = ratio(reference, figures["floor_us"])  # type: ignore[arg-type]
        figures["reference_per_wasmtime"] = ratio(reference, figures["wasmtime_us"])  # type: ignore[arg-type]
    return cycle


def ratios(report: dict[str, object]) -> dict[str, object]:
    """Every ratio of the report in one place."""
    cycle: dict[str, dict[str, object]] = report["cycle"]  # type: ignore[assignment]
    scaling: dict[str, dict[str, object]] = report["scaling"]  # type: ignore[assignment]
    ops: dict[str, object] = report["ops_per_s"]  # type: ignore[assignment]
    references = [figures["reference_us"] for figures in scaling.values()]
    return {
        "reference_per_floor": {case: f["reference_per_floor"] for case, f in cycle.items()},
        "reference_per_wasmtime": {case: f["reference_per_wasmtime"] for case, f in cycle.items()},
        "checked_per_unchecked": ops["checked_per_unchecked"],
        "scaling_spread": ratio(max(references), min(references)),  # type: ignore[type-var]
    }


def targets(report: dict[str, object]) -> list[dict[str, object]]:
    """Each goal with the figure it is judged on and whether it is met (None: not measured)."""
    cycle: dict[str, dict[str, object]] = report["cycle"]  # type: ignore[assignment]
    ratios: dict[str, object] = report["ratios"]  # type: ignore[assignment]
    per_wasmtime = [figures["reference_per_wasmtime"] for figures in cycle.values()]
    per_floor = [figures["reference_per_floor"] for figures in cycle.values() if figures["pages"]]
    measured = (
        None if None in per_wasmtime else max(per_wasmtime),  # type: ignore[type-var]
        None if None in per_floor else max(per_floor),  # type: ignore[type-var]
        ratios["checked_per_unchecked"],
        ratios["scaling_spread"],
    )
    rows = []
    for (goal, figure, limit, side), value in zip(GOALS, measured):
        met = None if value is None else (value <= limit if side == "<=" else value >= limit)  # type: ignore[operator]
        rows.append({"goal": goal, "figure": figure, "measured": value, "limit": limit, "met": met})
    return rows
