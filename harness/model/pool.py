"""The model of a whole pooling allocator: what every op must produce, and what every observable
must read, per docs/semantics.md. Pure Python; it never touches real memory.

    model = Model(program.pool_spec)                  # docs/semantics.md exactly
    model = Model(program.pool_spec, expectations)    # with a target's documented differences
    result = model.apply(op)          # Number/Data/Faults/Slot/Error or None, like a target
    model.observe(expect_op)          # the value an `expect` must see

`expectations` (`harness.expectations`) names the behaviours in which the target legitimately
differs; each one replaces a rule of docs/semantics.md by the target's, exactly. Programs
reaching the model are valid (`harness.validate.check`): names are defined and live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.expectations import MEMORY_RESERVATION_FOR_GROWTH, SEMANTICS, Expectations
from harness.model.images import Image, initialization
from harness.model.index import index_model
from harness.model.slot import CODE, FILE, PRIVATE, ZERO, SlotModel, pages_of, round_up
from harness.ops import (
    OS_PAGE,
    WASM_PAGE,
    Data,
    Deallocate,
    Drop,
    Error,
    Expect,
    Faults,
    Grow,
    Instantiate,
    ModuleDecl,
    Number,
    Op,
    PoolSpec,
    Read,
    Result,
    SharedDecl,
    SharedGrow,
    SharedSize,
    Size,
    Slot,
    Touch,
    Write,
)


_PRESENT_AS_FILE = bytes(CODE[FILE] if byte in (CODE[ZERO], CODE[PRIVATE]) else byte for byte in range(256))
"""`translate` table: a zero-mapped or private page of the memfd extension shows as a file page."""


@dataclass
class ModuleModel:
    """A declared module. It lives while its handle or any instance holds it (`refs`)."""

    decl: ModuleDecl
    image: Image | None
    runtime_segments: tuple[tuple[int, bytes], ...]
    refs: int = 1
    memfd_open: bool = False

    @property
    def image_owner(self) -> str | None:
        """The identity of the image a slot holds for this module (None: no image)."""
        return self.decl.name if self.image is not None else None


@dataclass
class InstanceModel:
    name: str
    module: ModuleModel
    slot: SlotModel
    pages: int  # current size in Wasm pages


@dataclass
class SharedModel:
    pages: int
    max: int  # the most it can grow to: its `max`, or less (`Expectations.shared_reservation`)


@dataclass
class Queued:
    """A deallocated slot waiting for its decommit: the regions to `madvise` at the flush.

    `regions` may hold empty ranges (`Expectations.queue_empty_decommits`); the queue's length
    is counted in regions, as Wasmtime's `raw_len` is."""

    slot: SlotModel
    module: str
    regions: tuple[tuple[int, int], ...]


@dataclass
class Model:
    """Abstract state of the pool under test."""

    pool: PoolSpec
    expectations: Expectations = SEMANTICS
    modules: dict[str, ModuleModel] = field(default_factory=dict)
    instances: dict[str, InstanceModel] = field(default_factory=dict)
    shared: dict[str, SharedModel] = field(default_factory=dict)
    slots: dict[int, SlotModel] = field(default_factory=dict)
    queue: list[Queued] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.index = index_model(self.pool, self.expectations.index_shards)
        self.static_size = round_up(self.pool.max_memory)

    # -- ops ---------------------------------------------------------------------------------

    def apply(self, op: Op) -> Result | None:
        """Apply one statement; return what it must produce. An op's own `=> RESULT` is
        never read: the model's answer depends on the op's arguments alone."""
        handler = getattr(self, "_" + op.kind.replace("-", "_"))
        return handler(op)

    def _module(self, op: ModuleDecl) -> Result | None:
        too_large = op.min * WASM_PAGE > self.static_size  # max-memory is rounded up to OS pages first
        if too_large and self.expectations.size_checked_before_shared:
            return Error("too-large")
        if op.shared:
            return Error("shared-unsupported")
        if too_large:
            return Error("too-large")
        init = initialization(op, self.expectations)
        self.modules[op.name] = ModuleModel(op, init.image, init.runtime)
        return None

    def _instantiate(self, op: Instantiate) -> Result | None:
        module = self.modules[op.module]
        index = self.index.pick(module.decl.name)
        if index is None and self.queue:
            self.flush()
            index = self.index.pick(module.decl.name)
        if index is None:
            return Error("pool-exhausted")
        slot = self.slots.setdefault(index, SlotModel(index))
        self._sync(slot, module)
        if module.image is not None:
            module.memfd_open = True
        for offset, data in module.runtime_segments:
            slot.write(offset, data)
        module.refs += 1
        self.instances[op.instance] = InstanceModel(op.instance, module, slot, module.decl.min)
        return Slot(index)

    def _sync(self, slot: SlotModel, module: ModuleModel) -> None:
        """`MemoryImageSlot::instantiate`: image, then accessible, per the growth design."""
        initial = module.decl.min * WASM_PAGE
        if self.pool.growth == "memfd":
            if slot.image_owner != module.image_owner or slot.extension_start != initial:
                slot.remap_all()
                slot.extension_start = initial
            slot.accessible = initial
        elif self.pool.style == "static" and not self.expectations.static_keeps_accessible:
            slot.accessible = round_up(initial)  # grown, or shrunk to a precise fit
        else:
            slot.accessible = max(slot.accessible, round_up(initial))  # never shrunk
        slot.replace_image(module.image, module.image_owner)

    def _write(self, op: Write) -> Result | None:
        inst = self.instances[op.instance]
        if not self._in_bounds(inst, op.offset, len(op.data)):
            return Error("out-of-bounds")
        inst.slot.write(op.offset, op.data)
        return None

    def _read(self, op: Read) -> Result | None:
        inst = self.instances[op.instance]
        if not self._in_bounds(inst, op.offset, op.length):
            return Error("out-of-bounds")
        return Data(inst.slot.read(op.offset, op.length))

    def _touch(self, op: Touch) -> Result | None:
        inst = self.instances[op.instance]
        if not self._in_bounds(inst, op.offset, op.length):
            return Error("out-of-bounds")
        return Faults(inst.slot.touch(op.offset, op.length))

    def _grow(self, op: Grow) -> Result | None:
        inst = self.instances[op.instance]
        old, new = inst.pages, inst.pages + op.delta
        if new > inst.module.decl.max_pages or new * WASM_PAGE > self.static_size:
            return Number(-1)
        inst.pages = new
        if round_up(new * WASM_PAGE) > inst.slot.accessible:
            inst.slot.accessible = round_up(new * WASM_PAGE)
        return Number(old)

    def _size(self, op: Size) -> Result | None:
        return Number(self.instances[op.instance].pages)

    def _deallocate(self, op: Deallocate) -> Result | None:
        inst = self.instances.pop(op.instance)
        slot, module = inst.slot, inst.module
        memsets, regions = self._reset_plan(slot)
        for start, end in memsets:
            slot.memset_pristine(start, end)
        if self.pool.growth == "memfd":
            slot.decommit(slot.extension_start or 0, self.static_size)
            slot.accessible = slot.extension_start or 0
        if not self.expectations.queue_empty_decommits:
            regions = tuple(r for r in regions if r[0] < r[1])
        self._enqueue(Queued(slot, module.decl.name, regions))
        self._unref(module)
        return None

    def _reset_plan(self, slot: SlotModel) -> tuple[list[tuple[int, int]], tuple[tuple[int, int], ...]]:
        """`clear_and_remain_ready`: the ranges written back to pristine, then the regions to
        `madvise` (possibly empty). §4 step 1-2: memset `[0, keep)`, decommit `[keep, top)`."""
        top = slot.accessible
        if self.pool.growth == "memfd":
            top = slot.extension_start or 0
        keep = round_up(self.pool.keep_resident)
        image = slot.image
        if self.expectations.reset_madvises_image and image is not None and image.offset < keep:
            after = min(keep - image.offset, top - image.end)
            memsets = [(0, image.offset), (image.end, image.end + after)]
            return memsets, ((image.offset, image.end), (image.end + after, top))
        keep = min(keep, top)
        return [(0, keep)], ((keep, top),)

    def _enqueue(self, entry: Queued) -> None:
        """Decommit now, or queue: as Wasmtime's `merge_or_flush`, counted in regions. No region,
        or at least `decommit-batch` of them: now (this slot only). Else queue, and flush the
        whole queue once it holds `decommit-batch` regions."""
        batch = self.pool.decommit_batch
        if not entry.regions or len(entry.regions) >= batch:
            self._decommit(entry)
            return
        self.queue.append(entry)
        if sum(len(e.regions) for e in self.queue) >= batch:
            self.flush()

    def _decommit(self, entry: Queued) -> None:
        for start, end in entry.regions:
            entry.slot.decommit(start, end)
        self.index.release(entry.slot.index, entry.module)

    def _drop(self, op: Drop) -> Result | None:
        self._unref(self.modules[op.module])
        return None

    def _shared(self, op: SharedDecl) -> Result | None:
        self.shared[op.name] = SharedModel(op.min, self._shared_limit(op))
        return None

    def _shared_limit(self, op: SharedDecl) -> int:
        """Pages a standalone shared memory can grow to: its `max` (§6), or less when it
        reserves only `Expectations.shared_reservation` bytes (it cannot move to grow)."""
        reservation = self.expectations.shared_reservation
        if reservation is None:
            return op.max
        minimum = op.min * WASM_PAGE
        reserved = reservation if minimum <= reservation else minimum + MEMORY_RESERVATION_FOR_GROWTH
        return min(op.max, round_up(reserved) // WASM_PAGE)

    def _shared_grow(self, op: SharedGrow) -> Result | None:
        mem = self.shared[op.name]
        if mem.pages + op.delta > mem.max:
            return Number(-1)
        old, mem.pages = mem.pages, mem.pages + op.delta
        return Number(old)

    def _shared_size(self, op: SharedSize) -> Result | None:
        return Number(self.shared[op.name].pages)

    def _expect(self, op: Expect) -> Result | None:
        return None

    # -- pool-level transitions ---------------------------------------------------------------

    def flush(self) -> None:
        """Perform every queued decommit; the queued slots become warm, in queue order."""
        queue, self.queue = self.queue, []
        for entry in queue:
            self._decommit(entry)

    def _unref(self, module: ModuleModel) -> None:
        module.refs -= 1
        if module.refs == 0:
            self._purge(module)

    def _purge(self, module: ModuleModel) -> None:
        """Module drop: flush (unless `Expectations.purge_flushes_queue` is off), then every warm
        slot affine to it loses its image and affinity. A slot still queued keeps both."""
        if self.expectations.purge_flushes_queue:
            self.flush()
        name = module.decl.name
        while (index := self.index.take_affine(name)) is not None:
            self.slots[index].replace_image(None, None)
            self.index.release(index, None)
        module.memfd_open = False
        del self.modules[name]

    # -- observables --------------------------------------------------------------------------

    def observe(self, op: Expect) -> int | bool:
        """The value the `expect` observable must have now."""
        name, args = op.observable, op.args
        if name == "memfds":
            return self.memfds()
        if name == "image-mappings":
            return self.image_mappings(str(args[0]))
        inst = self.instances[str(args[0])]
        if name == "slot":
            return inst.slot.index
        if name == "size":
            return inst.pages
        if name == "accessible":
            return inst.slot.accessible
        offset, length = int(args[1]), int(args[2])
        if name == "resident":
            pages = pages_of(offset, length)
            return len(pages) - inst.slot.codes(pages).count(b"a")
        if name == "zero":
            return not any(inst.slot.peek(offset, length))
        raise KeyError(f"unknown observable {name!r}")

    def memfds(self) -> int:
        """Image memfds open: one per live module instantiated at least once, and one per
        dropped module whose image a slot still maps (`purge_flushes_queue` off)."""
        live = {m.decl.name for m in self.modules.values() if m.memfd_open}
        mapped = {s.image_owner for s in self.slots.values() if s.image is not None}
        return len(live | mapped)

    def image_mappings(self, module: str) -> int:
        """Slots (used, queued or warm) that hold `module`'s image mapped."""
        return sum(1 for s in self.slots.values() if s.image_owner == module and s.image is not None)

    def observed_codes(self, instance: str, offset: int, length: int) -> bytes:
        """Page states as /proc/self/pagemap shows them, one code a page (`SlotModel.codes`):
        a present page of the memfd extension is a shared file page, whether read or
        written."""
        slot = self.instances[instance].slot
        pages = pages_of(offset, length)
        codes = slot.codes(pages)
        if slot.extension_start is None:
            return codes
        split = min(max(0, -(-slot.extension_start // OS_PAGE) - pages.start), len(codes))
        return codes[:split] + codes[split:].translate(_PRESENT_AS_FILE)

    def _in_bounds(self, inst: InstanceModel, offset: int, length: int) -> bool:
        return offset + length <= inst.pages * WASM_PAGE


__all__ = ["Model", "OS_PAGE"]
