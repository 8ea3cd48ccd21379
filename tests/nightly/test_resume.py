"""Nothing is lost: a campaign killed with SIGKILL, SIGINT or SIGTERM keeps every finding on disk,
and `--resume DIR` continues it within the budget it has left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from harness.nightly.board import Board
from harness.nightly.state import RunState

from .helpers import PASSING, ROOT, SEGV, corpus, load_report, nightly_command, only_run, run_nightly

BUDGET = 20.0


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(nightly_command(tmp_path / "reports", *args), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_for_work(tmp_path: Path, process: subprocess.Popen, seconds: float, timeout: float = 60) -> Path:
    """The run folder, once the corpus replay is done, a finding is claimed, workers have run and
    the campaign is at least `seconds` old."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        runs = list((tmp_path / "reports").glob("*/state.json"))
        if runs:
            run = runs[0].parent
            state = json.loads(runs[0].read_text())
            samples = [json.loads(line) for line in (run / "series.jsonl").read_text().splitlines()[:-1]] \
                if (run / "series.jsonl").exists() else []
            workers_ran = any(p["name"].startswith("worker") for s in samples for p in s["processes"])
            if state["corpus_results"] is not None and Board(run / "claims").all() and workers_ran \
                    and state["sessions"][-1]["seconds"] >= seconds:
                return run
        time.sleep(0.2)
    pytest.fail("the campaign did not get going")


def test_kill_9_then_resume_loses_no_finding_and_keeps_to_the_budget(crashy, tmp_path: Path) -> None:
    crashy("segv=1")
    process = start(tmp_path, "--budget", f"{BUDGET:g}s", "--workers", "2", "--target", "crashy", "--hang-timeout", "10s",
                    "--corpus", str(corpus(tmp_path / "corpus", segv=SEGV, passing=PASSING)))
    run = wait_for_work(tmp_path, process, seconds=5)
    children = psutil.Process(process.pid).children(recursive=True)
    process.kill()
    process.wait()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"processes outlived the killed campaign: {alive}"

    before = {claim.key for claim in Board(run / "claims").all()}
    killed = RunState.load(run / "state.json")
    assert any(key.startswith("crashy:crash/SIGSEGV/grow@") for key in before)  # @ the crash's stack
    assert killed.sessions[0]["ended"] is None and killed.consumed >= killed.sessions[0]["seconds"] >= 5

    started = time.monotonic()
    done = run_nightly(tmp_path / "elsewhere", "--resume", str(run), "--workers", "2")
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"{BUDGET - killed.consumed:.0f} s of {BUDGET:.0f} s left" in done.stderr

    report = load_report(run)
    after = {f["key"]: f for f in report["findings"]}
    assert before <= set(after)  # no finding lost
    for finding in after.values():
        assert finding["status"] == "saved" and Path(finding["path"]).is_file()
    first, second = report["run"]["sessions"]
    assert (first["ended"], second["ended"]) == ("killed", "budget") and second["at"] == pytest.approx(killed.consumed, abs=0.01)
    assert second["at"] + second["seconds"] <= BUDGET + 0.5 and report["budget"]["consumed"] <= BUDGET + 0.5
    assert took < BUDGET - killed.consumed + 15  # the resumed session ran for what was left, not a new budget
    assert not (tmp_path / "elsewhere").exists()  # a resume continues the run in its own folder


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_campaign_with_its_findings_saved(crashy, tmp_path: Path, sig: signal.Signals) -> None:
    crashy("segv=1")
    process = start(tmp_path, "--engine", "soak", "--budget", "60s", "--workers", "1", "--target", "crashy",
                    "--corpus", str(corpus(tmp_path / "corpus", segv=SEGV, passing=PASSING)))
    run = wait_for_work(tmp_path, process, seconds=1)
    sent = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert time.monotonic() - sent < 15
    assert process.returncode == 1, err[-3000:]  # findings
    assert f"{sig.name}: stopping; findings so far are kept" in err
    assert f"resume    poolfuzz nightly --resume {run}" in out
    report = load_report(only_run(tmp_path / "reports"))
    assert report["run"]["status"] == "interrupted" and report["run"]["sessions"][0]["ended"] == "interrupted"
    finding = {f["signature"]: f for f in report["findings"]}["crash/SIGSEGV/grow"]
    assert finding["status"] == "saved" and Path(finding["path"]).is_file()
    assert report["budget"]["consumed"] < 30
