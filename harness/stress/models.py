"""Sequential models of the shared objects a concurrent history acts on.

The linearizability checker asks one question of a model: from `state`, may operation `op`
(with the result it really returned) happen next, and what is the state after it? `step`
answers `(True, next_state)` or `(False, state)`. States are hashable values (tuples), never
mutated, so the checker can remember the (linearized set, state) pairs it has seen.

A history is split into partitions by `Specification.key`; each partition is one independent
object with its own model (P-compositionality: a history is linearizable exactly when each
object's sub-history is). What may be split is decided by what each operation reads or writes:

| key | operations | model |
|---|---|---|
| `shared:cell@OFF` | `read`/`write` of 8 bytes at `OFF` below the memory's minimum size, through the locked host API | `RegisterModel` (always in bounds: the size does not matter) |
| `shared:size` | `grow`, `size`, and `load`/`store` of one byte at or above the minimum size, bounds-checked against the published length as Wasm code does | `SharedMemoryModel` (these depend on the size) |
| `pool` | `instantiate`, `deallocate` | `PoolModel` (slots are chosen among all of them: not splittable) |

Results the models accept are listed with each operation; anything else, in particular
`("raised", ...)` for an unexpected exception and `"fault"` for an access the memory should
have allowed, fails the step.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.stress.history import Operation

WASM_PAGE = 64 << 10


class SequentialModel(Protocol):
    """One object's sequential specification."""

    def init(self) -> Hashable: ...

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]: ...

    def describe_state(self, state: Any) -> str: ...


# --- registers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterModel:
    """A cell of bytes: `write(offset, value) -> "ok"`, `read(offset) -> value`.

    The state is the cell's bytes; it starts as `initial`.
    """

    initial: bytes

    def init(self) -> bytes:
        return self.initial

    def step(self, state: bytes, op: Operation) -> tuple[bool, bytes]:
        if op.kind == "write":
            return op.result == "ok", op.args[1]
        if op.kind == "read":
            return op.result == state, state
        return False, state

    def describe_state(self, state: bytes) -> str:
        return f"holds {state.hex()}"


# --- shared memory size and the bytes above its minimum --------------------------------------


@dataclass(frozen=True)
class SharedMemoryModel:
    """A shared memory's size in pages and the one-byte cells above its minimum size.

    State: `(pages, cells)`, `cells` a sorted tuple of `(offset, byte)` for the cells written
    with a nonzero byte. Operations:

    * `grow(delta) -> old pages`, or `-1` (nothing changes) if `pages + delta > max_pages`;
    * `size() -> pages`;
    * `load(offset) -> byte`, or `"oob"` if `offset >= pages * 64 KiB`;
    * `store(offset, byte) -> "ok"`, or `"oob"` likewise.

    A grown page reads as zeros. `"fault"` (the access was in bounds of the published size,
    yet the page was not accessible) is never accepted.
    """

    min_pages: int
    max_pages: int

    def init(self) -> tuple[int, tuple[tuple[int, int], ...]]:
        return self.min_pages, ()

    def step(self, state: tuple, op: Operation) -> tuple[bool, tuple]:
        pages, cells = state
        if op.kind == "grow":
            (delta,) = op.args
            if pages + delta > self.max_pages:
                return op.result == -1, state
            return op.result == pages, (pages + delta, cells)
        if op.kind == "size":
            return op.result == pages, state
        offset = op.args[0]
        in_bounds = offset < pages * WASM_PAGE
        if op.kind == "load":
            expected = dict(cells).get(offset, 0) if in_bounds else "oob"
            return op.result == expected, state
        if op.kind == "store":
            if not in_bounds:
                return op.result == "oob", state
            updated = {**dict(cells), offset: op.args[1]}
            written = tuple(sorted((o, v) for o, v in updated.items() if v))
            return op.result == "ok", (pages, written)
        return False, state

    def describe_state(self, state: tuple) -> str:
        pages, cells = state
        written = ", ".join(f"{o:#x}={v}" for o, v in cells) or "none"
        return f"{pages} pages; nonzero cells: {written}"


# --- the pool -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolModel:
    """The slots of one pool: which instance holds each, and which one the next instance gets.

    State: `(holders, warm, affinity, cold)`: `holders[s]` is the instance id holding slot `s`
    or None; `warm` the free slots used before, least recently freed first; `affinity[s]` the
    module that last used slot `s`; `cold` the slots never used, sorted. Operations:

    * `instantiate(module, instance) -> ("slot", s, pristine)`: `s` must be free, and the
      instance must have seen its module's image and zeros elsewhere (`pristine`). With
      `exact`, `s` must be the slot the strategy picks (`next-available`: lowest free;
      `reuse-affinity`: as `harness.model.index.IndexModel`); otherwise any free slot will do;
    * `instantiate(...) -> ("exhausted",)`: only when every slot is held;
    * `deallocate(module, instance, slot) -> ("ok", intact)`: the instance must hold `slot`,
      and have found every byte it wrote still there (`intact`); the slot becomes the most
      recently freed warm slot, affine to `module`.

    With `deferred_release`, a deallocation only marks its slot `RELEASING` (neither held nor
    free), and a separate `release(module, slot) -> "ok"` frees it as above: the model of a
    pool whose slot may become free after the deallocation returned (see
    `with_deferred_releases`, which adds those operations to a history).
    """

    slots: int
    strategy: str = "reuse-affinity"
    warm_limit: int = 100
    exact: bool = True
    deferred_release: bool = False

    def init(self) -> tuple:
        return (None,) * self.slots, (), (None,) * self.slots, tuple(range(self.slots))

    def step(self, state: tuple, op: Operation) -> tuple[bool, tuple]:
        if op.kind == "instantiate":
            return self._instantiate(state, op)
        if op.kind == "deallocate":
            return self._deallocate(state, op)
        if op.kind == "release" and self.deferred_release:
            return self._release(state, op)
        return False, state

    def _instantiate(self, state: tuple, op: Operation) -> tuple[bool, tuple]:
        holders, warm, affinity, cold = state
        module, instance = op.args
        free = [s for s in range(self.slots) if holders[s] is None]
        if op.result == ("exhausted",):
            return not free, state
        if not (isinstance(op.result, tuple) and len(op.result) == 3 and op.result[0] == "slot"):
            return False, state
        _, slot, pristine = op.result
        if not pristine or slot not in free:
            return False, state
        if self.exact and slot != self.pick(state, module):
            return False, state
        holders = _replace(holders, slot, instance)
        return True, (holders, tuple(s for s in warm if s != slot), affinity,
                      tuple(s for s in cold if s != slot))

    def _deallocate(self, state: tuple, op: Operation) -> tuple[bool, tuple]:
        holders, warm, affinity, cold = state
        module, instance, slot = op.args
        if op.result != ("ok", True) or holders[slot] != instance:
            return False, state
        if self.deferred_release:
            return True, (_replace(holders, slot, RELEASING), warm, affinity, cold)
        return True, (_replace(holders, slot, None), (*warm, slot),
                      _replace(affinity, slot, module), cold)

    def _release(self, state: tuple, op: Operation) -> tuple[bool, tuple]:
        holders, warm, affinity, cold = state
        module, slot = op.args
        if holders[slot] != RELEASING:
            return False, state
        return True, (_replace(holders, slot, None), (*warm, slot),
                      _replace(affinity, slot, module), cold)

    def pick(self, state: tuple, module: str) -> int | None:
        """The slot the strategy gives an instance of `module` (None for `random`: any)."""
        holders, warm, affinity, cold = state
        if self.strategy == "next-available":
            free = [s for s in range(self.slots) if holders[s] is None]
            return free[0] if free else None
        if self.strategy != "reuse-affinity":
            return None
        affine = [s for s in warm if affinity[s] == module]
        if affine:
            return affine[-1]
        first_cold = cold[0] if cold else None
        lru = warm[0] if warm else None
        if len(warm) < self.warm_limit:
            return first_cold if first_cold is not None else lru
        return lru if lru is not None else first_cold

    def describe_state(self, state: tuple) -> str:
        holders, warm, affinity, _ = state
        held = ", ".join(f"{s}:{h if h == RELEASING else f'i{h}'}"
                         for s, h in enumerate(holders) if h is not None) or "none"
        order = ", ".join(f"{s}({affinity[s]})" for s in warm) or "none"
        return f"held slots {held}; warm (LRU first) {order}"


RELEASING = "releasing"
"""`PoolModel` with `deferred_release`: a slot deallocated and not yet free."""

RELEASE_IDS = 1 << 40
"""Operations `with_deferred_releases` adds are numbered from here (recorded ones never are)."""


def _replace(values: tuple, index: int, value: object) -> tuple:
    return (*values[:index], value, *values[index + 1:])


def with_deferred_releases(pool_ops: list[Operation]) -> list[Operation]:
    """`pool_ops` plus one `release(module, slot)` per successful deallocation.

    The release may take effect at any time from the deallocation's invocation until every
    pool operation that overlapped the deallocation has returned: the operations that may have
    taken its slot out of the decommit queue and freed it (`allocator.pool`: whichever thread
    flushes the queue frees every slot in it). This is the weaker guarantee under which a
    deallocation may return before its own slot is free.
    """
    releases = []
    for op in pool_ops:
        if op.kind != "deallocate" or op.result != ("ok", True):
            continue
        bound = max(o.ret for o in pool_ops if o.call <= op.ret and o.ret >= op.call)
        module, _, slot = op.args
        releases.append(Operation(RELEASE_IDS + op.id, op.thread, "pool", "release",
                                  (module, slot), "ok", op.call, bound))
    return [*pool_ops, *releases]


# --- which model judges which operation -------------------------------------------------------


@dataclass(frozen=True)
class Specification:
    """Partitions a history of one trial and names each partition's model (module docstring)."""

    pool: PoolModel
    shared: SharedMemoryModel
    cell_bytes: int = 8

    def key(self, op: Operation) -> str:
        if op.obj == "pool":
            return "pool"
        if op.kind in ("read", "write"):
            return f"shared:cell@{op.args[0]:#x}"
        return "shared:size"

    def model(self, key: str) -> SequentialModel:
        if key == "pool":
            return self.pool
        if key.startswith("shared:cell@"):
            return RegisterModel(bytes(self.cell_bytes))
        return self.shared
