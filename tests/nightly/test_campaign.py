"""Whole campaigns, as `python -m harness.nightly` runs them: crashes and hangs of the target
become minimized findings, and the campaign goes on to the end of its budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.nightly import report_json
from harness.nightly.isolate import run_isolated
from harness.text import parse_file

from .helpers import PASSING, SEGV, corpus, load_report, only_run, run_nightly

HANG = "version 1\npool memories=1 max-memory=1MiB\nshared s1 min=0 max=4\nshared-grow s1 1\n"
"""With `POOLFUZZ_CRASHY=hang=1`, the shared-grow never returns. Already minimal, so its triage is
quick and the workers keep the cores to the end of the budget."""

EXHAUST = "version 1\npool memories=1 max-memory=1MiB\nmodule a min=1\ninstantiate i1 a\nread i1 0 16\n"
"""With `POOLFUZZ_CRASHY=oom`, the 16-byte read takes memory until it is killed."""

BUDGET = 30.0


def test_a_segfaulting_target_gives_a_minimized_finding_and_the_campaign_runs_on(crashy, tmp_path: Path) -> None:
    crashy("segv=1")  # the corpus's segv file faults at once; the fuzzing workers reach a grow sooner or later
    done = run_nightly(tmp_path / "reports", "--budget", f"{BUDGET:g}s", "--workers", "2", "--target", "crashy",
                       "--corpus", str(corpus(tmp_path / "corpus", passing=PASSING, segv=SEGV)), "--hang-timeout", "10s")
    assert done.returncode == 1, done.stderr[-3000:]
    run = only_run(tmp_path / "reports")
    report = load_report(run)
    assert report_json.validate(report) == []  # (checked when jsonschema is installed)

    crash = {f["signature"]: f for f in report["findings"]}["crash/SIGSEGV/grow"]
    assert crash["kind"] == "crash" and crash["cause"] == "SIGSEGV" and crash["last_op"] == "grow i1 1 => 1"
    assert crash["minimized"] and crash["ops"] == 3 and crash["raw_ops"] == 8
    reproducer = parse_file(crash["path"])
    assert [op.kind for op in reproducer.statements] == ["module", "instantiate", "grow"]
    assert run_isolated(reproducer, "crashy", timeout=30).cause == "SIGSEGV"

    deaths = [d for d in report["deaths"] if d["cause"] == "SIGSEGV"]
    assert crash["detections"] >= 1 + len(deaths)  # the corpus's, and each worker that died of it
    after = [s for s in report["resources"]["samples"] if s["t"] > crash["seconds"] + 2 and s["processes"]]
    assert sum(1 for s in after if any(p["name"].startswith("worker ") for p in s["processes"])) >= 5
    series = report["series"]
    at_finding = max(s["ops"] for s in series if s["t"] <= crash["seconds"])
    assert series[-1]["ops"] > at_finding  # work went on after the finding
    assert BUDGET - 6 <= report["budget"]["consumed"] <= BUDGET + 1  # to the end of the budget, not past it
    assert series[-1]["t"] >= BUDGET - 6
    assert report["corpus"]["counts"]["passed"] == 1 and report["run"]["status"] == "finished"
    assert "exit 1: findings" in done.stdout and "crash/SIGSEGV/grow on crashy" in done.stdout
    assert (run / "report.html").read_text().count("<svg") == 6


def test_workers_that_crash_or_hang_are_replaced_and_their_deaths_are_findings(crashy, tmp_path: Path) -> None:
    crashy("hang=1,segv=1")  # soak: worker 0 starts its rounds at hang.ops, worker 1 at passing.ops, then segv.ops
    done = run_nightly(tmp_path / "reports", "--engine", "soak", "--budget", "15s", "--workers", "2", "--target", "crashy",
                       "--corpus", str(corpus(tmp_path / "corpus", hang=HANG, passing=PASSING, segv=SEGV)),
                       "--hang-timeout", "2s")
    assert done.returncode == 1, done.stderr[-3000:]
    report = load_report(only_run(tmp_path / "reports"))
    deaths = {(d["slot"], d["cause"], d["signature"]) for d in report["deaths"]}
    assert {(0, "timeout", "crash/timeout/shared-grow"), (1, "SIGSEGV", "crash/SIGSEGV/grow")} <= deaths
    assert "worker 0 (soak on crashy) made no progress for 2 s on `shared-grow s1 1`: killing it" in done.stderr
    first = min(d["seconds"] for d in report["deaths"] if d["slot"] == 1)
    later = [p["name"] for s in report["resources"]["samples"] if s["t"] > first for p in s["processes"]]
    assert "worker 1" in later  # a new worker took the slot
    finding = {f["signature"]: f for f in report["findings"]}["crash/timeout/shared-grow"]
    assert finding["kind"] == "hang" and finding["ops"] == 2 and finding["minimized"]
    assert report["corpus"]["counts"] == {"passed": 1, "documented": 0, "failed": 0, "skipped": 0, "malformed": 0,
                                         "crashed": 2}


@pytest.mark.slow  # depends on how fast the child allocates on a loaded machine: `-m slow`
def test_a_worker_exhausting_memory_is_killed_at_the_limit(crashy, tmp_path: Path) -> None:
    crashy("oom")
    done = run_nightly(tmp_path / "reports", "--engine", "soak", "--budget", "15s", "--workers", "1", "--target", "crashy",
                       "--corpus", str(corpus(tmp_path / "corpus", exhaust=EXHAUST)), "--rss-limit-mb", "300")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "worker 0 (soak on crashy) passed 300 MiB resident: killing it" in done.stderr
    report = load_report(only_run(tmp_path / "reports"))
    assert [d["signature"] for d in report["deaths"] if d["cause"] == "oom"][:1] == ["crash/oom/read"]
    finding = {f["signature"]: f for f in report["findings"]}["crash/oom/read"]
    assert finding["kind"] == "oom" and finding["ops"] == 3
