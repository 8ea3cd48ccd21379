"""Is a concurrent history linearizable? The Wing–Gong search with Lowe's memoization.

A history is *linearizable* when its operations can be put in one sequential order that

1. respects real time: if `a` returned before `b` was invoked, `a` comes first; and
2. the sequential model accepts, operation by operation, with the results really returned.

`check(history, spec)` splits the history into partitions (`spec.key`), one per independent
object, and searches each with its own model (`spec.model(key)`): a history is linearizable
exactly when every partition is (locality of linearizability), and small partitions keep the
exponential search cheap.

The search (Wing & Gong 1993; Lowe 2017; as Porcupine implements it): the invocations and
responses are laid out in one list by time, an invocation before a response at the same
instant (so that such operations count as concurrent, which never makes a linearizable history
look otherwise). Walking the list, an operation whose invocation comes before any pending
response may be linearized next if the model accepts it; it is then lifted out of the list.
Reaching a response whose operation is not linearized yet means the current choice was wrong:
the last choice is undone and the next candidate tried. A (linearized set, model state) pair
seen before is never explored twice. The search gives up after `budget` steps and reports
the partition as `unknown` (neither a pass nor a violation).

For a partition that is not linearizable, the result keeps the longest order found that the
model accepted (`longest`) and the candidates that could not extend it (`stuck`), with the model
state at that point: what the timeline shows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.stress.history import Operation
from harness.stress.models import SequentialModel, Specification

DEFAULT_BUDGET = 2_000_000
"""Search steps per partition before giving up (a few seconds of Python)."""

LINEARIZABLE, VIOLATION, UNKNOWN = "linearizable", "violation", "unknown"


@dataclass
class PartitionResult:
    """The verdict on one partition (one object's sub-history)."""

    key: str
    ops: list[Operation]
    verdict: str
    longest: list[Operation] = field(default_factory=list)
    stuck: list[tuple[Operation, str]] = field(default_factory=list)
    state: str = ""
    steps: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict != VIOLATION

    def explain(self) -> str:
        """A few lines saying why the partition is not linearizable (empty if it is)."""
        if self.verdict != VIOLATION:
            return ""
        lines = [
            f"partition {self.key!r}: no sequential order explains its {len(self.ops)} "
            f"operations; the longest order the model accepts has {len(self.longest)}:",
        ]
        lines += [f"  {n + 1:3}. t{op.thread} {op.describe()}" for n, op in enumerate(self.longest)]
        lines.append(f"  state then: {self.state}")
        lines.append("  and none of the operations that could come next is accepted:")
        lines += [f"  - t{op.thread} {op.describe()}: {why}" for op, why in self.stuck]
        return "\n".join(lines)


@dataclass
class CheckResult:
    """The verdict on a whole history: one `PartitionResult` per partition."""

    partitions: list[PartitionResult]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.partitions)

    @property
    def verdict(self) -> str:
        verdicts = {p.verdict for p in self.partitions}
        for verdict in (VIOLATION, UNKNOWN):
            if verdict in verdicts:
                return verdict
        return LINEARIZABLE

    def violations(self) -> list[PartitionResult]:
        return [p for p in self.partitions if p.verdict == VIOLATION]

    def explain(self) -> str:
        return "\n\n".join(p.explain() for p in self.violations())


def check(history: Iterable[Operation], spec: Specification,
          budget: int = DEFAULT_BUDGET) -> CheckResult:
    """Checks every partition of `history` (see the module docstring)."""
    partitions: dict[str, list[Operation]] = {}
    for op in history:
        partitions.setdefault(spec.key(op), []).append(op)
    return CheckResult([check_partition(key, ops, spec.model(key), budget)
                        for key, ops in sorted(partitions.items())])


class _Entry:
    """An invocation (`call`) or a response in the doubly linked list of the search."""

    __slots__ = ("op", "index", "is_call", "match", "prev", "next")

    def __init__(self, op: Operation | None, index: int, is_call: bool) -> None:
        self.op = op
        self.index = index
        self.is_call = is_call
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _entries(ops: list[Operation]) -> _Entry:
    """The list head (a sentinel) of every invocation and response, in time order."""
    events: list[tuple[int, int, _Entry]] = []
    for index, op in enumerate(ops):
        call, ret = _Entry(op, index, True), _Entry(op, index, False)
        call.match = ret
        events += [(op.call, 0, call), (op.ret, 1, ret)]
    events.sort(key=lambda e: (e[0], e[1], e[2].index))
    head = _Entry(None, -1, False)
    last = head
    for _, _, entry in events:
        last.next, entry.prev = entry, last
        last = entry
    return head


def _lift(entry: _Entry) -> None:
    """Takes an invocation and its response out of the list."""
    for node in (entry, entry.match):
        assert node is not None and node.prev is not None
        node.prev.next = node.next
        if node.next is not None:
            node.next.prev = node.prev


def _unlift(entry: _Entry) -> None:
    """Puts back what `_lift(entry)` took out (in the reverse order)."""
    for node in (entry.match, entry):
        assert node is not None and node.prev is not None
        node.prev.next = node
        if node.next is not None:
            node.next.prev = node


def check_partition(key: str, ops: list[Operation], model: SequentialModel,
                    budget: int = DEFAULT_BUDGET) -> PartitionResult:
    """The Wing–Gong–Lowe search over one partition (see the module docstring)."""
    head = _entries(ops)
    state: Hashable = model.init()
    linearized = 0
    seen: set[tuple[int, Any]] = set()
    stack: list[tuple[_Entry, Any]] = []
    best: list[_Entry] = []
    entry = head.next
    steps = 0
    while head.next is not None:
        steps += 1
        if steps > budget:
            return PartitionResult(key, ops, UNKNOWN, steps=steps)
        assert entry is not None
        if entry.is_call:
            accepted, after = model.step(state, entry.op)  # type: ignore[arg-type]
            if accepted:
                marked = linearized | (1 << entry.index)
                if (marked, after) not in seen:
                    seen.add((marked, after))
                    stack.append((entry, state))
                    state, linearized = after, marked
                    _lift(entry)
                    if len(stack) > len(best):
                        best = [e for e, _ in stack]
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if not stack:
                longest = [e.op for e in best]
                return _violation(key, ops, model, longest, steps)  # type: ignore[arg-type]
            undone, state = stack.pop()
            linearized &= ~(1 << undone.index)
            _unlift(undone)
            entry = undone.next
    return PartitionResult(key, ops, LINEARIZABLE, steps=steps)


def _violation(key: str, ops: list[Operation], model: SequentialModel,
               longest: list[Operation], steps: int) -> PartitionResult:
    """The result for a failed search: the longest accepted order, and why nothing extends it."""
    state = model.init()
    for op in longest:
        _, state = model.step(state, op)
    done = {op.id for op in longest}
    rest = [op for op in ops if op.id not in done]
    horizon = min(op.ret for op in rest)
    candidates = [op for op in rest if op.call <= horizon]
    stuck = [(op, _refusal(model, state, op)) for op in candidates]
    return PartitionResult(key, ops, VIOLATION, longest, stuck, model.describe_state(state),
                           steps)


def _refusal(model: SequentialModel, state: Any, op: Operation) -> str:
    accepted, _ = model.step(state, op)
    if accepted:
        return "accepted here, but every order that follows fails"
    return "the model does not allow this result here"
