"""Reports: report.json follows the shipped schema; report.html is one offline file with SVG plots."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.executor import run
from harness.nightly import report_html, report_json, summary
from harness.nightly.board import SAVED, Board, divergence_claim
from harness.nightly.deaths import crash_claim
from harness.nightly.layout import RunDir
from harness.nightly.state import FINISHED, RunState, Series
from harness.targets import make_target

from html_pages import assert_self_contained, elements, needs_chromium, render_in_chromium

from .helpers import PASSING, SEGV, program



def sample(t: float, ops: int, findings: int) -> dict:
    processes = [{"name": f"worker {i}", "target": "crashy", "pid": 100 + i, "rss": (40 + i + t) * 2**20,
                  "fds": 5 + i, "maps": 200 + int(t), "cpu": 97.5} for i in range(2)]
    processes = [{**p, "rss": int(p["rss"])} for p in processes]
    return {"t": t, "sequences": ops // 50, "ops": ops, "features": min(int(t) * 3, 40), "coverage": None,
            "findings": findings, "processes": processes}


@pytest.fixture
def finished_run(tmp_path: Path) -> RunDir:
    """A run folder as a finished run leaves it: state, series, one saved and one waiting claim."""
    run_dir = RunDir(tmp_path / "2025-01-31-abcdef").create()
    state = RunState(run_dir.run_id, 60.0, ["crashy", "reference"], workers=2)
    start = state.begin_session()
    state.totals = {"sequences": 120, "ops": 6000}
    state.features = ["static/mprotect:grow->number", "dynamic/memfd:write->ok"]
    state.hits = {"crashy:crash/SIGSEGV/grow": 4}
    state.deaths = [{"seconds": 3.5, "slot": 0, "target": "crashy", "cause": "SIGSEGV", "signature": "crash/SIGSEGV/grow"}]
    state.corpus_results = [{"path": "corpora/a.ops", "target": "crashy", "status": "passed", "signature": None,
                             "detail": "", "seconds": 0.1},
                            {"path": "corpora/b.ops", "target": "crashy", "status": "crashed", "signature": "crash/SIGSEGV/grow",
                             "detail": "", "seconds": 0.1}]
    state.status = FINISHED
    state.end_session("budget")
    state.charge(start, 59.0, final=True)
    state.save(run_dir.state)
    series = Series(run_dir.series)
    for i in range(30):
        series.append(sample(2.0 * i, 200 * i, 0 if i < 2 else 1))
    board = Board(run_dir.claims)
    crash = crash_claim("crashy", "SIGSEGV", SEGV, "grow i1 1", 3.5, "worker 0", "Fatal Python error: Segmentation fault")
    board.claim(crash)
    path = run_dir.found / "crashy" / "crash-sigsegv-grow-00000000.ops"
    path.parent.mkdir(parents=True)
    path.write_text("version 1\n# finding: crash/SIGSEGV/grow (target crashy)\nmodule a min=1\ninstantiate i1 a\ngrow i1 1\n")
    crash.status, crash.path, crash.ops, crash.minimized = SAVED, str(path.relative_to(run_dir.root)), 3, True
    board.update(crash)
    divergence = run(program(PASSING.replace("=> slot 0\nread", "=> slot 1\nread")), make_target("reference")).divergence
    board.claim(divergence_claim("reference", divergence, PASSING, 30.0, "worker 1 <script>alert(1)</script>"))
    return run_dir


def build(run_dir: RunDir) -> dict:
    state = RunState.load(run_dir.state)
    return report_json.build(run_dir, state, Board(run_dir.claims).all(), Series(run_dir.series).load())


def test_the_report_validates_against_the_shipped_schema(finished_run: RunDir) -> None:
    pytest.importorskip("jsonschema")
    report = build(finished_run)
    assert report_json.validate(report) == []
    assert report["exit_status"] == 1
    assert [f["signature"] for f in report["findings"]] == ["crash/SIGSEGV/grow", "instantiate/result/differs"]
    crash = report["findings"][0]
    assert crash["detections"] == 4 and crash["reproducer"].endswith("grow i1 1\n")
    assert crash["replay"].endswith("--target crashy")
    assert report["faults_by_op_kind"]["grow"]["crash"] == 4 and report["faults_by_op_kind"]["instantiate"]["divergence"] == 1
    assert report["series"][0]["ops_per_s"] is None and report["series"][-1]["ops_per_s"] == pytest.approx(100.0)
    assert report["resources"]["peak"]["fds"] == 6 and report["corpus"]["counts"]["crashed"] == 1
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize("damage", [
    lambda r: r.pop("budget"),
    lambda r: r["findings"][0].update(kind="explosion"),
    lambda r: r["findings"][0].update(cause=None),
    lambda r: r["series"][3].update(ops=-1),
    lambda r: r.update(exit_status=3),
    lambda r: r["resources"]["samples"][0]["processes"][0].pop("rss"),
])
def test_the_schema_refuses_a_damaged_report(finished_run: RunDir, damage) -> None:
    pytest.importorskip("jsonschema")
    report = copy.deepcopy(build(finished_run))
    damage(report)
    assert report_json.validate(report)


def test_the_schema_file_is_shipped_beside_the_module() -> None:
    schema = json.loads(report_json.SCHEMA_PATH.read_text())
    assert schema["$schema"].endswith("2020-12/schema") and "findings" in schema["required"]


def test_the_html_report_is_self_contained_with_svg_plots(finished_run: RunDir) -> None:
    report = build(finished_run)
    report_html.write(report, finished_run.report_html)
    html = finished_run.report_html.read_text()
    parser = elements(html)
    assert parser.tags.count("svg") == 6  # throughput, coverage, faults per op kind, RSS, fds, mappings
    assert parser.tags.count("polyline") >= 8 and "rect" in parser.tags
    assert_self_contained(parser)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for text in ("crash/SIGSEGV/grow", "Throughput", "Coverage over time", "Resident memory", "Memory mappings",
                 "Open file descriptors", "Detections per op kind", "grow i1 1", "exit 1: findings"):
        assert text in html


@needs_chromium
def test_the_html_report_renders_in_headless_chromium(finished_run: RunDir, tmp_path: Path) -> None:
    report_html.write(build(finished_run), finished_run.report_html)
    dom, _ = render_in_chromium(finished_run.report_html, tmp_path)
    assert dom.count("<svg") == 6 and "crash/SIGSEGV/grow" in dom


def test_the_summary_fits_one_screen(finished_run: RunDir) -> None:
    report = build(finished_run)
    report["findings"] = report["findings"] * 10
    text = summary.render(report, finished_run)
    lines = text.splitlines()
    assert len(lines) <= 24 and all(len(line) < 200 for line in lines)
    assert lines[0] == f"poolfuzz nightly {finished_run.run_id}: finished"
    assert "... and 12 more" in text and lines[-1] == "exit 1: findings"
    assert str(finished_run.report_html) in text


def test_a_harness_error_makes_the_exit_status_2(finished_run: RunDir) -> None:
    state = RunState.load(finished_run.state)
    state.errors.append({"seconds": 1.0, "message": "worker 0 (crashy) exited with status 3"})
    report = report_json.build(finished_run, state, [], [])
    assert report["exit_status"] == 2 and report["series"] == [] and report_json.validate(report) == []
    assert "errors    1: worker 0" in summary.render(report, finished_run)
