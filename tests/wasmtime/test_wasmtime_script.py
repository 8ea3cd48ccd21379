"""Standalone reproducers (`harness.wasmtime_script`): generated from a divergence on real
Wasmtime, run in a Python that cannot import poolfuzz (`-I`, an empty working folder, no
PYTHONPATH), they print expected and observed and exit 1 while the behaviour shows, 0 when it
does not. What a script measures is compared with what the harness measured on the same
program, observable by observable."""

import ast
import ctypes
import dataclasses
import mmap
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("wasmtime")

from harness import cli, findings, observers  # noqa: E402
from harness.campaign import Campaign, record  # noqa: E402
from harness.divergence import Divergence  # noqa: E402
from harness.executor import Executor  # noqa: E402
from harness.expectations import SEMANTICS  # noqa: E402
from harness.documented import run_expecting  # noqa: E402
from harness.model.predict import with_predicted_results  # noqa: E402
from harness.ops import Slot  # noqa: E402
from harness.targets.wasmtime_target import WasmtimeTarget, wasmtime_expectations  # noqa: E402
from harness.text import parse  # noqa: E402
from harness.wasmtime_script import ScriptError, bytes_expr, runtime, standalone_script  # noqa: E402
from harness.wasmtime_pool import bindings  # noqa: E402

pytestmark = pytest.mark.wasmtime

QUEUED = """\
version 1
pool memories=2 max-memory=1MiB guard=0 decommit-batch=3
module a min=0
instantiate i1 a => slot 0
deallocate i1
instantiate i1 a
"""
"""A documented difference (`queue_empty_decommits`): docs/semantics.md gives slot 0 again,
Wasmtime 37 and later queue the empty decommit and give slot 1."""

ALLOWED_IMPORTS = {"ctypes", "gc", "json", "os", "re", "signal", "struct", "sys", "traceback", "importlib", "wasmtime"}


class SemanticsWasmtime(WasmtimeTarget):
    """The wasmtime target with its expectations switched off: the model predicts
    docs/semantics.md, so every documented difference is a divergence."""

    def expectations(self, pool):
        return SEMANTICS


def divergence_of(text: str) -> Divergence:
    """The divergence of `text` on Wasmtime beside the model of docs/semantics.md."""
    outcome = run_expecting(parse(text), WasmtimeTarget(), SEMANTICS)
    assert outcome.divergence is not None, outcome.skipped
    return outcome.divergence


def run_script(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    """`path` run by this venv's Python in isolated mode, from `cwd`, without PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    return subprocess.run([sys.executable, "-I", str(path)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def write_and_run(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "reproducer.py"
    script.write_text(text)
    empty = tmp_path / "empty"
    empty.mkdir()
    return run_script(script, empty)


def value_line(output: str, label: str) -> str:
    """The value printed after `label:` (`expected` or `observed`) by the script's verdict."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith(f"{label}:")]
    assert len(lines) == 1, output
    return lines[0].split(":", 1)[1].strip()


def imported_modules(text: str) -> set[str]:
    tree = ast.parse(text)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    return names


def test_a_documented_difference_reproduces_without_poolfuzz(tmp_path):
    text = standalone_script(divergence_of(QUEUED))
    done = write_and_run(text, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert value_line(done.stdout, "expected") == "0"
    assert value_line(done.stdout, "observed") == "1"
    assert "reproduced" in done.stdout


def test_the_script_exits_0_when_wasmtime_does_what_is_expected(tmp_path):
    divergence = divergence_of(QUEUED)
    program = divergence.reproducer
    predicted = with_predicted_results(program, wasmtime_expectations(program.pool_spec))
    agreed = dataclasses.replace(divergence, expected=predicted.statements[-1].result)  # slot 1
    done = write_and_run(standalone_script(agreed), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert value_line(done.stdout, "expected") == value_line(done.stdout, "observed") == "1"


def test_a_step_that_no_longer_gives_its_result_is_inconclusive(tmp_path):
    divergence = divergence_of(QUEUED)
    statements = list(divergence.program.statements)
    statements[1] = dataclasses.replace(statements[1], result=Slot(1))  # it was slot 0
    altered = dataclasses.replace(divergence, program=divergence.program.with_statements(tuple(statements)))
    done = write_and_run(standalone_script(altered), tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "inconclusive: step 2" in done.stdout


# --- What the script measures is what the harness measures -------------------------------------

IMAGE = """\
version 1
pool memories=2 max-memory=1MiB guard=0 keep-resident=64KiB
module a min=1 max=4 data=0:fill:0x11*8192 data=0x3000:"hello"
instantiate i1 a => slot 0
instantiate i2 a => slot 1
write i1 0x1000 "x"
"""
"""Two instances of a module with an image; page 1 of i1 written (private), page 0 not."""

OBSERVABLES = [
    # (observable, detail or expect arguments, the harness's measurement)
    ("page-state", "instance i1, OS page 1 (offset 0x1000)",
     lambda ex: observers.page_states(ex.target.memory("i1").base + 0x1000, 1)[0].name.lower()),
    ("page-state", "instance i1, OS page 0 (offset 0x0)",
     lambda ex: observers.page_states(ex.target.memory("i1").base, 1)[0].name.lower()),
    ("contents", "instance i1, offset 0x1000",
     lambda ex: observers.peek_memory(ex.target.memory("i1").base + 0x1000, 16)),
    ("accessible", "instance i2 at 0x0",
     lambda ex: observers.accessible_bytes(ex.target.memory("i2").base, ex.target.memory("i2").limit)),
    ("slot-base", "instances i2 and i1: bases", lambda ex: "disjoint"),
    ("memfds", "", lambda ex: observers.memfd_count() - ex.memfd_baseline),
    ("memfds", "image memfds left open after the target was closed", None),
]


@pytest.mark.parametrize("observable, detail, measure", OBSERVABLES, ids=[f"{o[0]}:{o[1][:24]}" for o in OBSERVABLES])
def test_after_op_observables_measure_what_the_harness_measures(tmp_path, observable, detail, measure):
    program = parse(IMAGE)
    executor = Executor(program, WasmtimeTarget())
    executor.open()
    try:
        for op in program.statements:
            assert executor.step(op) is None
        measured = measure(executor) if measure else None
    finally:
        executor.close()
    if measure is None:  # after closing everything
        measured = observers.memfd_count() - executor.memfd_baseline
    wrong = "absent-or-other" if isinstance(measured, str) else (b"?" if isinstance(measured, bytes) else -1)
    divergence = Divergence(program, len(program.statements) - 1, 0, "", observable, wrong, measured,
                            detail=detail)
    done = write_and_run(standalone_script(divergence), tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert value_line(done.stdout, "observed") == repr(measured)


EXPECTS = [
    "expect resident i1 0 12KiB == 0",
    "expect zero i1 0x4000 16KiB == false",
    "expect zero i1 0 16 == true",
    "expect image-mappings a == 0",
    "expect memfds == 0",
    "expect size i1 == 0",
    "expect slot i2 == 0",
    "expect accessible i1 == 0",
]


@pytest.mark.parametrize("statement", EXPECTS)
def test_expect_observables_read_what_the_harness_reads(tmp_path, statement):
    program = parse(IMAGE + statement + "\n", check=False)
    executor = Executor(program, WasmtimeTarget())
    executor.open()
    try:
        for op in program.statements[:-1]:
            assert executor.step(op) is None
        expect = program.statements[-1]
        measured = executor._observe(expect)
    finally:
        executor.close()
    divergence = Divergence(program, len(program.statements) - 1, 0, "", expect.observable, expect.value, measured,
                            source="file")
    done = write_and_run(standalone_script(divergence), tmp_path)
    assert value_line(done.stdout, "observed") == repr(measured), done.stdout + done.stderr
    assert done.returncode == (1 if measured != expect.value else 0)


@pytest.mark.parametrize("statement", ["touch i1 0 12KiB", "read i1 0x3000 5", "grow i1 2", "size i2",
                                       "touch i1 0x10000 1", "write i2 0xffff hex:0102"])
def test_op_results_are_what_the_target_gives(tmp_path, statement):
    program = parse(IMAGE + statement + "\n")
    executor = Executor(program, WasmtimeTarget())
    executor.open()
    try:
        for op in program.statements[:-1]:
            assert executor.step(op) is None
        observed = executor._apply(program.statements[-1])
    finally:
        executor.close()
    divergence = Divergence(program, len(program.statements) - 1, 0, "", "result", "something else", observed)
    done = write_and_run(standalone_script(divergence), tmp_path)
    from harness.wasmtime_script import plain

    assert done.returncode == 1, done.stdout + done.stderr
    assert value_line(done.stdout, "observed") == repr(plain(observed))


# --- The script's own parts ---------------------------------------------------------------------


def test_scripts_import_only_the_standard_library_and_wasmtime():
    divergence = divergence_of(QUEUED)
    texts = [standalone_script(divergence)]
    program = parse(IMAGE + "shared s min=1 max=2\ntouch s 0 4KiB\nexpect image-mappings a == 0\n", check=False)
    texts.append(standalone_script(Divergence(program, len(program.statements) - 1, 0, "", "image-mappings", 1, 0)))
    for text in texts:
        assert imported_modules(text) <= ALLOWED_IMPORTS
        for forbidden in ("harness", "poolfuzz", "allocator"):
            assert f"import {forbidden}" not in text and f"from {forbidden}" not in text


def test_every_helper_a_script_can_hold_is_standalone():
    everything = "\n".join(textwrap.dedent(source) for _, source in runtime.HELPERS)
    assert imported_modules(everything) == set()  # the script's imports are at its top
    assert runtime.names_used("x.size(); size(y)  # touch") >= {"size", "x", "y"}
    assert "touch" not in runtime.names_used("x.touch  # touch(\n'touch'")


def test_the_c_types_are_those_of_the_packages_bindings():
    import ctypes as c

    from harness.wasmtime_script import C_TYPES

    names = {"U32": c.c_uint32, "U64": c.c_uint64, "SIZE_T": c.c_size_t, "BOOL": c.c_bool}
    api = bindings()
    for name, ctype in C_TYPES.items():
        setter = getattr(api, f"_wasmtime_config_{name}_set", None) or getattr(
            api, f"_wasmtime_pooling_allocation_config_{name}_set", None)
        if setter is None:
            continue  # not in this release (total_gc_heaps, shared_memory before 33)
        assert setter.argtypes[1] is names[ctype], name


def test_touch_by_populate_write_faults_as_the_harness_touch_does():
    """The script's `touch` (madvise MADV_POPULATE_WRITE) against `observers.touch` (an atomic
    OR per page) on twin mappings in each state: fresh, read (zero page), written, decommitted,
    and an unwritten private file page."""
    helpers = {"ctypes": ctypes, "os": os, "PAGE": mmap.PAGESIZE}
    exec(runtime.LIBC + runtime.TOUCH, helpers)  # noqa: S102
    script_touch = helpers["touch"]
    observers.disable_thp()
    pages = 16

    class Region:
        def __init__(self, buffer):
            self.base = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
            self.size = len(buffer)

    fd = os.memfd_create("poolfuzz-test")
    os.write(fd, b"\x01" * pages * mmap.PAGESIZE)

    def prepared(state):
        if state == "file":
            return mmap.mmap(fd, pages * mmap.PAGESIZE, flags=mmap.MAP_PRIVATE)
        buffer = mmap.mmap(-1, pages * mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if state == "read":
            buffer[:]  # maps the zero page
        if state in ("written", "decommitted"):
            buffer.write(b"\x02" * len(buffer))
        if state == "decommitted":
            buffer.madvise(mmap.MADV_DONTNEED)
        return buffer

    try:
        for state, faults in (("fresh", pages), ("read", pages), ("written", 0), ("decommitted", pages), ("file", pages)):
            ours, theirs = prepared(state), prepared(state)
            region = Region(theirs)
            assert observers.touch(region.base, len(theirs)) == faults, state
            assert script_touch(Region(ours), 0, len(ours)) == faults, state
            assert ours[:] == theirs[:], state  # bytes left as they were
            del region
    finally:
        os.close(fd)


def test_data_segments_are_written_as_short_bytes_expressions():
    assert bytes_expr(b"\xcc" * 4096) == "b'\\xcc' * 4096"
    assert bytes_expr(b"hello" + b"\x00" * 9 + b"!") == "b'hello' + b'\\x00' * 9 + b'!'"
    assert bytes_expr(b"") == "b''"
    for data in (b"ab" * 20, bytes(range(256)) + b"z" * 8, b"\x00" * 7):
        assert eval(bytes_expr(data)) == data  # noqa: S307


def test_a_pool_wasmtime_cannot_honour_is_a_script_error():
    divergence = divergence_of(QUEUED)
    spec = dataclasses.replace(divergence.program.pool_spec, strategy="random")
    program = dataclasses.replace(divergence.program, pool=spec)
    with pytest.raises(ScriptError, match="strategy=random"):
        standalone_script(dataclasses.replace(divergence, program=program))


# --- Wired in: findings, campaigns, replay --------------------------------------------------------


def test_a_campaign_finding_on_wasmtime_is_saved_with_its_script(tmp_path):
    campaign = Campaign("hypothesis", "wasmtime", None, 60.0, out=tmp_path)
    divergence = divergence_of(QUEUED.replace("module a min=0", "module a min=0\nmodule b min=1"))
    finding = record(campaign, divergence, SemanticsWasmtime)
    script = finding.path.with_suffix(".py")
    header = finding.path.read_text()
    assert f"# standalone: python3 {script.name} (needs only pip install wasmtime==" in header
    assert "module b" not in header  # minimized before the script was written
    done = run_script(script, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert value_line(done.stdout, "observed") == "1"


def test_findings_on_other_targets_get_no_script(tmp_path):
    path = findings.save(divergence_of(QUEUED), parse(QUEUED), "reference", None, tmp_path)
    assert list(tmp_path.glob("*.py")) == []
    assert "standalone" not in path.read_text()


def test_replay_script_writes_the_script_beside_a_diverging_file(tmp_path, capsys):
    ops = tmp_path / "queued.ops"
    ops.write_text(QUEUED.replace("instantiate i1 a\n", "instantiate i1 a => slot 0\n"))
    assert cli.main(["replay", str(ops), "--target", "wasmtime", "--script"]) == 1
    assert "standalone: python3 queued.py" in capsys.readouterr().out
    done = run_script(tmp_path / "queued.py", tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (value_line(done.stdout, "expected"), value_line(done.stdout, "observed")) == ("0", "1")


def test_a_divergence_the_generator_cannot_place_is_a_script_error():
    program = parse(IMAGE)
    divergence = Divergence(program, len(program.statements) - 1, 0, "", "page-state", "private", "absent",
                            detail="somewhere")
    with pytest.raises(ScriptError, match="cannot read where"):
        standalone_script(divergence)


# --- Across releases (the cached venvs of `poolfuzz matrix`) ----------------------------------------

LOAD_PAST_SIZE = """\
version 1
pool memories=1 max-memory=1MiB guard=0 style=static
module a min=1 max=16
instantiate i1 a => slot 0
grow i1 5 => 1
deallocate i1
instantiate i1 a => slot 0
read i1 0x10000 1 => error out-of-bounds
"""
"""The bug before 44 (#13008): a static slot reused without a guard keeps its grown protections,
and Wasm's load8 past the memory's size returns a byte instead of trapping."""


SHARED_ABORT = """\
version 1
pool memories=1 max-memory=0 guard=64KiB
module s min=0 max=1 shared
"""
"""The bug of 32 to 38 (#11973): compiling a shared memory in a pool whose reservation is 0
panics (`bounds_checks.rs`, `unwrap()` on `None`) and aborts the process."""


@pytest.mark.slow
@pytest.mark.parametrize("release, text, shown", [
    ("40.0.0", LOAD_PAST_SIZE, "instead of trapping"),
    ("32.0.0", SHARED_ABORT, "the process died of SIGABRT"),
])
def test_a_bug_of_an_old_release_reproduces_there_and_not_on_the_fixed_one(tmp_path, release, text, shown):
    from harness.matrix import env_dir

    old = env_dir(release) / "venv" / "bin" / "python"
    if not old.exists():
        pytest.skip(f"no cached wasmtime {release} venv (poolfuzz matrix --wasmtime {release} makes it)")
    ops = tmp_path / "bug.ops"
    ops.write_text(text)
    root = Path(__file__).resolve().parents[2]
    generate = subprocess.run([str(old), "-c", "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))",
                               "replay", str(ops), "--target", "wasmtime", "--script"],
                              cwd=root, capture_output=True, text=True, timeout=300)
    assert generate.returncode == 1, generate.stdout + generate.stderr
    script = tmp_path / "bug.py"
    assert f'FOUND_WITH = "{release}"' in script.read_text()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    there = subprocess.run([str(old), "-I", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert there.returncode == 1, there.stdout + there.stderr
    assert shown in value_line(there.stdout, "observed")
    here = run_script(script, tmp_path)  # the installed release has the fix
    assert here.returncode == 0, here.stdout + here.stderr
    assert value_line(here.stdout, "observed") == value_line(here.stdout, "expected")


# --- Nightly triage ---------------------------------------------------------------------------------


def triaged(tmp_path: Path, text: str):
    """The saved finding (claim, .ops path) of `text`'s divergence on wasmtime, after nightly triage."""
    import time

    from harness.executor import run
    from harness.nightly.board import Board, divergence_claim
    from harness.nightly.layout import RunDir
    from harness.nightly.triage import TriageOptions, triage
    from harness.targets import make_target
    from harness.text import format_program

    run_dir = RunDir(tmp_path / "run").create()
    divergence = run(parse(text), make_target("wasmtime")).divergence
    assert divergence is not None
    claim = divergence_claim("wasmtime", divergence, format_program(divergence.reproducer), 1.0, "corpus")
    assert Board(run_dir.claims).claim(claim)
    saved = triage(claim, run_dir, TriageOptions(timeout=60), time.monotonic() + 120)
    return saved, run_dir.root / saved.path


def test_nightly_findings_on_wasmtime_get_their_script_minimized_or_as_seen(tmp_path):
    # Wasmtime makes an image of zero-only segments (zero_only_segments_make_image): one memfd,
    # which no declared difference makes 2 — a finding, minimized in isolation.
    zero_image = "version 1\npool memories=2 max-memory=1MiB\nmodule y min=1\nmodule z min=1 data=0:fill:0x00*4096\n" \
                 "instantiate i1 z => slot 0\nexpect memfds == 2\n"
    queued = QUEUED.replace("instantiate i1 a\n", "instantiate i1 a => slot 0\n")
    # (minimizing the first may drop the instantiate too: then no memfd at all)
    for text, minimized, values in ((zero_image, True, {("2", "1"), ("2", "0")}), (queued, False, {("0", "1")})):
        saved, path = triaged(tmp_path / str(minimized), text)
        assert saved.minimized == minimized  # the queued one fails only on its own `=> slot 0`
        assert f"# standalone: python3 {path.stem}.py" in path.read_text()
        done = run_script(path.with_suffix(".py"), tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        assert (value_line(done.stdout, "expected"), value_line(done.stdout, "observed")) in values


class Corrupting(WasmtimeTarget):
    """The wasmtime target with a fault of its own, so that the executor's real checks find a
    divergence and describe where (its `detail`); Wasmtime itself is fine, so the script, which
    replays without the fault, must find the expected value at the place the detail names."""

    fault = ""

    def _instantiate(self, op):
        result = super()._instantiate(op)
        if self.fault == "page-state" and op.instance == "i2":
            ctypes.memset(self.instances["i2"].base + 0x2000, 0, 1)  # an absent page made private
        return result

    def _write(self, op):
        result = super()._write(op)
        if self.fault == "contents":
            ctypes.memset(self.instances[op.instance].base + op.offset + 8, 0x55, 1)
        return result


@pytest.mark.parametrize("fault, what", [("page-state", "state of the OS page at 0x2000 of i2"),
                                         ("contents", "bytes at 0x1008 of i1")])
def test_the_place_a_check_names_is_where_the_script_looks(tmp_path, fault, what):
    target = Corrupting()
    target.fault = fault
    program = parse(IMAGE.replace('write i1 0x1000 "x"', 'write i1 0x1000 "0123456789"'))
    divergence = Executor(program, target).run().divergence
    assert divergence is not None and divergence.observable == fault
    done = write_and_run(standalone_script(divergence), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # the fault is the target's, not Wasmtime's
    assert f"step {divergence.index + 1}: {what}" in done.stdout
    accepted = {value_line(done.stdout, "expected")} | ({"'absent'"} if fault == "page-state" else set())
    assert value_line(done.stdout, "observed") in accepted  # an image page not yet mapped is absent
