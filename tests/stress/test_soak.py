"""Soak: growth detection, leftovers after teardown, and the report it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.stress import soak
from harness.stress.soak import Sample, SoakReport, unbounded_growth


def test_steady_values_are_not_growth() -> None:
    assert unbounded_growth([10, 50, 40, 55, 48, 52, 47, 53, 49, 51, 50, 52, 48, 50], 16) == ""


def test_a_rising_peak_in_every_third_beyond_the_allowance_is_growth() -> None:
    leak = [10 * n for n in range(40)]
    assert "rose in every third" in unbounded_growth(leak, 16)
    assert unbounded_growth(leak, 10_000) == ""  # within the allowance
    assert unbounded_growth(leak[:8], 1) == ""  # too few samples to judge


def test_workers_auto_is_the_cpus_this_process_may_use() -> None:
    import os

    assert soak.resolve_workers("auto") == len(os.sched_getaffinity(0))
    assert soak.resolve_workers(3) == 3
    with pytest.raises(ValueError, match="expected 'auto' or a positive number"):
        soak.resolve_workers(0)


def test_the_plot_has_a_panel_per_metric_and_marks_growth() -> None:
    samples = [Sample(float(t), 0, 40 << 20, 10 + t, t, 100, 3) for t in range(20)]
    report = SoakReport(20, 1, samples, ["worker 0: memfds grows without bound: ..."])
    picture = soak.plot(report)
    assert picture.startswith("<svg") and picture.count("<polyline") == len(soak.METRICS)
    assert "grows without bound" in picture and "RSS (MiB)" in picture


def test_a_short_soak_of_the_clean_allocator_leaves_nothing(tmp_path: Path) -> None:
    report = soak.soak(4, workers=1, out=tmp_path, interval=0.5, epoch=2)
    assert report.ok, report.describe()
    (result,) = report.worker_results
    assert result["epochs"] >= 1 and result["instances"] > 0 and result["left"] == {}
    assert len(report.samples) > 2
    assert {"soak.svg", "samples.csv", "summary.json"} <= {p.name for p in tmp_path.iterdir()}
    assert json.loads((tmp_path / "summary.json").read_text())["ok"] is True


def test_a_memfd_leak_is_found_after_teardown(tmp_path: Path) -> None:
    report = soak.soak(3, workers=1, out=tmp_path, interval=0.25, epoch=3,
                       mutant="memfd-not-closed-on-drop")
    assert not report.ok
    assert any("image memfds" in f and "after closing every pool" in f for f in report.findings)
    assert any("more image memfds at the end than at the start" in f for f in report.findings)


@pytest.mark.stress
@pytest.mark.slow
def test_a_half_minute_soak_on_every_cpu(tmp_path: Path) -> None:
    report = soak.soak(30, workers="auto", out=tmp_path, interval=0.5, epoch=10)
    assert report.ok, report.describe()


@pytest.mark.stress
@pytest.mark.slow
def test_a_leak_shows_as_growth_without_bound(tmp_path: Path) -> None:
    report = soak.soak(12, workers=1, out=tmp_path, interval=0.25, epoch=12,
                       mutant="memfd-not-closed-on-drop")
    assert any("memfds grows without bound" in f for f in report.findings), report.describe()
