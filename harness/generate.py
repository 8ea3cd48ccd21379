"""Building valid op sequences from choices: the one generator behind every fuzzing engine.

A `Choices` answers questions ("an integer in [lo, hi]"). The Hypothesis state machine answers
them from its own draws; the atheris target answers them from the fuzzer's bytes
(`ByteChoices`: every byte string gives an answer to every question, and a small change to the
bytes changes few answers). `OpBuilder` turns answers into ops that are valid in the state the
executor's model is in now — names defined and live, offsets mostly in bounds — so every input
decodes to a runnable sequence.

Sizes are kept small on purpose (pools of at most 6 slots, memories of at most 4 MiB, literals
of at most a few pages): the bugs of slot reuse show in small sequences, and small sequences
run and shrink fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from harness.model import Model
from harness.model.images import DENSE_IMAGE_LIMIT
from harness.ops import (
    OS_PAGE,
    WASM_PAGE,
    Deallocate,
    Drop,
    Expect,
    Grow,
    Instantiate,
    KiB,
    MiB,
    ModuleDecl,
    Op,
    PoolSpec,
    Read,
    Segment,
    SharedDecl,
    SharedGrow,
    SharedSize,
    Size,
    Touch,
    Write,
)

T = TypeVar("T")

SPARSE_PAGES = DENSE_IMAGE_LIMIT // WASM_PAGE + 1
"""Minimum size of the modules built to probe the dense-image rule."""


class Choices(Protocol):
    """Where a generator's decisions come from."""

    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]; `lo` is the simplest answer (what shrinking moves toward)."""
        ...


def choose(choices: Choices, options: Sequence[T]) -> T:
    """One of `options`; the first is the simplest."""
    return options[choices.integer(0, len(options) - 1)]


class ByteChoices:
    """Answers from a byte string, one or more bytes per question; zeros once it runs out.

    Each answer reads as many bytes as its range needs, so a one-byte change alters one answer
    (and, through the state it leads to, what follows): nearby inputs are nearby sequences.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def integer(self, lo: int, hi: int) -> int:
        span = hi - lo + 1
        if span <= 1:
            return lo
        width = (span - 1).bit_length() + 7 >> 3
        chunk = self.data[self.pos : self.pos + width]
        self.pos += width
        return lo + int.from_bytes(chunk.ljust(width, b"\0"), "little") % span

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.data)


# -- pools -----------------------------------------------------------------------------------

MAX_MEMORIES = (1 * MiB, 64 * KiB, 256 * KiB, 4 * MiB, 17 * MiB, 0)
"""1 MiB first: 16 pages, room to grow (64 KiB holds one page, 0 none: every module is too large)."""
KEEP_RESIDENT = (0, 4 * KiB, 64 * KiB, 256 * KiB)
GUARDS = (64 * KiB, 0)
STYLES = ("static", "dynamic")
STRATEGIES = ("reuse-affinity", "next-available", "random")
WARM_SLOTS = (0, 1, 2, 3, 4, 100)
"""100 is Wasmtime's default (more than any pool here has slots: no limit)."""
GROWTHS = ("mprotect", "memfd")
"""The choices of each pool key, simplest first. Every question `pool_spec` asks is one of
these or a small integer range; `harness.engines.atheris_encode` answers them backwards."""


def pool_spec(choices: Choices) -> PoolSpec:
    """A pool configuration: every key of the format, over small values."""
    values = dict(
        memories=choices.integer(1, 6),
        max_memory=choose(choices, MAX_MEMORIES),
        keep_resident=choose(choices, KEEP_RESIDENT),
        guard=choose(choices, GUARDS),
        style=choose(choices, STYLES),
        strategy=choose(choices, STRATEGIES),
        seed=choices.integer(0, 3),
        warm_slots=choose(choices, WARM_SLOTS),
        decommit_batch=choices.integer(1, 3),
        growth=choose(choices, GROWTHS),
    )
    return PoolSpec(**values, given=tuple(k for k, (attr, _) in PoolSpec.KEYS.items() if attr in values))


# -- ops -------------------------------------------------------------------------------------

LITERAL_LENGTHS = (1, 8, 16, OS_PAGE, 100, 2 * OS_PAGE)
LENGTHS = (1, OS_PAGE, 16, WASM_PAGE, 4 * OS_PAGE, 0)
"""Lengths of literals and of the ranges read, touched and observed, simplest first."""
HOT = 0
"""The answer of `OpBuilder.in_bounds` that picks a hot offset (`OpBuilder.hot_offsets`)."""
MIN_PAGES = (1, 0, 2, 3, 4)
SEGMENTS = (1, 0, 2, 3)
DELTAS = (1, 0, 2, 3)
"""Module sizes, segment counts and `grow` deltas, the most telling first. Where a question has
a rare answer (a module too large or shared, a sparse module, an offset past the end, arbitrary
literal bytes, a large `grow`), it is the *last* one: Hypothesis draws the first answers of a
range more often than the others, and those are the common, telling cases."""


class OpBuilder:
    """Builds the next op from `choices`, valid in the state `model` is in.

    The model is the executor's own (read, never changed here): the op is applied by the
    executor, which updates it.
    """

    def __init__(self, model: Model, choices: Choices) -> None:
        self.model = model
        self.choices = choices
        self.counter = 0
        self.dropped: set[str] = set()  # modules whose handle was dropped (instances may live on)

    # -- names ------------------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        taken = set(self.model.modules) | set(self.model.instances) | set(self.model.shared)
        while f"{prefix}{self.counter}" in taken:
            self.counter += 1
        return f"{prefix}{self.counter}"

    def pick(self, names: Sequence[str]) -> str:
        return choose(self.choices, sorted(names))

    # -- one builder per op kind -----------------------------------------------------------

    def module(self) -> ModuleDecl:
        c = self.choices
        max_pages = self.model.pool.max_memory // WASM_PAGE
        if max_pages >= SPARSE_PAGES and c.integer(0, 3) == 3:
            return self.sparse_module()
        too_large = c.integer(0, 15) == 15
        minimum = max_pages + 1 if too_large else choose(c, [n for n in MIN_PAGES if n <= max_pages])
        maximum = minimum + c.integer(0, 8) if c.integer(0, 1) else None
        segments = tuple(self.segment(minimum) for _ in range(choose(c, SEGMENTS) if minimum else 0))
        return ModuleDecl(self.fresh("m"), minimum, maximum, shared=c.integer(0, 15) == 15, data=segments)

    def sparse_module(self) -> ModuleDecl:
        """Two one-byte segments about 16 MiB apart: an image at the edge of the dense-image
        rule (refused at exactly 16 MiB, kept one page below)."""
        end = DENSE_IMAGE_LIMIT - OS_PAGE * self.choices.integer(0, 1)
        data = (Segment(0, b"\x01"), Segment(end - 1, b"\x02"))
        return ModuleDecl(self.fresh("m"), SPARSE_PAGES, None, data=data)

    def segment(self, min_pages: int) -> Segment:
        """A data segment that lies within the module's minimum size (as it must)."""
        data = self.literal(min(256, min_pages * WASM_PAGE))
        room = min_pages * WASM_PAGE - len(data)
        c = self.choices
        offset = c.integer(0, room // OS_PAGE) * OS_PAGE if c.integer(0, 1) else c.integer(0, room)
        return Segment(offset, data)

    def instantiate(self, module: str) -> Instantiate:
        return Instantiate(self.fresh("i"), module)

    def write(self, instance: str) -> Write:
        data = self.literal(2 * OS_PAGE)
        return Write(instance, self.offset(self.room(instance, len(data))), data)

    def read(self, instance: str) -> Read:
        length = self.length()
        return Read(instance, self.offset(self.room(instance, length)), length)

    def touch(self, instance: str) -> Touch:
        length = self.length()
        return Touch(instance, self.offset(self.room(instance, length)), length)

    def grow(self, instance: str) -> Grow:
        c = self.choices
        return Grow(instance, c.integer(4, 80) if c.integer(0, 7) == 7 else choose(c, DELTAS))

    def size(self, instance: str) -> Size:
        return Size(instance)

    def deallocate(self, instance: str) -> Deallocate:
        return Deallocate(instance)

    def drop(self, module: str) -> Drop:
        return Drop(module)

    def shared(self) -> SharedDecl:
        minimum = self.choices.integer(0, 2)
        return SharedDecl(self.fresh("s"), minimum, minimum + self.choices.integer(0, 4))

    def shared_grow(self, name: str) -> SharedGrow:
        return SharedGrow(name, self.choices.integer(0, 3))

    def shared_size(self, name: str) -> SharedSize:
        return SharedSize(name)

    def expect(self, instance: str) -> Expect | Size:
        """An observation the executor does not make on its own (residency or zero-ness) of an
        in-bounds range, with the value the model predicts — so a saved finding states what was
        required. An instance of size 0 has no range to observe: its size is asked instead."""
        length = max(self.length(), 1)
        if self.room(instance, length) < 0:
            return Size(instance)
        offset = self.in_bounds(self.room(instance, length))
        observable = "resident" if self.choices.integer(0, 1) else "zero"
        probe = Expect(observable, (instance, offset, length), 0)
        return Expect(observable, probe.args, self.model.observe(probe))

    # -- the next op, whatever its kind -----------------------------------------------------

    def next_op(self) -> Op:
        """An op of a kind that is valid now, chosen by `choices`."""
        kinds = self.valid_kinds()
        kind = choose(self.choices, kinds)
        if kind in ("module", "shared"):
            return getattr(self, kind)()
        if kind in ("instantiate", "drop"):
            return getattr(self, kind)(self.pick(self.live_modules()))
        if kind.startswith("shared-"):
            return getattr(self, kind.replace("-", "_"))(self.pick(list(self.model.shared)))
        return getattr(self, kind)(self.pick(list(self.model.instances)))

    def valid_kinds(self) -> list[str]:
        kinds = ["module"]
        if self.live_modules():
            kinds += ["instantiate", "instantiate", "drop"]
        if self.model.instances:
            kinds += ["write", "write", "touch", "touch", "read", "grow", "size", "deallocate", "deallocate",
                      "expect"]
        kinds.append("shared")
        if self.model.shared:
            kinds += ["shared-grow", "shared-size"]
        return kinds

    def live_modules(self) -> list[str]:
        """Modules declared and not dropped (the model keeps dropped ones while instances live)."""
        return [name for name in self.model.modules if name not in self.dropped]

    def note(self, op: Op) -> None:
        """Tell the builder an op was applied (it tracks dropped module handles)."""
        if isinstance(op, Drop):
            self.dropped.add(op.module)

    # -- operands ---------------------------------------------------------------------------

    def literal(self, limit: int) -> bytes:
        """A repeated non-zero byte (`LITERAL_LENGTHS` long, at most `limit`), or up to 16
        arbitrary bytes."""
        c = self.choices
        length = min(limit, choose(c, LITERAL_LENGTHS))
        if c.integer(0, 3) == 3:
            return bytes(c.integer(0, 255) for _ in range(min(length, 16)))
        return bytes([c.integer(1, 255)]) * length

    def length(self) -> int:
        return choose(self.choices, LENGTHS)

    def room(self, instance: str, length: int) -> int:
        """The largest in-bounds offset for `length` bytes (negative: nothing fits)."""
        return self.model.instances[instance].pages * WASM_PAGE - length

    def offset(self, room: int) -> int:
        """Mostly an in-bounds offset (`in_bounds`); sometimes just past the end."""
        c = self.choices
        if room < 0:
            return c.integer(1, OS_PAGE)
        if c.integer(0, 15) == 15:
            return room + c.integer(1, OS_PAGE)
        return self.in_bounds(room)

    def in_bounds(self, room: int) -> int:
        """An offset in [0, room]: a hot one (`hot_offsets`) one time in 4 when there are
        some, else page-aligned one time in 4 (one in 2 when there are none), else any."""
        c = self.choices
        how = c.integer(0, 3)
        hot = self.hot_offsets(room)
        if how == HOT and hot:
            return choose(c, hot)
        if how <= 1:
            return c.integer(0, room // OS_PAGE) * OS_PAGE
        return c.integer(0, room)

    def hot_offsets(self, room: int) -> list[int]:
        """Offsets up to `room` where the bugs of reuse show: the first byte of every data
        segment of the modules the model holds (where an image, or a stale one, shows
        through) and the first byte past every module's minimum size (where grown pages, or
        stale ones, begin). Sorted, without repeats."""
        hot = set()
        for module in self.model.modules.values():
            hot.update(segment.offset for segment in module.decl.data)
            hot.add(module.decl.min * WASM_PAGE)
        return sorted(offset for offset in hot if offset <= room)
