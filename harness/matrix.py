"""The Wasmtime version matrix: the corpus, a short campaign and fixed probes, per release.

    table = run_matrix(["32.0.0", "40.0.0", "50.0.1"], budget=60.0, out=Path("reports/matrix"),
                       on_line=print)
    print(table.render())            # also written as OUT/matrix.json and OUT/matrix.md

For each version, `prepare_env` keeps one virtual environment under
`.poolfuzz-cache/wasmtime-<version>/venv` with that release of the `wasmtime` package and this
project's dependencies (the project itself is found through `PYTHONPATH`), built once and
reused. Three child processes then run in it, from the project's root:

* `python -m harness.matrix corpus corpora/regression`: every corpus file, classified
  (`classify`): passed, skipped, *documented* (it fails only on the file's own `=>`/`expect`,
  where the target's declared `Expectations` predict what it did, and passes with the results
  those expectations predict), or failed;
* `python -m harness.cli fuzz --target wasmtime --budget B --profile ci --keep-going ...`:
  a short campaign, whose findings and throughput are reported;
* `python -m harness.matrix probes`: the fixed behaviours of `PROBES` and `MESSAGES`, measured.

The table has one row per behaviour and one column per version; a behaviour whose value is
not the same in every version is marked (`≠`), and so is each cell that differs from the
column before it. Rows of kind `run` (throughput) are reported but never compared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import observers, wasm
from harness.documented import explaining_differences, run_expecting
from harness.errors import InvalidProgram
from harness.divergence import Divergence
from harness.expectations import SEMANTICS, Expectations, expectations_of
from harness.findings import write_atomically
from harness.model import Model
from harness.ops import (
    Data,
    Error,
    Expect,
    Faults,
    Instantiate,
    KiB,
    MiB,
    ModuleDecl,
    Number,
    Op,
    PoolSpec,
    Program,
    Slot,
    Touch,
)
from harness.replay import expand
from harness.targets import Target, make_target
from harness.targets.base import TargetError, Unsupported
from harness.targets.wasmtime_target import wasmtime_expectations
from harness.text import parse, parse_file
from harness.wasmtime_pool import open_pool

ROOT = Path(__file__).resolve().parents[1]
"""The project's root: children run from here, with it on `PYTHONPATH`."""

CACHE = ROOT / ".poolfuzz-cache"
CORPUS = Path("corpora/regression")
DEFAULT_OUT = Path("reports/matrix")
CHILD_SLACK = 300.0
"""Seconds a child may take beyond its budget (minimizing findings, building engines)."""

BEHAVIOUR, RUN = "behaviour", "run"


# --- the table -------------------------------------------------------------------------------


@dataclass
class Table:
    """Rows of behaviours, one column per version, a string per cell (`""` if not measured),
    and for some rows what docs/semantics.md says (`reference`, shown first, never compared).

    Invariant: every row name appears once in `rows`, with its kind in `kinds`.
    """

    versions: list[str]
    rows: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    cells: dict[str, dict[str, str]] = field(default_factory=dict)
    reference: dict[str, str] = field(default_factory=dict)

    def set(self, row: str, version: str, value: object, kind: str = BEHAVIOUR) -> None:
        """Record `value` (as text) for `row` in `version`'s column; the first call of a row
        fixes its place and kind."""
        if row not in self.cells:
            self.rows.append(row)
            self.kinds[row] = kind
            self.cells[row] = {}
        self.cells[row][version] = str(value)

    def value(self, row: str, version: str) -> str:
        return self.cells.get(row, {}).get(version, "")

    def differs(self, row: str) -> bool:
        """A behaviour row whose value is not the same in every version."""
        if self.kinds.get(row) != BEHAVIOUR:
            return False
        return len({self.value(row, v) for v in self.versions}) > 1

    def changed(self, row: str, index: int) -> bool:
        """The cell of version `index` differs from the one before it (a behaviour row)."""
        if index == 0 or self.kinds.get(row) != BEHAVIOUR:
            return False
        return self.value(row, self.versions[index]) != self.value(row, self.versions[index - 1])

    def to_json(self) -> dict[str, object]:
        return {
            "versions": self.versions,
            "rows": [
                {"behaviour": row, "kind": self.kinds[row], "differs": self.differs(row),
                 "semantics": self.reference.get(row, ""), "values": {v: self.value(row, v) for v in self.versions}}
                for row in self.rows
            ],
        }

    def to_markdown(self) -> str:
        """A GitHub table: `≠` marks a row that differs, bold a cell that changed."""
        head = ["", "behaviour", "docs/semantics.md", *(f"wasmtime {v}" for v in self.versions)]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            cells = [_md_cell(self.value(row, v), self.changed(row, i)) for i, v in enumerate(self.versions)]
            marks = ["≠" if self.differs(row) else "", _md_escape(row), _md_escape(self.reference.get(row, ""))]
            lines.append("| " + " | ".join([*marks, *cells]) + " |")
        return "\n".join(lines) + "\n"

    def render(self) -> str:
        """Plain text for a terminal: aligned columns, `≠` before a differing row, `*` after a
        changed cell."""
        header = ["behaviour", "semantics.md", *self.versions]
        body = [[row, self.reference.get(row, ""), *(self.value(row, v) + ("*" if self.changed(row, i) else "")
                                                    for i, v in enumerate(self.versions))] for row in self.rows]
        widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header))]
        marks = ["  ", *("≠ " if self.differs(row) else "  " for row in self.rows)]
        return "\n".join(m + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                         for m, r in zip(marks, [header, *body])) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_cell(text: str, changed: bool) -> str:
    text = _md_escape(text)
    return f"**{text}**" if changed and text else text


# --- version environments -------------------------------------------------------------------


class MatrixError(Exception):
    """A version's environment or child could not be prepared or run; the message says why."""


def env_dir(version: str) -> Path:
    return CACHE / f"wasmtime-{version}"


def prepare_env(version: str, on_line: Callable[[str], None]) -> Path:
    """The Python of a cached venv with `wasmtime==version` and the project's dependencies,
    built on first use (`python -m venv` + `pip install`). Reused when its stamp says it is
    complete; raises `MatrixError` with pip's last lines if the install fails."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise MatrixError(f"wasmtime version {version!r} is not of the form X.Y.Z")
    home = env_dir(version)
    python, stamp = home / "venv" / "bin" / "python", home / "ready"
    if stamp.exists() and python.exists():
        return python
    on_line(f"[{version}] preparing {home} (python -m venv, pip install wasmtime=={version})")
    home.mkdir(parents=True, exist_ok=True)
    _checked([sys.executable, "-m", "venv", "--clear", str(home / "venv")], "python -m venv")
    _checked([str(python), "-m", "pip", "install", "--quiet", f"wasmtime=={version}", *project_dependencies()],
             f"pip install wasmtime=={version}")
    stamp.write_text(f"wasmtime=={version}\n")
    return python


def project_dependencies() -> list[str]:
    """The `[project] dependencies` of pyproject.toml (the project itself comes from PYTHONPATH)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def _checked(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise MatrixError(f"{what} failed (exit {done.returncode}): {tail}")


def child_env() -> dict[str, str]:
    """The environment of a child: the project first on `PYTHONPATH`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_child(python: Path, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs `python args...` from the project's root; `MatrixError` if it overruns `timeout`."""
    try:
        return subprocess.run([str(python), *args], cwd=ROOT, env=child_env(), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise MatrixError(f"{' '.join(args[:3])} took over {timeout:.0f} s") from err


def child_json(python: Path, args: list[str], timeout: float) -> object:
    """The JSON a child printed on stdout; `MatrixError` with its stderr's last line otherwise."""
    done = run_child(python, args, timeout)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise MatrixError(f"{' '.join(args[:3])} exited {done.returncode}: {_last_line(done.stderr)}") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


# --- the corpus, classified -----------------------------------------------------------------

PASSED, DOCUMENTED, FAILED, SKIPPED, MALFORMED = "passed", "documented", "failed", "skipped", "malformed"


@dataclass(frozen=True)
class Verdict:
    """One corpus file on one target. `flags` are the `Expectations` fields that explain a
    `documented` difference; `detail` the skip reason or the divergence, on one line."""

    path: str
    status: str
    flags: tuple[str, ...] = ()
    detail: str = ""


def classify(path: Path, make_target: Callable[[], Target]) -> Verdict:
    """Replays `path` on a fresh target beside the model told the target's expectations.

    `documented` requires all of: the only divergence is against the file's own `=>`/`expect`;
    the model with the target's expectations predicted what the target did there; at least one
    declared difference, reset to docs/semantics.md alone, predicts the file's value; and the
    program with every result predicted under the expectations passes on a fresh target."""
    try:
        program = parse_file(path)
        target = make_target()
        expectations = expectations_of(target, program.pool_spec)
        outcome = run_expecting(program, target, expectations)
    except InvalidProgram as err:
        return Verdict(str(path), MALFORMED, detail=str(err))
    if outcome.skipped is not None:
        return Verdict(str(path), SKIPPED, detail=outcome.skipped)
    if outcome.passed:
        return Verdict(str(path), PASSED)
    return _classify_divergence(path, program, outcome.divergence, expectations, make_target)


def _classify_divergence(path: Path, program: Program, divergence: Divergence, expectations: Expectations,
                         make_target: Callable[[], Target]) -> Verdict:
    detail = " / ".join(divergence.describe().splitlines()[:2])
    flags, why_not = explaining_differences(program, divergence, expectations, make_target)
    if not flags:
        return Verdict(str(path), FAILED, detail=f"{detail} ({why_not})")
    return Verdict(str(path), DOCUMENTED, flags, detail)


def classify_corpus(paths: Sequence[Path], target: str = "wasmtime") -> list[Verdict]:
    """`classify` for every `.ops` file under `paths`, on fresh `target`s."""
    return [classify(path, lambda: make_target(target)) for path in expand(paths)]


def corpus_summary(verdicts: list[Verdict]) -> str:
    counts = {s: sum(v.status == s for v in verdicts) for s in (PASSED, DOCUMENTED, FAILED, SKIPPED, MALFORMED)}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in (PASSED, FAILED))


# --- probes: fixed behaviours, measured ------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A behaviour measured by running `program` (`.ops` statements after `version 1`) on the
    wasmtime target without the model; `report` turns the observed values into the cell."""

    name: str
    program: str
    report: Callable[[list[object]], str] = lambda values: _show(values[-1])


def _show(value: object) -> str:
    if isinstance(value, Slot):
        return f"slot {value.index}"
    if isinstance(value, Faults):
        return _plural(value.count, "fault")
    if isinstance(value, Error):
        return f"error {value.kind}"
    if isinstance(value, (Number, Data)):
        return str(value.value)
    return str(value)


def _shrinking_reuse(style: str) -> str:
    """A slot grown to 6 pages, freed, and reused by a 1-page module (guard 0)."""
    return f"""
pool memories=1 max-memory=1MiB guard=0 style={style} warm-slots=0
module big min=4 max=16
module small min=1 max=16
instantiate i big
grow i 2
deallocate i
instantiate i small
expect accessible i == 0"""


def _pages(values: list[object]) -> str:
    return _plural(values[-1] // 65536, "page")  # type: ignore[operator]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


PROBES = (
    Probe("image page below keep-resident: faults on reuse", """
pool memories=1 max-memory=1MiB guard=64KiB keep-resident=64KiB
module a min=1 data=0:"x"
instantiate i a
touch i 0 64KiB
deallocate i
instantiate i a
touch i 0 64KiB"""),
    Probe("nothing to decommit, decommit-batch 3: next instance's slot", """
pool memories=2 max-memory=1MiB guard=64KiB decommit-batch=3
module z min=0 max=3
instantiate i z
deallocate i
instantiate j z"""),
    Probe("drop while its slot is queued (batch 2): image mappings, memfds left", """
pool memories=2 max-memory=1MiB guard=64KiB decommit-batch=2
module a min=1 data=0:"a"
instantiate i a
deallocate i
drop a
expect image-mappings a == 0
expect memfds == 0""", lambda values: f"{values[-2]}, {values[-1]}"),
    Probe("static, guard 0: accessible pages after a shrinking reuse", _shrinking_reuse("static"), _pages),
    Probe("segment of zero bytes only: memfds", """
pool memories=1 max-memory=1MiB guard=64KiB
module z min=1 data=100:hex:00
instantiate i z
expect memfds == 0"""),
    Probe("segments 0:\"a\" and 0xfffffe:\"z\" (extent 16 MiB - 1): memfds", """
pool memories=1 max-memory=17MiB guard=64KiB
module s min=256 data=0:"a" data=0xfffffe:"z"
instantiate i s
expect memfds == 0"""),
    Probe("shared module too large for the pool", """
pool memories=1 max-memory=1MiB guard=64KiB
module s min=20 max=40 shared"""),
    Probe("shared module, max-memory 0", """
pool memories=1 max-memory=0 guard=64KiB
module s min=0 max=1 shared"""),
    Probe("standalone shared memory min 1 max 64, reservation 1 MiB: grows to", """
pool memories=1 max-memory=1MiB guard=64KiB
shared s min=1 max=64
shared-grow s 63
shared-grow s 15
shared-size s""", lambda values: _plural(values[-1].value, "page")),  # type: ignore[attr-defined]
    Probe("128 slots, warm-slots 2, modules a, b, c in turn: slots", """
pool memories=128 max-memory=64KiB guard=4KiB warm-slots=2
module a min=1
module b min=1
module c min=1
instantiate i a
deallocate i
instantiate j b
deallocate j
instantiate k c""", lambda values: ", ".join(_show(v).removeprefix("slot ") for v in values[3::2])),
    Probe("style=dynamic, guard 0: accessible pages after a shrinking reuse", _shrinking_reuse("dynamic"), _pages),
)
"""The behaviours every version is measured on. Each differed somewhere, or pins a rule the
model depends on."""


def probe_program(probe: Probe) -> Program:
    """The `Program` of `probe`."""
    return parse("version 1\n" + probe.program.strip() + "\n", f"<probe {probe.name}>")


def run_probe(probe: Probe) -> str:
    """The cell of `probe`: its report, `unsupported: ...` or `target error: ...`."""
    try:
        return probe.report(drive(probe_program(probe)))
    except Unsupported as err:
        return "unsupported: " + _short(err.reason)
    except TargetError as err:
        panic = re.search(r"panicked at (?:\S*/)?([^/\s]+?):(\d+):\d+", str(err))
        if panic:
            return f"process aborts (Rust panic at {panic[1]}:{panic[2]})"
        return "target error: " + _short(str(err))


def predict_probe(probe: Probe, expectations: Expectations = SEMANTICS) -> str:
    """The cell the model predicts for `probe`, told `expectations` (default: none, i.e.
    docs/semantics.md)."""
    program = probe_program(probe)
    model = Model(program.pool_spec, expectations)
    values = [model.observe(op) if isinstance(op, Expect) else model.apply(op) for op in program.statements]
    return probe.report(values)


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def drive(program: Program) -> list[object]:
    """The observed value of each statement of `program`, run on a fresh wasmtime target (no
    model, no checks): op results, `touch` faults, `expect` observations."""
    target = make_target("wasmtime")
    baseline = observers.memfd_count()
    target.open(program.pool_spec)
    inodes: dict[str, int] = {}
    try:
        return [_observe(target, op, baseline, inodes) for op in program.statements]
    finally:
        target.close()


def _observe(target: Target, op: Op, baseline: int, inodes: dict[str, int]) -> object:
    if isinstance(op, Touch):
        return Faults(observers.touch(target.memory(op.instance).base + op.offset, op.length))
    if isinstance(op, Expect):
        return _expect(target, op, baseline, inodes)
    result = target.apply(op)
    if isinstance(op, Instantiate) and isinstance(result, Slot):
        region = target.memory(op.instance)
        for mapping in observers.mappings():
            if mapping.is_memfd and region.base <= mapping.start < region.base + region.limit:
                inodes.setdefault(op.module, mapping.inode)
    return result


def _expect(target: Target, op: Expect, baseline: int, inodes: dict[str, int]) -> int:
    if op.observable == "memfds":
        return observers.memfd_count() - baseline
    if op.observable == "image-mappings":
        inode = inodes.get(str(op.args[0]))
        return 0 if inode is None else observers.mappings_of_inode(inode)
    if op.observable == "accessible":
        region = target.memory(str(op.args[0]))
        return observers.accessible_bytes(region.base, region.limit)
    raise ValueError(f"probes do not observe {op.observable!r}")


MESSAGES = {
    "text of a too-large module": ("too-large", "minimum byte size"),
    "text of a shared module": ("shared", "shared"),
    "text of an exhausted pool": ("exhausted", "concurrent limit"),
}
"""Error texts the target recognises, by row: (case, a word of the line to report)."""


def error_text(case: str, word: str) -> str:
    """The line of Wasmtime's own error message, for `case`, that contains `word`."""
    import wasmtime

    pool = open_pool(PoolSpec(memories=1, max_memory=128 * KiB, guard=64 * KiB))
    modules, stores = [], []
    try:
        decl = {"too-large": ModuleDecl("m", 3), "shared": ModuleDecl("m", 1, 2, shared=True)}.get(case, ModuleDecl("m", 1))
        module = wasmtime.Module(pool.engine, wasm.module_bytes(decl))
        modules.append(module)
        for _ in range(2):
            stores.append(wasmtime.Store(pool.engine))
            wasmtime.Instance(stores[-1], module, [])
        return "(no error)"
    except wasmtime.WasmtimeError as err:
        lines = [re.sub(r"^\d+: ", "", line.strip()) for line in str(err).splitlines() if word in line]
        return lines[-1] if lines else _short(str(err))
    finally:
        for handle in [*stores, *modules]:
            handle.close()
        pool.close()


PREDICTED = "probes the model predicts, told the declared differences"


def measure_probes() -> dict[str, str]:
    """Every probe and error text, measured in this process (a child of the matrix), and how
    many of the probes the model predicts when told the installed version's expectations."""
    cells = {probe.name: run_probe(probe) for probe in PROBES}
    runnable = [p for p in PROBES if not cells[p.name].startswith("unsupported")]
    missed = [p.name for p in runnable
              if predict_probe(p, expectations_of(make_target("wasmtime"), probe_program(p).pool_spec)) != cells[p.name]]
    cells[PREDICTED] = f"{len(runnable) - len(missed)} of {len(runnable)}" + (f" (not: {'; '.join(missed)})" if missed else "")
    for row, (case, word) in MESSAGES.items():
        cells[row] = _short(error_text(case, word), 120)
    return cells


DECLARED = "declared differences (4 slots of 1 MiB, guard 0)"


def declared(version: str | None = None) -> str:
    """The differences the wasmtime target declares for `version` on a small guard-0 pool (the
    pool where the most fields apply): the model's view, to read beside the measured probes."""
    flags = wasmtime_expectations(PoolSpec(memories=4, max_memory=1 * MiB, guard=0), version).differences()
    return ", ".join(name if value is True else f"{name}={value}" for name, value in flags.items())


# --- one version, then all of them -----------------------------------------------------------


def measure_version(version: str, budget: float, out: Path, table: Table, on_line: Callable[[str], None]) -> None:
    """Fills `version`'s column: environment, corpus, probes, campaign. A step that fails
    fills its rows with `error: ...` and the next step still runs."""
    try:
        python = prepare_env(version, on_line)
    except MatrixError as err:
        table.set("environment", version, f"error: {err}")
        return
    steps = (
        ("corpus", lambda: _corpus_rows(python, version, table)),
        ("probes", lambda: _probe_rows(python, version, table)),
        ("campaign", lambda: _campaign_rows(python, version, budget, out, table)),
    )
    for name, step in steps:
        started = time.monotonic()
        on_line(f"[{version}] {name} ...")
        try:
            step()
        except MatrixError as err:
            table.set(name, version, f"error: {_short(str(err))}")
        on_line(f"[{version}] {name} done in {time.monotonic() - started:.0f} s")


def _corpus_rows(python: Path, version: str, table: Table) -> None:
    rows = child_json(python, ["-m", "harness.matrix", "corpus", str(CORPUS)], CHILD_SLACK)
    verdicts = [Verdict(r["path"], r["status"], tuple(r["flags"]), r["detail"]) for r in rows]
    table.set("corpus (regression)", version, corpus_summary(verdicts))
    flags = sorted({f for v in verdicts for f in v.flags})
    table.set("corpus: documented differences", version, ", ".join(flags) or "none")
    failed = [Path(v.path).stem for v in verdicts if v.status in (FAILED, MALFORMED)]
    table.set("corpus: failed", version, ", ".join(failed) or "none")


def _probe_rows(python: Path, version: str, table: Table) -> None:
    cells = child_json(python, ["-m", "harness.matrix", "probes"], CHILD_SLACK)
    for row, value in cells.items():
        table.set(row, version, value)


def _campaign_rows(python: Path, version: str, budget: float, out: Path, table: Table) -> None:
    summary_path = (out / f"campaign-{version}.json").resolve()
    summary_path.unlink(missing_ok=True)
    args = ["-m", "harness.cli", "fuzz", "--target", "wasmtime", "--budget", f"{budget:g}s", "--profile", "ci",
            "--database", "none", "--keep-going", "--out", str((out / f"found-{version}").resolve()),
            "--json", str(summary_path)]
    done = run_child(python, args, budget + CHILD_SLACK)
    if not summary_path.exists():
        raise MatrixError(f"the campaign exited {done.returncode} without a summary: {_last_line(done.stderr)}")
    summary = json.loads(summary_path.read_text())
    findings = summary["findings"]
    table.set(f"campaign ({budget:g} s, ci profile): findings", version,
              f"{len(findings)}" + (": " + ", ".join(f["signature"] for f in findings) if findings else ""))
    table.set("campaign: sequences, checked ops", version, f"{summary['sequences']}, {summary['ops']}", kind=RUN)


def run_matrix(versions: list[str], budget: float, out: Path, on_line: Callable[[str], None]) -> Table:
    """Measures every version (see the module docstring) and writes `out/matrix.json` and
    `out/matrix.md`. Never raises for a version that fails: its cells say why."""
    out.mkdir(parents=True, exist_ok=True)
    table = Table(list(versions))
    for version in versions:
        measure_version(version, budget, out, table, on_line)
    for version in versions:
        table.set(DECLARED, version, declared(version))
    table.reference.update({probe.name: predict_probe(probe) for probe in PROBES})
    table.reference[DECLARED] = "none"
    write_atomically(out / "matrix.json", json.dumps(table.to_json(), indent=2) + "\n")
    write_atomically(out / "matrix.md", table.to_markdown())
    return table


# --- command lines ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `poolfuzz matrix`, on `parser` (the CLI's subcommand, or `build_parser`)."""
    parser.add_argument("--wasmtime", nargs="+", required=True, metavar="VERSION",
                        help="releases of the wasmtime package, e.g. 32.0.0 40.0.0 50.0.1")
    parser.add_argument("--budget", type=_duration, default=60.0,
                        help="campaign budget per release, e.g. 60s (default 60s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where matrix.json, matrix.md and findings go (default {DEFAULT_OUT})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poolfuzz matrix", description="Corpus, campaign and probes per Wasmtime release.")
    add_arguments(parser)
    return parser


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: write e.g. 90s, 10m or 8h")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def main_matrix(argv: Sequence[str] | None = None) -> int:
    """`poolfuzz matrix --wasmtime V... [--budget 60s] [--out DIR]` as a function; see
    `cmd_matrix`. Misuse is exit status 2, with argparse's message."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return cmd_matrix(args)


def cmd_matrix(args: argparse.Namespace) -> int:
    """Runs the matrix, printing progress on stderr and the table on stdout. Exit status 0 if
    every corpus file passed, was skipped or differs as documented, every probe and campaign
    ran, and no campaign found anything; 1 otherwise."""
    table = run_matrix(args.wasmtime, args.budget, args.out, lambda line: print(line, file=sys.stderr, flush=True))
    print(table.render())
    print(f"written: {args.out / 'matrix.md'}, {args.out / 'matrix.json'}")
    return 0 if _clean(table) else 1


def _clean(table: Table) -> bool:
    """No version failed a corpus file, found anything, or could not be measured."""
    for version in table.versions:
        values = {row: table.value(row, version) for row in table.rows}
        if values.get("corpus: failed", "none") != "none" or "error:" in " ".join(values.values()):
            return False
        if any(row.endswith("findings") and value != "0" for row, value in values.items()):
            return False
    return True


def main_child(argv: Sequence[str]) -> int:
    """In a version's environment: `corpus PATH...` or `probes`, JSON on stdout."""
    if argv[:1] == ["corpus"]:
        verdicts = classify_corpus([Path(p) for p in argv[1:]])
        print(json.dumps([dataclasses.asdict(v) for v in verdicts]))
        return 0
    if argv == ["probes"]:
        print(json.dumps(measure_probes()))
        return 0
    print("usage: python -m harness.matrix corpus PATH... | probes", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main_child(sys.argv[1:]))


__all__ = [
    "MESSAGES", "PROBES", "Probe", "Table", "Verdict", "add_arguments", "classify", "classify_corpus",
    "cmd_matrix", "main_matrix", "prepare_env", "responsible_flags", "run_matrix",
]
