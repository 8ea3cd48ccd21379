"""The Hypothesis state machine: rules emit ops, the executor applies them, the model is the
invariant.

Each run draws a pool configuration, then rules declare modules, instantiate them, write,
touch, read, grow, deallocate, drop modules and use shared memories. Every op goes through the
executor at once; the first divergence fails the run, and Hypothesis shrinks it to a minimal
sequence. Every failing sequence is kept in `FOUND` under its divergence's signature — the last
one kept is the shrunk one Hypothesis replays at the end — and `save_findings` writes them as
`.ops` files that `poolfuzz replay` runs.

`machine_for(target_name)` makes the machine class for one target.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis import reject, target
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, multiple, rule

from harness.divergence import Divergence
from harness.executor import Executor
from harness.generate import OpBuilder, pool_spec
from harness.ops import Error, Op, Program, with_result
from harness.targets import Target
from harness.targets.base import Unsupported

FOUND: dict[str, Divergence] = {}
"""Signature -> the latest (so, after shrinking, the smallest) program showing it."""

STATS = {"sequences": 0, "ops": 0}
"""Sequences started and ops applied by every machine in this process (for throughput)."""


class DivergenceFound(AssertionError):
    """Base of the per-signature failure types (Hypothesis tells failures apart by type)."""


_FAILURE_TYPES: dict[str, type[DivergenceFound]] = {}


def failure_type(signature: str) -> type[DivergenceFound]:
    """One exception class per signature, so that shrinking keeps the same failure."""
    if signature not in _FAILURE_TYPES:
        _FAILURE_TYPES[signature] = type(f"Divergence[{signature}]", (DivergenceFound,), {})
    return _FAILURE_TYPES[signature]


class _DrawChoices:
    """`Choices` answered by Hypothesis draws (so they shrink toward `lo`)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))


class PoolMachine(RuleBasedStateMachine):
    """Rules over bundles of modules, instances and shared memories; see the module docstring."""

    make_target: Callable[[], Target]

    modules = Bundle("modules")
    instances = Bundle("instances")
    shared = Bundle("shared")

    def __init__(self) -> None:
        super().__init__()
        self.executor: Executor | None = None
        self.ops: list[Op] = []
        self.peaks = {"live instances": 0, "dirty slots": 0, "live images": 0, "pages grown": 0}

    # -- plumbing ---------------------------------------------------------------------------

    def builder(self, data: st.DataObject) -> OpBuilder:
        assert self.executor is not None
        builder = OpBuilder(self.executor.model, _DrawChoices(data))
        builder.counter = len(self.ops)
        return builder

    def run(self, op: Op) -> object:
        """Apply `op`; fail the run on a divergence; return what the model says it produced."""
        assert self.executor is not None
        mismatch = self.executor.step(op)
        STATS["ops"] += 1
        self.ops.append(with_result(op, self.executor.last_expected))
        if mismatch is not None:
            self._fail(len(self.ops) - 1, mismatch)
        self._note_peaks()
        return self.executor.last_expected

    def _note_peaks(self) -> None:
        """Track how far this run got toward interesting states (fed to `target()`)."""
        assert self.executor is not None
        model = self.executor.model
        now = {
            "live instances": len(model.instances),
            "dirty slots": sum(1 for s in model.slots.values() if s.private),
            "live images": sum(1 for s in model.slots.values() if s.image is not None),
            "pages grown": max((i.pages - i.module.decl.min for i in model.instances.values()), default=0),
        }
        for label, value in now.items():
            self.peaks[label] = max(self.peaks[label], value)

    def _fail(self, index: int, mismatch: object) -> None:
        assert self.executor is not None
        program = Program(tuple(self.ops), pool=self.executor.program.pool)
        self.executor.program = program
        divergence = self.executor.diverge(index, mismatch)  # type: ignore[arg-type]
        FOUND[divergence.signature] = divergence
        raise failure_type(divergence.signature)(divergence.describe())

    # -- rules ------------------------------------------------------------------------------

    @initialize(data=st.data())
    def open_pool(self, data: st.DataObject) -> None:
        pool = pool_spec(_DrawChoices(data))
        self.executor = Executor(Program(pool=pool), type(self).make_target())
        try:
            self.executor.open()
        except Unsupported:
            self.executor = None
            reject()  # a pool this target cannot run: draw another
        STATS["sequences"] += 1

    @rule(target=modules, data=st.data())
    def declare_module(self, data: st.DataObject) -> object:
        op = self.builder(data).module()
        return multiple() if isinstance(self.run(op), Error) else op.name

    @rule(target=instances, module=modules, data=st.data())
    def instantiate(self, module: str, data: st.DataObject) -> object:
        op = self.builder(data).instantiate(module)
        return multiple() if isinstance(self.run(op), Error) else op.instance

    @rule(instance=instances, data=st.data(), kind=st.sampled_from(["write", "touch", "read", "grow", "size", "expect"]))
    def access(self, instance: str, data: st.DataObject, kind: str) -> None:
        self.run(getattr(self.builder(data), kind)(instance))

    @rule(instance=consumes(instances), data=st.data())
    def deallocate(self, instance: str, data: st.DataObject) -> None:
        self.run(self.builder(data).deallocate(instance))

    @rule(module=consumes(modules), data=st.data())
    def drop(self, module: str, data: st.DataObject) -> None:
        self.run(self.builder(data).drop(module))

    @rule(target=shared, data=st.data())
    def declare_shared(self, data: st.DataObject) -> object:
        op = self.builder(data).shared()
        self.run(op)
        return op.name

    @rule(name=shared, data=st.data(), grow=st.booleans())
    def use_shared(self, name: str, data: st.DataObject, grow: bool) -> None:
        builder = self.builder(data)
        self.run(builder.shared_grow(name) if grow else builder.shared_size(name))

    def teardown(self) -> None:
        if self.executor is None:
            return
        for label, value in self.peaks.items():
            target(value, label=label)  # push generation toward many dirty slots, images, growth
        mismatch = self.executor.finish()
        if mismatch is not None and self.ops:
            self._fail(len(self.ops) - 1, mismatch)


def machine_for(make_target: Callable[[], Target]) -> type[PoolMachine]:
    """A `PoolMachine` subclass whose runs use targets made by `make_target`."""
    return type("PoolMachine", (PoolMachine,), {"make_target": staticmethod(make_target)})
