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
warm-up dashed), `samples.csv`, `summary.json` (findings, per-metric `figures`, each worker's
resources before and after its pools) and `summary.txt` (`SoakReport.describe`). The folder is
staged beside its final name and renamed into place, so it appears whole or not at all.

**Stopping early.** Workers run in their own process group, so a Ctrl-C at the terminal
reaches only this process, which then asks every worker to stop (SIGTERM: finish the current
epoch, check its leftovers, report), keeps sampling until they have, and writes the report of
what it sampled (`SoakReport.interrupted`). A second Ctrl-C, or a worker that takes longer than
an epoch and `STOP_GRACE` more, ends the workers at once (SIGKILL); the report is written all
the same. A worker whose soak process died ends after its current epoch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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

KEPT_PROBLEMS = 50
"""Problems a worker keeps (it counts them all)."""

STOP_GRACE = 30.0
"""Seconds past an epoch a worker asked to stop may take before it is killed."""

Progress = Callable[[float, list["Sample"]], None]


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
    interrupted: float | None = None  # seconds into the soak when it was asked to stop

    @property
    def ok(self) -> bool:
        """No finding. An interrupted soak may be ok: it judged what it sampled."""
        return not self.findings

    def describe(self) -> str:
        instances = sum(r.get("instances", 0) for r in self.worker_results)
        epochs = sum(r.get("epochs", 0) for r in self.worker_results)
        workers = f"{self.workers} worker" + "s" * (self.workers != 1)
        stopped = ("" if self.interrupted is None
                   else f" (interrupted after {self.interrupted:.0f} s)")
        head = (f"soak of {self.duration:.0f} s{stopped}, {workers}: {epochs} epochs, "
                f"{instances} instances, {len(self.samples)} samples; "
                + ("no finding" if self.ok else f"{len(self.findings)} findings"))
        lines = [head, *self.findings, *summary_lines(self.samples),
                 *teardown_lines(self.worker_results)]
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
         progress: Progress | None = None) -> SoakReport:
    """Runs the soak described in the module docstring and writes its report into the folder
    `out` (`poolfuzz soak` makes a fresh `reports/soak/<date>-<id>/`). Ctrl-C stops it early
    and the report is written all the same."""
    count = resolve_workers(workers)
    report = SoakReport(duration, count)
    started = [_start_worker(n, duration, epoch, threads, target, mutant, seed + 1000 * n)
               for n in range(count)]
    watch = _Watch(report, [process for process, _ in started], time.monotonic(), interval,
                   progress)
    try:
        try:
            if not watch.until(duration + OVERRUN):
                report.findings += [f"worker {n} overran {duration:.0f} s by {OVERRUN:.0f} s "
                                    f"and was stopped" for n in watch.kill()]
        except KeyboardInterrupt:
            report.interrupted = watch.elapsed()
            watch.ask_to_stop()
            if not watch.until(watch.elapsed() + epoch + STOP_GRACE):
                watch.kill()
    except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
        watch.kill()
    report.worker_results = [_result(n, *worker) for n, worker in enumerate(started)]
    report.findings += judge(report.samples, report.worker_results)
    report.folder = write_report(report, out)
    return report


@dataclass
class _Watch:
    """The sampling loop over the worker processes."""

    report: SoakReport
    processes: list[subprocess.Popen]
    started: float
    interval: float
    progress: Progress | None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def until(self, limit: float) -> bool:
        """Samples every `interval` until every worker has exited (True) or `limit` seconds
        into the soak have passed (False)."""
        while any(p.poll() is None for p in self.processes):
            now = self.elapsed()
            if now > limit:
                return False
            for number, process in enumerate(self.processes):
                sample = _sample(number, process.pid, now)
                if sample is not None:
                    self.report.samples.append(sample)
            if self.progress is not None:
                self.progress(now, self.report.samples)
            time.sleep(self.interval)
        return True

    def ask_to_stop(self) -> None:
        """SIGTERM to every live worker: it ends after its current epoch."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()

    def kill(self) -> list[int]:
        """SIGKILL to every live worker; their numbers."""
        killed = []
        for number, process in enumerate(self.processes):
            if process.poll() is None:
                process.kill()
                killed.append(number)
        return killed


def _start_worker(number: int, duration: float, epoch: float, threads: int, target: str,
                  mutant: str | None, seed: int) -> tuple[subprocess.Popen, IO[bytes]]:
    """A worker process, `python -m harness.stress.soak` with its settings as JSON, and the
    file its output goes to (a pipe that nobody reads during the soak could fill up)."""
    settings = json.dumps({"number": number, "duration": duration, "epoch": epoch,
                           "threads": threads, "target": target, "mutant": mutant,
                           "seed": seed})
    # SIGTERM is blocked in the child from the start (the mask survives exec) and unblocked by
    # `_stop_on_sigterm`: a stop asked for while the worker still starts waits for its handler.
    output = tempfile.TemporaryFile()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        return subprocess.Popen([sys.executable, "-m", "harness.stress.soak", settings],
                                stdout=output, stderr=subprocess.STDOUT,
                                process_group=0), output
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _result(number: int, process: subprocess.Popen, output: IO[bytes]) -> dict:
    """The JSON result a worker printed last, or a description of how it failed."""
    process.wait(timeout=30)
    with output:
        output.seek(0)
        lines = output.read().decode(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        result = None
    if isinstance(result, dict):
        return result
    tail = "\n".join(lines[-15:])
    return {"worker": number, "problems": [f"no result (exit code {process.returncode}):\n{tail}"]}


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

    result: dict = {"worker": number, "epochs": 0, "instances": 0, "problems": [],
                    "problem_count": 0}
    stop = _stop_on_sigterm()
    try:
        bug = activate(lookup(mutant)) if mutant else contextlib.nullcontext()
        with bug:
            baseline = leftovers.resources()
            deadline = time.monotonic() + duration
            parent = os.getppid()
            while time.monotonic() < deadline and not stop and os.getppid() == parent:
                config = IsolationConfig(target=target, pools=1, threads=threads, rounds=None,
                                         seed=seed + result["epochs"])
                report = run_isolation(config, min(deadline, time.monotonic() + epoch))
                result["epochs"] += 1
                result["instances"] += report.instances
                found = [f"epoch {result['epochs']}: {p}" for p in report.problems]
                result["problem_count"] += len(found)
                result["problems"] += found[:max(KEPT_PROBLEMS - len(result["problems"]), 0)]
            after = leftovers.resources()
        result.update(before=baseline, after=after, left=leftovers.grown(baseline, after),
                      stopped=bool(stop))
    except Exception:
        result["problems"].append(f"the worker raised:\n{traceback.format_exc()}")
    return result


def _stop_on_sigterm() -> list[int]:
    """A list that becomes non-empty when SIGTERM arrives (the soak asks the worker to stop),
    also when it arrived before this handler was installed (`_start_worker` blocked it)."""
    received: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    return received


# --- judging and reporting ----------------------------------------------------------------------


def judge(samples: list[Sample], results: list[dict]) -> list[str]:
    """The findings of a soak (module docstring)."""
    findings = []
    for result in results:
        worker = result["worker"]
        findings += [f"worker {worker}: {p}" for p in result["problems"][:10]]
        more = result.get("problem_count", 0) - min(len(result["problems"]), 10)
        if more > 0:
            findings.append(f"worker {worker}: {more} more problems")
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


def figures(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Per metric, summed over workers: the first sample, the one when the warm-up ended, the
    last, the peak, and the least-squares slope after the warm-up (per hour)."""
    workers = sorted({s.worker for s in samples})
    result = {}
    for metric in METRICS:
        row = dict.fromkeys(("first", "after_warmup", "last", "peak", "slope_per_hour"), 0.0)
        for worker in workers:
            series = [(s.t, float(getattr(s, metric))) for s in samples if s.worker == worker]
            values = [v for _, v in series]
            row["first"] += values[0]
            row["after_warmup"] += values[len(values) // 4]
            row["last"] += values[-1]
            row["peak"] += max(values)
            row["slope_per_hour"] += slope(series[len(series) // 4:]) * 3600
        result[metric] = {name: round(value, 3) for name, value in row.items()}
    return result


def slope(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of `points` (value per second; 0 for fewer than two times)."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def summary_lines(samples: list[Sample]) -> list[str]:
    """One line per metric of `figures`."""
    lines = []
    for metric, row in figures(samples).items():
        scale, unit = (1 << 20, " MiB") if metric == "rss" else (1, "")
        lines.append(f"  {metric}: {row['first'] / scale:.0f}{unit} first, "
                     f"{row['after_warmup'] / scale:.0f}{unit} after the warm-up, "
                     f"{row['last'] / scale:.0f}{unit} last, {row['peak'] / scale:.0f}{unit} "
                     f"at peak, slope {row['slope_per_hour'] / scale:+.1f}{unit}/h after the "
                     f"warm-up")
    return lines


def teardown_lines(results: list[dict]) -> list[str]:
    """Each worker's memfds and descriptors before its first pool and after its last."""
    lines = []
    for result in results:
        if "before" in result:
            counts = ", ".join(f"{name} {result['before'][name]} -> {result['after'][name]}"
                               for name in result["before"])
            lines.append(f"  worker {result['worker']} after teardown: {counts}")
    return lines


def write_report(report: SoakReport, folder: Path) -> Path:
    """Writes `soak.svg`, `samples.csv`, `summary.json` and `summary.txt` into `folder`.

    The files are staged in a hidden sibling folder: a new `folder` appears by one rename,
    whole; into an existing one, each file is moved in by `os.replace` (`summary.json` last)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    files = {"samples.csv": samples_csv(report.samples), "soak.svg": plot(report),
             "summary.txt": report.describe() + "\n",
             "summary.json": json.dumps(summary(report), indent=2) + "\n"}
    stage = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".partial"))
    try:
        os.chmod(stage, 0o755)  # a report folder, not a private one (mkdtemp makes it 0700)
        for name, text in files.items():
            (stage / name).write_text(text)
        if not folder.exists():
            os.rename(stage, folder)
            return folder
        for name in files:
            os.replace(stage / name, folder / name)
        stage.rmdir()
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return folder


def summary(report: SoakReport) -> dict:
    """What `summary.json` holds."""
    return {"duration": report.duration, "workers": report.workers, "ok": report.ok,
            "interrupted": report.interrupted, "findings": report.findings,
            "figures": figures(report.samples), "worker_results": report.worker_results,
            "samples": len(report.samples)}


def samples_csv(samples: list[Sample]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["t", "worker", *METRICS])
    for s in samples:
        writer.writerow([s.t, s.worker, *(getattr(s, m) for m in METRICS)])
    return text.getvalue()


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
    if report.interrupted is not None:
        verdict += f", interrupted after {report.interrupted:.0f} s"
    workers = f"{report.workers} worker" + "s" * (report.workers != 1)
    return chart.panels(f"soak: {report.duration:.0f} s, {workers} — {verdict}", panels, marker)


__all__ = ["ALLOWANCES", "METRICS", "Sample", "SoakReport", "figures", "judge", "plot",
           "resolve_workers", "slope", "soak", "unbounded_growth", "write_report"]


if __name__ == "__main__":
    print(json.dumps(worker(**json.loads(sys.argv[1]))))
