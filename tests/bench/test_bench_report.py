"""`poolfuzz bench` end to end (smoke plan): the JSON's shape, the claims' exact counts, the
renderings. No timing is asserted: only that each figure is there and is a positive number."""

from __future__ import annotations

import math

from harness.bench import plot, tables
from harness.bench.cycle import CASES
from harness.bench.plan import POOL_SIZES, SMOKE
from harness.bench.wasmtime_cycle import wasmtime_missing
from html_pages import assert_self_contained, elements, needs_chromium, render_in_chromium

WASMTIME = wasmtime_missing() is None


def positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def measured_if_wasmtime(value: object) -> bool:
    return positive(value) if WASMTIME else value is None


def test_sections_are_all_there(smoke):
    report, _, _ = smoke
    assert set(report) == {"meta", "cycle", "ops_per_s", "scaling", "op_cost", "claims", "ratios", "targets"}
    assert report["meta"]["plan"] == "smoke" and report["meta"]["repeats"] == SMOKE.repeats


def test_cycle_has_every_case_and_contender(smoke):
    cycle = smoke[0]["cycle"]
    assert list(cycle) == [case.key for case in CASES]
    assert list(cycle) == ["N=0 kr=off", "N=0 kr=on", "N=16 kr=off", "N=16 kr=on", "N=256 kr=off", "N=256 kr=on"]
    for figures in cycle.values():
        assert positive(figures["reference_us"]) and positive(figures["floor_us"])
        assert measured_if_wasmtime(figures["wasmtime_us"])
        assert figures["reference_per_floor"] == figures["reference_us"] / figures["floor_us"]
        assert measured_if_wasmtime(figures["reference_per_wasmtime"])


def test_throughput_checked_and_unchecked_for_both_engines(smoke):
    ops = smoke[0]["ops_per_s"]
    assert set(ops) == {"checked", "unchecked", "checked_per_unchecked", "engines"}
    assert set(ops["engines"]) == {"hypothesis", "atheris"}
    for figures in [ops, *ops["engines"].values()]:
        assert positive(figures["checked"]) and positive(figures["unchecked"])
        assert figures["checked_per_unchecked"] == figures["checked"] / figures["unchecked"]


def test_scaling_by_pool_size_and_by_length(smoke):
    report = smoke[0]
    assert list(report["scaling"]) == ["10", "1000", "10000"] == [str(n) for n in POOL_SIZES]
    for figures in report["scaling"].values():
        assert positive(figures["reference_us"]) and measured_if_wasmtime(figures["wasmtime_us"])
    assert list(report["op_cost"]) == [str(n) for n in SMOKE.lengths]
    for length, figures in report["op_cost"].items():
        assert 0 < figures["ops"] <= int(length)
        assert positive(figures["checked_us"]) and positive(figures["unchecked_us"])


def test_claims_are_the_exact_counts(smoke):
    claims = smoke[0]["claims"]
    assert claims["mprotect_per_reuse"] == {"static": 2, "dynamic": 0}
    faults = claims["faults_per_reuse"]
    assert (faults["keep_resident_off"], faults["keep_resident_on"]) == (16, 0)
    if WASMTIME:
        assert faults["wasmtime"]["keep_resident_on"] == 0
    else:
        assert faults["wasmtime"] is None
    assert claims["syscalls_per_reuse"] == {
        "fast_path": 0,
        "decommit_path": 1,
        "calls": {"fast_path": {"memset": 1}, "decommit_path": {"madvise": 1}},
    }


def test_ratios_and_targets(smoke):
    report = smoke[0]
    ratios = report["ratios"]
    assert set(ratios["reference_per_floor"]) == set(report["cycle"])
    assert positive(ratios["checked_per_unchecked"]) and ratios["scaling_spread"] >= 1
    assert [t["limit"] for t in report["targets"]] == [1.5, 3.0, 1 / 3, 1.2]
    for target in report["targets"]:
        assert target["met"] in (True, False) or (target["met"] is None and not WASMTIME)


def test_the_benchmark_page_is_self_contained_with_its_charts_and_tables(smoke):
    report, out, _ = smoke
    page = (out / "bench.html").read_text()
    parsed = elements(page)
    assert_self_contained(parsed)
    assert parsed.tags.count("svg") == 5  # three targets' ratios, pool size, sequence length
    for title in ("1. Cycle", "2. Harness throughput", "3a. Cycle N=16", "3b. Op cost", "4. Claims", "5. Targets",
                  "Checked / unchecked ops per second", "limit 0.33x", "N=256 kr=on"):
        assert title in page
    assert parsed.tags.count("tr") == sum(len(table.rows) + 1 for table in tables.tables(report))


@needs_chromium
def test_the_benchmark_page_renders_in_headless_chromium(smoke, tmp_path):
    dom, _ = render_in_chromium(smoke[1] / "bench.html", tmp_path, height=1600)
    assert dom.count("<svg") == 5 and "5. Targets" in dom


def test_tables_markdown_and_plot(smoke):
    report, out, printed = smoke
    markdown = (out / "bench.md").read_text()
    for title in ("1. Cycle", "2. Harness throughput", "3a. Cycle N=16", "3b. Op cost", "4. Claims", "5. Targets"):
        assert title in printed and f"## {title}" in markdown
    assert "| N=256 kr=on |" in markdown
    assert (out / "bench.png").exists() == plot.available()
    assert ("![figures](bench.png)" in markdown) == plot.available()
