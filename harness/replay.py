"""Replaying `.ops` files: the regression corpora, saved findings, reproducers.

`replay_paths` expands folders to every `.ops` file under them, parses each, runs it on a fresh
target and yields one `FileResult` per file — it never raises for a bad file: a malformed file
is a result too (`status == "malformed"`), so one bad file cannot hide the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InvalidProgram
from harness.executor import Outcome, run
from harness.targets import Target
from harness.text import parse_file

PASSED, FAILED, SKIPPED, MALFORMED = "passed", "failed", "skipped", "malformed"


@dataclass
class FileResult:
    path: Path
    status: str
    outcome: Outcome | None = None
    error: str = ""


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and every `.ops` file below each folder named, sorted within a folder.

    A path that does not exist raises FileNotFoundError naming it.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.ops")))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def replay_file(path: Path, make_target: Callable[[], Target]) -> FileResult:
    """Parse and run one file on a fresh target."""
    try:
        program = parse_file(path)
    except InvalidProgram as err:
        return FileResult(path, MALFORMED, error=str(err))
    try:
        outcome = run(program, make_target())
    except InvalidProgram as err:
        return FileResult(path, MALFORMED, error=str(err))
    if outcome.skipped is not None:
        return FileResult(path, SKIPPED, outcome, outcome.skipped)
    return FileResult(path, PASSED if outcome.passed else FAILED, outcome)


def replay_paths(paths: Iterable[Path], make_target: Callable[[], Target]) -> Iterator[FileResult]:
    for path in paths:
        yield replay_file(path, make_target)


def exit_status(results: Iterable[FileResult]) -> int:
    """The replay contract: 2 if any file was malformed, else 1 if any diverged, else 0."""
    statuses = {r.status for r in results}
    if MALFORMED in statuses:
        return 2
    return 1 if FAILED in statuses else 0
