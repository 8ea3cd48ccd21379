"""Static rules of a `Program`: what is wrong with it before anything runs.

`check(program)` raises `InvalidProgram` for the first rule a program breaks, in statement order
(the pool first), naming the statement's line. A program that passes guarantees, at every
statement:

- every name it uses is bound, at that point, to something of the right kind that still exists:
  a module not refused (`=> error ...`) and not dropped (only `expect image-mappings` may name a
  dropped module), an instance created and not deallocated, a shared memory;
- a name is bound once; only an instance name is bound again, after its `deallocate` (or after an
  `instantiate` expected to fail, which binds nothing);
- every number is possible (`LIMITS` below, `docs/semantics.md` §2), and every `=> RESULT` is of
  a kind the op can produce, with a possible value;
- every literal fits the size limits below, so the program's canonical text has no line over
  1 MiB and parsing it back allocates at most `MAX_PROGRAM_LITERALS` bytes.

Bounds (decisions where the format is silent):
- offsets are 32-bit (`< 4 GiB`), lengths at most 4 GiB; `grow`/`shared-grow` deltas are
  unsigned 32-bit page counts; module `min`/`max` at most 65536 pages; shared `min`/`max` 32-bit;
- pool: `memories` ≤ 1,000,000; `max-memory`, `keep-resident`, `guard` ≤ 4 GiB;
  `reservation` ≤ 8 GiB; `seed` 64-bit; `warm-slots`, `decommit-batch` 32-bit; all ≥ 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.errors import InvalidProgram, suggest
from harness import ops
from harness.ops import GiB, KiB, MiB, Op, PoolSpec, Program, Result

U32 = (1 << 32) - 1
FOUR_GIB = 4 * GiB

MAX_LITERAL = 64 * MiB
"""Largest byte literal (a `fill:` beyond it is refused before any memory is taken)."""

MAX_PROGRAM_LITERALS = 256 * MiB
"""All the literals of one program together."""

MAX_INLINE_BYTES = 256 * KiB
"""Bytes of one statement's literals that are not written `fill:` (their text is ≤ 2 chars a
byte, so a statement's line stays well under the 1 MiB line limit)."""

MAX_SEGMENTS = 1000
"""Data segments of one module (each costs a few dozen characters of its line)."""

FILL_MIN = 8
"""A literal of one byte repeated at least this many times is written `fill:BYTE*COUNT`."""

POOL_LIMITS = {
    "memories": 1_000_000,
    "max-memory": FOUR_GIB,
    "keep-resident": FOUR_GIB,
    "guard": FOUR_GIB,
    "seed": (1 << 64) - 1,
    "warm-slots": U32,
    "decommit-batch": U32,
    "reservation": 2 * FOUR_GIB,
}
"""Largest value of each numeric pool key (the smallest is 0)."""

Locate = Callable[[int | str, str], tuple[int, int]]
"""(statement index or "pool", field) -> (line, column) of that field in the text."""


def fill_byte(data: bytes) -> int | None:
    """The byte `data` repeats, if it is written `fill:` (one byte, `FILL_MIN` times or more)."""
    if len(data) >= FILL_MIN and data.count(data[:1]) == len(data):
        return data[0]
    return None


def check(program: Program, *, locate: Locate | None = None) -> None:
    """Raise `InvalidProgram` for the first static misuse in `program` (see module docstring).

    `locate` gives the text position of a field (the parser passes one); without it the line
    is the statement's `line` and the reason names the statement by its number.
    """
    source = program.source or "<program>"
    try:
        _check_all(program)
    except _Misuse as misuse:
        line, column, reason = _placed(program, misuse, locate)
        raise InvalidProgram(source, line, column, reason) from None


# --- Plumbing -----------------------------------------------------------------------------------


class _Misuse(Exception):
    """A rule broken by the field `field` of statement `index` (or "pool")."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason
        self.index: int | str = "pool"


def _placed(program: Program, misuse: _Misuse, locate: Locate | None) -> tuple[int, int, str]:
    """Line, column and reason of a misuse: from the text if located, else from the op."""
    if locate is not None:
        return (*locate(misuse.index, misuse.field), misuse.reason)
    if misuse.index == "pool":
        return 0, 0, f"pool: {misuse.reason}"
    op = program.statements[int(misuse.index)]
    if op.line:
        return op.line, 1, misuse.reason
    return 0, 0, f"statement {int(misuse.index) + 1} ({op.kind}): {misuse.reason}"


def _check_all(program: Program) -> None:
    if program.version != 1:
        raise _Misuse("version", f"unsupported version {program.version}: this is version 1")
    pool = program.pool_spec
    _check_pool(pool)
    scope = _Scope(pool)
    for index, op in enumerate(program.statements):
        try:
            _check_op(scope, op, index)
        except _Misuse as misuse:
            misuse.index = index
            raise


def _check_op(scope: _Scope, op: Op, index: int) -> None:
    rule = _RULES.get(type(op))
    if rule is None:
        raise _Misuse("kind", f"{type(op).__name__} is not a statement of the format")
    where = f"line {op.line}" if op.line else f"statement {index + 1}"
    _check_literals(scope, op)
    _check_result(scope, op)
    rule(scope, op, where)


def _bounded(value: object, field: str, low: int, high: int, meaning: str, label: str = "") -> None:
    """`value` must be an int in `low..high`; `meaning` says why, for the message."""
    label = label or field
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Misuse(field, f"{label} must be a whole number, found {value!r}")
    if not low <= value <= high:
        raise _Misuse(field, f"{label} {value} is impossible: {meaning}")


def _offset(value: object, field: str = "offset") -> None:
    _bounded(value, field, 0, FOUR_GIB - 1, "offsets are 32-bit, from 0 to 4 GiB - 1")


def _length(value: object, field: str = "length") -> None:
    _bounded(value, field, 0, FOUR_GIB, "a length is 0 to 4 GiB, the largest memory")


def _pages(value: object, field: str) -> None:
    _bounded(value, field, 0, ops.MAX_WASM_PAGES, "a 32-bit memory has 0 to 65536 pages (4 GiB)")


def _delta(value: object, field: str = "delta") -> None:
    _bounded(value, field, 0, U32, "memory.grow takes an unsigned 32-bit page count")


# --- The pool -----------------------------------------------------------------------------------


def _check_pool(pool: PoolSpec) -> None:
    for key, (attr, kind) in PoolSpec.KEYS.items():
        value = getattr(pool, attr)
        if isinstance(kind, tuple):
            if value not in kind:
                choices = ", ".join(kind)
                hint = suggest(str(value), kind)
                raise _Misuse(key, f"{key}={value} is not one of {choices}{hint}")
        elif value is not None:
            limit = POOL_LIMITS[key]
            _bounded(value, key, 0, limit, f"{key} is 0 to {limit}")


# --- Names --------------------------------------------------------------------------------------


@dataclass
class _Binding:
    kind: str  # "module", "instance" or "shared memory"
    state: str  # "live", "refused", "dropped", "deallocated", "failed"
    where: str  # where the binding got this state


_GONE = {
    "refused": "was refused at {where} (its declaration ends in `=> error`): it does not exist",
    "dropped": "was dropped at {where}",
    "deallocated": "was deallocated at {where}",
    "failed": "was never created: its instantiate at {where} is expected to fail",
}


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


_OTHER_OPS = {
    ("shared memory", "instance"): "; use shared-grow/shared-size on a shared memory",
    ("instance", "shared memory"): "; use grow/size on an instance",
}


class _Scope:
    """The names bound so far and what became of them; the pool in force."""

    def __init__(self, pool: PoolSpec) -> None:
        self.pool = pool
        self.names: dict[str, _Binding] = {}
        self.literal_bytes = 0

    def bind(self, name: str, kind: str, state: str, where: str, field: str = "name") -> None:
        """Bind a name never used (or an instance name whose instance is gone)."""
        old = self.names.get(name)
        reusable = old is not None and kind == old.kind == "instance"
        if old is not None and not (reusable and old.state in ("deallocated", "failed")):
            raise _Misuse(field, f"`{name}` is already the name of {_a(old.kind)} ({old.where})")
        self.names[name] = _Binding(kind, state, where)

    def use(self, name: object, kind: str, field: str, allow: tuple[str, ...] = ()) -> _Binding:
        """The binding of `name`, which must be a `kind` that exists (or is in an `allow` state)."""
        binding = self.names.get(name) if isinstance(name, str) else None
        if binding is None:
            raise _Misuse(field, self._unknown(name, kind))
        if binding.kind != kind:
            hint = _OTHER_OPS.get((binding.kind, kind), "")
            raise _Misuse(field, f"`{name}` is {_a(binding.kind)}, not {_a(kind)}{hint}")
        if binding.state != "live" and binding.state not in allow:
            gone = _GONE[binding.state].format(where=binding.where)
            raise _Misuse(field, f"{kind} `{name}` {gone}")
        return binding

    def _unknown(self, name: object, kind: str) -> str:
        known = sorted(n for n, b in self.names.items() if b.kind == kind and b.state == "live")
        listed = f" (live: {', '.join(known[:8])})" if known else f" (no {kind} is live here)"
        return f"no {kind} named `{name}`{suggest(str(name), known)}{listed}"


# --- Literals and results -----------------------------------------------------------------------


def _literals(op: Op) -> Iterator[tuple[str, bytes]]:
    if isinstance(op, ops.Write):
        yield "data", op.data
    if isinstance(op, ops.ModuleDecl):
        yield from ((f"data[{i}]", segment.data) for i, segment in enumerate(op.data))
    if isinstance(op.result, ops.Data):
        yield "result", op.result.value


def _check_literals(scope: _Scope, op: Op) -> None:
    inline = 0
    for field, data in _literals(op):
        if not isinstance(data, bytes):
            raise _Misuse(field, f"{field} must be bytes, found {type(data).__name__}")
        if len(data) > MAX_LITERAL:
            raise _Misuse(field, f"a {len(data)}-byte literal is over the {MAX_LITERAL} limit")
        scope.literal_bytes += len(data)
        if scope.literal_bytes > MAX_PROGRAM_LITERALS:
            raise _Misuse(field, f"literals total over {MAX_PROGRAM_LITERALS} bytes in one file")
        inline += 0 if fill_byte(data) is not None else len(data)
        if inline > MAX_INLINE_BYTES:
            reason = f"{inline} bytes of literals that are not one repeated byte in one"
            raise _Misuse(field, f"{reason} statement (limit {MAX_INLINE_BYTES}): split it")


_RESULT_KINDS: dict[type, tuple[type | str, ...]] = {
    ops.ModuleDecl: ("too-large", "shared-unsupported"),
    ops.Instantiate: (ops.Slot, "pool-exhausted"),
    ops.Write: ("out-of-bounds",),
    ops.Read: (ops.Data, "out-of-bounds"),
    ops.Touch: (ops.Faults, "out-of-bounds"),
    ops.Grow: (ops.Number,),
    ops.Size: (ops.Number,),
    ops.Deallocate: (),
    ops.Drop: (),
    ops.SharedDecl: (),
    ops.SharedGrow: (ops.Number,),
    ops.SharedSize: (ops.Number,),
}

_RESULT_NAMES = {
    ops.Number: "a number",
    ops.Data: "a byte literal",
    ops.Faults: "`faults N`",
    ops.Slot: "`slot N`",
}

_NUMBER_RANGES = {
    ops.Grow: (-1, ops.MAX_WASM_PAGES, "the old size in pages (0 to 65536) or -1"),
    ops.Size: (0, ops.MAX_WASM_PAGES, "a size in pages, 0 to 65536"),
    ops.SharedGrow: (-1, U32, "the old size in pages or -1"),
    ops.SharedSize: (0, U32, "a size in pages"),
}


_RESULT_TEXTS: dict[type, Callable[[Any], str]] = {
    ops.Number: lambda result: f"`=> {result.value}`",
    ops.Faults: lambda result: f"`=> faults {result.count}`",
    ops.Slot: lambda result: f"`=> slot {result.index}`",
    ops.Error: lambda result: f"`=> error {result.kind}`",
}


def _describe(result: Result) -> str:
    """The result as written after `=>`, or in words (a byte literal, or anything else)."""
    text = _RESULT_TEXTS.get(type(result))
    return text(result) if text else "a byte literal"


def _check_result(scope: _Scope, op: Op) -> None:
    result = op.result
    if result is None or isinstance(op, ops.Expect):
        return
    allowed = _RESULT_KINDS[type(op)]
    if isinstance(result, ops.Error) and result.kind not in ops.ERROR_KINDS:
        hint = suggest(str(result.kind), ops.ERROR_KINDS)
        raise _Misuse("result", f"unknown error kind `{result.kind}`{hint}")
    if (result.kind if isinstance(result, ops.Error) else type(result)) not in allowed:
        fits = " or ".join(_kind_name(kind) for kind in allowed)
        fits = f"its result is {fits}" if allowed else "it has no result"
        raise _Misuse("result", f"`{op.kind}` cannot end in {_describe(result)}: {fits}")
    _RESULT_VALUES[type(result)](scope, op, result)


def _kind_name(kind: type | str) -> str:
    return f"`error {kind}`" if isinstance(kind, str) else _RESULT_NAMES[kind]


def _number_value(scope: _Scope, op: Op, result: ops.Number) -> None:
    low, high, meaning = _NUMBER_RANGES[type(op)]
    _bounded(result.value, "result", low, high, f"`{op.kind}` gives {meaning}", "`=>`")


def _slot_value(scope: _Scope, op: Op, result: ops.Slot) -> None:
    memories = scope.pool.memories
    meaning = f"the pool has {memories} slots, 0 to {memories - 1}"
    _bounded(result.index, "result", 0, memories - 1, meaning, "slot")


def _faults_value(scope: _Scope, op: ops.Touch, result: ops.Faults) -> None:
    pages = _os_pages(op.offset, op.length)
    meaning = f"the range overlaps {pages} OS pages of 4 KiB, so at most {pages} faults"
    _bounded(result.count, "result", 0, pages, meaning, "faults")


def _data_value(scope: _Scope, op: ops.Read, result: ops.Data) -> None:
    if len(result.value) != op.length:
        found = f"{len(result.value)}-byte result"
        raise _Misuse("result", f"`read` of {op.length} bytes cannot give a {found}")


_RESULT_VALUES: dict[type, Callable[..., None]] = {
    ops.Number: _number_value,
    ops.Slot: _slot_value,
    ops.Faults: _faults_value,
    ops.Data: _data_value,
    ops.Error: lambda scope, op, result: None,
}


def _os_pages(offset: int, length: int) -> int:
    if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
        return 0
    return (offset + length - 1) // ops.OS_PAGE - offset // ops.OS_PAGE + 1


# --- One rule a statement -----------------------------------------------------------------------


def _module(scope: _Scope, op: ops.ModuleDecl, where: str) -> None:
    _pages(op.min, "min")
    if op.max is not None:
        _pages(op.max, "max")
        if op.min > op.max:
            raise _Misuse("min", f"min={op.min} is more than max={op.max}: swap them?")
    _segments(op)
    state = "refused" if isinstance(op.result, ops.Error) else "live"
    scope.bind(op.name, "module", state, where)


def _segments(op: ops.ModuleDecl) -> None:
    if len(op.data) > MAX_SEGMENTS:
        raise _Misuse("data[0]", f"{len(op.data)} data segments (limit {MAX_SEGMENTS})")
    size = op.min * ops.WASM_PAGE
    for i, segment in enumerate(op.data):
        _offset(segment.offset, f"data[{i}]")
        end = segment.offset + len(segment.data)
        if end > size:
            reason = f"data segment {i} ends at byte {end}, past min={op.min} pages ({size} bytes)"
            raise _Misuse(f"data[{i}]", f"{reason}: raise min or move the segment")


def _instantiate(scope: _Scope, op: ops.Instantiate, where: str) -> None:
    scope.use(op.module, "module", "module")
    state = "failed" if isinstance(op.result, ops.Error) else "live"
    scope.bind(op.instance, "instance", state, where, field="instance")


def _instance(scope: _Scope, op: Op, where: str) -> None:
    scope.use(op.instance, "instance", "instance")  # type: ignore[attr-defined]


def _write(scope: _Scope, op: ops.Write, where: str) -> None:
    _instance(scope, op, where)
    _offset(op.offset)


def _read(scope: _Scope, op: ops.Read | ops.Touch, where: str) -> None:
    _instance(scope, op, where)
    _offset(op.offset)
    _length(op.length)


def _grow(scope: _Scope, op: ops.Grow, where: str) -> None:
    _instance(scope, op, where)
    _delta(op.delta)


def _deallocate(scope: _Scope, op: ops.Deallocate, where: str) -> None:
    binding = scope.use(op.instance, "instance", "instance")
    binding.state, binding.where = "deallocated", where


def _drop(scope: _Scope, op: ops.Drop, where: str) -> None:
    binding = scope.use(op.module, "module", "module")
    binding.state, binding.where = "dropped", where


def _shared(scope: _Scope, op: ops.SharedDecl, where: str) -> None:
    _bounded(op.min, "min", 0, U32, "shared memory sizes are 32-bit page counts")
    _bounded(op.max, "max", 0, U32, "shared memory sizes are 32-bit page counts")
    if op.min > op.max:
        raise _Misuse("min", f"min={op.min} is more than max={op.max}: swap them?")
    scope.bind(op.name, "shared memory", "live", where)


def _shared_use(scope: _Scope, op: ops.SharedGrow | ops.SharedSize, where: str) -> None:
    scope.use(op.name, "shared memory", "name")
    if isinstance(op, ops.SharedGrow):
        _delta(op.delta)


def _expect(scope: _Scope, op: ops.Expect, where: str) -> None:
    if op.observable not in ops.OBSERVABLES:
        hint = suggest(str(op.observable), ops.OBSERVABLES)
        known = ", ".join(ops.OBSERVABLES)
        raise _Misuse("observable", f"unknown observable `{op.observable}`{hint} ({known})")
    kinds, value_kind = ops.OBSERVABLES[op.observable]
    if len(op.args) != len(kinds):
        wanted = " ".join(_ARG_PLACEHOLDERS[k] for k in kinds) or "no arguments"
        found = f"found {len(op.args)} argument{'s' * (len(op.args) != 1)}"
        raise _Misuse("observable", f"`expect {op.observable}` takes {wanted}; {found}")
    for i, (kind, arg) in enumerate(zip(kinds, op.args)):
        _ARG_RULES[kind](scope, arg, f"args[{i}]")
    _VALUE_RULES[value_kind](op.value)


_ARG_PLACEHOLDERS = {"instance": "I", "module": "M", "int": "N"}

_ARG_RULES: dict[str, Callable[[_Scope, object, str], object]] = {
    "instance": lambda scope, arg, field: scope.use(arg, "instance", field),
    "module": lambda scope, arg, field: scope.use(arg, "module", field, allow=("dropped",)),
    "int": lambda scope, arg, field: _length(arg, field),
}


def _bool_value(value: object) -> None:
    if not isinstance(value, bool):
        raise _Misuse("value", f"this observable is `true` or `false`, not {value!r}")


def _int_value(value: object) -> None:
    if isinstance(value, bool):
        raise _Misuse("value", f"this observable is a number, not `{str(value).lower()}`")
    _bounded(value, "value", 0, (1 << 64) - 1, "observables are counts, 0 or more")


_VALUE_RULES = {"bool": _bool_value, "int": _int_value}

_RULES: dict[type, Callable[..., None]] = {
    ops.ModuleDecl: _module,
    ops.Instantiate: _instantiate,
    ops.Write: _write,
    ops.Read: _read,
    ops.Touch: _read,
    ops.Grow: _grow,
    ops.Size: _instance,
    ops.Deallocate: _deallocate,
    ops.Drop: _drop,
    ops.SharedDecl: _shared,
    ops.SharedGrow: _shared_use,
    ops.SharedSize: _shared_use,
    ops.Expect: _expect,
}
