"""The command line: the replay contract's exit statuses and messages, fuzz and mutants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

GOOD = """version 1
pool memories=2 max-memory=1MiB keep-resident=64KiB style=dynamic
module a min=1 max=4 data=0x10:"hello"
instantiate i1 a => slot 0
write i1 0 fill:0xcc*4096
deallocate i1
instantiate i1 a => slot 0
read i1 0x10 5 => "hello"
touch i1 0 64KiB => faults 0
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_passing_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(write(tmp_path, "good.ops", GOOD))]) == 0
    assert "1 passed" in capsys.readouterr().out


def test_diverging_file_exits_1_naming_file_line_op_expected_observed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "bad.ops", GOOD.replace("faults 0", "faults 3"))
    assert main(["replay", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:9: touch i1 0 1p => faults 3" in out
    assert "expected Faults(count=3)" in out and "observed Faults(count=0)" in out


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("version 1\nmodule a min=1\ninstanciate i1 a\n", ":3:1: unknown statement"),
        (b"\x00\x01binary", "binary data"),
        ("", "empty"),
        ("version 1\nwrite i1 0 \"x\"\n", ":2:"),
    ],
)
def test_malformed_file_exits_2_with_file_line_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str], text, fragment) -> None:
    path = write(tmp_path, "malformed.ops", text)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["replay", "no/such/file.ops"], "no such file"),
        (["replay", "corpora/regression", "--target", "nope"], "unknown target"),
        (["replay", "corpora/regression", "--mutant", "no-such-mutant"], "no-such-mutant"),
        (["fuzz", "--budget", "soon"], "bad duration"),
        (["replay"], "required"),
    ],
)
def test_misuse_exits_2(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err + captured.out


def test_fuzz_clean_exits_0_and_writes_a_summary(tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    code = main(["fuzz", "--budget", "3s", "--profile", "ci", "--out", str(tmp_path), "--json", str(summary)])
    data = json.loads(summary.read_text())
    assert code == 0 and data["findings"] == [] and data["ops"] > 0 and data["ops_per_s"] > 0


def test_fuzz_with_a_mutant_exits_1_and_saves_a_replayable_finding(tmp_path: Path) -> None:
    code = main(["fuzz", "--budget", "60s", "--profile", "ci", "--mutant", "memfd-created-eagerly", "--out", str(tmp_path)])
    assert code == 1
    saved = sorted(tmp_path.glob("*.ops"))
    assert saved
    assert main(["replay", str(saved[0]), "--mutant", "memfd-created-eagerly"]) == 1
    assert main(["replay", str(saved[0])]) == 0


def test_mutants_command_scores_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m"
    code = main(["mutants", "--budget", "30s", "--profile", "ci", "--only", "memfd-created-eagerly", "purge-wrong-slot-index", "--out", str(out)])
    report = json.loads((out / "mutants.json").read_text())
    assert code == 0 and report["score"] == 1.0
    assert {m["name"] for m in report["mutants"]} == {"memfd-created-eagerly", "purge-wrong-slot-index"}
    assert all(m["found"] and m["reproducer_ops"] <= 12 for m in report["mutants"])
    assert "mutation score 100%" in capsys.readouterr().out


def test_a_concurrent_mutant_is_measured_by_the_linearizability_checker(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # No sequential program shows a grow without its lock: lincheck runs instead, whatever the
    # engine, and stops at the first violation (measured: within 3 s; the budget is a bound).
    out = tmp_path / "m"
    code = main(["mutants", "--budget", "120s", "--only", "shared-grow-without-lock", "--out", str(out)])
    [result] = json.loads((out / "mutants.json").read_text())["mutants"]
    assert code == 0 and result["found"] and not result["sequential"] and result["error"] == ""
    folder = Path(result["reproducer"])
    assert folder.parent.parent == out / "lincheck-shared-grow-without-lock"  # <out>/lincheck-NAME/<run>/seedN
    assert (folder / "history.json").is_file() and (folder / "timeline.html").is_file()
    assert "shared-grow-without-lock" in capsys.readouterr().out
