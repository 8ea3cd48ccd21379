"""Triage: each claimed finding minimized, annotated and saved, every replay in a forked child.

    python -m harness.nightly.triage --run DIR --stop-at EPOCH [--timeout S] [--rss-limit-mb N]

The triage process takes the claims of the run that are still `claimed` (`board`), oldest
first and hangs last (each of their candidates costs a whole timeout), and for each:

1. replays the raw reproducer without its `=>` annotations in an isolated child
   (`isolate.run_isolated`): it must fail the same way — a divergence of the same op kind in the
   same observable, or a death of the same cause while running an op of the same kind;
2. minimizes it by delta debugging (`harness.minimize`), each candidate in its own child, so a
   crashing or hanging candidate kills only that child;
3. annotates it with the model's results, and saves it under `found/<target>/` atomically, with
   a header saying what happened and how to replay it; the claim becomes `saved`.

A finding that does not fail again in isolation, or whose minimization runs out of time, is
saved all the same: as seen, or as far as it got (the claim says `minimized: false`).
`save_as_seen` is also what the supervisor uses for claims left when a run stops.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness import findings
from harness.divergence import Divergence
from harness.errors import InvalidProgram
from harness.expectations import expectations_of
from harness.minimize import minimize
from harness.model.predict import with_predicted_results, without_any_results
from harness.nightly.board import SAVED, Board, Claim, describe_cause
from harness.nightly.isolate import CRASHED, DIVERGED, Verdict, run_isolated
from harness.nightly.layout import RunDir
from harness.processes import die_with_parent
from harness.ops import Program
from harness.targets import make_target
from harness.text import format_op, format_program, parse


@dataclass
class TriageOptions:
    timeout: float = 30.0  # seconds one replay may take before it counts as a hang
    rss_limit_mb: int | None = 2048
    claim_seconds: float = 600.0  # time for minimizing one finding, at most


class Preempted(Exception):
    """A hang's minimization gives way to a finding that is quicker to minimize."""


def triage(claim: Claim, run: RunDir, options: TriageOptions, stop_at: float,
           stopping: Callable[[], bool] = lambda: False, preempt: Callable[[], bool] = lambda: False) -> Claim | None:
    """Minimize, annotate and save `claim` (see the module docstring); the saved claim.

    `stop_at` is a `time.monotonic()` value: no replay starts after it (nor once `stopping()`),
    and the smallest reproducer reached so far is saved. A hang whose minimization is preempted
    (`preempt()`, asked at most once a second) keeps that smallest reproducer in the claim
    (`partial`, where the next triage starts) and is not saved yet: the call returns None."""
    try:
        program = unplaced(parse(claim.partial or claim.raw, source=claim.key, check=False))
    except InvalidProgram as err:
        return save_as_seen(claim, run, f"the reproducer could not be read back: {err}")
    deadline = min(stop_at, time.monotonic() + options.claim_seconds)
    replay = Replayer(claim.target, options, deadline, stopping, preempt if claim.kind == "hang" else lambda: False)
    last: dict[str, object] = {}

    def still_fails(candidate: Program) -> bool:
        verdict = replay(candidate)
        if verdict is None or not fails_like(claim, candidate, verdict):
            return False
        last["verdict"], last["program"] = verdict, candidate
        return True

    bare = without_any_results(program)
    try:
        if not still_fails(bare):
            note = "time ran out before it was replayed" if replay.out_of_time else \
                "it did not fail the same way when replayed alone, in a fresh process"
            as_seen = replay(program) if claim.kind == "divergence" else None  # for a standalone script
            return save_as_seen(claim, run, note, as_seen.divergence if as_seen is not None else None)
        small = minimize(bare, still_fails)
    except Preempted:
        if "program" in last:
            claim.partial = format_program(last["program"])  # type: ignore[arg-type]
            Board(run.claims).update(claim)
        return None
    return _save(claim, run, small, last["verdict"], not replay.out_of_time, replay)  # type: ignore[arg-type]


def unplaced(program: Program) -> Program:
    """`program` without the source and line numbers of the text it was read from (they would
    name lines of the raw reproducer in the saved, smaller one)."""
    return replace(program.with_statements(tuple(replace(op, line=0) for op in program.statements)), source=None)


@dataclass
class Replayer:
    """Replays candidates in isolated children until `deadline` (a `time.monotonic()` value).

    Returns None instead of a verdict when no time is left, and when a run was cut short by the
    deadline rather than by the timeout (that is not a hang). Raises `Preempted` when
    `preempt()` says so."""

    target: str
    options: TriageOptions
    deadline: float
    stopping: Callable[[], bool]
    preempt: Callable[[], bool] = lambda: False
    out_of_time: bool = False
    last_asked: float = 0.0

    def __call__(self, candidate: Program) -> Verdict | None:
        if time.monotonic() - self.last_asked >= 1.0:
            self.last_asked = time.monotonic()
            if self.preempt():
                raise Preempted
        left = self.deadline - time.monotonic()
        if left <= 0.05 or self.stopping():
            self.out_of_time = True
            return None
        verdict = run_isolated(candidate, self.target, min(self.options.timeout, left), self.options.rss_limit_mb)
        if verdict.cause == "timeout" and left < self.options.timeout:
            self.out_of_time = True
            return None
        return verdict


def fails_like(claim: Claim, candidate: Program, verdict: Verdict) -> bool:
    """Whether `verdict` (of `candidate`) is the failure of `claim`."""
    if claim.kind == "divergence":
        found = verdict.divergence
        return verdict.status == DIVERGED and found is not None and \
            (found.op_kind, found.observable) == (claim.op_kind, claim.observable)
    if verdict.status != CRASHED or verdict.cause != claim.cause:
        return False
    return claim.op_kind is None or op_kind_at(candidate, verdict.index) == claim.op_kind


def op_kind_at(program: Program, index: int) -> str | None:
    """The kind of statement `index` (the last one for `len(statements)`: the final checks)."""
    statements = program.statements
    if not statements or index < 0:
        return None
    return statements[min(index, len(statements) - 1)].kind


def _save(claim: Claim, run: RunDir, small: Program, verdict: Verdict, complete: bool, replay: Replayer) -> Claim:
    """Annotate `small` (keeping the annotation only if it still fails the same way) and save it."""
    try:  # the results the target must give: the semantics, with the target's declared differences
        annotated = with_predicted_results(small, expectations_of(make_target(claim.target), small.pool_spec))
    except Exception:  # the model refuses a program it cannot follow: keep it bare
        annotated = small
    if claim.kind == "hang":
        small = annotated  # replaying a hang costs a whole timeout: the model's results are kept unverified
    elif annotated is not small and (again := replay(annotated)) is not None and fails_like(claim, annotated, again):
        small, verdict = annotated, again
    folder = run.found / claim.target
    if claim.kind == "divergence" and verdict.divergence is not None:
        path = findings.save(verdict.divergence, small, claim.target, None, folder, claim.signature)
        claim.description = verdict.divergence.describe()
    else:
        path, claim.description = save_crash(claim, small, verdict.index, folder)
    claim.status, claim.path, claim.minimized = SAVED, str(path.relative_to(run.root)), complete
    claim.ops = len(small.statements)
    if small.statements:
        claim.last_op = format_op(small.statements[min(verdict.index, len(small.statements) - 1)])
    Board(run.claims).update(claim)
    return claim


def save_crash(claim: Claim, program: Program, index: int, folder: Path) -> tuple[Path, str]:
    """Write a crash, hang or out-of-memory reproducer with its header; (path, description)."""
    body = format_program(program)
    path = _path_for(folder, claim.signature, body)
    statements = program.statements
    where = "no statement"
    if statements:
        last = min(index, len(statements) - 1)
        where = f"statement {last + 1}: {format_op(statements[last])}"
    description = f"the target {describe_cause(claim.cause)} while running {where}"
    replay = findings.replay_command(path, claim.target, None)
    header = [f"finding: {claim.signature} (target {claim.target})", description,
              f"replay: {replay} (the replaying process ends the same way)"]
    findings.write_atomically(path, _with_header(body, header))
    return path, description


def save_as_seen(claim: Claim, run: RunDir, note: str, divergence: Divergence | None = None) -> Claim:
    """Save the raw reproducer of `claim`, unminimized, with a header saying why (`note`);
    `divergence`, that of the raw reproducer replayed with its results, gets its standalone
    script where the target has them (`findings.companion_script`)."""
    raw = claim.raw if claim.raw.endswith("\n") else claim.raw + "\n"
    path = _path_for(run.found / claim.target, claim.signature, raw)
    what = claim.description or claim.signature
    header = [f"finding: {claim.signature} (target {claim.target})", *what.splitlines(),
              f"not minimized: {note}", f"replay: {findings.replay_command(path, claim.target, None)}"]
    if divergence is not None:
        header += findings.companion_script(divergence, path, claim.target, None)
    findings.write_atomically(path, _with_header(raw, header))
    claim.status, claim.path, claim.minimized, claim.ops = SAVED, str(path.relative_to(run.root)), False, claim.raw_ops
    claim.description = f"{what}\n(not minimized: {note})"
    Board(run.claims).update(claim)
    return claim


def _path_for(folder: Path, signature: str, text: str) -> Path:
    """`<folder>/<signature slug>-<hash of the text>.ops` (as `findings.save` names files)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{findings.slug(signature)}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.ops"


def _with_header(body: str, header: list[str]) -> str:
    """`body` with `header` as comment lines after its first line (`version 1`)."""
    lines = body.splitlines()
    return "\n".join(lines[:1] + [f"# {line}" for line in header] + lines[1:]) + "\n"


# -- the triage process ------------------------------------------------------------------------


def next_claim(board: Board) -> Claim | None:
    """The claim to triage next: the oldest, hangs last; None if none waits."""
    waiting = [c for c in board.pending() if c.raw]
    waiting.sort(key=lambda c: (c.kind == "hang", c.seconds))
    return waiting[0] if waiting else None


def quicker_waiting(board: Board) -> bool:
    """Whether a claim other than a hang waits for triage."""
    return any(c.raw and c.kind != "hang" for c in board.pending())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.nightly.triage", description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--stop-at", type=float, required=True, help="time.time() at which to stop")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--claim-seconds", type=float, default=600.0)
    parser.add_argument("--parent", type=int)
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    faulthandler.enable()
    stop = {"now": False}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    run, board = RunDir(args.run), Board(RunDir(args.run).claims)
    options = TriageOptions(args.timeout, args.rss_limit_mb or None, args.claim_seconds)
    stop_at = time.monotonic() + (args.stop_at - time.time())
    while time.monotonic() < stop_at and not stop["now"]:
        claim = next_claim(board)
        if claim is None:
            time.sleep(0.2)
            continue
        print(f"triage: {claim.key} ({claim.kind}, {claim.raw_ops} statements as seen)", flush=True)
        saved = triage(claim, run, options, stop_at, lambda: stop["now"], lambda: quicker_waiting(board))
        if saved is None:
            print(f"triage: {claim.key} waits: a quicker finding came first", flush=True)
        else:
            print(f"triage: saved {saved.path} ({saved.ops} statements, minimized: {saved.minimized})", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
