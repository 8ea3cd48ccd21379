"""The version matrix: the table's logic (fast, no Wasmtime needed), and one real run on the
installed release (slow: it builds a cached environment and runs a campaign)."""

import json

import pytest

from harness.matrix import BEHAVIOUR, RUN, Table, _clean, corpus_summary, Verdict


def table() -> Table:
    t = Table(["32.0.0", "40.0.0", "50.0.1"])
    for version, value in zip(t.versions, ["1 faults", "0 faults", "0 faults"]):
        t.set("faults on reuse", version, value)
    for version in t.versions:
        t.set("error text", version, "a | b")
        t.set("throughput", version, len(version), kind=RUN)
    t.reference["faults on reuse"] = "0 faults"
    return t


def test_rows_keep_their_first_place_and_kind():
    t = table()
    assert t.rows == ["faults on reuse", "error text", "throughput"]
    assert (t.kinds["faults on reuse"], t.kinds["throughput"]) == (BEHAVIOUR, RUN)
    assert t.value("faults on reuse", "32.0.0") == "1 faults" and t.value("missing", "32.0.0") == ""


def test_a_behaviour_differs_when_any_version_disagrees_and_runs_never_do():
    t = table()
    assert t.differs("faults on reuse") and not t.differs("error text")
    assert not t.differs("throughput")  # run metrics vary by nature: not compared
    assert [t.changed("faults on reuse", i) for i in range(3)] == [False, True, False]


def test_markdown_marks_rows_and_changed_cells_and_escapes_pipes():
    lines = table().to_markdown().splitlines()
    assert lines[0] == "|  | behaviour | docs/semantics.md | wasmtime 32.0.0 | wasmtime 40.0.0 | wasmtime 50.0.1 |"
    assert lines[2] == "| ≠ | faults on reuse | 0 faults | 1 faults | **0 faults** | 0 faults |"
    assert lines[3] == "|  | error text |  | a \\| b | a \\| b | a \\| b |"


def test_json_and_text_renderings_carry_the_same_cells():
    t = table()
    rows = json.loads(json.dumps(t.to_json()))["rows"]
    assert rows[0] == {"behaviour": "faults on reuse", "kind": BEHAVIOUR, "differs": True, "semantics": "0 faults",
                       "values": {"32.0.0": "1 faults", "40.0.0": "0 faults", "50.0.1": "0 faults"}}
    text = t.render().splitlines()
    assert text[1].startswith("≠ faults on reuse") and "0 faults*" in text[1]


def test_a_clean_matrix_has_no_failure_error_or_finding():
    t = Table(["50.0.1"])
    t.set("corpus: failed", "50.0.1", "none")
    t.set("campaign (60 s, ci profile): findings", "50.0.1", "0")
    assert _clean(t)
    t.set("campaign (60 s, ci profile): findings", "50.0.1", "1: module/result/error-vs-str")
    assert not _clean(t)
    t.set("campaign (60 s, ci profile): findings", "50.0.1", "0")
    t.set("probes", "50.0.1", "error: probes took over 300 s")
    assert not _clean(t)


def test_corpus_summary_counts_each_status():
    verdicts = [Verdict("a", "passed"), Verdict("b", "documented", ("queue_empty_decommits",)), Verdict("c", "skipped")]
    assert corpus_summary(verdicts) == "1 passed, 1 documented, 0 failed, 1 skipped"


@pytest.mark.slow
@pytest.mark.wasmtime
def test_the_matrix_of_the_installed_release(tmp_path):
    from harness.matrix import run_matrix
    from harness.wasmtime_pool import wasmtime_version

    version = wasmtime_version()
    lines = []
    t = run_matrix([version], 10.0, tmp_path, lines.append)
    assert (tmp_path / "matrix.md").exists() and json.loads((tmp_path / "matrix.json").read_text())["versions"] == [version]
    assert t.value("corpus: failed", version) == "none"
    assert t.value("probes the model predicts, told the declared differences", version).startswith("11 of 11")


def test_misuse_is_exit_status_2_and_a_bad_version_is_refused_before_any_download(capsys):
    from harness.matrix import MatrixError, main_matrix, prepare_env

    assert main_matrix(["--budget", "60s"]) == 2  # --wasmtime is required
    assert main_matrix(["--wasmtime", "50.0.1", "--budget", "soon"]) == 2
    assert "bad duration" in capsys.readouterr().err
    with pytest.raises(MatrixError, match="X.Y.Z"):
        prepare_env("50", lambda line: None)
