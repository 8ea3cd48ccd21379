"""`poolfuzz soak` and `poolfuzz lincheck`: report folders, progress, exit statuses, Ctrl-C."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.stress import lincheck, soak

FOLDER = re.compile(r"\d{4}-\d\d-\d\d-[0-9a-f]{6}")


def only_folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    assert FOLDER.fullmatch(folder.name), folder.name
    return folder


def test_soak_writes_its_report_into_a_fresh_folder(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["soak", "--duration", "3s", "--workers", "1", "--out", str(tmp_path),
                   "--epoch", "1.5s", "--interval", "0.25", "--every", "0.5"])
    out = capsys.readouterr().out
    folder = only_folder(tmp_path)
    assert status == 0, out
    assert {p.name for p in folder.iterdir()} == {"samples.csv", "soak.svg", "summary.json",
                                                  "summary.txt"}
    assert out.count("soak 00:00:0") >= 2 and f"report: {folder}" in out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ok"] and summary["interrupted"] is None
    assert set(summary["figures"]) == set(soak.METRICS)
    (worker,) = summary["worker_results"]
    assert worker["before"] == worker["after"] and worker["left"] == {}
    assert "worker 0 after teardown: image memfds 0 -> 0" in (folder / "summary.txt").read_text()


@pytest.mark.parametrize("argv", [["soak", "--workers", "0"], ["soak", "--duration", "0s"],
                                  ["soak", "--mutant", "no-such-bug"],
                                  ["lincheck", "--duration", "soon"]])
def test_misuse_exits_2_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "poolfuzz: error:" in capsys.readouterr().err


def test_ctrl_c_stops_the_workers_and_still_writes_the_report(tmp_path: Path) -> None:
    def interrupt(now: float, samples: list[soak.Sample]) -> None:
        if len(samples) == 3:
            raise KeyboardInterrupt

    report = soak.soak(60, workers=1, out=tmp_path / "r", interval=0.25, epoch=1,
                       progress=interrupt)
    assert report.interrupted is not None and report.ok, report.describe()
    (worker,) = report.worker_results
    assert worker["stopped"] and worker["left"] == {}
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["interrupted"] > 0
    assert "(interrupted after" in (tmp_path / "r" / "summary.txt").read_text()
    assert ", interrupted after" in (tmp_path / "r" / "soak.svg").read_text()


def test_a_second_ctrl_c_kills_the_workers_and_still_writes_the_report(tmp_path: Path) -> None:
    def interrupt(now: float, samples: list[soak.Sample]) -> None:
        if len(samples) >= 2:
            raise KeyboardInterrupt

    report = soak.soak(60, workers=1, out=tmp_path, interval=0.25, epoch=30, progress=interrupt)
    assert report.interrupted is not None
    assert "no result (exit code -9)" in report.findings[0]
    assert json.loads((tmp_path / "summary.json").read_text())["ok"] is False


def test_a_report_written_twice_into_one_folder_is_replaced_whole(tmp_path: Path) -> None:
    samples = [soak.Sample(float(t), 0, 1 << 20, 5, 0, 40, 1) for t in range(3)]
    soak.write_report(soak.SoakReport(3, 1, samples), tmp_path / "r")
    soak.write_report(soak.SoakReport(3, 1, samples[:1], ["a finding"]), tmp_path / "r")
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging folder left
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["findings"] == ["a finding"] and summary["samples"] == 1


def test_figures_sum_workers_and_measure_the_slope_after_the_warm_up() -> None:
    samples = [soak.Sample(float(t), w, 0, 10 + w + (t if t >= 4 else 100), 0, 0, 0)
               for t in range(16) for w in (0, 1)]
    fds = soak.figures(samples)["fds"]
    assert fds["first"] == 110 + 111 and fds["last"] == 25 + 26 and fds["peak"] == 221
    assert fds["slope_per_hour"] == pytest.approx(2 * 3600)
    assert soak.slope([(1.0, 5.0)]) == 0.0 and soak.slope([(1.0, 5.0), (1.0, 6.0)]) == 0.0


def test_lincheck_runs_for_its_duration_and_writes_a_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["lincheck", "--duration", "2s", "--seed", "70000", "--out", str(tmp_path),
                   "--every", "0.5"])
    out = capsys.readouterr().out
    folder = only_folder(tmp_path)
    assert status == 0, out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ok"] and summary["trials"] > 0 and not summary["stopped"]
    assert "all linearizable" in out and f"report: {folder}" in out


def test_lincheck_stops_between_trials_when_asked(tmp_path: Path) -> None:
    done: list[int] = []
    report = lincheck.run(60, seed=5, out=tmp_path, progress=lambda r: done.append(r.trials),
                          stop=lambda: len(done) >= 3)
    assert report.stopped and report.trials == 3 and report.ok
    assert "stopped early" in report.describe()
