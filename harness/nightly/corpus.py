"""The corpus replay that opens a run: every `.ops` file under the corpus folder, on every target.

Each (file, target) runs in its own forked child (`isolate`), up to `parallel` at a time, so a
target that crashes or hangs on a file costs one child and becomes a finding like any other: a
divergence or a death is claimed on the board (and minimized by triage). A file that does not
parse is `malformed` — an error of the corpus, reported as such. A file that fails only where
the target's declared differences say it must (`harness.documented`: Wasmtime choosing another
slot, say) is `documented`, and no finding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import InvalidProgram
from harness.nightly.board import Board, divergence_claim
from harness.nightly.deaths import crash_claim
from harness.nightly.isolate import CRASHED, DIVERGED, DOCUMENTED, INVALID, PASSED, SKIPPED, Isolated, Verdict
from harness.ops import Program
from harness.replay import FAILED, MALFORMED, expand
from harness.text import format_op, format_program, parse_file

STATUSES = (PASSED, DOCUMENTED, FAILED, SKIPPED, MALFORMED, CRASHED)


@dataclass
class CorpusResult:
    path: str
    target: str
    status: str  # one of STATUSES
    signature: str | None = None
    detail: str = ""
    seconds: float = 0.0
    key: str | None = None  # the finding's key on the board (a crash's includes its stack)

    def to_json(self) -> dict:
        return asdict(self)


def corpus_files(folder: Path | None) -> list[Path]:
    """Every `.ops` file under `folder` (none if it is None or does not exist)."""
    if folder is None or not folder.is_dir():
        return []
    return expand([folder])


def replay_corpus(
    files: list[Path],
    targets: list[str],
    board: Board,
    clock: Callable[[], float],
    parallel: int = 1,
    timeout: float = 30.0,
    rss_limit_mb: int | None = None,
    tick: Callable[[], None] = lambda: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[list[CorpusResult], bool]:
    """Replay `files` on `targets`; (results, whether every replay ran).

    `clock()` gives the campaign time of a finding; `tick()` is called between polls (the
    supervisor keeps its books there); when `should_stop()` the running children are killed."""
    programs: dict[Path, Program | InvalidProgram] = {}
    for path in files:
        try:
            programs[path] = parse_file(path)
        except InvalidProgram as err:
            programs[path] = err
    jobs = [(path, target) for target in targets for path in files]
    running: list[tuple[Isolated, Path, str]] = []
    results: list[CorpusResult] = []
    while jobs or running:
        if should_stop():
            for handle, _, _ in running:
                handle.cancel()
            return results, False
        while jobs and len(running) < max(parallel, 1):
            path, target = jobs.pop(0)
            program = programs[path]
            if isinstance(program, InvalidProgram):
                results.append(CorpusResult(str(path), target, MALFORMED, detail=str(program)))
                continue
            running.append((Isolated(program, target, timeout, rss_limit_mb), path, target))
        for item in list(running):
            handle, path, target = item
            verdict = handle.poll()
            if verdict is not None:
                running.remove(item)
                results.append(_result(verdict, path, target, handle.program, board, clock()))
        tick()
        time.sleep(0.002)
    return results, True


def _result(verdict: Verdict, path: Path, target: str, program: Program, board: Board, seconds: float) -> CorpusResult:
    """The result of one replay; a failure is claimed on the board as it is seen."""
    source = f"corpus {path}"
    if verdict.status == DIVERGED and verdict.divergence is not None:
        raw = format_program(verdict.divergence.reproducer)
        claim = divergence_claim(target, verdict.divergence, raw, seconds, source)
        board.claim(claim)
        return CorpusResult(str(path), target, FAILED, claim.signature, verdict.divergence.describe(), verdict.seconds,
                            claim.key)
    if verdict.status == CRASHED:
        statements = program.statements
        index = min(verdict.index, len(statements) - 1)
        last = format_op(statements[index]) if statements and index >= 0 else ""
        raw = format_program(program.prefix(index + 1))  # what ran, up to the op that was running
        claim = crash_claim(target, verdict.cause or "unknown", raw, last, seconds, source, verdict.detail)
        board.claim(claim)
        return CorpusResult(str(path), target, CRASHED, claim.signature, verdict.detail, verdict.seconds, claim.key)
    status = MALFORMED if verdict.status == INVALID else verdict.status
    return CorpusResult(str(path), target, status if status in STATUSES else SKIPPED, detail=verdict.detail,
                        seconds=verdict.seconds)
