"""The claim board: one claim per finding key, whoever sees it first, whole from the start."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from harness.crashes import crash_signature
from harness.nightly.board import CLAIMED, SAVED, Board, Claim, describe_cause, finding_key, kind_of_cause


def claim(key_suffix: str = "", seconds: float = 1.0, **extra) -> Claim:
    signature = crash_signature("SIGSEGV", "grow") + key_suffix
    return Claim(finding_key("crashy", signature), "crashy", signature, "crash", "version 1\n", seconds, "test",
                 cause="SIGSEGV", op_kind="grow", **extra)


def test_signatures_and_kinds() -> None:
    assert crash_signature("SIGSEGV", "grow") == "crash/SIGSEGV/grow"
    assert crash_signature("timeout", None) == "crash/timeout/none"
    assert [kind_of_cause(c) for c in ("SIGABRT", "timeout", "oom", "exception-KeyError")] == ["crash", "hang", "oom", "crash"]
    assert finding_key("reference", "grow/result/less") == "reference:grow/result/less"
    assert describe_cause("exception-KeyError") == "raised KeyError" and "hung" in describe_cause("timeout")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown finding kind"):
        Claim("k", "t", "s", "explosion", "", 0.0, "test")


def test_first_claim_wins_and_update_replaces(tmp_path: Path) -> None:
    board = Board(tmp_path / "claims")
    assert board.claim(claim()) is True
    assert board.claim(claim(seconds=5.0)) is False
    assert board.get(claim().key).seconds == 1.0
    saved = board.get(claim().key)
    saved.status, saved.path = SAVED, "found/x.ops"
    board.update(saved)
    assert board.get(claim().key).status == SAVED and board.pending() == []


def test_all_is_in_order_of_detection_and_ignores_temporary_files(tmp_path: Path) -> None:
    board = Board(tmp_path)
    board.claim(claim("/b", seconds=3.0))
    board.claim(claim("/a", seconds=2.0))
    (tmp_path / ".claim.123.tmp").write_text("{")
    assert [c.seconds for c in board.all()] == [2.0, 3.0]
    assert all(c.status == CLAIMED for c in board.pending())


def _race(folder: str, start, results) -> None:
    start.wait()
    results.put((os.getpid(), Board(Path(folder)).claim(claim())))


def test_exactly_one_of_many_processes_gets_the_claim(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    racers = [context.Process(target=_race, args=(str(tmp_path), start, results)) for _ in range(8)]
    for racer in racers:
        racer.start()
    start.set()
    outcomes = [results.get(timeout=30)[1] for _ in racers]
    for racer in racers:
        racer.join(30)
    assert outcomes.count(True) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1
