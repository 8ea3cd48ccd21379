"""The model of a whole pooling allocator: what every op must produce, and what every observable
must read, per docs/semantics.md. Pure Python; it never touches real memory.

    model = Model(program.pool_spec)
    result = model.apply(op)          # Number/Data/Faults/Slot/Error or None, like a target
    model.observe(expect_op)          # the value an `expect` must see

Programs reaching the model are valid (`harness.validate.check`): names are defined and live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.model.images import Image, initialization
from harness.model.index import IndexModel
from harness.model.slot import FILE, PRIVATE, ZERO, SlotModel, pages_of, round_up
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
    max: int


@dataclass
class Model:
    """Abstract state of the pool under test."""

    pool: PoolSpec
    modules: dict[str, ModuleModel] = field(default_factory=dict)
    instances: dict[str, InstanceModel] = field(default_factory=dict)
    shared: dict[str, SharedModel] = field(default_factory=dict)
    slots: dict[int, SlotModel] = field(default_factory=dict)
    queue: list[tuple[SlotModel, str, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.index = IndexModel(self.pool)
        self.static_size = round_up(self.pool.max_memory)

    # -- ops ---------------------------------------------------------------------------------

    def apply(self, op: Op) -> Result | None:
        """Apply one statement; return what it must produce."""
        handler = getattr(self, "_" + op.kind.replace("-", "_"))
        return handler(op)

    def _module(self, op: ModuleDecl) -> Result | None:
        if op.shared:
            return Error("shared-unsupported")
        if op.min * WASM_PAGE > self.static_size:  # max-memory is rounded up to OS pages first
            return Error("too-large")
        init = initialization(op)
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
        elif self.pool.style == "static":
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
        keep, start, end = self._reset_ranges(slot)
        slot.memset_pristine(keep)
        if self.pool.growth == "memfd":
            slot.decommit(slot.extension_start or 0, self.static_size)
            slot.accessible = slot.extension_start or 0
        if start < end and self.pool.decommit_batch > 1:
            self.queue.append((slot, module.decl.name, start, end))
            if len(self.queue) >= self.pool.decommit_batch:
                self.flush()
        else:
            slot.decommit(start, end)
            self.index.release(slot.index, module.decl.name)
        self._unref(module)
        return None

    def _reset_ranges(self, slot: SlotModel) -> tuple[int, int, int]:
        """(keep, decommit start, decommit end) of `clear_and_remain_ready`."""
        top = slot.accessible
        if self.pool.growth == "memfd":
            top = slot.extension_start or 0
        keep = min(round_up(self.pool.keep_resident), top)
        return keep, keep, top

    def _drop(self, op: Drop) -> Result | None:
        self._unref(self.modules[op.module])
        return None

    def _shared(self, op: SharedDecl) -> Result | None:
        self.shared[op.name] = SharedModel(op.min, op.max)
        return None

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
        for slot, module, start, end in queue:
            slot.decommit(start, end)
            self.index.release(slot.index, module)

    def _unref(self, module: ModuleModel) -> None:
        module.refs -= 1
        if module.refs == 0:
            self._purge(module)

    def _purge(self, module: ModuleModel) -> None:
        """Module drop: flush, then every slot affine to it loses its image and affinity."""
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
            return sum(m.memfd_open for m in self.modules.values())
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
            return sum(inst.slot.state(p) != "absent" for p in pages_of(offset, length))
        if name == "zero":
            return not any(inst.slot.peek(offset, length))
        raise KeyError(f"unknown observable {name!r}")

    def image_mappings(self, module: str) -> int:
        """Slots (used, queued or warm) that hold `module`'s image mapped."""
        return sum(1 for s in self.slots.values() if s.image_owner == module and s.image is not None)

    def observed_states(self, instance: str, offset: int, length: int) -> list[str]:
        """Page states as /proc/self/pagemap shows them (a present page of the memfd extension
        is a shared file page, whether read or written)."""
        slot = self.instances[instance].slot
        out = []
        for page in pages_of(offset, length):
            state = slot.state(page)
            if slot.in_extension(page) and state in (ZERO, PRIVATE):
                state = FILE
            out.append(state)
        return out

    def _in_bounds(self, inst: InstanceModel, offset: int, length: int) -> bool:
        return offset + length <= inst.pages * WASM_PAGE


__all__ = ["Model", "OS_PAGE"]
