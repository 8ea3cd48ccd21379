"""Programs to bytes: the inverse of `atheris_engine.decode`, for seeding libFuzzer's corpus
with real programs (the regression corpus) rather than random bytes.

    data = encode(program)            # decode(data) == canonical(program), or Inexpressible
    data, notes = encode_nearest(program)   # always bytes; `notes` says what was changed

How: the encoder runs the decoder's own machinery — a scratch `Model` and the `OpBuilder` —
on a `_Script` of answers. For each statement it works out which answers make the builder
build that statement (`_Planner`, which follows `harness.generate` question by question),
lets the builder build it from them, and records the bytes `ByteChoices` turns back
into those answers. The op built is compared with the statement: they must be equal, so an
encoder that drifted from the builder fails loudly (`EncoderDrift`), never silently.

What the decoder cannot express (each raises `Inexpressible`, naming the statement):

- names: the decoder names things `m1`, `i2`, `s3`... in order of declaration. The encoder
  renames (`canonical`); an instance name reused after `deallocate` becomes a new name.
- the pool: each key's value must be one of `harness.generate`'s choices (1 to 6 memories,
  `max-memory` in `MAX_MEMORIES`, `keep-resident` in `KEEP_RESIDENT`, `guard` in `GUARDS`,
  `seed` 0 to 3, `warm-slots` in `WARM_SLOTS`, `decommit-batch` 1 to 3, no `reservation`). The
  keys a file leaves out take their defaults (`memories=1000`, `guard=32MiB`, ...), which are
  mostly not choices. Decoded pools give every key (`given` does not count: it is not part of a
  pool's equality).
- modules: `min` 0 to 4 pages (or `max-memory` plus one page), `max` absent or `min` to
  `min`+8, at most 3 segments; or the decoder's one sparse module (two one-byte segments about
  16 MiB apart).
- literals (segments, `write`): a byte other than 0 repeated 1, 8, 16, 100, 4096 or 8192 times
  (at most 256 bytes in a segment), or any 1, 8 or 16 bytes.
- offsets: in bounds, or at most one OS page past the last in-bounds offset; segments within
  the module's minimum size.
- `read`/`touch` lengths: 0, 1, 16, 4 KiB, 16 KiB or 64 KiB; `grow` deltas 0 to 80;
  `shared` sizes: `min` 0 to 2, `max` `min` to `min`+4; `shared-grow` 0 to 3.
- `expect`: only `resident` and `zero` of an in-bounds range of 1, 16, 4 KiB, 16 KiB or 64 KiB
  bytes (a `slot`, `size`, `accessible`, `memfds` or `image-mappings` expectation is not).
- results: the decoder writes the model's prediction on every op and every `expect`; a
  statement whose written result differs from the model's is not expressible as written (the
  round trip is exact for programs that pass on the model, which every corpus file does).
- length: at most `MAX_OPS` statements.
- names that are not live: an op on an instance whose `instantiate` failed, or an `instantiate`
  or `drop` of a module already dropped.

`encode_nearest` replaces each value that is not a choice by the nearest choice (numbers,
lengths, literals: the same byte repeated to the nearest length, or the first bytes cut or
padded with zeros), and leaves out a statement it cannot build at all (an `expect` of another
observable, an op on a name that is not live); what it changed is listed in its notes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from harness.engines.atheris_engine import MAX_OPS
from harness.errors import HarnessError, PoolfuzzError
from harness.generate import (
    GUARDS,
    HOT,
    KEEP_RESIDENT,
    LENGTHS,
    LITERAL_LENGTHS,
    DELTAS,
    MAX_MEMORIES,
    MIN_PAGES,
    SEGMENTS,
    SPARSE_PAGES,
    STRATEGIES,
    STYLES,
    GROWTHS,
    WARM_SLOTS,
    OpBuilder,
    pool_spec,
)
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
    ModuleDecl,
    Op,
    PoolSpec,
    Program,
    Read,
    Segment,
    SharedDecl,
    SharedGrow,
    SharedSize,
    Size,
    Touch,
    Write,
    without_results,
)


class Inexpressible(PoolfuzzError, ValueError):
    """A program the decoder cannot produce; `index` is the statement's (None: the pool)."""

    def __init__(self, index: int | None, reason: str) -> None:
        super().__init__(index, reason)
        self.index = index
        self.reason = reason

    def __str__(self) -> str:
        return f"{'pool' if self.index is None else f'statement {self.index + 1}'}: {self.reason}"


class EncoderDrift(HarnessError):
    """The builder built something other than what the encoder aimed at: `harness.generate`
    changed and this module did not follow."""


class _Unanswerable(Exception):
    """No answers make the builder produce the wanted value (the reason is the message)."""


# -- answers to bytes -------------------------------------------------------------------------


class _Script:
    """`Choices` that gives the answers queued in `answers`, in order, and records the bytes
    that make `ByteChoices` give the same answers to the same questions."""

    def __init__(self) -> None:
        self.answers: deque[int] = deque()
        self.data = bytearray()

    def integer(self, lo: int, hi: int) -> int:
        if not self.answers:
            raise EncoderDrift(f"the builder asked for an integer in [{lo}, {hi}] the encoder did not plan")
        value = self.answers.popleft()
        if not lo <= value <= hi:
            raise EncoderDrift(f"planned answer {value} is outside the builder's range [{lo}, {hi}]")
        span = hi - lo + 1
        if span > 1:
            self.data += (value - lo).to_bytes((span - 1).bit_length() + 7 >> 3, "little")
        return value


class _Planner:
    """Works out the answers that make the builder build a wanted value.

    Exact (`notes` is None): a value the builder cannot produce raises `_Unanswerable`.
    Nearest (`notes` a list): the nearest value it can produce is planned instead, and a note
    says so; only a statement it cannot build at all raises (and is left out).
    """

    def __init__(self, notes: list[str] | None) -> None:
        self.notes = notes

    def approximate(self, reason: str) -> None:
        if self.notes is None:
            raise _Unanswerable(reason)
        self.notes.append(reason)

    def index(self, options: Sequence[object], value: object, what: str) -> int:
        """The index of `value` among `options` (nearest: of the numerically nearest)."""
        if value in options:
            return list(options).index(value)
        reason = f"{what} {value!r} is not one of the decoder's choices {tuple(options)}"
        if not all(isinstance(o, int) for o in (value, *options)):
            raise _Unanswerable(reason)
        self.approximate(reason)
        return min(range(len(options)), key=lambda i: (abs(options[i] - value), i))  # type: ignore[operator]

    def within(self, value: int, lo: int, hi: int, what: str) -> int:
        if not lo <= value <= hi:
            self.approximate(f"{what} {value} is outside the decoder's range {lo} to {hi}")
        return min(max(value, lo), hi)

    # -- the pool -----------------------------------------------------------------------------

    def pool(self, pool: PoolSpec) -> list[int]:
        """The answers `harness.generate.pool_spec` turns into `pool`."""
        if pool.reservation is not None:
            self.approximate("a reservation other than max-memory is not one of the decoder's choices")
        return [
            self.within(pool.memories, 1, 6, "memories"),
            self.index(MAX_MEMORIES, pool.max_memory, "max-memory"),
            self.index(KEEP_RESIDENT, pool.keep_resident, "keep-resident"),
            self.index(GUARDS, pool.guard, "guard"),
            self.index(STYLES, pool.style, "style"),
            self.index(STRATEGIES, pool.strategy, "strategy"),
            self.within(pool.seed, 0, 3, "seed"),
            self.index(WARM_SLOTS, pool.warm_slots, "warm-slots"),
            self.within(pool.decommit_batch, 1, 3, "decommit-batch"),
            self.index(GROWTHS, pool.growth, "growth"),
        ]

    # -- operands -----------------------------------------------------------------------------

    def literal(self, data: bytes, limit: int) -> list[int]:
        """Answers for `OpBuilder.literal(limit)` giving `data`: a repeated non-zero byte, else
        up to 16 arbitrary bytes (nearest: the same byte repeated to the nearest length, or the
        first bytes, cut or padded with zeros)."""
        lengths = [min(limit, n) for n in LITERAL_LENGTHS]
        arbitrary = [min(n, 16) for n in lengths]
        uniform = bool(data) and len(set(data)) == 1 and data[0] != 0
        if uniform and len(data) in lengths:
            return [lengths.index(len(data)), 0, data[0]]
        if len(data) in arbitrary:
            return [arbitrary.index(len(data)), 3, *data]
        self.approximate(f"literal of {len(data)} bytes {data[:16]!r} is neither a repeated non-zero byte of "
                         f"{sorted(set(lengths))} bytes nor {sorted(set(arbitrary))} arbitrary bytes")
        if uniform:
            return [self.index(lengths, len(data), "literal length"), 0, data[0]]
        choice = min(range(len(arbitrary)), key=lambda i: (abs(arbitrary[i] - len(data)), i))
        return [choice, 3, *data[: arbitrary[choice]].ljust(arbitrary[choice], b"\0")]

    def offset(self, builder: OpBuilder, offset: int, room: int) -> list[int]:
        """Answers for `OpBuilder.offset(room)` giving `offset` (a hot one if it is)."""
        if room < 0:
            return [self.within(offset, 1, OS_PAGE, "offset (nothing fits)")]
        if offset > room:
            return [15, self.within(offset - room, 1, OS_PAGE, "offset past the last in-bounds one by")]
        return [0] + self.in_bounds(builder, offset, room)

    def in_bounds(self, builder: OpBuilder, offset: int, room: int) -> list[int]:
        """Answers for `OpBuilder.in_bounds(room)` giving `offset` (a hot one if it is)."""
        offset = self.within(offset, 0, room, "offset")
        hot = builder.hot_offsets(room)
        if offset in hot:
            return [HOT, hot.index(offset)]
        return [1, offset // OS_PAGE] if offset % OS_PAGE == 0 else [2, offset]  # aligned, any

    def segment_offset(self, offset: int, room: int) -> list[int]:
        """Answers for the offset of `OpBuilder.segment` (always within the module)."""
        offset = self.within(offset, 0, room, "segment offset")
        return [1, offset // OS_PAGE] if offset % OS_PAGE == 0 else [0, offset]

    # -- ops ----------------------------------------------------------------------------------

    def module(self, builder: OpBuilder, op: ModuleDecl) -> list[int]:
        """Answers for `OpBuilder.module()` giving `op` (its name aside)."""
        max_pages = builder.model.pool.max_memory // WASM_PAGE
        answers = []
        if max_pages >= SPARSE_PAGES:
            for which in (0, 1):
                end = DENSE_IMAGE_LIMIT - OS_PAGE * which
                if (op.min, op.max, op.shared, op.data) == (SPARSE_PAGES, None, False,
                                                              (Segment(0, b"\x01"), Segment(end - 1, b"\x02"))):
                    return [3, which]
            answers.append(0)
        if op.min == max_pages + 1:
            answers.append(15)
            minimum = op.min
        else:
            sizes = [n for n in MIN_PAGES if n <= max_pages]
            index = self.index(sizes, op.min, "module min")
            minimum = sizes[index]
            answers += [0, index]
        answers += [0] if op.max is None else [1, self.within(op.max - op.min, 0, 8, "module max - min")]
        if minimum:
            segments = op.data
            if len(segments) > 3:
                self.approximate(f"{len(segments)} segments (the decoder builds at most 3)")
                segments = segments[:3]
            answers.append(SEGMENTS.index(len(segments)))
            for segment in segments:
                limit = min(256, minimum * WASM_PAGE)
                literal = self.literal(segment.data, limit)
                length = literal_length(literal, limit)
                answers += literal + self.segment_offset(segment.offset, minimum * WASM_PAGE - length)
        elif op.data:
            self.approximate("a module of 0 pages has no segments in decoded programs")
        return answers + [15 if op.shared else 0]

    def access(self, builder: OpBuilder, op: Op) -> list[int]:
        """Answers after the instance's name for `write`, `read`, `touch`, `grow`, `expect`."""
        if isinstance(op, Write):
            literal = self.literal(op.data, 2 * OS_PAGE)
            length = literal_length(literal, 2 * OS_PAGE)
            return literal + self.offset(builder, op.offset, builder.room(op.instance, length))
        if isinstance(op, Read | Touch):
            index = self.index(LENGTHS, op.length, "length")
            return [index] + self.offset(builder, op.offset, builder.room(op.instance, LENGTHS[index]))
        if isinstance(op, Grow):
            delta = self.within(op.delta, 0, 80, "grow delta")
            return [0, DELTAS.index(delta)] if delta in DELTAS else [7, delta]
        assert isinstance(op, Expect)
        instance, offset, length = op.args
        index = LENGTHS.index(1) if length == 1 else self.index(LENGTHS[:-1], length, "expect length")
        room = builder.room(str(instance), LENGTHS[index])
        if room < 0:
            raise _Unanswerable("expect over a range that does not fit (the decoder asks for the size instead)")
        return [index, *self.in_bounds(builder, int(offset), room), 1 if op.observable == "resident" else 0]

    def op(self, builder: OpBuilder, op: Op) -> list[int]:
        """Answers for `OpBuilder.next_op()` giving `op`, whose names are already the decoder's."""
        if isinstance(op, Expect) and op.observable not in ("resident", "zero"):
            raise _Unanswerable(f"expect {op.observable} is not built by the decoder (only resident and zero)")
        kinds = builder.valid_kinds()
        kind = "expect" if isinstance(op, Expect) else op.kind
        if kind not in kinds:
            raise _Unanswerable(f"{kind} is not among the decoder's choices here {tuple(kinds)}")
        answers = [kinds.index(kind)]
        if type(op) in PICKED:
            field, among = PICKED[type(op)]
            name = str(op.args[0]) if isinstance(op, Expect) else getattr(op, field)
            live = sorted(among(builder))
            if name not in live:
                raise _Unanswerable(f"{name!r} is not live here (live: {', '.join(live) or 'none'})")
            answers.append(live.index(name))
        if isinstance(op, ModuleDecl):
            answers += self.module(builder, op)
        elif isinstance(op, SharedDecl):
            answers += [self.within(op.min, 0, 2, "shared min"), self.within(op.max - op.min, 0, 4, "shared max - min")]
        elif isinstance(op, SharedGrow):
            answers.append(self.within(op.delta, 0, 3, "shared-grow delta"))
        elif isinstance(op, Write | Read | Touch | Grow | Expect):
            answers += self.access(builder, op)
        return answers


def literal_length(answers: Sequence[int], limit: int) -> int:
    """The length of the literal `_Planner.literal` planned as `answers`: a repeated byte
    (second answer 0) of the chosen length, or the arbitrary bytes that follow."""
    return min(limit, LITERAL_LENGTHS[answers[0]]) if answers[1] == 0 else len(answers) - 2


PICKED: dict[type, tuple[str, Callable[[OpBuilder], Iterable[str]]]] = {
    **{kind: ("module", OpBuilder.live_modules) for kind in (Instantiate, Drop)},
    **{kind: ("name", lambda b: b.model.shared) for kind in (SharedGrow, SharedSize)},
    **{kind: ("instance", lambda b: b.model.instances)
       for kind in (Write, Read, Touch, Grow, Size, Deallocate, Expect)},
}
"""The field of an op that names what it acts on, and the live names the builder picks among."""


# -- names ------------------------------------------------------------------------------------

DECLARED = {ModuleDecl: "name", Instantiate: "instance", SharedDecl: "name"}
"""The field of an op that declares a name (uses are `PICKED`)."""



def renamed(op: Op, names: dict[str, str]) -> Op:
    """`op` with the names it uses replaced through `names` (its declared name kept)."""
    if isinstance(op, Expect):
        if op.args and isinstance(op.args[0], str) and op.args[0] in names:
            return Expect(op.observable, (names[op.args[0]], *op.args[1:]), op.value)
        return op
    if type(op) not in PICKED:
        return op
    field = PICKED[type(op)][0]
    return type(op)(**{**_fields(op), field: names.get(getattr(op, field), getattr(op, field))})


def _fields(op: Op) -> dict[str, object]:
    return {name: getattr(op, name) for name in op.__dataclass_fields__ if name != "line"}


# -- programs ---------------------------------------------------------------------------------


def encode(program: Program, max_ops: int = MAX_OPS) -> bytes:
    """Bytes that `decode` maps to `canonical(program)`; raises `Inexpressible` (naming the
    first statement the decoder cannot build, and why) for any other program."""
    data, notes = _encode(program, max_ops, exact=True)
    assert not notes
    return data


def encode_nearest(program: Program, max_ops: int = MAX_OPS) -> tuple[bytes, list[str]]:
    """Bytes for the expressible program nearest `program`, and what had to change: each pool
    key not among the choices takes the nearest choice, a statement the decoder cannot build
    is left out, and the program is cut at `max_ops` statements. Never raises for a valid
    program (an invalid one may lose most of its statements)."""
    return _encode(program, max_ops, exact=False)


def canonical(program: Program, max_ops: int = MAX_OPS) -> Program:
    """`program` as the decoder would write it: names renamed, every result the model's.
    Raises `Inexpressible` like `encode` (it is `decode(encode(program))`)."""
    from harness.engines.atheris_engine import decode

    return decode(encode(program, max_ops), max_ops)


def _encode(program: Program, max_ops: int, exact: bool) -> tuple[bytes, list[str]]:
    """Run the builder on planned answers, statement by statement (see the module docstring)."""
    notes: list[str] = []
    planner = _Planner(None if exact else notes)
    script = _Script()
    try:
        script.answers.extend(planner.pool(program.pool_spec))
    except _Unanswerable as err:
        raise Inexpressible(None, str(err)) from None
    model = Model(pool_spec(script))
    builder = OpBuilder(model, script)
    names: dict[str, str] = {}  # the program's names -> the decoder's
    kept = 0
    for index, statement in enumerate(program.statements):
        if kept == max_ops:
            if exact:
                raise Inexpressible(index, f"programs decode to at most {max_ops} statements")
            notes.append(f"cut after {max_ops} statements")
            break
        wanted = _comparable(renamed(statement, names))
        approximations = len(notes)
        try:
            script.answers.extend(planner.op(builder, wanted))
        except _Unanswerable as err:
            if exact:
                raise Inexpressible(index, str(err)) from None
            del notes[approximations:]
            notes.append(f"statement {index + 1} ({statement.kind}) left out: {err}")
            continue
        built = builder.next_op()
        if script.answers:
            raise EncoderDrift(f"statement {index + 1}: the builder left answers {list(script.answers)} unused")
        result = model.observe(built) if isinstance(built, Expect) else model.apply(built)
        builder.note(built)
        if type(built) in DECLARED:
            field = DECLARED[type(built)]
            names[getattr(statement, field)] = getattr(built, field)
            wanted = type(wanted)(**{**_fields(wanted), field: getattr(built, field)})
        if len(notes) == approximations and _comparable(built) != wanted:
            raise EncoderDrift(f"statement {index + 1}: aimed at {wanted}, the builder built {_comparable(built)}")
        written = statement.value if isinstance(statement, Expect) else statement.result
        if written is not None and written != result and len(notes) == approximations:
            if exact:
                raise Inexpressible(index, f"its written result {written!r} is not the model's {result!r}")
            notes.append(f"statement {index + 1} ({statement.kind}): result {written!r} became the model's {result!r}")
        kept += 1
    return bytes(script.data), notes


def _comparable(op: Op) -> Op:
    """`op` without what the decoder computes rather than chooses: results, expect values."""
    if isinstance(op, Expect):
        return Expect(op.observable, op.args, False)
    return without_results(op)
