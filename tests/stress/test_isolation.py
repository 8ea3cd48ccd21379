"""Many threads per pool churn instances: each sees only its own image and cookies."""

from __future__ import annotations

import pytest

from harness.mutants import activate
from harness.stress import workload
from harness.stress.workload import IsolationConfig, run_isolation


def needs_wasmtime() -> None:
    pytest.importorskip("wasmtime")


@pytest.mark.parametrize("seed", [0, 1])
def test_reference_instances_stay_isolated(seed: int) -> None:
    report = run_isolation(IsolationConfig(target="reference", pools=2, threads=4, rounds=40,
                                           seed=seed))
    assert report.ok, report.describe()
    assert report.instances > 50 and report.grows > 0 and report.modules >= 2 * 4 * 6


@pytest.mark.wasmtime
def test_wasmtime_instances_stay_isolated() -> None:
    needs_wasmtime()
    report = run_isolation(IsolationConfig(target="wasmtime", pools=2, threads=4, rounds=30))
    assert report.ok, report.describe()
    assert report.instances > 50 and report.grows > 0


def test_stale_bytes_of_a_previous_tenant_are_reported_with_their_owner() -> None:
    with activate("skip-madvise-on-clear"):
        report = run_isolation(IsolationConfig(target="reference", pools=1, threads=4,
                                               rounds=40))
    assert not report.ok
    assert any("foreign cookies: pool 0 thread" in p for p in report.problems), report.describe()


def test_foreign_cookies_are_decoded() -> None:
    own = workload.cookie(0, 1, 7, 3)
    other = workload.cookie(2, 3, 9, 1)
    data = bytes(100) + own + bytes(20) + other
    assert workload.foreign_cookies(data, own) == ["pool 2 thread 3 instance 9 at 0x88"]


def test_pool_settings_stay_within_what_each_target_honours() -> None:
    import random

    rng = random.Random(0)
    specs = [workload.pool_spec("wasmtime", rng, 8) for _ in range(50)]
    assert {s.strategy for s in specs} == {"reuse-affinity"}
    assert all(s.guard == 0 for s in specs if s.style == "dynamic")
    assert {s.growth for s in specs} == {"mprotect"}


@pytest.mark.stress
@pytest.mark.slow
@pytest.mark.parametrize("switch", [None, 1e-5])
@pytest.mark.parametrize("seed", range(4))
def test_reference_isolation_under_long_churn(seed: int, switch: float | None) -> None:
    config = IsolationConfig(target="reference", pools=3, threads=6, rounds=1000, seed=100 + seed,
                             switch_interval=switch)
    report = run_isolation(config)
    assert report.ok, report.describe()


@pytest.mark.stress
@pytest.mark.slow
@pytest.mark.wasmtime
@pytest.mark.parametrize("seed", range(3))
def test_wasmtime_isolation_under_long_churn(seed: int) -> None:
    needs_wasmtime()
    report = run_isolation(IsolationConfig(target="wasmtime", pools=2, threads=6, rounds=500,
                                           seed=200 + seed))
    assert report.ok, report.describe()
