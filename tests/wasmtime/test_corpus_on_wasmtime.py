"""Every file of `corpora/regression` on the wasmtime target: it passes, is skipped for one of
the reasons listed here, or differs from docs/semantics.md exactly where a declared
`Expectations` field says Wasmtime does (`harness.matrix.classify`, which also requires the file
to pass with the results predicted under the expectations). A new skip or an undeclared
difference fails the test."""

from pathlib import Path

import pytest

pytest.importorskip("wasmtime")

from harness.expectations import expectations_of  # noqa: E402
from harness.matrix import DOCUMENTED, PASSED, SKIPPED, classify  # noqa: E402
from harness.targets import make_target  # noqa: E402
from harness.text import parse_file  # noqa: E402
from harness.wasmtime_pool import bindings  # noqa: E402

pytestmark = pytest.mark.wasmtime

CORPUS = Path(__file__).resolve().parents[2] / "corpora" / "regression"

NOT_REUSE_AFFINITY = "strategy="
MEMFD_GROWTH = "growth=memfd"
DYNAMIC_WITH_GUARD = "style=dynamic with guard="

EXPECTED_SKIPS = {
    "dynamic-image-reuse-accessible-kept.ops": DYNAMIC_WITH_GUARD,
    "dynamic-no-shrink-on-clear.ops": DYNAMIC_WITH_GUARD,
    "purge-keeps-accessible-dynamic.ops": DYNAMIC_WITH_GUARD,
    "expect-zero-maps-nothing.ops": MEMFD_GROWTH,
    "memfd-extension-read-then-touch.ops": MEMFD_GROWTH,
    "memfd-growth-grow-and-reset.ops": MEMFD_GROWTH,
    "memfd-growth-keep-resident-dynamic.ops": MEMFD_GROWTH,
    "next-available-lowest-free-slot.ops": NOT_REUSE_AFFINITY,
    "purge-on-drop-next-available.ops": NOT_REUSE_AFFINITY,
    "purge-on-drop-random-decommit-batch.ops": NOT_REUSE_AFFINITY,
    "purge-on-drop-random.ops": NOT_REUSE_AFFINITY,
    "random-strategy-seeded-picks.ops": NOT_REUSE_AFFINITY,
    "zero-memory-pages-disallows-oob.ops": "max-memory=0 with reservation=0 and guard=0",
}
"""Files Wasmtime cannot run as written, and a word of the reason `open` gives."""

if not hasattr(bindings(), "wasmtime_config_signals_based_traps_set"):  # 32.0.0
    EXPECTED_SKIPS["pooling-reuse-resets-dynamic.ops"] = "signals_based_traps"

EXPECTED_DIFFERENCES = {
    "decommit-batch-nothing-to-decommit.ops": "queue_empty_decommits",
    "image-trimmed-and-overlapping-segments.ops": "zero_only_segments_make_image",
    "purge-on-drop-decommit-batch.ops": "purge_flushes_queue",
    "pooling-reuse-resets-static.ops": "static_keeps_accessible",
    "image-restored-after-dirty-reuse.ops": "reset_madvises_image",
    "keep-resident-reuse-no-faults.ops": "reset_madvises_image",
    "memset-instead-of-madvise-keep-10m.ops": "reset_madvises_image",
    "memset-instead-of-madvise-keep-1m.ops": "reset_madvises_image",
    "switch-image-keep-resident.ops": "reset_madvises_image",
}
"""Files pinning a rule where Wasmtime differs, and the field that declares it. Each differs
only on the releases whose expectations declare that field for the file's pool (50.0.1: the
first three); elsewhere it must pass."""


def expected_status(path: Path) -> tuple[str, tuple[str, ...]]:
    """(status, flags) the file must get on the installed release."""
    if path.name in EXPECTED_SKIPS:
        return SKIPPED, ()
    flag = EXPECTED_DIFFERENCES.get(path.name)
    declared = expectations_of(make_target("wasmtime"), parse_file(path).pool_spec).differences()
    if flag is not None and flag in declared:
        return DOCUMENTED, (flag,)
    return PASSED, ()


def test_the_lists_name_corpus_files():
    names = {p.name for p in CORPUS.glob("*.ops")}
    assert set(EXPECTED_SKIPS) <= names and set(EXPECTED_DIFFERENCES) <= names


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.ops")), ids=lambda p: p.stem)
def test_corpus_file_on_wasmtime(path):
    verdict = classify(path, lambda: make_target("wasmtime"))
    status, flags = expected_status(path)
    assert (verdict.status, verdict.flags) == (status, flags), verdict.detail
    if status == SKIPPED:
        assert EXPECTED_SKIPS[path.name] in verdict.detail


def test_the_nightly_corpus_replay_takes_documented_differences_for_no_finding(tmp_path: Path) -> None:
    """`poolfuzz nightly --target wasmtime` replays the corpus first: a file that differs only as
    declared is `documented` there, not a finding (and one that passes stays `passed`)."""
    from harness.nightly.board import Board
    from harness.nightly.corpus import replay_corpus

    files = sorted(CORPUS / name for name in EXPECTED_DIFFERENCES) + [CORPUS / "memory-zeroed-reuse.ops"]
    board = Board(tmp_path / "claims")
    results, complete = replay_corpus(files, ["wasmtime"], board, clock=lambda: 0.0, timeout=120)
    assert complete
    got = {Path(r.path).name: r.status for r in results}
    want = {path.name: expected_status(path)[0] for path in files}
    assert got == want
    assert not board.all()  # no finding claimed
