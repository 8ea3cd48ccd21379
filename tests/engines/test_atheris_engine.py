"""The atheris engine: the libFuzzer entry on a few inputs, a short campaign that finds a planted
bug, crash artifacts turned into findings, and the errors it reports."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from harness import mutants, replay, validate
from harness.campaign import Campaign
from harness.engines import atheris_engine, atheris_main
from harness.engines.atheris_engine import (
    FuzzerStatus,
    crash_cause,
    decode,
    fuzz,
    run_decoded,
)
from harness.executor import run
from harness.targets import available, make_target
from harness.text import parse_file

needs_atheris = pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed")

REGRESSION = Path(__file__).resolve().parents[2] / "corpora" / "regression"
INPUTS = [b"", b"\x00" * 64, bytes(range(256)), b"\xff" * 300, b"\x01\x02\x03\x04" * 64,
          *[path.read_bytes() for path in sorted(REGRESSION.glob("*.ops"))[:5]]]
"""Edge cases and text: none shows a bug on the clean reference."""


_rng = random.Random(7)
RANDOM_INPUTS = [_rng.randbytes(n) for n in range(100, 400, 10)]
"""Fixed inputs, several of which show the planted bug (about one random input in five does)."""


def reference():
    return make_target("reference")


def test_run_decoded_runs_the_decoded_program() -> None:
    for data in INPUTS + RANDOM_INPUTS[:10]:
        outcome = run_decoded(data, reference())
        assert outcome.passed, outcome.divergence.describe() if outcome.divergence else outcome.skipped
        assert outcome.program == decode(data) and outcome.ops == len(outcome.program.statements)


def test_run_decoded_diverges_where_the_decoded_program_does() -> None:
    diverged = 0
    with mutants.activate("skip-madvise-on-clear"):
        for data in RANDOM_INPUTS:
            fused, whole = run_decoded(data, reference()), run(decode(data), reference())
            assert (fused.divergence is None) == (whole.divergence is None)
            if fused.divergence is not None:
                diverged += 1
                assert fused.divergence.signature == whole.divergence.signature
                assert fused.program == decode(data).prefix(fused.divergence.index + 1)
    assert diverged


def test_test_one_input_runs_every_input_and_finds_nothing_on_the_clean_reference(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    session = atheris_main.configure("reference", out=tmp_path / "found", stats=stats)
    for data in INPUTS:
        atheris_main.TestOneInput(data)
    session.write_stats()
    reported = json.loads(stats.read_text())
    assert reported["sequences"] == len(INPUTS) and reported["ops"] > 0
    assert reported["findings"] == [] and not (tmp_path / "found").exists()


def test_test_one_input_saves_a_divergence_once_and_keeps_going(tmp_path: Path) -> None:
    session = atheris_main.configure("reference", out=tmp_path, mutant="skip-madvise-on-clear")
    with mutants.activate("skip-madvise-on-clear"):
        for data in RANDOM_INPUTS * 2:
            atheris_main.TestOneInput(data)  # never raises for a divergence
    assert session.campaign.sequences == 2 * len(RANDOM_INPUTS)
    signatures = [f.signature for f in session.campaign.findings]
    assert signatures and len(signatures) == len(set(signatures))
    assert sorted(tmp_path.glob("*.ops")) == sorted(f.path for f in session.campaign.findings)


@needs_atheris
@pytest.mark.timeout(90)
def test_a_short_campaign_finds_the_planted_bug_and_saves_a_replayable_reproducer(tmp_path: Path) -> None:
    campaign = Campaign("atheris", "reference", "skip-madvise-on-clear", budget=30.0, out=tmp_path / "found")
    status = fuzz(campaign, "reference", "skip-madvise-on-clear", tmp_path / "corpus", ["-seed=1"],
                  keep_going=False, runs_dir=tmp_path / "runs")
    assert campaign.findings, f"the planted bug was not found in {campaign.sequences} sequences"
    assert campaign.sequences > 0 and campaign.ops > 0 and status.children == 1
    assert campaign.elapsed < 25.0, "the campaign did not stop at its first finding"
    for finding in campaign.findings:
        with mutants.activate("skip-madvise-on-clear"):
            assert replay.replay_file(finding.path, reference).status == replay.FAILED
        assert replay.replay_file(finding.path, reference).status == replay.PASSED


MUTANTS_FILE = """
from allocator.slot import MemoryImageSlot
from harness.mutants import replaced

MUTANTS = {"forget-decommit": lambda: replaced(MemoryImageSlot, "_decommit_rest",
                                               lambda original: lambda self, *args: None)}
"""


@needs_atheris
@pytest.mark.timeout(90)
def test_a_mutant_from_a_file_is_active_in_the_children(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(MUTANTS_FILE)
    campaign = Campaign("atheris", "reference", "forget-decommit", budget=30.0, out=tmp_path / "found")
    fuzz(campaign, "reference", "forget-decommit", tmp_path / "corpus", ["-seed=1"], keep_going=False,
         runs_dir=tmp_path / "runs", mutants_from=str(tmp_path / "mine.py"))
    assert campaign.findings, f"the mutant of the file was not found in {campaign.sequences} sequences"
    assert "mutant forget-decommit" in campaign.findings[0].path.read_text()


@needs_atheris
@pytest.mark.timeout(90)
def test_a_clean_campaign_ends_at_its_budget_and_leaves_nothing_behind(tmp_path: Path) -> None:
    campaign = Campaign("atheris", "reference", None, budget=5.0, out=tmp_path / "found")
    status = fuzz(campaign, "reference", None, tmp_path / "corpus", ["-seed=1"], runs_dir=tmp_path / "runs")
    assert campaign.findings == [], [f.description for f in campaign.findings]
    assert 4.0 <= campaign.elapsed < 65.0  # the child stops itself at the budget (or, late, is stopped)
    assert (status.children, status.crashes, status.run_dir) == (1, 0, None)
    assert not any((tmp_path / "runs").iterdir())  # a clean run leaves no output behind


@needs_atheris
@pytest.mark.timeout(90)
def test_a_clean_campaign_of_n_runs_reports_them_all_and_grows_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(bytes(range(1, 41)))  # one short seed: libFuzzer starts mutating at once
    campaign = Campaign("atheris", "reference", None, budget=80.0, out=tmp_path / "found")
    progress: list[int] = []
    status = fuzz(campaign, "reference", None, corpus, ["-seed=1", "-runs=40"],
                  lambda c: progress.append(c.sequences), runs_dir=tmp_path / "runs")
    assert campaign.findings == [], [f.description for f in campaign.findings]
    assert campaign.sequences == 40 and campaign.ops > campaign.sequences  # the last ones too
    assert progress and progress == sorted(progress) and progress[-1] == campaign.sequences
    assert status.children == 1 and status.coverage > 0
    assert len(list(corpus.iterdir())) > 1


@needs_atheris
@pytest.mark.timeout(60)
def test_a_dying_child_leaves_an_artifact_that_becomes_one_finding(tmp_path: Path) -> None:
    # An RSS limit below what the Python process already uses: libFuzzer's out-of-memory
    # handling kills each child, leaving an `oom-*` artifact; new children go on.
    campaign = Campaign("atheris", "reference", None, budget=30.0, out=tmp_path / "found")
    status = fuzz(campaign, "reference", None, tmp_path / "corpus", ["-rss_limit_mb=1"], keep_going=False,
                  runs_dir=tmp_path / "runs")
    assert [f.signature for f in campaign.findings] == ["crash/oom/none"]  # not replayed: no op known
    assert status.crashes >= 1 and status.children >= status.crashes
    assert status.run_dir is not None and any((status.run_dir / "artifacts").glob("oom-*"))
    validate.check(parse_file(campaign.findings[0].path))


@needs_atheris
@pytest.mark.timeout(60)
@pytest.mark.skipif("crashy" not in available(), reason="no crashy target")
def test_a_segfault_becomes_a_minimized_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLFUZZ_CRASHY", "segv=3")  # the 3rd grow of one instance reads address 0
    campaign = Campaign("atheris", "crashy", None, budget=20.0, out=tmp_path / "found")
    status = fuzz(campaign, "crashy", None, tmp_path / "corpus", ["-seed=1"], keep_going=False,
                  runs_dir=tmp_path / "runs")
    program = parse_file(campaign.findings[0].path)
    # named as the nightly runner names the same crash of a worker or of a corpus file
    from harness.crashes import crash_signature, stack_key
    from harness.nightly.isolate import run_isolated

    replayed = run_isolated(program, "crashy", timeout=30)
    assert replayed.cause == "SIGSEGV" and stack_key(replayed.detail) is not None
    assert [f.signature for f in campaign.findings] == [crash_signature("SIGSEGV", "grow", stack_key(replayed.detail))]
    last = program.statements[-1]  # minimized: the faulting grow ends it, after what it needs
    assert last.kind == "grow" and status.crashes == 1
    assert sum(op.kind == "grow" and op.instance == last.instance for op in program.statements) == 3
    assert len(program.statements) <= 6
    assert atheris_engine.dies_of(program, "crashy", None, "SIGSEGV")
    assert not atheris_engine.dies_of(program.prefix(len(program.statements) - 1), "crashy", None, "SIGSEGV")


def test_a_crash_artifact_becomes_an_ops_finding(tmp_path: Path) -> None:
    artifact = tmp_path / "artifacts" / "crash-0123abcd"
    artifact.parent.mkdir()
    artifact.write_bytes(bytes(range(200)))
    campaign = Campaign("atheris", "reference", None, budget=1.0, out=tmp_path / "found")
    finding = atheris_engine.save_crash(campaign, artifact, "SIGSEGV")
    assert finding is not None and finding.signature == "crash/SIGSEGV/none"  # it does not crash again here
    assert finding.path.name.startswith("crash-sigsegv-none-") and finding.path.suffix == ".ops"
    text = finding.path.read_text()
    assert "# finding: crash/SIGSEGV/none" in text and str(artifact) in text
    assert parse_file(finding.path) == decode(artifact.read_bytes())
    assert atheris_engine.save_crash(campaign, artifact, "SIGSEGV") is None  # one per signature
    assert replay.replay_file(finding.path, reference).status == replay.PASSED  # no crash here


@pytest.mark.parametrize(("log", "cause"), [
    ("Fatal Python error: Segmentation fault\n\nCurrent thread ...\n==1== ERROR: libFuzzer: deadly signal", "SIGSEGV"),
    ("Fatal Python error: Aborted\n", "SIGABRT"),
    (" === Uncaught Python exception: ===\nharness.errors.HarnessError: broken\nTraceback", "exception-HarnessError"),
    ("==1== ERROR: libFuzzer: deadly signal\n", "deadly-signal"),
])
def test_crash_cause_names_the_signal_or_the_exception(log: str, cause: str) -> None:
    assert crash_cause(log) == cause


def test_artifact_kinds_follow_libfuzzer_names() -> None:
    kinds = {name: atheris_engine.artifact_kind(Path(name)) for name in
             ("crash-ab12", "timeout-ab12", "oom-ab12", "slow-unit-ab12", "stats-1.json")}
    assert kinds == {"crash-ab12": "crash", "timeout-ab12": "timeout", "oom-ab12": "oom",
                     "slow-unit-ab12": None, "stats-1.json": None}


def test_status_lines_are_parsed() -> None:
    status = FuzzerStatus()
    status.update("#2636\tNEW    cov: 896 ft: 1535 corp: 44/603b lim: 17 exec/s: 219 rss: 148Mb L: 15/17 MS: 3 x")
    status.update("INFO: Instrumenting harness.executor")
    assert (status.execs, status.coverage, status.features, status.corpus, status.exec_per_second) == (
        2636, 896, 1535, 44, 219)


def test_flags_the_engine_owns_are_refused(tmp_path: Path) -> None:
    campaign = Campaign("atheris", "reference", None, budget=1.0, out=tmp_path)
    for flag in ("-max_total_time=5", "-fork=2", "-artifact_prefix=x/"):
        with pytest.raises(ValueError, match="set by the atheris engine"):
            fuzz(campaign, "reference", None, tmp_path / "corpus", [flag])


def test_unknown_names_are_refused(tmp_path: Path) -> None:
    campaign = Campaign("atheris", "reference", None, budget=1.0, out=tmp_path)
    with pytest.raises(ValueError, match="unknown target"):
        fuzz(campaign, "no-such-target", None, tmp_path / "corpus")
    with pytest.raises(ValueError, match="unknown mutant"):
        fuzz(campaign, "reference", "no-such-mutant", tmp_path / "corpus")


def test_without_atheris_the_error_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "atheris" else real(name, *a))
    campaign = Campaign("atheris", "reference", None, budget=1.0, out=tmp_path)
    with pytest.raises(atheris_engine.AtherisMissing, match=r"pip install 'poolfuzz\[fuzz\]'"):
        fuzz(campaign, "reference", None, tmp_path / "corpus")


def test_the_corpus_is_seeded_once(tmp_path: Path) -> None:
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    (corpora / "one.ops").write_text("version 1\npool memories=2 max-memory=1MiB\nmodule a min=1\n")
    corpus = atheris_engine.prepare_corpus(tmp_path / "corpus", corpora)
    seeds = sorted(p.name for p in corpus.iterdir())
    assert len(seeds) == 1 + len(atheris_engine.seed_inputs())
    (corpus / seeds[0]).unlink()
    atheris_engine.prepare_corpus(corpus, corpora)  # not empty: left as it is
    assert len(list(corpus.iterdir())) == len(seeds) - 1
