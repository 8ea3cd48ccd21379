"""Mutants: seeded bugs in the reference allocator, each one plausible mistake.

A mutant patches `allocator/` from outside while it is active and restores every attribute it
replaced on exit, even when the block raises; no file is ever edited. It measures the harness:
a campaign or a corpus that does not catch a sequential mutant has a blind spot.

    with activate("no-shrink-static"):
        result = replay.replay_file(path, lambda: make_target("reference"))
    # result.outcome.divergence names the op and the observable that differed

`MUTANTS` is the catalogue. Each `Mutant` says which real mistake it models (a CVE, a Wasmtime
bug or pull request, or the design of an earlier version that the semantics moved away from) and
whether a sequential op sequence can reveal it (`sequential`); the others need concurrent checks
or an observable the harness does not have.

`load_mutants(path)` reads more from a Python file of the user's that defines
`MUTANTS = {name: factory}`, a factory being a `Mutant` or a zero-argument callable returning a
context manager that patches the allocator while it is entered. `replaced` makes such a
context manager for one attribute:

    MUTANTS = {
        "never-shrink": lambda: replaced(MemoryImageSlot, "_shrink_to",
                                         lambda original: lambda self, target: None),
    }
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import allocator.image
from allocator.config import PoolConfig
from allocator.decommit import DecommitQueue
from allocator.image import MemoryImage
from allocator.index import IndexAllocator
from allocator.memfd_slot import MemfdGrowthSlot
from allocator.memory import LinearMemory
from allocator.pool import MemoryPool
from allocator.shared import SharedMemory
from allocator.slot import MemoryImageSlot
from allocator.units import OS_PAGE, WASM_PAGE
from harness.errors import PoolfuzzError, suggest

Patch = Callable[[], AbstractContextManager[Any]]
"""A context manager factory: each call returns a fresh context manager that patches."""

_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


@dataclass(frozen=True)
class Mutant:
    """A seeded bug: `patch()` returns a context manager that is the bug while entered.

    `models` is one line naming the real mistake; `sequential` says whether a sequential op
    sequence can reveal it (False: only concurrent checks, or an observable the harness lacks).
    """

    name: str
    models: str
    patch: Patch
    sequential: bool = True


class MutantFileError(PoolfuzzError, ValueError):
    """A file of mutants that `load_mutants` cannot use; the message names the file."""


MUTANTS: dict[str, Mutant] = {}


@contextmanager
def replaced(owner: object, attribute: str, make: Callable[[Any], Any]) -> Iterator[None]:
    """`owner.attribute` becomes `make(original)` inside the block and is restored after it.

    An attribute that `owner` only inherits is deleted again on exit, so the class looks up its
    base's once more.
    """
    own = vars(owner)
    had, before = attribute in own, own.get(attribute)
    setattr(owner, attribute, make(getattr(owner, attribute)))
    try:
        yield
    finally:
        if had:
            setattr(owner, attribute, before)
        else:
            delattr(owner, attribute)


def _register(name: str, models: str, patch: Patch, sequential: bool = True) -> None:
    assert _NAME.fullmatch(name) and name not in MUTANTS, f"bad or duplicate mutant {name!r}"
    MUTANTS[name] = Mutant(name, models, patch, sequential)


def _mutant(name: str, owner: object, attribute: str, models: str,
            sequential: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers the decorated function as the mutant's `owner.attribute`.

    The function is the buggy method: it receives the original first, then the method's own
    arguments (`self` included).
    """

    def register(buggy: Callable[..., Any]) -> Callable[..., Any]:
        def make(original: Any) -> Callable[..., Any]:
            return lambda *args, **kwargs: buggy(original, *args, **kwargs)

        _register(name, models, lambda: replaced(owner, attribute, make), sequential)
        return buggy

    return register


def _no_flush(self: MemoryPool) -> None:
    pass


def _without_flush() -> AbstractContextManager[None]:
    """The pool never flushes its decommit queue inside the block."""
    return replaced(MemoryPool, "_flush", lambda original: _no_flush)


# --- clearing a slot (clear_and_remain_ready) --------------------------------------------------


@_mutant("skip-madvise-on-clear", MemoryImageSlot, "_decommit_rest",
         "the reset forgets the madvise(DONTNEED) above keep-resident, so a reused slot shows the "
         "previous instance's bytes (what Wasmtime's `memory_zeroed` test guards against)")
def _skip_madvise(original, self, keep, end, decommit):
    pass


@_mutant("keep-resident-no-image-restore", MemoryImageSlot, "_restore_image_bytes",
         "the keep-resident memset zeroes the image's pages without copying its bytes back "
         "(Wasmtime's manually_reset_region missing its copy_from_slice)")
def _no_image_restore(original, self, start, end):
    self._zero(start, end)


@_mutant("keep-resident-madvises-image", MemoryImageSlot, "_restore_image_bytes",
         "image pages below keep-resident are madvised back to the file instead of copied, as "
         "the 2022 reset did (#5207): contents right, but they fault again on the next touch")
def _madvise_image(original, self, start, end):
    self.vm.decommit(self.base + start, end - start)


@_mutant("keep-resident-off-by-one-page", MemoryImageSlot, "clear_and_remain_ready",
         "an off-by-one page at the memset/madvise boundary of the reset: one page fewer than "
         "keep-resident stays resident")
def _keep_one_page_short(original, self, keep_resident, decommit):
    return original(self, max(keep_resident - OS_PAGE, 0), decommit)


@_mutant("shrink-on-clear-dynamic", MemoryImageSlot, "_after_clear",
         "the reset takes the heap back to PROT_NONE as every slot did before dynamic memories "
         "(Wasmtime < 4.0, #5208), so a dynamic memory loses the accessible range it keeps")
def _shrink_on_clear(original, self):
    self._shrink_to(0)


@_mutant("memfd-growth-no-ftruncate-on-reset", MemfdGrowthSlot, "_truncate_extension",
         "the reset of Wasmtime's original memfd slot (b73ac83) without its ftruncate(extension, "
         "0): the previous instance's grown pages, and their bytes, survive into the next one")
def _no_ftruncate(original, self):
    self.extension_size = 0


# --- instantiating into a slot -----------------------------------------------------------------


@_mutant("no-shrink-static", MemoryImageSlot, "_shrink_to",
         "B3: the shrink predicate too narrow (Wasmtime 28, #9583; fixed by #13008), a reused "
         "static slot keeps the previous instance's larger accessible range")
def _no_shrink(original, self, target):
    pass


@_mutant("image-left-mapped-for-imageless-module", MemoryImageSlot, "instantiate",
         "CVE-2022-39393: a module without an image reusing a slot sees the previous module's "
         "image, which is neither unmapped nor forgotten")
def _image_left_mapped(original, self, initial_size_bytes, image, style):
    if image is not None:
        return original(self, initial_size_bytes, image, style)
    kept, self.image = self.image, None  # instantiate sees no image to remove
    original(self, initial_size_bytes, None, style)
    self.image = kept
    return None


@_mutant("image-not-cleared-when-none", MemoryImageSlot, "instantiate",
         "B7: the original memfd slot never cleared self.image for a module without an image, "
         "so the next instance of the old module skips mapping it and sees zeros")
def _image_not_cleared(original, self, initial_size_bytes, image, style):
    old = self.image
    original(self, initial_size_bytes, image, style)
    if image is None and old is not None:  # unmapped, yet still believed mapped
        old.acquire()
        self.image = old


@_mutant("no-image-removal-on-module-change", MemoryImageSlot, "instantiate",
         "switching a slot to another module's image maps the new image without first remapping "
         "the old one's range as zeros: where they do not overlap, the old image shows through")
def _no_image_removal(original, self, initial_size_bytes, image, style):
    if image is not None and self.image not in (None, image):
        self._forget_image()  # dropped, but its range is never remapped
    original(self, initial_size_bytes, image, style)


# --- linear memories -------------------------------------------------------------------------


@_mutant("stale-size-after-reset", LinearMemory, "__init__",
         "a new memory takes its size from the slot's accessible bytes, which a dynamic slot "
         "keeps from the previous instance, instead of from the module's minimum")
def _stale_size(original, self, slot, size_bytes, max_pages):
    original(self, slot, slot.accessible, max_pages)


@_mutant("grow-beyond-max", LinearMemory, "__init__",
         "memory.grow is bounded only by the pool's max-memory, not by the memory's declared "
         "maximum")
def _grow_beyond_max(original, self, slot, size_bytes, max_pages):
    original(self, slot, size_bytes, None)


# --- choosing a slot ---------------------------------------------------------------------------


@_mutant("affinity-ignored", IndexAllocator, "_pick_by_affinity",
         "reuse-affinity never looks up the module's affine slots, losing the image reuse the "
         "strategy exists for (#3738)")
def _affinity_ignored(original, self, module_id):
    return original(self, object())  # a module no slot is affine to


@_mutant("warm-slots-ignored", IndexAllocator, "__init__",
         "the warm-slots setting never reaches the index allocator, which keeps its default "
         "of 100 (Wasmtime's max_unused_warm_slots default, #5661)")
def _warm_slots_ignored(original, self, slots, strategy="reuse-affinity", warm_slots=100, seed=0):
    original(self, slots, strategy, seed=seed)


@_mutant("affinity-only-under-reuse-strategy", IndexAllocator, "free",
         "only reuse-affinity records affinity, as before Wasmtime #5321: under next-available "
         "and random a dropped module's image lingers in warm slots")
def _affinity_only_under_reuse(original, self, slot):
    if self.strategy != "reuse-affinity":
        self._module[slot] = None
    original(self, slot)


@_mutant("decommit-queue-not-flushed-on-exhaustion", MemoryPool, "_alloc_index",
         "an allocation that finds no free slot fails at once instead of flushing the decommit "
         "queue and retrying (Wasmtime's `decommit_batching` test, batch 99)")
def _no_flush_on_exhaustion(original, self, module_id):
    with _without_flush():
        return original(self, module_id)


@_mutant("decommit-batch-ignored", DecommitQueue, "__init__",
         "the decommit-batch setting never reaches the queue, so every deallocation is "
         "decommitted at once (Wasmtime's decommit_batch_size default of 1)")
def _decommit_batch_ignored(original, self, batch):
    original(self, 1)


# --- module drop -----------------------------------------------------------------------------


@_mutant("no-purge-on-drop", MemoryPool, "purge_module",
         "before Wasmtime #5321 dropping a module left its image mapped, and its memfd open, in "
         "every warm slot affine to it")
def _no_purge(original, self, module_id):
    return 0


@_mutant("purge-skips-queued", MemoryPool, "purge_module",
         "the purge does not flush the decommit queue first, so slots still queued keep the "
         "dropped module's image (as Wasmtime's own purge_module appears to)")
def _purge_skips_queued(original, self, module_id):
    with _without_flush():
        return original(self, module_id)


@_mutant("purge-wrong-slot-index", MemoryPool, "_purge_slot",
         "the purge removes the image from slot index + 1 instead of the affine slot, a wrong "
         "index translation like the MPK purge bug (#12910)")
def _purge_wrong_slot(original, self, index):
    try:
        self._take_slot((index + 1) % self.layout.slots).remove_image()
    finally:
        self.index.free(index)


@_mutant("memfd-not-closed-on-drop", MemoryImage, "release",
         "the image's reference count drops to zero without closing its memfd, so every "
         "dropped module leaks one")
def _memfd_not_closed(original, self):
    with self._lock:
        if not self._forced:
            self._refs -= 1


# --- images ----------------------------------------------------------------------------------


@_mutant("memfd-created-eagerly", MemoryImage, "__init__",
         "the image's memfd is created when the module is declared, not at its first "
         "instantiation as Wasmtime's lazily built module images are")
def _memfd_eager(original, self, vm, offset, data):
    original(self, vm, offset, data)
    self.source_fd()


_register("dense-image-threshold-off-by-one",
          "the dense-image rule compares len > 16 MiB instead of >=, keeping a sparse image of "
          "exactly 16 MiB",
          lambda: replaced(allocator.image, "DENSE_IMAGE_BYTES", lambda original: original + 1))


# --- needing more than a sequential op sequence ------------------------------------------------


@_mutant("zero-stride-slots", PoolConfig, "_compute_layout",
         "CVE-2022-39392: a stride of 0 when max-memory is 0, so every slot aliases one base "
         "with no guard")
def _zero_stride(original, self):
    # Zero-size memories have no byte to compare: the executor's check that live instances
    # have disjoint slots (distinct bases) is what reveals this one.
    layout = original(self)
    return dataclasses.replace(layout, stride=0) if layout.static_size == 0 else layout


@_mutant("shared-grow-without-lock", SharedMemory, "grow",
         "shared memory growth without the lock, publishing the new length before the mprotect "
         "(Wasmtime's test_memory_size_accessibility guards the order)", sequential=False)
def _shared_grow_unlocked(original, self, delta_pages):
    old_bytes = self._size_bytes
    new_pages = old_bytes // WASM_PAGE + delta_pages
    if new_pages > self.maximum_pages:
        return -1
    self._size_bytes = new_pages * WASM_PAGE  # readers may see pages not yet accessible
    self._commit(old_bytes, self._size_bytes)
    return old_bytes // WASM_PAGE


# --- using mutants -----------------------------------------------------------------------------


def activate(name_or_mutant: str | Mutant) -> AbstractContextManager[Any]:
    """The context manager of a mutant, by name (from `MUTANTS`) or as a `Mutant`.

    An unknown name raises ValueError listing the choices.
    """
    if isinstance(name_or_mutant, Mutant):
        chosen = name_or_mutant
    elif name_or_mutant in MUTANTS:
        chosen = MUTANTS[name_or_mutant]
    else:
        raise ValueError(
            f"unknown mutant {name_or_mutant!r}; available: {', '.join(sorted(MUTANTS))}"
            f"{suggest(str(name_or_mutant), MUTANTS)}"
        )
    manager = chosen.patch()
    if not (hasattr(manager, "__enter__") and hasattr(manager, "__exit__")):
        raise TypeError(f"mutant {chosen.name!r}: its patch returned {manager!r}, not a context manager")
    return manager


def load_mutants(path: str | Path) -> dict[str, Mutant]:
    """The mutants a Python file defines as `MUTANTS = {name: factory}`.

    A factory is a `Mutant` (named as its key) or a zero-argument callable returning a context
    manager; the latter becomes a `Mutant` whose `models` is `from FILE`. Raises
    `MutantFileError` naming the file if it is missing, fails to import, defines no `MUTANTS`,
    or defines one of another shape.
    """
    path = Path(path)
    namespace = _import(path)
    if "MUTANTS" not in namespace:
        raise MutantFileError(f"{path}: defines no MUTANTS; expected MUTANTS = {{name: factory}}")
    entries = namespace["MUTANTS"]
    if not isinstance(entries, dict):
        raise MutantFileError(f"{path}: MUTANTS is a {type(entries).__name__}, expected a dict "
                              f"of name to factory")
    return {name: _as_mutant(path, name, factory) for name, factory in entries.items()}


def _import(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise MutantFileError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location(f"_poolfuzz_mutants_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise MutantFileError(f"{path}: not a Python file")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # as an import would, for dataclasses and the like
    try:
        spec.loader.exec_module(loaded)
    except Exception as err:
        raise MutantFileError(f"{path}: importing it raised {type(err).__name__}: {err}") from err
    finally:
        sys.modules.pop(spec.name, None)
    return vars(loaded)


def _as_mutant(path: Path, name: object, factory: object) -> Mutant:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MutantFileError(f"{path}: MUTANTS key {name!r} is not a kebab-case name "
                              f"(like 'skip-madvise-on-clear')")
    if isinstance(factory, Mutant):
        if factory.name != name:
            raise MutantFileError(f"{path}: MUTANTS[{name!r}] is a Mutant named "
                                  f"{factory.name!r}; the key must be its name")
        return factory
    if not callable(factory):
        raise MutantFileError(f"{path}: MUTANTS[{name!r}] is {factory!r}; expected a Mutant or a "
                              f"zero-argument callable returning a context manager")
    return Mutant(name, f"from {path}", factory)
