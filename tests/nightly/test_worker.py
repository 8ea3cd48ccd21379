"""A worker's campaign shares its findings with the whole run through the board."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.campaign import Finding
from harness.executor import run
from harness.nightly.board import SAVED, Board
from harness.nightly.books import Books
from harness.nightly.engines import ENGINES, engine_named, engine_names
from harness.nightly.flight import FlightRecorder
from harness.nightly.layout import RunDir
from harness.nightly.state import RunState
from harness.nightly.worker import Publisher, SharedCampaign, read_stats
from harness.nightly.workforce import Workforce
from harness.targets import make_target

from .helpers import PASSING, program

DIVERGING = PASSING.replace("=> slot 0\nread", "=> slot 1\nread")


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    return RunDir(tmp_path / "run").create()


def campaign(run_dir: RunDir, source: str, found: dict) -> SharedCampaign:
    shared = SharedCampaign("hypothesis", "reference", None, budget=60.0, out=run_dir.found / "reference",
                            board=Board(run_dir.claims), run_root=run_dir.root, source=source)
    shared.divergence_of = found.get
    return shared


def test_the_first_to_see_a_divergence_claims_it_with_its_reproducer(run_dir: RunDir) -> None:
    divergence = run(program(DIVERGING), make_target("reference")).divergence
    found = {divergence.signature: divergence}
    first, second = campaign(run_dir, "worker 0", found), campaign(run_dir, "worker 1", found)
    assert first.knows(divergence.signature) is True  # handed to triage: the engine goes on
    assert second.knows(divergence.signature) is True
    assert first.knows(divergence.signature) is True
    claims = Board(run_dir.claims).all()
    assert len(claims) == 1 and claims[0].source == "worker 0" and claims[0].raw_ops == 5
    assert program(claims[0].raw).statements == divergence.reproducer.statements
    assert (first.hits[divergence.signature], second.hits[divergence.signature]) == (2, 1)
    assert [f.signature for f in first.findings] == [divergence.signature]  # the engine sees it as known


def test_a_finding_without_a_reproducer_is_saved_by_the_engine_and_linked(run_dir: RunDir) -> None:
    shared = campaign(run_dir, "worker 0", {})
    assert shared.knows("crash/SIGSEGV") is False  # the engine saves it itself
    claim = Board(run_dir.claims).get("reference:crash/SIGSEGV")
    assert claim.kind == "crash" and claim.cause == "SIGSEGV" and claim.raw == ""
    saved = run_dir.found / "reference" / "crash-sigsegv-1234.ops"
    saved.parent.mkdir(parents=True)
    saved.write_text("version 1\n")
    shared.findings.append(Finding("crash/SIGSEGV", saved, 3, 1.0, "the target died"))
    shared.settle()
    claim = Board(run_dir.claims).get("reference:crash/SIGSEGV")
    assert claim.status == SAVED and claim.path == "found/reference/crash-sigsegv-1234.ops" and claim.ops == 3
    assert shared.knows("crash/SIGSEGV") is True


def test_published_stats(run_dir: RunDir) -> None:
    files = run_dir.worker(0).create()
    shared = campaign(run_dir, "worker 0", {})
    recorder = FlightRecorder(files.flight)
    recorder.sequences, recorder.ops, recorder.features = 3, 40, {"static/mprotect:grow->number"}
    shared.hits["grow/result/less"] = 2
    Publisher(files, 0, shared, recorder).publish(done=True)
    stats = read_stats(files.stats)
    assert stats["done"] and (stats["sequences"], stats["ops"]) == (3, 40)
    assert stats["hits"] == {"reference:grow/result/less": 2} and stats["features"] == ["static/mprotect:grow->number"]
    assert json.loads(files.stats.read_text()) == stats and read_stats(files.folder / "absent.json") is None


def test_engines_are_looked_up_by_name() -> None:
    assert {"hypothesis", "atheris", "soak"} <= set(ENGINES)
    with pytest.raises(ValueError, match="unknown engine 'hypotesis'; did you mean `hypothesis`"):
        engine_named("hypotesis")


def test_worker_slots_take_the_target_and_engine_pairs_in_turn(tmp_path: Path) -> None:
    state = RunState("r", 60.0, ["reference", "crashy"], "hypothesis,soak", workers=5)
    run = RunDir(tmp_path / "run").create()
    books = Books(run, state, lambda line: None)
    slots = Workforce(books, stop_at=0.0).slots
    assert [(s.target, s.engine) for s in slots] == [
        ("reference", "hypothesis"), ("reference", "soak"), ("crashy", "hypothesis"), ("crashy", "soak"),
        ("reference", "hypothesis")]
    assert slots[1].label == "worker 1 (soak on reference)"


def test_a_missing_engine_package_is_refused_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.engines import atheris_engine

    def missing() -> None:
        raise atheris_engine.AtherisMissing("the atheris engine needs the atheris package: pip install ...")

    monkeypatch.setattr(atheris_engine, "require_atheris", missing)
    with pytest.raises(ValueError, match="needs the atheris package.*or leave it out: --engine hypothesis"):
        engine_names("hypothesis,atheris")
