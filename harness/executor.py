"""The executor: one op sequence, applied to a target and to the model side by side.

    outcome = run(program, make_target("reference"))
    outcome.divergence      # None, or the first Divergence
    outcome.skipped         # the reason, if the target could not honour the pool settings

After every op the executor compares the op's result (against the file's `=> RESULT` when given,
and against the model always), then checks what the op can have changed (`OP_CHECKS`):

| op | checked right after it |
|---|---|
| `instantiate` | its memory: accessible bytes, page states, disjoint from every other live one; page states of every live memory; image memfds |
| `deallocate`, `drop` | page states of every live memory (a clear or purge of a wrong slot); image memfds |
| `module` | image memfds |
| `grow` | its memory: accessible bytes, page states |
| `read`, `write`, `touch` | its memory: page states |
| `size`, `expect`, shared memories | nothing more (they change no slot) |

Page states are compared whole (one pagemap read and one bytes comparison a memory), so the
sweep over every live memory after a pool-level op stays cheap. Every `full_every` ops and at
the end it runs the full checks on every live instance (accessible bytes, page states and
page contents), and after `target.close()` it checks that nothing was left behind (image
memfds). The first disagreement ends the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness import checks, observers
from harness.checks import Mismatch
from harness.divergence import Divergence
from harness.errors import InvalidProgram
from harness.expectations import expectations_of
from harness.image_files import ImageFiles
from harness.model import Model
from harness.ops import (
    WASM_PAGE,
    Error,
    Expect,
    Faults,
    Instantiate,
    Op,
    Program,
    Result,
    Size,
    Slot,
    Touch,
)
from harness.targets.base import Target, TargetError, Unsupported
from harness.text import format_op


@dataclass
class Outcome:
    """What one run came to. `ops` counts the statements applied (for throughput)."""

    program: Program
    divergence: Divergence | None = None
    skipped: str | None = None
    ops: int = 0
    seconds: float = 0.0
    results: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.divergence is None and self.skipped is None


class Executor:
    """Applies ops to `target` and a fresh `Model` in step; see the module docstring.

    Whole programs: `Executor(program, target).run()`. Generators that build a sequence op by
    op (the Hypothesis state machine) drive it incrementally instead::

        ex = Executor(Program(pool=spec), target)
        ex.open()                    # Unsupported propagates
        mismatch = ex.step(op)       # None while the target agrees
        mismatch = ex.finish()       # full checks, close, leak check
    """

    def __init__(self, program: Program, target: Target, full_every: int = 16) -> None:
        self.program = program
        self.target = target
        self.model = Model(program.pool_spec, expectations_of(target, program.pool_spec))
        self.full_every = full_every
        self.image_inodes: dict[str, int] = {}
        self.image_files = ImageFiles()  # image memfds compared with the model once
        self.slots: dict[str, int] = {}  # slot of each instance, as the target reported it
        self.memfd_baseline = 0
        self.steps = 0
        self.closed = False
        self.last_expected: Result | None = None  # what the model said the last op produces

    def run(self) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome(self.program)
        try:
            self.open()
        except Unsupported as err:
            outcome.skipped = err.reason
            return outcome
        try:
            outcome.divergence = self._run_ops(outcome)
        finally:
            close_error = self.close()
        if outcome.divergence is None and close_error is not None:
            outcome.divergence = self.diverge(len(self.program.statements) - 1, close_error)
        outcome.seconds = time.perf_counter() - started
        return outcome

    # -- incremental API ---------------------------------------------------------------------

    def open(self) -> None:
        self.memfd_baseline = observers.memfd_count()
        self.target.open(self.program.pool_spec)

    def step(self, op: Op) -> Mismatch | None:
        """Apply one op to both sides and run the cheap checks (the full ones every
        `full_every` steps)."""
        mismatch = self._step(op)
        self.steps += 1
        if mismatch is None and self.steps % self.full_every == 0:
            mismatch = self._full_checks()
        return mismatch

    def finish(self) -> Mismatch | None:
        """Full checks of every live instance, then close the target and check for leaks."""
        try:
            mismatch = self._full_checks()
        finally:
            close_error = self.close()
        return mismatch or close_error

    def close(self) -> Mismatch | None:
        """Close the target (once); afterwards no image memfd it opened may be left open."""
        if self.closed:
            return None
        self.closed = True
        self.target.close()
        left = observers.memfd_count() - self.memfd_baseline
        if left:
            return Mismatch("memfds", 0, left, "image memfds left open after the target was closed")
        return None

    # -- the loop ---------------------------------------------------------------------------

    def _run_ops(self, outcome: Outcome) -> Divergence | None:
        statements = self.program.statements
        for index, op in enumerate(statements):
            mismatch = self.step(op)
            outcome.ops += 1
            if mismatch is not None:
                return self.diverge(index, mismatch)
        if statements:
            mismatch = self._full_checks()
            if mismatch is not None:
                return self.diverge(len(statements) - 1, mismatch)
        return None

    def _require_live(self, op: Op) -> None:
        """Raise `InvalidProgram` if `op` names something that does not exist at this point.

        The static checks (`harness.validate`) assume every op without `=> error` succeeds; an
        op that failed anyway (say an `instantiate` that found the pool exhausted) binds nothing,
        and a later use of its name is caught here.
        """
        model = self.model
        wanted = []
        if isinstance(op, Instantiate) or op.kind == "drop":
            wanted.append((op.module, model.modules, "module"))  # type: ignore[attr-defined]
        elif op.kind.startswith("shared-"):
            wanted.append((op.name, model.shared, "shared memory"))  # type: ignore[attr-defined]
        elif hasattr(op, "instance"):
            wanted.append((op.instance, model.instances, "instance"))  # type: ignore[attr-defined]
        elif isinstance(op, Expect) and op.args and op.observable != "image-mappings":
            wanted.append((op.args[0], model.instances, "instance"))
        for name, live, what in wanted:
            if name not in live:
                raise InvalidProgram(
                    self.program.source or "<program>", getattr(op, "line", 0), 0,
                    f"{what} {name!r} does not exist here (an earlier op that would have made it failed)",
                )

    def _step(self, op: Op) -> Mismatch | None:
        self._require_live(op)
        if isinstance(op, Expect):
            return self._expect(op)
        expected = self.model.apply(op)  # the model never reads an op's `=> RESULT`
        self.last_expected = expected
        try:
            observed = self._apply(op)
        except TargetError as err:
            return Mismatch("result", expected, "exception", str(err))
        except observers.NotAccessible as err:
            return Mismatch("accessible", expected, "fault", str(err))
        if isinstance(observed, Slot):
            self.slots[op.instance] = observed.index  # type: ignore[attr-defined]
        if op.result is not None and observed != op.result:
            return Mismatch("result", op.result, observed, "the file's `=>`", source="file")
        if observed != expected:
            return Mismatch("result", expected, observed)
        return self._after(op, observed)

    def _apply(self, op: Op) -> Result | None:
        if isinstance(op, Touch):
            region = self.target.memory(op.instance)
            if op.offset + op.length > region.size:
                return Error("out-of-bounds")
            if op.length == 0:
                return Faults(0)  # no page overlaps an empty range
            return Faults(observers.touch(region.base + op.offset, op.length))
        return self.target.apply(op)

    def _after(self, op: Op, observed: Result | None) -> Mismatch | None:
        """The checks of what `op` can have changed (the table of the module docstring)."""
        kind = op.kind
        checks_of = OP_CHECKS.get(kind, ())
        if not checks_of:
            return None
        name = getattr(op, "instance", None)
        if kind == "instantiate":
            if isinstance(observed, Error):
                return checks.check_memfds(self.model, self.memfd_baseline) or self._sweep_pages()
            self._learn_image_inode(op)  # type: ignore[arg-type]
        for check in checks_of:
            if check == "memfds":
                mismatch = checks.check_memfds(self.model, self.memfd_baseline)
            elif check == "sweep":
                mismatch = self._sweep_pages(skip=name)
            elif check == "disjoint":
                mismatch = self._check_disjoint(name)  # type: ignore[arg-type]
            elif name in self.model.instances:
                mismatch = self._check_instance(name, full=False, accessible=check == "instance")
            else:
                mismatch = None
            if mismatch is not None:
                return mismatch
        return None

    def _check_instance(self, name: str, full: bool, accessible: bool = True) -> Mismatch | None:
        region = self.target.memory(name)
        length = self.model.instances[name].slot.accessible
        return (
            (checks.check_accessible(self.model, name, region, None) if accessible or full else None)
            or checks.check_pages(self.model, name, region, length)
            or (checks.check_contents(self.model, name, region, length, self.image_files) if full else None)
        )

    def _sweep_pages(self, skip: str | None = None) -> Mismatch | None:
        """Page states of every live memory but `skip` (checked already): the cheap cross-slot
        check after an op that works on the pool (a slot index gone wrong clears, maps or
        purges another instance's slot)."""
        for name, instance in self.model.instances.items():
            if name == skip:
                continue
            region = self.target.memory(name)
            mismatch = checks.check_pages(self.model, name, region, instance.slot.accessible)
            if mismatch is not None:
                return mismatch
        return None

    def _check_disjoint(self, name: str) -> Mismatch | None:
        """A new instance's memory must not share its base, or any byte of its slot, with
        another live instance's (CVE-2022-39392: zero-stride slots all aliased one base)."""
        new = self.target.memory(name)
        for other in self.model.instances:
            if other == name:
                continue
            region = self.target.memory(other)
            if new.base == region.base or (new.base < region.base + region.limit and region.base < new.base + new.limit):
                return Mismatch("slot-base", "disjoint", "overlapping",
                                f"instances {name} and {other}: bases {new.base:#x} and {region.base:#x}")
        return None

    def _full_checks(self) -> Mismatch | None:
        for name in list(self.model.instances):
            mismatch = self._check_instance(name, full=True)
            if mismatch is not None:
                return mismatch
        return checks.check_memfds(self.model, self.memfd_baseline)

    # -- expect -----------------------------------------------------------------------------

    def _expect(self, op: Expect) -> Mismatch | None:
        expected = self.model.observe(op)
        observed = self._observe(op)
        if observed != op.value:
            return Mismatch(op.observable, op.value, observed, "the file's `expect`", source="file")
        if observed != expected:
            return Mismatch(op.observable, expected, observed)
        return None

    def _observe(self, op: Expect) -> int | bool:
        name, args = op.observable, op.args
        if name == "memfds":
            return observers.memfd_count() - self.memfd_baseline
        if name == "image-mappings":
            inode = self.image_inodes.get(str(args[0]))
            return 0 if inode is None else observers.mappings_of_inode(inode)
        instance = str(args[0])
        if name == "slot":
            return self.slots[instance]
        if name == "size":
            result = self.target.apply(Size(instance))
            return getattr(result, "value", -1)
        region = self.target.memory(instance)
        if name == "accessible":
            return observers.accessible_bytes(region.base, region.limit)
        offset, length = int(args[1]), int(args[2])
        if name == "resident":
            return observers.resident_pages(region.base + offset, length)
        return checks.observe_zero(region, offset, length)

    # -- bookkeeping ------------------------------------------------------------------------

    def _learn_image_inode(self, op: Instantiate) -> None:
        image = self.model.modules[op.module].image
        if image is None or op.module in self.image_inodes:
            return
        inode = observers.inode_at(self.target.memory(op.instance).base + image.offset)
        if inode:
            self.image_inodes[op.module] = inode

    def diverge(self, index: int, mismatch: Mismatch) -> Divergence:
        """The `Divergence` of `mismatch` at statement `index` of the program."""
        op = self.program.statements[index] if self.program.statements else None
        return Divergence(
            program=self.program,
            index=max(index, 0),
            line=getattr(op, "line", 0),
            op_text=format_op(op) if op is not None else "",
            observable=mismatch.observable,
            expected=mismatch.expected,
            observed=mismatch.observed,
            source=mismatch.source,
            detail=mismatch.detail,
        )


OP_CHECKS: dict[str, tuple[str, ...]] = {
    "instantiate": ("disjoint", "memfds", "instance", "sweep"),
    "deallocate": ("memfds", "sweep"),
    "drop": ("memfds", "sweep"),
    "module": ("memfds",),
    "grow": ("instance",),
    "read": ("pages",),
    "write": ("pages",),
    "touch": ("pages",),
}
"""What is checked right after each op kind (kinds not named: nothing beyond the result).
`instance`: the op's memory, accessible bytes and page states; `pages`: its page states only;
`disjoint`: its slot against every other live one; `sweep`: page states of every live memory;
`memfds`: the image memfds open."""


def run(program: Program, target: Target, full_every: int = 16) -> Outcome:
    """Apply `program` to `target` beside the model; see `Executor`."""
    return Executor(program, target, full_every).run()


__all__ = ["Executor", "Outcome", "run", "WASM_PAGE"]
