"""Run state: time is charged ahead while a session runs, so resumed sessions never exceed the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.nightly.state import LEASE, RunState, Series


def test_a_running_session_is_charged_its_time_plus_the_lease() -> None:
    state = RunState("r", budget=100.0, targets=["reference"])
    start = state.begin_session()
    state.charge(start, 10.0)
    assert state.consumed == 10.0 + LEASE
    state.charge(start, 99.0)
    assert state.consumed == 100.0  # never past the budget while running
    state.charge(start, 12.5, final=True)
    assert state.consumed == 12.5 and state.remaining == 87.5


def test_a_killed_session_is_closed_and_the_next_starts_where_it_was_charged(tmp_path: Path) -> None:
    state = RunState("r", budget=60.0, targets=["crashy"])
    start = state.begin_session()
    state.charge(start, 20.0)
    state.save(tmp_path / "state.json")  # then kill -9
    resumed = RunState.load(tmp_path / "state.json")
    assert resumed.begin_session() == 20.0 + LEASE
    assert resumed.sessions[0]["ended"] == "killed" and resumed.sessions[1]["ended"] is None
    assert resumed.remaining == 60.0 - 20.0 - LEASE


def test_loading_something_else_fails_with_the_file_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        RunState.load(tmp_path / "state.json")
    (tmp_path / "state.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not the state of a nightly run"):
        RunState.load(tmp_path / "state.json")


def test_series_skips_a_line_cut_short(tmp_path: Path) -> None:
    series = Series(tmp_path / "series.jsonl")
    assert series.load() == []
    series.append({"t": 1})
    series.append({"t": 2})
    with (tmp_path / "series.jsonl").open("a") as handle:
        handle.write('{"t": 3, "ops"')
    assert series.load() == [{"t": 1}, {"t": 2}]
