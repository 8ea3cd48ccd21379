"""`poolfuzz atheris`: libFuzzer's command line after `--`, misuse refused in one line (exit 2),
a short clean run (exit 0), and a campaign on a corpus seeded from `corpora/` whose finding is
an `.ops` file (exit 1)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from harness import cli, replay
from harness.engines.atheris_command import DEFAULT_BUDGET, LibFuzzerCommand, parse_libfuzzer_command
from harness.engines.atheris_engine import corpus_seeds
from harness.targets import make_target

needs_atheris = pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed")


def test_libfuzzer_command_lines_are_split() -> None:
    assert parse_libfuzzer_command([]) == LibFuzzerCommand(None, DEFAULT_BUDGET, [])
    command = parse_libfuzzer_command(["-max_total_time=90", "corpus/", "-seed=3", "-dict=a=b.txt"])
    assert command == LibFuzzerCommand(Path("corpus/"), 90.0, ["-seed=3", "-dict=a=b.txt"])


@pytest.mark.parametrize(("words", "message"), [
    (["-runs"], "written -name=value"),
    (["--runs=3"], "written -name=value"),
    (["a/", "b/"], "one corpus folder only"),
    (["-max_total_time=0"], "above 0"),
    (["-max_total_time=1m"], "whole seconds"),
    (["-jobs=2"], "-jobs is not available"),
    (["-artifact_prefix=x/"], "-artifact_prefix is not available"),
])
def test_other_shapes_and_engine_flags_are_refused(words: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_libfuzzer_command(words)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = cli.main(argv)
    return status, capsys.readouterr().err


@pytest.mark.parametrize("words", [["-fork=2"], ["-runs"], ["a", "b"]])
def test_misuse_is_one_line_and_status_2(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_cli(["atheris", "--", *words], capsys)
    assert status == 2 and err.startswith("poolfuzz atheris: error: ") and err.count("\n") == 1


def test_a_file_is_not_a_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    status, err = run_cli(["atheris", "--", str(tmp_path / "file")], capsys)
    assert status == 2 and "is not a folder" in err


def test_without_atheris_the_error_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "atheris" else real(name, *a))
    status, err = run_cli(["atheris", "--", "-runs=1"], capsys)
    assert status == 2 and "pip install 'poolfuzz[fuzz]'" in err and err.count("\n") == 1


@needs_atheris
@pytest.mark.timeout(120)
def test_a_clean_run_of_n_inputs_exits_0_and_reports_throughput(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus, summary = tmp_path / "corpus", tmp_path / "summary.json"
    corpus.mkdir()
    (corpus / "seed").write_bytes(bytes(range(1, 41)))  # not empty: not seeded, libFuzzer mutates at once
    status, err = run_cli(["atheris", "--out", str(tmp_path / "found"), "--json", str(summary),
                           "--", str(corpus), "-runs=20", "-seed=1", "-max_total_time=100"], capsys)
    assert status == 0, err
    report = json.loads(summary.read_text())
    assert report["findings"] == [] and report["sequences"] == 20 and report["coverage"] > 0
    assert report["ops_per_s"] > 0 and report["sequences_per_s"] > 0
    assert "cov " in err and "checked ops" in err  # the progress line
    assert not (tmp_path / "found").exists()


@needs_atheris
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_mutant_is_found_saved_and_replayed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness import mutants

    found, corpus = tmp_path / "found", tmp_path / "corpus"
    status, err = run_cli(["atheris", "--mutant", "skip-madvise-on-clear", "--out", str(found),
                           "--", str(corpus), "-max_total_time=120", "-seed=1"], capsys)
    assert status == 1, err
    assert {p.read_bytes() for p in corpus.iterdir()} >= set(corpus_seeds())  # seeded from corpora/, then grown
    paths = sorted(found.glob("*.ops"))  # the first finding, and any the child saved before it stopped
    assert paths
    for path in paths:
        with mutants.activate("skip-madvise-on-clear"):
            assert replay.replay_file(path, lambda: make_target("reference")).status == replay.FAILED
        assert replay.replay_file(path, lambda: make_target("reference")).status == replay.PASSED
