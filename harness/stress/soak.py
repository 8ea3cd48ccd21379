"""Soak: a random workload for a long time, watched for growth and for leftovers.

    report = soak(3600, workers="auto", out=Path("reports/soak"))
    report.ok, report.findings      # growth without bound, anything left after teardown

`workers` processes (`"auto"`: one per CPU this process may run on) each run the isolation
workload (`harness.stress.workload`) in *epochs* of `epoch` seconds: open a pool, churn it with
`threads` threads (instances, writes, grows, module compiles and drops), close it, and check
that the pool left nothing behind (memfds, file descriptors) before the next epoch. Meanwhile
this process samples every worker each `interval` seconds with psutil and /proc: resident
memory, open descriptors, memfds, mappings (VMAs) and threads.

Findings (`SoakReport.findings`; none means the soak passed):

* **growth without bound**: after the warm-up (the first quarter of the samples), a metric's
  peak rises from each third of the remaining samples to the next, by more than its
  `ALLOWANCES` in all. A leak grows like that; a workload at steady state does not. At least
  `MIN_SAMPLES` samples are needed to judge: a shorter soak checks leftovers only;
* **left after teardown**: a worker's epoch ended with more memfds or descriptors than it began
  with, or the worker ended with more than its baseline;
* **isolation problems**, or a worker that crashed or overran its time.

The report folder gets `soak.svg` (every metric over time, one line per worker, the end of the
warm-up dashed), `samples.csv` and `summary.json`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.stress import chart, leftovers

METRICS = ("rss", "fds", "memfds", "mappings", "threads")
ALLOWANCES = {"rss": 64 << 20, "fds": 64, "memfds": 64, "mappings": 256, "threads": 4}
"""How much a metric's peak may rise over a soak before steady growth counts as unbounded.

Each epoch draws its own pool settings, so peaks legitimately differ between epochs: a pool of
8 slots holds up to 8 heap-extension memfds and about 16 image memfds at once. A leak of one
descriptor per epoch passes 64 in about 11 minutes of 10-second epochs."""

MIN_SAMPLES = 12
OVERRUN = 120.0
"""Seconds past `duration` a worker may take to finish its last epoch before it is stopped."""


@dataclass(frozen=True)
class Sample:
    """One worker's resources at `t` seconds into the soak."""

    t: float
    worker: int
    rss: int
    fds: int
    memfds: int
    mappings: int
    threads: int


@dataclass
class SoakReport:
    duration: float
    workers: int
    samples: list[Sample] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    worker_results: list[dict] = field(default_factory=list)
    folder: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def describe(self) -> str:
        instances = sum(r.get("instances", 0) for r in self.worker_results)
        epochs = sum(r.get("epochs", 0) for r in self.worker_results)
        workers = f"{self.workers} worker" + "s" * (self.workers != 1)
        head = (f"soak of {self.duration:.0f} s, {workers}: {epochs} epochs, "
                f"{instances} instances, {len(self.samples)} samples; "
                + ("no finding" if self.ok else f"{len(self.findings)} findings"))
        lines = [head, *self.findings, *summary_lines(self.samples)]
        if self.folder is not None:
            lines.append(f"report: {self.folder}")
        return "\n".join(lines)


def resolve_workers(workers: int | str) -> int:
    """`"auto"` is the number of CPUs this process may run on; otherwise a positive count."""
    if workers == "auto":
        return max(len(os.sched_getaffinity(0)), 1)
    count = int(workers)
    if count < 1:
        raise ValueError(f"workers={workers!r}: expected 'auto' or a positive number")
    return count


def soak(duration: float, workers: int | str = "auto", out: Path = Path("reports/soak"),
         interval: float = 1.0, epoch: float = 10.0, threads: int = 3,
         target: str = "reference", mutant: str | None = None, seed: int = 0,
         progress: Callable[[float, list[Sample]], None] | None = None) -> SoakReport:
    """Runs the soak described in the module docstring and writes its report into `out`."""
    count = resolve_workers(workers)
    report = SoakReport(duration, count)
    processes = [_start_worker(n, duration, epoch, threads, target, mutant, seed + 1000 * n)
                 for n in range(count)]
    started = time.monotonic()
    while any(p.poll() is None for p in processes):
        now = time.monotonic() - started
        if now > duration + OVERRUN:
            for number, process in enumerate(processes):
                if process.poll() is None:
                    process.kill()
                    report.findings.append(f"worker {number} overran {duration:.0f} s by "
                                           f"{OVERRUN:.0f} s and was stopped")
            break
        for number, process in enumerate(processes):
            sample = _sample(number, process.pid, now)
            if sample is not None:
                report.samples.append(sample)
        if progress is not None:
            progress(now, report.samples)
        time.sleep(interval)
    report.worker_results = [_result(n, p) for n, p in enumerate(processes)]
    report.findings += judge(report.samples, report.worker_results)
    report.folder = write_report(report, out)
    return report


def _start_worker(number: int, duration: float, epoch: float, threads: int, target: str,
                  mutant: str | None, seed: int) -> subprocess.Popen:
    """A worker process: `python -m harness.stress.soak` with its settings as JSON."""
    settings = json.dumps({"number": number, "duration": duration, "epoch": epoch,
                           "threads": threads, "target": target, "mutant": mutant,
                           "seed": seed})
    return subprocess.Popen([sys.executable, "-m", "harness.stress.soak", settings],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(number: int, process: subprocess.Popen) -> dict:
    """The JSON result a worker printed last, or a description of how it failed."""
    out, err = process.communicate(timeout=30)
    lines = out.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = "\n".join(err.strip().splitlines()[-15:])
        problem = f"no result (exit code {process.returncode}):\n{tail}"
        return {"worker": number, "problems": [problem]}


def _sample(worker: int, pid: int, t: float) -> Sample | None:
    """The worker's resources now, or None if it is gone."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            rss, fds, threads = process.memory_info().rss, process.num_fds(), process.num_threads()
        with open(f"/proc/{pid}/maps", "rb") as maps:
            mappings = maps.read().count(b"\n")
        memfds = leftovers.memfds(pid)
    except (psutil.Error, OSError):
        return None
    return Sample(round(t, 3), worker, rss, fds, memfds, mappings, threads)


# --- one worker process -------------------------------------------------------------------------


def worker(number: int, duration: float, epoch: float, threads: int, target: str,
           mutant: str | None, seed: int) -> dict:
    """One worker's life: epochs of the isolation workload until `duration` passes."""
    from harness.mutants import activate
    from harness.stress.mutants import lookup
    from harness.stress.workload import IsolationConfig, run_isolation

    result: dict = {"worker": number, "epochs": 0, "instances": 0, "problems": []}
    try:
        bug = activate(lookup(mutant)) if mutant else contextlib.nullcontext()
        with bug:
            baseline = leftovers.resources()
            deadline = time.monotonic() + duration
            while time.monotonic() < deadline:
                config = IsolationConfig(target=target, pools=1, threads=threads, rounds=None,
                                         seed=seed + result["epochs"])
                report = run_isolation(config, min(deadline, time.monotonic() + epoch))
                result["epochs"] += 1
                result["instances"] += report.instances
                result["problems"] += [f"epoch {result['epochs']}: {p}" for p in report.problems]
            after = leftovers.resources()
        result["left"] = leftovers.grown(baseline, after)
    except Exception:
        result["problems"].append(f"the worker raised:\n{traceback.format_exc()}")
    return result


# --- judging and reporting ----------------------------------------------------------------------


def judge(samples: list[Sample], results: list[dict]) -> list[str]:
    """The findings of a soak (module docstring)."""
    findings = []
    for result in results:
        worker = result["worker"]
        findings += [f"worker {worker}: {p}" for p in result["problems"][:10]]
        for name, extra in result.get("left", {}).items():
            findings.append(f"worker {worker}: {extra} more {name} at the end than at the start")
    for worker in sorted({s.worker for s in samples}):
        series = [s for s in samples if s.worker == worker]
        for metric in METRICS:
            verdict = unbounded_growth([getattr(s, metric) for s in series], ALLOWANCES[metric])
            if verdict:
                findings.append(f"worker {worker}: {metric} grows without bound: {verdict}")
    return findings


def unbounded_growth(values: list[float], allowance: float) -> str:
    """Why `values` look like growth without bound ("" if they do not; see the docstring)."""
    if len(values) < MIN_SAMPLES:
        return ""
    body = values[len(values) // 4:]
    third = len(body) // 3
    peaks = [max(body[:third]), max(body[third:2 * third]), max(body[2 * third:])]
    if peaks[0] < peaks[1] < peaks[2] and peaks[2] - peaks[0] > allowance:
        rising = ", ".join(f"{peak:g}" for peak in peaks)
        return f"its peak rose in every third after the warm-up: {rising}"
    return ""


def summary_lines(samples: list[Sample]) -> list[str]:
    """Per metric, summed over workers: the value when the warm-up ended, the last, the peak."""
    workers = sorted({s.worker for s in samples})
    if not workers:
        return []
    lines = []
    for metric in METRICS:
        warm = last = peak = 0
        for worker in workers:
            values = [getattr(s, metric) for s in samples if s.worker == worker]
            warm += values[len(values) // 4]
            last += values[-1]
            peak += max(values)
        scale, unit = (1 << 20, " MiB") if metric == "rss" else (1, "")
        lines.append(f"  {metric}: {warm / scale:.0f}{unit} after the warm-up, "
                     f"{last / scale:.0f}{unit} last, {peak / scale:.0f}{unit} at peak")
    return lines


def write_report(report: SoakReport, folder: Path) -> Path:
    """Writes `soak.svg`, `samples.csv` and `summary.json` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "samples.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t", "worker", *METRICS])
        for s in report.samples:
            writer.writerow([s.t, s.worker, *(getattr(s, m) for m in METRICS)])
    summary = {"duration": report.duration, "workers": report.workers, "ok": report.ok,
               "findings": report.findings, "worker_results": report.worker_results,
               "samples": len(report.samples)}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "soak.svg").write_text(plot(report))
    return folder


def plot(report: SoakReport) -> str:
    """The SVG of every metric over time, one line per worker."""
    panels = []
    for metric in METRICS:
        scale, unit = (1 << 20, "RSS (MiB)") if metric == "rss" else (1, metric)
        series = {f"worker {w}": [(s.t, getattr(s, metric) / scale) for s in report.samples
                                  if s.worker == w]
                  for w in sorted({s.worker for s in report.samples})}
        grows = any(f": {metric} grows" in f for f in report.findings)
        panels.append(chart.Panel(unit, series, "grows without bound" if grows else ""))
    times = sorted({s.t for s in report.samples})
    marker = times[len(times) // 4] if len(times) >= MIN_SAMPLES else None
    verdict = "passed" if report.ok else f"{len(report.findings)} findings"
    return chart.panels(f"soak: {report.duration:.0f} s, {report.workers} workers — {verdict}",
                        panels, marker)


__all__ = ["ALLOWANCES", "METRICS", "Sample", "SoakReport", "judge", "plot", "resolve_workers",
           "soak", "unbounded_growth", "write_report"]


if __name__ == "__main__":
    print(json.dumps(worker(**json.loads(sys.argv[1]))))
