"""Standalone reproducers of Wasmtime findings: Python scripts that need only `pip install wasmtime`.

    text = standalone_script(divergence)          # divergence.reproducer is the program
    findings.write_atomically(script_path(ops_path), text)

The script, read top to bottom by someone who has never heard of poolfuzz:

1. a docstring: what diverged (expected and observed when found), the wasmtime release it was
   found with, how to run it, what its exit status means, and the `.ops` program as comments;
2. `FOUND_WITH` and the pool: `CONFIG` and `POOLING`, the C-API setters and values exactly as
   `harness.wasmtime_pool.new_config` sets them for the program's `pool` line (each commented
   with the `.ops` key it comes from), and the pool's layout constants;
3. one WAT text per `module` statement (`harness.wasm.module_wat`, data segments written as
   Python bytes expressions such as `b"\\xcc" * 4096`);
4. the helpers `main()` uses (`harness.wasmtime_script.runtime`: only the ones needed);
5. `main()`: one commented block per statement up to the diverging one, each calling a helper
   that does what `harness.targets.wasmtime_target` does for that statement; every result the
   reproducer states (`=> ...`) is checked on the way, and the diverging step ends in
   `verdict(...)`, which prints `expected:` and `observed:` lines. A diverging step that kills
   the process (a Rust panic: the target says it "aborts the process") runs in a forked child
   (`in_child`), so the script lives on to report `the process died of SIGABRT`.

Exit status of the script: 1 the behaviour shows (the diverging step's observable differs from
the expected value), 0 it does not (Wasmtime now does what is expected), 2 the script cannot get
there (another platform, a missing C function, or a step before the divergence no longer gives
the result it gave when the behaviour was found).

Invariant: the script imports only the standard library and `wasmtime`: nothing of `harness`,
`allocator` or `poolfuzz` (a test runs it with `python -I` from an empty folder).

`ScriptError` is raised, never a bare exception, for what a script cannot express: a divergence
whose observable or detail this generator does not know, or a pool Wasmtime cannot honour.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness import wasm
from harness.divergence import Divergence
from harness.expectations import SEMANTICS
from harness.ops import (
    Data,
    Error,
    Expect,
    Faults,
    Instantiate,
    ModuleDecl,
    Number,
    Op,
    PoolSpec,
    Program,
    Slot,
    without_results,
)
from harness.targets.base import Unsupported
from harness.text import format_op, format_program
from harness.wasmtime_script.runtime import needed

C_TYPES = {
    # wasmtime_config_<name>_set
    "memory_reservation": "U64",
    "memory_guard_size": "U64",
    "parallel_compilation": "BOOL",
    "wasm_threads": "BOOL",
    "shared_memory": "BOOL",
    "signals_based_traps": "BOOL",
    # wasmtime_pooling_allocation_config_<name>_set
    "total_memories": "U32",
    "total_core_instances": "U32",
    "total_tables": "U32",
    "total_stacks": "U32",
    "total_gc_heaps": "U32",
    "max_memories_per_module": "U32",
    "max_memory_size": "SIZE_T",
    "linear_memory_keep_resident": "SIZE_T",
    "decommit_batch_size": "SIZE_T",
    "max_unused_warm_slots": "U32",
}
"""The C type of each setter's value (wasmtime/config.h, wasmtime/pooling.h; a test compares
them with the package's own bindings)."""

NOTES = {
    "memory_reservation": "from `reservation` (default: max-memory)",
    "memory_guard_size": "from `guard`",
    "parallel_compilation": "no compiler threads",
    "wasm_threads": "shared memories need the threads proposal",
    "shared_memory": "and, where it exists, this switch",
    "signals_based_traps": "from `style=dynamic`: explicit bounds checks",
    "total_memories": "from `memories`",
    "total_core_instances": "memories + 1: the memory limit is the one hit",
    "total_tables": "the modules have no tables, no stacks, no GC heaps:",
    "total_stacks": "  reserve none",
    "total_gc_heaps": "",
    "max_memories_per_module": "one memory per module",
    "max_memory_size": "from `max-memory`",
    "linear_memory_keep_resident": "from `keep-resident`",
    "decommit_batch_size": "from `decommit-batch`",
    "max_unused_warm_slots": "from `warm-slots`",
}
"""The comment written after each setter: where its value comes from."""


OPTIONAL_SETTERS = {"shared_memory", "total_gc_heaps"}
"""Setters a script skips where the running release lacks them, as `harness.wasmtime_pool` does
(`shared_memory`: shared memories need only `wasm_threads` there; `total_gc_heaps`: the
modules have no GC heaps)."""


class ScriptError(Exception):
    """A finding this generator cannot turn into a standalone script (the reason says why)."""


def script_path(ops_path: Path) -> Path:
    """Where the standalone script of the finding saved at `ops_path` goes: `<same name>.py`."""
    return ops_path.with_suffix(".py")


def save_script(divergence: Divergence, ops_path: Path) -> str:
    """Writes the standalone script of `divergence` beside `ops_path`, atomically, and returns
    the line the `.ops` header gives it; if there can be no script, writes nothing and returns
    a line that says why. Never raises for the finding itself (the `.ops` is what matters)."""
    from harness.findings import write_atomically

    try:
        text = standalone_script(divergence)
    except ScriptError as err:
        return f"no standalone script: {err}"
    except Exception as err:  # noqa: BLE001 - a generator bug must not cost the finding its .ops
        return f"no standalone script: the generator failed ({type(err).__name__}: {err})"
    path = script_path(ops_path)
    write_atomically(path, text)
    version = re.search(r'FOUND_WITH = "([^"]+)"', text)
    needs = f"pip install wasmtime=={version[1]}" if version else "the wasmtime package"
    return f"standalone: python3 {path.name} (needs only {needs}; exit 1 = reproduced, 0 = fixed)"


# --- Values as Python source ---------------------------------------------------------------


def bytes_expr(data: bytes) -> str:
    """A short Python expression for `data`: runs of 8 or more equal bytes as `b"\\xcc" * N`,
    the rest as bytes literals, joined with `+`."""
    parts: list[str] = []
    pending = bytearray()  # bytes not in a run, written as one literal
    index = 0
    while index < len(data):
        run = index
        while run < len(data) and data[run] == data[index]:
            run += 1
        if run - index >= 8:
            if pending:
                parts.append(repr(bytes(pending)))
                pending.clear()
            parts.append(f"{bytes([data[index]])!r} * {run - index}")
        else:
            pending += data[index:run]
        index = run
    if pending or not parts:
        parts.append(repr(bytes(pending)))
    return " + ".join(parts)


def literal(value: object) -> str:
    """`value` (a plain result: None, int, bool, str or bytes) as Python source."""
    return bytes_expr(value) if isinstance(value, bytes) else repr(value)


def plain(result: object) -> object:
    """An `.ops` result as the script's helpers give it: `slot N` -> N, `faults N` -> N, a
    number -> itself, a read's bytes -> bytes, `error KIND` -> "error KIND", OK -> None."""
    if isinstance(result, Slot):
        return result.index
    if isinstance(result, Faults):
        return result.count
    if isinstance(result, Number):
        return result.value
    if isinstance(result, Data):
        return result.value
    if isinstance(result, Error):
        return f"error {result.kind}"
    return result


def docstring_safe(text: str) -> str:
    """`text` as it may appear inside a `\"\"\"` docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


# --- The pool --------------------------------------------------------------------------------


def pool_section(spec: PoolSpec) -> str:
    """`CONFIG`, `POOLING` and the layout constants for `spec` (see `harness.wasmtime_pool`)."""
    from harness.wasmtime_pool import bindings, pool_layout, pool_settings

    try:
        settings = pool_settings(spec)
    except Unsupported as err:
        raise ScriptError(f"Wasmtime cannot honour this pool: {err.reason}") from None
    api = bindings()
    config = dict(settings.config_knobs())
    if hasattr(api, "wasmtime_config_shared_memory_set"):
        config["shared_memory"] = True
    pooling = {name: value for name, value in settings.pooling_knobs().items()
               if hasattr(api, f"wasmtime_pooling_allocation_config_{name}_set")}
    layout = pool_layout(settings)
    lines = ["VOID_P, BOOL, U32, U64, SIZE_T = ctypes.c_void_p, ctypes.c_bool, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_size_t",
             "",
             "CONFIG = [  # wasmtime_config_<name>_set(config, value)"]
    lines += [_knob(name, value) for name, value in config.items()]
    lines += ["]", "POOLING = [  # wasmtime_pooling_allocation_config_<name>_set(pooling, value)"]
    lines += [_knob(name, value) for name, value in pooling.items()]
    lines += [
        "]",
        "",
        "# The pool's layout (Wasmtime's SlabLayout): a guard before slot 0, then one stride a slot.",
        f"PRE_GUARD = {layout.pre_guard:#x}  # the guard, rounded up to OS pages",
        f"STRIDE = {layout.stride:#x}  # max(reservation, max-memory) + guard, rounded up",
        f"SLOT_BYTES = {layout.static_size:#x}  # max-memory rounded up: the most a memory grows to",
        f"POOL_BYTES = {layout.total:#x}  # PRE_GUARD + memories * STRIDE",
        "",
        f"OPTIONAL = {sorted(OPTIONAL_SETTERS)!r}  # skipped on a release without the setter",
    ]
    return "\n".join(lines) + "\n"


def _knob(name: str, value: int | bool) -> str:
    if name not in C_TYPES:
        raise ScriptError(f"no C type known for the setter of {name}")
    shown = repr(value) if isinstance(value, bool) else f"{value:#x}" if value > 4096 else str(value)
    note = NOTES.get(name, "")
    return f'    ("{name}", {C_TYPES[name]}, {shown}),' + (f"  # {note}" if note else "")


def refusal_tables() -> str:
    """The Wasmtime error texts that are `error KIND` results, from the target's own tables."""
    from harness.targets.wasmtime_target import INSTANTIATE_ERRORS, MODULE_ERRORS

    def raw(pattern: str) -> str:
        return f'r"{pattern}"' if '"' not in pattern and not pattern.endswith("\\") else repr(pattern)

    def table(name: str, entries: tuple) -> list[str]:
        return [f"{name} = ["] + [f'    ({raw(p.pattern)}, "{kind}"),' for p, kind in entries] + ["]"]

    lines = ["# Wasmtime's messages for refusals that are expected outcomes, and the outcome each is."]
    lines += table("MODULE_REFUSALS", MODULE_ERRORS) + table("INSTANTIATE_REFUSALS", INSTANTIATE_ERRORS)
    return "\n".join(lines) + "\n"


# --- The statements ----------------------------------------------------------------------------


@dataclass
class Emitter:
    """Writes `main()` statement by statement; remembers the WAT constants and the names of
    shared memories (whose `touch` and `expect` go through `shared[...]`)."""

    wat: list[str] = field(default_factory=list)
    wat_names: set[str] = field(default_factory=set)
    shared_names: set[str] = field(default_factory=set)
    track_images: bool = False

    def memory(self, name: str) -> str:
        """The script expression for the memory of instance (or shared memory) `name`."""
        table = "shared" if name in self.shared_names else "instance"
        return f"{table}[{name!r}]"

    def statement(self, op: Op) -> tuple[list[str], str | None]:
        """(lines that perform `op`, an expression giving its `.ops` result, or None)."""
        handler = getattr(self, "_" + op.kind.replace("-", "_"))
        return handler(op)

    def _module(self, op: ModuleDecl) -> tuple[list[str], str | None]:
        constant = self._wat_constant(op)
        return [f"module[{op.name!r}] = compile_module(engine, {constant})"], f"failure(module[{op.name!r}])"

    def _instantiate(self, op) -> tuple[list[str], str | None]:
        name = repr(op.instance)
        lines = [f"instance[{name}] = instantiate(engine, module[{op.module!r}])"]
        if self.track_images:
            module = repr(op.module)
            lines.append(f"image[{module}] = image.get({module}) or image_inode(instance[{name}])")
        return lines, f"pool.slot_of(instance[{name}])"

    def _write(self, op) -> tuple[list[str], str | None]:
        return [], f"write(instance[{op.instance!r}], {op.offset:#x}, {bytes_expr(op.data)})"

    def _read(self, op) -> tuple[list[str], str | None]:
        return [], f"read(instance[{op.instance!r}], {op.offset:#x}, {op.length})"

    def _touch(self, op) -> tuple[list[str], str | None]:
        return [], f"touch({self.memory(op.instance)}, {op.offset:#x}, {op.length})"

    def _grow(self, op) -> tuple[list[str], str | None]:
        return [], f"grow(instance[{op.instance!r}], {op.delta})"

    def _size(self, op) -> tuple[list[str], str | None]:
        return [], f"size(instance[{op.instance!r}])"

    def _deallocate(self, op) -> tuple[list[str], str | None]:
        return [f"instance.pop({op.instance!r}).close()  # closing its Store frees the instance"], None

    def _drop(self, op) -> tuple[list[str], str | None]:
        return [f"module.pop({op.module!r}).close()"], None

    def _shared(self, op) -> tuple[list[str], str | None]:
        self.shared_names.add(op.name)
        return [f"shared[{op.name!r}] = SharedMemory(engine, {op.min}, {op.max})"], None

    def _shared_grow(self, op) -> tuple[list[str], str | None]:
        return [], f"shared[{op.name!r}].grow({op.delta})"

    def _shared_size(self, op) -> tuple[list[str], str | None]:
        return [], f"shared[{op.name!r}].pages()"

    def _expect(self, op: Expect) -> tuple[list[str], str | None]:
        return [], self.observe(op.observable, op.args)

    def observe(self, observable: str, args: tuple) -> str:
        """The script expression reading an `expect` observable now."""
        if observable == "memfds":
            return "memfd_count() - baseline"
        if observable == "image-mappings":
            return f"mappings_of_inode(image.get({args[0]!r}))"
        memory = self.memory(str(args[0]))
        if observable == "slot":
            return f"pool.slot_of({memory})"
        if observable == "size":
            return f"size({memory})"
        if observable == "accessible":
            return f"accessible_bytes({memory})"
        if observable == "resident":
            return f"resident_pages({memory}, {args[1]:#x}, {args[2]})"
        if observable == "zero":
            return f"is_zero({memory}, {args[1]:#x}, {args[2]})"
        raise ScriptError(f"no script code for the observable {observable!r}")

    def _wat_constant(self, op: ModuleDecl) -> str:
        """Adds the module's WAT as a constant (`WAT_<NAME>`, numbered if taken); its name."""
        base = "WAT_" + re.sub(r"\W", "_", op.name).upper()
        constant, number = base, 1
        while constant in self.wat_names:
            number += 1
            constant = f"{base}_{number}"
        self.wat_names.add(constant)
        segments: list[str] = []  # DATA_<NAME>_<i> constants: f-strings take no backslashes (3.11)

        def data_text(data: bytes) -> str:
            segments.append(f"{constant.replace('WAT_', 'DATA_', 1)}_{len(segments) + 1}")
            self.wat.append(f"{segments[-1]} = {bytes_expr(data)}\n")
            return "{wat_string(" + segments[-1] + ")}"

        text = wasm.module_wat(op, data_text=data_text, accessors="{ACCESSORS}")
        self.wat.append(f'{constant} = f"""\\\n{text}"""\n')
        return constant


MODULES_PREAMBLE = f'''\
# The Wasm modules, one a `module` statement: one exported memory each, its data segments, and
# the accessor functions every module exports.
ACCESSORS = """\\
{wasm.ACCESSORS_WAT}"""


def wat_string(data):
    """`data` as a WAT string literal."""
    return '"' + "".join(f"\\\\{{byte:02x}}" for byte in data) + '"'
'''
"""What the module constants use, written before them."""


# --- The diverging step ----------------------------------------------------------------------


DETAIL_PATTERNS = {
    "accessible": re.compile(r"instance (?P<name>\S+) at 0x"),
    "page-state": re.compile(r"instance (?P<name>\S+), OS page \d+ \(offset (?P<offset>0x[0-9a-f]+)\)"),
    "contents": re.compile(r"instance (?P<name>\S+), offset (?P<offset>0x[0-9a-f]+)"),
    "slot-base": re.compile(r"instances (?P<name>\S+) and (?P<other>\S+):"),
}
"""What the executor's checks write in a divergence's detail (`harness.checks`,
`harness.executor`), for the observables measured on one instance."""

LEFT_OPEN = "left open after the target was closed"


def verdict_lines(divergence: Divergence, emitter: Emitter, step: int, op: Op, result: str | None) -> list[str]:
    """The lines that end `main()`: measure the diverging observable, return `verdict(...)`."""
    observable, expected = divergence.observable, plain(divergence.expected)
    text = format_op(without_results(op))
    if isinstance(op, Expect):
        what, observed = f"expect {text.split(' ', 1)[1]}", emitter.observe(op.observable, op.args)
    elif observable == "result" or (observable == "accessible" and divergence.observed == "fault"):
        if result is None:
            raise ScriptError(f"`{op.kind}` gives no result to compare")
        what, observed = f"result of `{text}`", result
    else:
        return _after_lines(divergence, emitter, step, op, result, text)
    return [f"return verdict({step}, {what!r}, {observed}, expected={literal(expected)})"]


def _after_lines(divergence: Divergence, emitter: Emitter, step: int, op: Op, result: str | None, text: str) -> list[str]:
    """A divergence found by the checks after the op: run the op (checking its result as stated
    when there is one), then measure."""
    observable, expected, detail = divergence.observable, plain(divergence.expected), divergence.detail
    lines = [] if result is None else [_check_line(step, op, result, text)]
    also = ""
    if observable == "memfds" and LEFT_OPEN in detail:
        lines.append("close_all(pool, instance, module, shared)")
        what, observed = "image memfds left open once every Store, Module and the Engine are closed", "memfd_count() - baseline"
    elif observable == "memfds":
        what, observed = "image memfds open", "memfd_count() - baseline"
    else:
        found = DETAIL_PATTERNS.get(observable)
        match = found.search(detail) if found else None
        if match is None:
            raise ScriptError(f"cannot read where the {observable!r} divergence is from {detail!r}")
        memory = emitter.memory(match["name"])
        if observable == "accessible":
            what, observed = f"accessible bytes of {match['name']}", f"accessible_bytes({memory})"
        elif observable == "page-state":
            what, observed = f"state of the OS page at {match['offset']} of {match['name']}", f"page_state({memory}, {match['offset']})"
            also = ", also_expected=('absent',)" if expected == "file" else ""  # an image page not yet mapped
        elif observable == "contents":
            size = max(len(v) if isinstance(v, bytes) else 0 for v in (expected, divergence.observed)) or 16
            what, observed = f"bytes at {match['offset']} of {match['name']}", f"peek({memory}, {match['offset']}, {size})"
        else:
            other = emitter.memory(match["other"])
            what, observed = f"slots of {match['name']} and {match['other']}", f"overlap({memory}, {other})"
    lines.append(f"return verdict({step}, {what!r}, {observed}, expected={literal(expected)}{also})")
    return lines


KILLS = "aborts the process"
"""What the target says of a step that kills the process running it (`wasmtime_target`)."""


def in_child_lines(divergence: Divergence, step: int, op: Op, action: list[str], result: str | None) -> list[str]:
    """The diverging step run in a forked child (`in_child`), for a step that kills the process
    running it: the script survives to print what happened."""
    if result is None:
        raise ScriptError(f"`{op.kind}` gives no result to compare")
    text = format_op(without_results(op))
    body = [*action, f"return {result}"]
    return ["def step():  # in a child process: this one lives on to tell how it ended",
            *("    " + line for line in body),
            f"return verdict({step}, {('result of `' + text + '`')!r}, in_child(step), "
            f"expected={literal(plain(divergence.expected))})"]


def _check_line(step: int, op: Op, result: str, text: str) -> str:
    expected = plain(op.result) if not isinstance(op, Expect) else op.value
    if op.result is None and isinstance(op, Instantiate):
        result = f"failure(instance[{op.instance!r}])"  # any slot will do
    elif op.result is None and not isinstance(op, Expect):
        result = result if result.startswith("failure(") else f"failure({result})"
    return f"check({step}, {text!r}, {result}, {literal(expected)})"


# --- The script ----------------------------------------------------------------------------------


def standalone_script(divergence: Divergence, version: str | None = None) -> str:
    """The standalone reproducer of `divergence` (found on wasmtime `version`, default: the
    installed one); see the module docstring. Raises `ScriptError` for what it cannot express."""
    from harness.wasmtime_pool import wasmtime_version

    version = version or wasmtime_version()
    if version is None:
        raise ScriptError("the wasmtime package is not installed: no release to record")
    program = divergence.reproducer
    statements = program.statements
    if not statements:
        raise ScriptError("the reproducer has no statement")
    emitter = Emitter(track_images=_uses_images(program, divergence))
    main = _main_body(program, divergence, emitter)
    body = "\n".join("    " + line if line else "" for line in main)
    main_text = f"def main():\n{body}\n"
    sections = [
        _header(divergence, version),
        _IMPORTS,
        f'FOUND_WITH = "{version}"  # pip install wasmtime=={version}\n',
        pool_section(program.pool_spec),
        refusal_tables(),
        MODULES_PREAMBLE,
        *emitter.wat,
        needed(main_text + "\n".join(emitter.wat)),
        main_text,
        _FOOTER,
    ]
    return "\n\n".join(section.rstrip("\n") + "\n" for section in sections)


def _uses_images(program: Program, divergence: Divergence) -> bool:
    """Whether the script must learn each module's image memfd (an `image-mappings` expect)."""
    return divergence.observable == "image-mappings" or any(
        isinstance(op, Expect) and op.observable == "image-mappings" for op in program.statements
    )


def _main_body(program: Program, divergence: Divergence, emitter: Emitter) -> list[str]:
    lines = [
        "check_platform()",
        "disable_thp()  # as the fuzzer did: one fault per OS page",
        "baseline = memfd_count()",
        "pool = Pool()",
        "engine = pool.engine",
        "module, instance, shared = {}, {}, {}  # wasmtime objects by their names in the program",
    ]
    if emitter.track_images:
        lines.append("image = {}  # the inode of each module's image memfd, learnt at its first instance")
    last = len(program.statements) - 1
    for index, op in enumerate(program.statements):
        step = index + 1
        diverges = index == last
        lines += ["", f"# step {step}{' (the divergence)' if diverges else ''}: {format_op(op)}"]
        action, result = emitter.statement(op)
        if diverges and divergence.observed == "exception" and KILLS in divergence.detail:
            lines += in_child_lines(divergence, step, op, action, result)
            break
        lines += action
        if diverges:
            lines += verdict_lines(divergence, emitter, step, op, result)
        elif result is not None:
            lines.append(_check_line(step, op, result, format_op(without_results(op))))
    return lines


def _header(divergence: Divergence, version: str) -> str:
    program = divergence.reproducer
    op = program.statements[-1]
    expected, observed = literal(plain(divergence.expected)), literal(plain(divergence.observed))
    if divergence.observed == "exception" and divergence.detail:
        observed = f"an error: {divergence.detail}"
    if divergence.source == "file":
        source = "the reproducer's own `=>` or `expect`"
    else:
        source = "what poolfuzz's model of the pooling allocator requires,\nWasmtime's documented differences included"
    assessment = "\n".join(assess(divergence, version))
    ops_text = "\n".join(f"#     {line}" for line in format_program(program).splitlines())
    doc = f'''#!/usr/bin/env python3
"""Wasmtime pooling allocator: `{format_op(without_results(op))}` (step {len(program.statements)}) differs.

When found (wasmtime {version}, Linux {platform.machine()}; finding {divergence.signature}):
{divergence.observable}: expected {expected}, observed {observed}.
"Expected" is {source}.{assessment}

    pip install wasmtime=={version}
    python3 this_script.py

The script replays the program below with the wasmtime package alone: the pooling allocator
switched on through the C API (CONFIG, POOLING), one Store per instance, memory accessed
through the host API and four exported accessor functions. Each step checks the result it gave
when the behaviour was found; the last step prints `expected:` and `observed:`.

Exit status: 1 the behaviour shows; 0 it does not (fixed); 2 the script cannot get there
(another platform, or an earlier step no longer gives the result it gave).
"""
'''
    return docstring_safe_header(doc) + f"\n# The program, in poolfuzz's .ops text (p = 64 KiB Wasm pages):\n{ops_text}\n"


def assess(divergence: Divergence, version: str) -> list[str]:
    """Lines that place a divergence of an op's result or an `expect`: what docs/semantics.md
    predicts there, what it predicts told Wasmtime's documented differences, and so whether
    the observed value is a documented difference or merely differs from the reproducer's own
    expectation. Nothing for the other observables (the model predicts them after the op)."""
    from harness.documented import predicted_at
    from harness.targets.wasmtime_target import wasmtime_expectations

    op = divergence.reproducer.statements[-1]
    if divergence.observable != "result" and not isinstance(op, Expect):
        return []
    program, index = divergence.reproducer, divergence.index
    semantics = predicted_at(program, index, SEMANTICS)
    declared = predicted_at(program, index, wasmtime_expectations(program.pool_spec, version))
    if isinstance(semantics, RuntimeError) or isinstance(declared, RuntimeError):
        return []
    semantics, declared, observed = plain(semantics), plain(declared), plain(divergence.observed)
    lines = ["", f"poolfuzz's docs/semantics.md requires {literal(semantics)} here; told Wasmtime {version}'s",
             f"documented differences (its section 8), the model predicts {literal(declared)}."]
    if observed == declared == semantics:
        lines.append("The model predicts what Wasmtime does: only the reproducer's own expectation differs.")
    elif observed == declared:
        lines.append("So this is a documented difference of Wasmtime, not a bug.")
    else:
        lines.append("Wasmtime gives neither: this is no documented difference.")
    return lines


def docstring_safe_header(doc: str) -> str:
    """`doc` with the parts between the docstring's quotes made safe for it."""
    start = doc.index('"""') + 3
    end = doc.rindex('"""')
    return doc[:start] + docstring_safe(doc[start:end]) + doc[end:]


_IMPORTS = """\
import ctypes
import gc
import json
import os
import re
import signal
import struct
import sys
import traceback
from importlib import metadata

import wasmtime
"""

_FOOTER = """\
if __name__ == "__main__":
    try:
        status = main()
    except Exception:  # a step failed in a way the reproducer does not describe
        traceback.print_exc()
        inconclusive("a step raised an exception (traceback above)")
    sys.exit(status)
"""


__all__ = ["ScriptError", "bytes_expr", "plain", "save_script", "script_path", "standalone_script"]
