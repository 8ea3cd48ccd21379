"""Hypothesis strategies for arbitrary *valid* programs (they pass `validate.check`).

`programs()` walks a small state of names (live modules and instances, gone ones, shared
memories) and draws, at each step, one statement that is valid there, with or without a
`=> RESULT` of a kind and value the op can have. Sizes are drawn to hit every canonical form
(units, plain numbers, page multiples); literals to hit `"text"`, `hex:` and `fill:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from harness import ops
from harness.ops import OS_PAGE, WASM_PAGE, PoolSpec, Program

FOUR_GIB = 1 << 32

names = st.from_regex(r"[a-z][a-z0-9_-]{0,7}", fullmatch=True)

sizes = st.one_of(
    st.integers(0, FOUR_GIB - 1),
    st.integers(0, 4096),
    st.integers(0, 1 << 16).map(lambda n: n * 1024),
    st.integers(0, 1 << 16).map(lambda n: n * WASM_PAGE - 1 if n else 0),
    st.sampled_from([0, 1, 4096, WASM_PAGE, 1 << 20, 3 << 20, 1 << 30, FOUR_GIB - 1]),
)

literals = st.one_of(
    st.binary(max_size=40),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(str.encode),
    st.text(st.sampled_from('ab"\\\n\t'), max_size=12).map(str.encode),
    st.tuples(st.integers(0, 255), st.integers(1, 70_000)).map(lambda t: bytes([t[0]]) * t[1]),
)

comment_texts = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30
).map(str.rstrip)


@st.composite
def pools(draw: st.DrawFn) -> PoolSpec:
    """A pool with some keys given, in a random order, with values within validate's bounds."""
    values = {
        "memories": st.integers(0, 64),
        "max-memory": sizes,
        "keep-resident": sizes,
        "guard": sizes,
        "style": st.sampled_from(ops.STYLES),
        "strategy": st.sampled_from(ops.STRATEGIES),
        "seed": st.integers(0, (1 << 64) - 1),
        "warm-slots": st.integers(0, 1000),
        "decommit-batch": st.integers(0, 16),
        "growth": st.sampled_from(ops.GROWTHS),
        "reservation": sizes,
    }
    keys = draw(st.permutations(list(values)))[: draw(st.integers(0, len(values)))]
    settings = {PoolSpec.KEYS[key][0]: draw(values[key]) for key in keys}
    return PoolSpec(**settings, given=tuple(keys))


@dataclass
class _State:
    pool: PoolSpec
    taken: set[str] = field(default_factory=set)
    modules: list[str] = field(default_factory=list)  # live
    dropped: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)  # live
    free_instance_names: list[str] = field(default_factory=list)  # deallocated or failed
    shared: list[str] = field(default_factory=list)


def _fresh(draw: st.DrawFn, state: _State) -> str:
    name = draw(names)
    while name in state.taken:
        name += str(len(state.taken))
    state.taken.add(name)
    return name


def _maybe(draw: st.DrawFn, result: st.SearchStrategy) -> object:
    return draw(st.none() | result)


def _module(draw: st.DrawFn, state: _State) -> ops.ModuleDecl:
    minimum = draw(st.integers(0, 8) | st.integers(0, 65536))
    maximum = draw(st.none() | st.integers(minimum, 65536))
    count = draw(st.integers(0, 3)) if minimum else 0
    data = tuple(_segment(draw, minimum * WASM_PAGE) for _ in range(count))
    op = ops.ModuleDecl(_fresh(draw, state), minimum, maximum, draw(st.booleans()), data,
                    _maybe(draw, _REFUSALS))
    if op.result is None:
        state.modules.append(op.name)
    return op


_REFUSALS = st.sampled_from([ops.Error("too-large"), ops.Error("shared-unsupported")])


def _segment(draw: st.DrawFn, size: int) -> ops.Segment:
    data = draw(literals)[:size]
    return ops.Segment(draw(st.integers(0, size - len(data))), data)


def _instantiate(draw: st.DrawFn, state: _State) -> ops.Instantiate:
    reuse = state.free_instance_names and draw(st.booleans())
    name = state.free_instance_names.pop() if reuse else _fresh(draw, state)
    memories = state.pool.memories
    slots = st.integers(0, memories - 1).map(ops.Slot) if memories else st.nothing()
    result = _maybe(draw, slots | st.just(ops.Error("pool-exhausted")))
    (state.free_instance_names if isinstance(result, ops.Error) else state.instances).append(name)
    return ops.Instantiate(name, draw(st.sampled_from(state.modules)), result)


def _instance_op(draw: st.DrawFn, state: _State) -> ops.Op:
    instance = draw(st.sampled_from(state.instances))
    offset = draw(st.integers(0, FOUR_GIB - 1) | sizes)
    length = draw(st.integers(0, 3 * OS_PAGE) | sizes)
    oob = st.just(ops.Error("out-of-bounds"))
    old_size = st.integers(-1, 65536).map(ops.Number)
    choices = [
        lambda: ops.Write(instance, offset, draw(literals), _maybe(draw, oob)),
        lambda: ops.Read(instance, offset, length, _maybe(draw, oob)),
        lambda: _read_with_data(draw, instance, offset),
        lambda: ops.Touch(instance, offset, length, _maybe(draw, _faults(offset, length) | oob)),
        lambda: ops.Grow(instance, draw(sizes), _maybe(draw, old_size)),
        lambda: ops.Size(instance, _maybe(draw, st.integers(0, 65536).map(ops.Number))),
    ]
    return draw(st.sampled_from(choices))()


def _read_with_data(draw: st.DrawFn, instance: str, offset: int) -> ops.Read:
    data = draw(literals)
    return ops.Read(instance, offset, len(data), ops.Data(data))


def _faults(offset: int, length: int) -> st.SearchStrategy[ops.Faults]:
    pages = 0 if length == 0 else (offset + length - 1) // OS_PAGE - offset // OS_PAGE + 1
    return st.integers(0, pages).map(ops.Faults)


def _deallocate(draw: st.DrawFn, state: _State) -> ops.Deallocate:
    name = draw(st.sampled_from(state.instances))
    state.instances.remove(name)
    state.free_instance_names.append(name)
    return ops.Deallocate(name)


def _drop(draw: st.DrawFn, state: _State) -> ops.Drop:
    name = draw(st.sampled_from(state.modules))
    state.modules.remove(name)
    state.dropped.append(name)
    return ops.Drop(name)


def _shared(draw: st.DrawFn, state: _State) -> ops.SharedDecl:
    minimum = draw(st.integers(0, 100) | st.integers(0, FOUR_GIB - 1))
    name = _fresh(draw, state)
    state.shared.append(name)
    return ops.SharedDecl(name, minimum, draw(st.integers(minimum, FOUR_GIB - 1)))


def _shared_op(draw: st.DrawFn, state: _State) -> ops.Op:
    name = draw(st.sampled_from(state.shared))
    if draw(st.booleans()):
        return ops.SharedSize(name, _maybe(draw, st.integers(0, FOUR_GIB - 1).map(ops.Number)))
    result = _maybe(draw, st.integers(-1, FOUR_GIB - 1).map(ops.Number))
    return ops.SharedGrow(name, draw(st.integers(0, FOUR_GIB - 1)), result)


def _expect(draw: st.DrawFn, state: _State) -> ops.Expect:
    pools_of_names = {"instance": state.instances, "module": state.modules + state.dropped}
    arg = {kind: st.sampled_from(found) for kind, found in pools_of_names.items() if found}
    arg["int"] = sizes
    usable = [name for name, (kinds, _) in ops.OBSERVABLES.items() if set(kinds) <= set(arg)]
    observable = draw(st.sampled_from(usable))
    kinds, value_kind = ops.OBSERVABLES[observable]
    args = tuple(draw(arg[kind]) for kind in kinds)
    value = draw(st.booleans() if value_kind == "bool" else st.integers(0, 1 << 40) | sizes)
    return ops.Expect(observable, args, value)


def _steps(state: _State) -> list:
    steps = [_module, _shared, _expect]
    if state.modules:
        steps += [_instantiate, _drop]
    if state.instances:
        steps += [_instance_op, _instance_op, _deallocate]
    if state.shared:
        steps.append(_shared_op)
    return steps


@st.composite
def programs(draw: st.DrawFn, max_statements: int = 15) -> Program:
    """An arbitrary valid program, with comments."""
    pool = draw(st.none() | pools())
    state = _State(pool or PoolSpec())
    statements = []
    for _ in range(draw(st.integers(0, max_statements))):
        step = draw(st.sampled_from(_steps(state)))
        statements.append(step(draw, state))
    indices = st.integers(0, len(statements))
    texts = st.lists(comment_texts, min_size=1, max_size=3).map(tuple)
    notes = draw(st.lists(st.tuples(indices, texts), max_size=4, unique_by=lambda note: note[0]))
    return Program(tuple(statements), pool, comments=tuple(sorted(notes)))


__all__ = ["programs", "pools", "literals", "sizes", "names"]
