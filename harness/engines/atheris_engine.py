"""The atheris engine: libFuzzer's coverage-guided byte strings, decoded into op sequences.

    campaign = Campaign("atheris", "reference", None, budget=600)
    status = fuzz(campaign, "reference", mutant=None)   # returns when the budget ends

Pieces, from the bytes up:

- `decode(data)`: any byte string is a valid program (`harness.validate.check` passes); the same
  bytes always give the same program; a change to one byte past the pool's leading bytes keeps
  the pool and every op decoded before it (nearby inputs are nearby programs, which is what
  libFuzzer's mutations need to make progress).
- `run_decoded(data, target)`: `run(decode(data), target)`, decoding while it runs (on the
  executor's own model: one model's work per op, not two).
- `Session`: what one fuzzing process does with an input — decode it, run it on a fresh target
  beside the model, and save a divergence of a new signature through `harness.campaign.record`
  (minimized, annotated, written atomically) before the next input runs. Its counters go to a
  JSON file, atomically, at most once a second (and at once after a finding).
- `fuzz(...)`: runs the libFuzzer process (`python -m harness.engines.atheris_main`) as a child,
  so a crash of the target kills only the child. It follows the child's stats file and its
  `cov:` lines, turns the crash artifacts libFuzzer leaves (`crash-*`, `timeout-*`, `oom-*`) into
  `.ops` findings (signature `crash/<cause>/<op kind>@<stack>`, `harness.crashes`), and starts a new child while budget
  remains.

The corpus persists between campaigns (`DEFAULT_CORPUS`); a new one is seeded with every
program under `corpora/`, encoded (`harness.engines.atheris_encode`), and a few random inputs;
libFuzzer adds every input that reached new coverage. atheris is an optional dependency: `pip install 'poolfuzz[fuzz]'`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import findings
from harness.campaign import Campaign, Finding, record
from harness.checks import Mismatch
from harness.errors import HarnessError, PoolfuzzError
from harness.executor import Executor, Outcome, run
from harness.generate import ByteChoices, OpBuilder, pool_spec
from harness.minimize import minimize
from harness.model import Model
from harness.model.predict import with_predicted_results, without_any_results
from harness.ops import Expect, Op, Program, with_result
from harness.processes import stop, tail
from harness.crashes import crash_signature, last_dump, stack_key
from harness.targets import Target, Unsupported, available, make_target
from harness.text import format_program

MAX_OPS = 40
"""Statements decoded from one input, at most (the bugs of slot reuse show in short sequences)."""

DEFAULT_CORPUS = Path(".poolfuzz-cache/atheris-corpus")
RUNS_DIR = Path(".poolfuzz-cache/atheris-runs")
"""Each campaign's libFuzzer output, stats and artifacts (kept when a child crashed)."""
DEFAULT_LIBFUZZER_ARGS = ("-max_len=512", "-timeout=60", "-rss_limit_mb=2048")
"""Used unless the caller's own flags say otherwise (~6 bytes make an op: 512 hold `MAX_OPS`)."""

SUPERVISOR_FLAGS = ("-max_total_time", "-artifact_prefix", "-fork", "-jobs", "-workers", "-merge",
                    "-set_cover_merge", "-minimize_crash")
"""libFuzzer flags the engine sets itself or cannot follow (it supervises one process)."""

INSTALL_HINT = "pip install 'poolfuzz[fuzz]'"
CRASH_REPLAY_TIMEOUT = 10.0
"""Seconds one replay of a crash candidate may take (a longer one counts as not crashing)."""
STATS_INTERVAL = 1.0
ROOT = Path(__file__).resolve().parents[2]
SEEDS = 32
CORPORA = ROOT / "corpora"
"""Where the `.ops` programs that seed a new corpus come from."""


class AtherisMissing(PoolfuzzError, ImportError):
    """atheris cannot be imported in this Python (an ImportError, as the import would raise)."""


def require_atheris() -> None:
    """Raise `AtherisMissing`, naming the install command, if atheris is not installed."""
    if importlib.util.find_spec("atheris") is None:
        raise AtherisMissing(f"the atheris engine needs the atheris package: {INSTALL_HINT}")


# -- bytes to programs -------------------------------------------------------------------------


def decode(data: bytes, max_ops: int = MAX_OPS) -> Program:
    """The program `data` stands for: a pool, then ops until the bytes run out or `max_ops`.

    Pure and total: every byte string gives a program that passes `harness.validate.check`,
    the same one every time. Each op is valid in the state a scratch model reached after the
    ops before it, and carries the result that model predicts (`=> RESULT`), so the program
    states what was required of the target. The pool reads a fixed number of leading bytes,
    each op the bytes after its predecessor's: a change to one later byte keeps the pool and
    every op that ended before it.
    """
    choices = ByteChoices(data)
    pool = pool_spec(choices)
    model = Model(pool)
    builder = OpBuilder(model, choices)
    statements = []
    while len(statements) < max_ops and not choices.exhausted:
        op = builder.next_op()
        result = model.observe(op) if isinstance(op, Expect) else model.apply(op)
        statements.append(op if isinstance(op, Expect) else with_result(op, result))
        builder.note(op)
    return Program(tuple(statements), pool=pool)


def run_decoded(data: bytes, target: Target, max_ops: int = MAX_OPS) -> Outcome:
    """`run(decode(data, max_ops), target)`, decoding while it runs: each op is built on the
    executor's own model, so the model does its work once per op rather than twice.

    The program run (`outcome.program`) is `decode(data, max_ops)`, cut after the op that
    diverged if one did; a divergence has the signature the whole `run` would give it. The
    target is closed however the run ends."""
    started = time.perf_counter()
    choices = ByteChoices(data)
    pool = pool_spec(choices)
    executor = Executor(Program(pool=pool), target)
    try:
        executor.open()
    except Unsupported as err:
        return Outcome(executor.program, skipped=err.reason)
    statements: list[Op] = []
    try:
        mismatch = _step_decoded(executor, choices, statements, max_ops)
    except BaseException:
        executor.close()
        raise
    executor.program = Program(tuple(statements), pool=pool)
    if mismatch is None:
        mismatch = executor.finish()
    else:
        executor.close()
    divergence = executor.diverge(len(statements) - 1, mismatch) if mismatch is not None else None
    return Outcome(executor.program, divergence, ops=len(statements), seconds=time.perf_counter() - started)


def _step_decoded(executor: Executor, choices: ByteChoices, statements: list[Op], max_ops: int) -> Mismatch | None:
    """Build ops from `choices` on the executor's model and apply them (appending each, with its
    predicted result, to `statements`) until the bytes run out, `max_ops`, or the first
    mismatch, which is returned."""
    builder = OpBuilder(executor.model, choices)
    while len(statements) < max_ops and not choices.exhausted:
        op = builder.next_op()
        mismatch = executor.step(op)
        statements.append(op if isinstance(op, Expect) else with_result(op, executor.last_expected))
        builder.note(op)
        if mismatch is not None:
            return mismatch
    return None


# -- one fuzzing process -----------------------------------------------------------------------


@dataclass
class Session:
    """What one libFuzzer process does with each input (see the module docstring).

    Guarantees: a divergence of a signature the campaign does not know yet is minimized and
    saved (`record`) before `test_one_input` returns, and the stats file lists it at once;
    otherwise the stats file is rewritten at most once every `STATS_INTERVAL` seconds. A
    divergence never raises: the fuzzer goes on to the next input.
    """

    campaign: Campaign
    stats_path: Path | None = None
    known: frozenset[str] = frozenset()  # signatures saved by an earlier process of the campaign
    max_ops: int = MAX_OPS
    runs: int = 0  # inputs taken, skipped ones included
    skipped: int = 0
    last_write: float = 0.0

    def make_target(self) -> Target:
        return make_target(self.campaign.target)

    def test_one_input(self, data: bytes) -> None:
        self.runs += 1
        outcome = run_decoded(data, self.make_target(), self.max_ops)
        if outcome.skipped is not None:
            self.skipped += 1
            return
        self.campaign.sequences += 1
        self.campaign.ops += outcome.ops
        divergence = outcome.divergence
        if divergence is not None and not self.knows(divergence.signature):
            record(self.campaign, divergence, self.make_target)
            self.write_stats()
        elif time.monotonic() - self.last_write >= STATS_INTERVAL:
            self.write_stats()

    def knows(self, signature: str) -> bool:
        return signature in self.known or self.campaign.knows(signature)

    def write_stats(self, done: bool = False) -> None:
        """Replace the stats file (if any) with the counters and findings so far."""
        self.last_write = time.monotonic()
        if self.stats_path is not None:
            stats = {**stats_of(self.campaign), "skipped": self.skipped, "done": done, "pid": os.getpid()}
            findings.write_atomically(self.stats_path, json.dumps(stats) + "\n")


def stats_of(campaign: Campaign) -> dict[str, object]:
    """What a fuzzing process reports to its parent: counters and findings, as JSON values."""
    return {
        "sequences": campaign.sequences,
        "ops": campaign.ops,
        "findings": [
            {"signature": f.signature, "path": str(f.path), "ops": f.ops, "seconds": f.seconds,
             "description": f.description}
            for f in campaign.findings
        ],
    }


def read_stats(path: Path) -> dict | None:
    """The last stats a fuzzing process wrote, or None if it wrote none yet."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


# -- the corpus --------------------------------------------------------------------------------


def seed_inputs(count: int = SEEDS) -> list[bytes]:
    """Deterministic pseudo-random first inputs: `count` byte strings (SHAKE-256 of a counter)
    of lengths from 32 to 497 bytes: programs of about 4 to 40 ops, under varied pools."""
    return [hashlib.shake_256(f"poolfuzz seed {i}".encode()).digest(32 + 15 * i) for i in range(count)]


def corpus_seeds(corpora: Path = CORPORA) -> list[bytes]:
    """The programs of every `.ops` file under `corpora` (regression cases, saved findings),
    each encoded by `atheris_encode.encode_nearest` — the file itself if the decoder can
    express it, else the nearest program it can — then `seed_inputs()`.

    Encoded rather than taken as text: the text of every file starts with `version 1`, so its
    bytes all decode to the same pool, and libFuzzer's local mutations rarely change it
    (measured with the mutants: seeded that way, a campaign missed
    `no-image-removal-on-module-change` for 40 s; seeded with random bytes, it found it in under
    2 s). Encoded, each file brings its own pool and its own sequence. A file that does not
    parse is left out (`poolfuzz replay` reports it)."""
    return list(named_corpus_seeds(corpora).values())


def named_corpus_seeds(corpora: Path = CORPORA) -> dict[str, bytes]:
    """`corpus_seeds(corpora)` by name: each file's path under `corpora`, then `random-NNN`."""
    from harness.engines.atheris_encode import encode_nearest
    from harness.errors import InvalidProgram
    from harness.text import parse_file

    seeds = {}
    for path in sorted(corpora.rglob("*.ops")) if corpora.is_dir() else []:
        try:
            seeds[path.relative_to(corpora).as_posix()] = encode_nearest(parse_file(path))[0]
        except InvalidProgram:
            continue
    return seeds | {f"random-{i:03}": seed for i, seed in enumerate(seed_inputs())}


def prepare_corpus(directory: Path, corpora: Path = CORPORA) -> Path:
    """`directory`, created and seeded with `corpus_seeds(corpora)` if it is missing or empty.

    Files are named by the SHA-1 of their bytes, as libFuzzer names the inputs it adds."""
    directory.mkdir(parents=True, exist_ok=True)
    if not any(directory.iterdir()):
        for seed in corpus_seeds(corpora):
            (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    return directory


# -- crash artifacts ---------------------------------------------------------------------------

ARTIFACT_KINDS = {"crash": "crash", "timeout": "timeout", "oom": "oom", "leak": "leak"}
FATAL_SIGNALS = {
    "Segmentation fault": "SIGSEGV",
    "Aborted": "SIGABRT",
    "Bus error": "SIGBUS",
    "Floating point exception": "SIGFPE",
    "Illegal instruction": "SIGILL",
}


def artifact_kind(artifact: Path) -> str | None:
    """`crash`, `timeout`, `oom` or `leak` from libFuzzer's file name; None for other files."""
    prefix = artifact.name.split("-", 1)[0]
    return ARTIFACT_KINDS.get(prefix) if "-" in artifact.name else None


def crash_cause(log: str) -> str:
    """What killed a fuzzing process, from its output: a signal name (`SIGSEGV`, reported by
    Python's faulthandler), `exception-<Type>` for an uncaught Python exception, else
    `deadly-signal`."""
    fatal = re.findall(r"Fatal Python error: ([A-Za-z ]+)", log)
    if fatal:
        return FATAL_SIGNALS.get(fatal[-1].strip(), fatal[-1].strip().lower().replace(" ", "-"))
    exception = re.findall(r"=== Uncaught Python exception: ===\s*\n\s*([\w.]+)", log)
    if exception:
        return f"exception-{exception[-1].rsplit('.', 1)[-1]}"
    return "deadly-signal"


def save_crash(campaign: Campaign, artifact: Path, cause: str, mutants_from: str | None = None,
               log: str = "") -> Finding | None:
    """Decode a libFuzzer artifact and save it under `campaign.out` as an `.ops` finding; None
    if the campaign already has its signature.

    The signature is the nightly runner's for a dead worker (`crash/<cause>/<op kind>`, plus
    `@<stack>` when `log`, the fuzzing process's output, holds the target's stack: see
    `harness.crashes`), so one bug found by both engines is one finding. The op is the last of
    the shortest prefix of the input that still dies; a crash by a signal or an exception is
    then minimized (each candidate runs in a forked process: `dies_of`); a timeout or
    out-of-memory is saved as decoded. Its header names the cause and the artifact. Written
    atomically, like every finding."""
    seconds = campaign.elapsed
    program = decode(artifact.read_bytes())
    prefix = crashing_prefix(program, campaign.target, campaign.mutant, cause, mutants_from)
    op_kind = prefix.statements[-1].kind if prefix is not None and prefix.statements else None
    stack = stack_key(last_dump(log) or "")
    signature = crash_signature(cause, op_kind, stack)
    if campaign.knows(signature):
        return None
    if prefix is not None:
        program = with_predicted_results(minimize(prefix, _dies(campaign.target, campaign.mutant, cause, mutants_from)))
    text = format_program(program)
    campaign.out.mkdir(parents=True, exist_ok=True)
    path = campaign.out / f"{findings.slug(signature)}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.ops"
    description = f"the fuzzing process died ({cause}) running this program (libFuzzer input {artifact})"
    header = [
        f"finding: {signature} ({_where(campaign)})",
        description,
        f"replay: {findings.replay_command(path, campaign.target, campaign.mutant)}",
    ]
    lines = text.splitlines()
    findings.write_atomically(path, "\n".join(lines[:1] + [f"# {line}" for line in header] + lines[1:]) + "\n")
    finding = Finding(signature, path, len(program.statements), seconds, description)
    campaign.findings.append(finding)
    return finding


def _dies(target_name: str, mutant: str | None, cause: str, mutants_from: str | None,
          timeout: float = CRASH_REPLAY_TIMEOUT) -> Callable[[Program], bool]:
    return lambda candidate: dies_of(candidate, target_name, mutant, cause, mutants_from, timeout)


def crashing_prefix(program: Program, target_name: str, mutant: str | None, cause: str,
                    mutants_from: str | None = None, timeout: float = CRASH_REPLAY_TIMEOUT) -> Program | None:
    """The shortest prefix of `program`, without results, that still dies of `cause` (a signal
    name such as `SIGSEGV`, or `exception-<Type>`): its last statement is the one that kills.
    None if the program does not die so when replayed, or if the cause is another kind
    (`timeout`, `oom`: too slow to replay many times)."""
    bare = without_any_results(program)
    still_dies = _dies(target_name, mutant, cause, mutants_from, timeout)
    if not cause.startswith(("SIG", "exception-")) or not still_dies(bare):
        return None
    return shortest_prefix(bare, still_dies)


def shortest_prefix(program: Program, still_dies: Callable[[Program], bool]) -> Program:
    """The shortest prefix of `program` that still dies, by bisection (a run dies at one op, so
    every longer prefix dies too): the minimizer keeps a program's last statement, which is
    where a divergence is, but a crash may come before it."""
    low, high = 1, len(program.statements)  # the prefix of length `high` dies
    while low < high:
        middle = (low + high) // 2
        if still_dies(program.prefix(middle)):
            high = middle
        else:
            low = middle + 1
    return program.prefix(high)


def dies_of(program: Program, target_name: str, mutant: str | None, cause: str,
            mutants_from: str | None = None, timeout: float = CRASH_REPLAY_TIMEOUT) -> bool:
    """Whether running `program` on a fresh target (with `mutant` active) in a forked process
    ends it by `cause`: the signal of that name, or an uncaught exception of that type. A run
    that lasts over `timeout` seconds is killed and counts as no."""
    pid = os.fork()
    if pid == 0:  # the child: run, report an exception by its exit status, never return
        status = 1
        try:
            status = _run_in_child(program, target_name, mutant, cause, mutants_from)
        finally:
            os._exit(status)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name == cause
    return os.WEXITSTATUS(status) == _SAME_EXCEPTION


_SAME_EXCEPTION = 3


def _run_in_child(program: Program, target_name: str, mutant: str | None, cause: str,
                  mutants_from: str | None) -> int:
    """Exit status of a forked replay: `_SAME_EXCEPTION` if it raised one of type `cause`."""
    faulthandler.disable()  # die of the signal itself, silently
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        with activate_mutant(mutant, mutants_from) if mutant else contextlib.nullcontext():
            run(program, make_target(target_name))
    except BaseException as err:  # noqa: BLE001 (what it raised is the answer)
        return _SAME_EXCEPTION if cause == f"exception-{type(err).__name__}" else 1
    return 0


def _where(campaign: Campaign) -> str:
    return f"target {campaign.target}" + (f", mutant {campaign.mutant}" if campaign.mutant else "")


# -- following the child -----------------------------------------------------------------------


@dataclass
class FuzzerStatus:
    """libFuzzer's own view of the campaign, from its output lines, plus the supervisor's.

    `execs` counts libFuzzer's runs in the current child (seeds included); `coverage` and
    `features` are the latest `cov:` and `ft:`; `corpus` the units in the corpus. `children`
    counts the processes started, `crashes` the artifacts they left (each saved as a finding,
    or of a signature already saved). `run_dir` holds the children's output while they run, and
    after the campaign if one crashed or failed.
    """

    execs: int = 0
    coverage: int = 0
    features: int = 0
    corpus: int = 0
    exec_per_second: int = 0
    children: int = 0
    crashes: int = 0
    run_dir: Path | None = None

    STATUS_LINE = re.compile(r"^#(\d+)\s+\w+\s+(.*)$")

    def update(self, line: str) -> None:
        """Take in one line of libFuzzer output (others are ignored)."""
        match = self.STATUS_LINE.match(line)
        if not match:
            return
        self.execs = int(match[1])
        fields = dict(re.findall(r"([a-z/]+): (\d+)", match[2]))
        self.coverage = int(fields.get("cov", self.coverage))
        self.features = int(fields.get("ft", self.features))
        self.corpus = int(fields.get("corp", self.corpus))
        self.exec_per_second = int(fields.get("exec/s", self.exec_per_second))


@dataclass
class _Child:
    """One libFuzzer process and the files it writes."""

    process: subprocess.Popen
    log_path: Path
    stats_path: Path
    base_sequences: int
    base_ops: int
    log_offset: int = 0

    def new_lines(self) -> list[str]:
        with self.log_path.open("rb") as handle:
            handle.seek(self.log_offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.log_offset += len(complete)
        return complete.decode("utf-8", "replace").splitlines()


def libfuzzer_args(corpus: Path, artifacts: Path, budget: float, extra: Sequence[str]) -> list[str]:
    """The child's libFuzzer arguments: the corpus, the defaults, the caller's flags, then the
    flags the engine owns (`SUPERVISOR_FLAGS` in `extra` raise ValueError)."""
    for arg in extra:
        if arg.split("=", 1)[0] in SUPERVISOR_FLAGS:
            raise ValueError(f"libFuzzer flag {arg} is set by the atheris engine (the budget, the artifacts "
                             f"folder) or not supported by it (it supervises a single process)")
    given = {arg.split("=", 1)[0] for arg in extra}
    defaults = [arg for arg in DEFAULT_LIBFUZZER_ARGS if arg.split("=", 1)[0] not in given]
    backstop = math.ceil(budget) + 10  # the child stops itself at its budget; this is in case it cannot
    return [str(corpus), *defaults, *extra, f"-artifact_prefix={artifacts}{os.sep}", f"-max_total_time={backstop}"]


@dataclass
class _Supervisor:
    """Starts libFuzzer children one after another until the campaign ends, and reads them."""

    campaign: Campaign
    status: FuzzerStatus
    run_dir: Path
    corpus: Path
    extra: list[str]
    mutants_from: str | None
    keep_going: bool
    on_progress: Callable[[Campaign], None]
    seen: set[Path] = field(default_factory=set)

    @property
    def done(self) -> bool:
        return self.campaign.remaining <= 1.0 or bool(self.campaign.findings and not self.keep_going)

    def supervise(self) -> None:
        """Children until the budget ends (or the first finding); a new one after each crash."""
        while not self.done:
            self.status.children += 1
            child = self.spawn(self.status.children)
            try:
                code = self.watch(child)
            finally:
                stop(child.process, grace=5.0)
            if not self.collect_artifacts(child):
                if code is not None:
                    _check_exit(code, child)
                return  # libFuzzer stopped without a crash: the budget ran out, or -runs was reached

    def spawn(self, number: int) -> _Child:
        campaign = self.campaign
        artifacts = self.run_dir / "artifacts"
        artifacts.mkdir(exist_ok=True)
        stats_path = self.run_dir / f"stats-{number}.json"
        log_path = self.run_dir / f"libfuzzer-{number}.log"
        command = [
            sys.executable, "-m", "harness.engines.atheris_main",
            "--target", campaign.target, "--out", str(campaign.out), "--stats", str(stats_path),
            "--stop-at", f"{time.time() + campaign.remaining:.6f}",
            "--started-wall", f"{time.time() - campaign.elapsed:.6f}",
            *(["--mutant", campaign.mutant] if campaign.mutant else []),
            *(["--mutants-from", self.mutants_from] if self.mutants_from else []),
            *[arg for f in campaign.findings for arg in ("--known", f.signature)],
            "--", *libfuzzer_args(self.corpus, artifacts, campaign.remaining, self.extra),
        ]
        env = {
            "PYTHONHASHSEED": "0",  # the same string hashes in every child: `-seed=N` runs repeat
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env=env)
        return _Child(process, log_path, stats_path, campaign.sequences, campaign.ops)

    def watch(self, child: _Child, poll: float = 0.25) -> int | None:
        """Follow the child until it exits: its exit status. None if it was stopped here — at
        the first finding (unless `keep_going`) or a minute past the budget."""
        deadline = time.monotonic() + self.campaign.remaining + 60
        while child.process.poll() is None:
            time.sleep(poll)
            self.absorb(child)
            self.on_progress(self.campaign)
            if time.monotonic() > deadline or self.done:
                stop(child.process, grace=5.0)
                return None
        self.absorb(child)
        return child.process.wait()

    def absorb(self, child: _Child) -> None:
        """Take in what the child reported since the last look: counters, findings, `cov:`."""
        for line in child.new_lines():
            self.status.update(line)
        stats = read_stats(child.stats_path)
        if stats is None:
            return
        campaign = self.campaign
        campaign.sequences = child.base_sequences + int(stats["sequences"])
        campaign.ops = child.base_ops + int(stats["ops"])
        for entry in stats["findings"]:
            if not campaign.knows(entry["signature"]):
                campaign.findings.append(Finding(entry["signature"], Path(entry["path"]), int(entry["ops"]),
                                                 float(entry["seconds"]), entry["description"]))

    def collect_artifacts(self, child: _Child) -> int:
        """Turn the artifacts this child left into findings; how many there were."""
        artifacts = [p for p in sorted((self.run_dir / "artifacts").glob("*"))
                     if p not in self.seen and artifact_kind(p) is not None]
        log = child.log_path.read_text(encoding="utf-8", errors="replace")
        for artifact in artifacts:
            self.seen.add(artifact)
            kind = artifact_kind(artifact)
            save_crash(self.campaign, artifact, crash_cause(log) if kind == "crash" else str(kind), self.mutants_from, log)
            self.status.crashes += 1
            self.quarantine(artifact)
        return len(artifacts)

    def quarantine(self, artifact: Path) -> None:
        """Move the corpus unit an artifact repeats (same SHA-1 name) out of the corpus, so that
        the next child does not die on it while it loads the corpus."""
        unit = self.corpus / artifact.name.split("-", 1)[1]
        if unit.is_file():
            (self.run_dir / "quarantine").mkdir(exist_ok=True)
            unit.replace(self.run_dir / "quarantine" / unit.name)


def fuzz(
    campaign: Campaign,
    target_name: str,
    mutant: str | None = None,
    corpus_dir: Path | None = None,
    extra_libfuzzer_args: Iterable[str] = (),
    on_progress: Callable[[Campaign], None] = lambda c: None,
    status: FuzzerStatus | None = None,
    keep_going: bool = True,
    runs_dir: Path = RUNS_DIR,
    mutants_from: str | None = None,
) -> FuzzerStatus:
    """Fuzz `target_name` (with `mutant` active in the child) until `campaign`'s budget ends,
    or its first finding unless `keep_going`.

    Runs libFuzzer in a child process over `corpus_dir` (default `DEFAULT_CORPUS`, seeded on
    first use), updating `campaign` (target, mutant, sequences, ops, findings) and calling
    `on_progress` a few times a second. A child that dies of a crash, timeout or out-of-memory
    leaves an artifact, saved as a `crash/...` finding; a new child then goes on while budget
    remains. Every finding is on disk before it is reported. The child's output, stats and
    artifacts go to a new folder under `runs_dir`, kept only if a child crashed or failed
    (`status.run_dir`). Returns libFuzzer's view (`status`, updated in place if given).

    `mutant` is a name of the catalogue, or of the file `mutants_from` (`MUTANTS = {...}`). It
    is activated in the child processes (and in the forked replays that minimize a crash): it
    must not be active in the calling process as well. A child's counters reach `campaign`
    about once a second, so a child that crashes loses its last second of them.

    Raises `AtherisMissing` without atheris; ValueError for an unknown target or mutant, or a
    flag the engine owns; `HarnessError` if a child exits with an error and no artifact.
    """
    require_atheris()
    _check_names(target_name, mutant, mutants_from)
    extra = list(extra_libfuzzer_args)
    libfuzzer_args(Path("."), Path("."), 0, extra)  # refuse the engine's own flags before starting
    campaign.target, campaign.mutant = target_name, mutant
    status = status or FuzzerStatus()
    corpus = prepare_corpus(Path(corpus_dir) if corpus_dir is not None else DEFAULT_CORPUS)
    runs_dir.mkdir(parents=True, exist_ok=True)
    status.run_dir = Path(tempfile.mkdtemp(prefix="atheris-", dir=runs_dir))
    supervisor = _Supervisor(campaign, status, status.run_dir, corpus, extra, mutants_from, keep_going, on_progress)
    keep = True  # the children's output is kept when something went wrong
    try:
        supervisor.supervise()
        keep = status.crashes > 0
    except KeyboardInterrupt:
        keep = status.crashes > 0
        raise
    finally:
        if not keep:
            shutil.rmtree(status.run_dir, ignore_errors=True)
            status.run_dir = None
    on_progress(campaign)
    return status


def activate_mutant(name: str, mutants_from: str | None = None) -> contextlib.AbstractContextManager:
    """The context manager of mutant `name`, from the catalogue or the file `mutants_from`."""
    from harness.mutants import activate
    from harness.mutation import catalogue

    return activate(catalogue(mutants_from).get(name, name))


def _check_names(target_name: str, mutant: str | None, mutants_from: str | None) -> None:
    if target_name not in available():
        raise ValueError(f"unknown target {target_name!r}; available: {', '.join(available())}")
    if mutant is not None:
        activate_mutant(mutant, mutants_from)  # an unknown name raises ValueError with the choices


def _check_exit(code: int, child: _Child) -> None:
    """A child that ends without an artifact must have ended cleanly."""
    if code == 0:
        return
    raise HarnessError(f"the libFuzzer process exited with status {code} and left no artifact; "
                       f"its last output ({child.log_path}):\n{tail(child.log_path, 20)}")
