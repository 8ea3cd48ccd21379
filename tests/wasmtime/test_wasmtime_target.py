"""The `wasmtime` target through its protocol: every op kind, the error kinds, slots, and the
measured differences from docs/semantics.md that its `Expectations` declare (each test names
the field)."""

import pytest

pytest.importorskip("wasmtime")

from harness import observers  # noqa: E402
from harness.ops import OS_PAGE, WASM_PAGE, KiB, MiB, PoolSpec, Segment  # noqa: E402
from harness.ops import Data, Error, Number, Slot  # noqa: E402  (results)
from harness.ops import (  # noqa: E402  (statements)
    Deallocate, Drop, Grow, Instantiate, ModuleDecl, Read, SharedDecl, SharedGrow, SharedSize,
    Size, Write,
)
from harness.targets import make_target  # noqa: E402
from harness.targets.base import TargetError, Unsupported  # noqa: E402
from harness.targets.wasmtime_target import WasmtimeTarget  # noqa: E402
from harness.wasmtime_pool import bindings, index_shards, major_version  # noqa: E402

pytestmark = pytest.mark.wasmtime

MAJOR = major_version()


def per_version(**expected):
    """The expectation for the installed Wasmtime among `v32=..., v50=...` (the releases whose
    behaviour was measured); the test is skipped on any other."""
    if f"v{MAJOR}" not in expected:
        pytest.skip(f"behaviour not measured on wasmtime {MAJOR}")
    return expected[f"v{MAJOR}"]

SMALL = dict(memories=4, max_memory=1 * MiB, guard=64 * KiB)
"""A pool small enough for any test: 4 slots of 1 MiB with 64 KiB guards."""


@pytest.fixture
def target():
    """`target(**pool)`: a `WasmtimeTarget` opened on `SMALL` updated by `pool`, closed after the
    test; the test also fails if the close leaves an image memfd open."""
    opened = []
    baseline = observers.memfd_count()

    def open_target(**pool):
        t = make_target("wasmtime")
        t.open(PoolSpec(**{**SMALL, **pool}))
        opened.append(t)
        return t

    yield open_target
    for t in opened:
        t.close()
    assert observers.memfd_count() == baseline


def run(t, *ops):
    """The results of applying `ops` in order."""
    return [t.apply(op) for op in ops]


IMAGE = ModuleDecl("a", 1, 4, data=(Segment(0x10, b"hello"),))


# --- one test per op kind ------------------------------------------------------------------


def test_make_target_finds_it_by_name():
    assert isinstance(make_target("wasmtime"), WasmtimeTarget)


def test_module_and_instantiate(target):
    t = target()
    assert run(t, IMAGE, Instantiate("i1", "a")) == [None, Slot(0)]
    region = t.memory("i1")
    assert (region.size, region.limit) == (WASM_PAGE, 1 * MiB)
    assert region.base % OS_PAGE == 0


def test_write_then_read_through_the_host_and_wasm(target):
    t = target()
    results = run(t, IMAGE, Instantiate("i1", "a"), Read("i1", 0x10, 5),
                  Write("i1", 0xFFF0, b"\x01" * 16), Read("i1", 0xFFF0, 16), Read("i1", 0x10, 0),
                  Write("i1", WASM_PAGE, b""))
    assert results[2:] == [Data(b"hello"), None, Data(b"\x01" * 16), Data(b""), None]


def test_reads_and_writes_past_the_size_are_out_of_bounds(target):
    t = target()
    run(t, IMAGE, Instantiate("i1", "a"))
    assert run(t, Read("i1", WASM_PAGE - 2, 3), Write("i1", WASM_PAGE, b"x"), Read("i1", 2**40, 1),
               Read("i1", WASM_PAGE + 1, 0)) == [Error("out-of-bounds")] * 4
    assert run(t, Grow("i1", 1), Read("i1", WASM_PAGE - 2, 3)) == [Number(1), Data(b"\0\0\0")]


def test_grow_and_size(target):
    t = target(max_memory=256 * KiB)
    run(t, IMAGE, Instantiate("i1", "a"))
    assert run(t, Grow("i1", 0), Grow("i1", 2), Size("i1"), Grow("i1", 2), Grow("i1", 2**32),
               Size("i1")) == [Number(1), Number(1), Number(3), Number(-1), Number(-1), Number(3)]
    assert run(t, Grow("i1", 1), Grow("i1", 1)) == [Number(3), Number(-1)]  # max-memory = 4 pages


def test_deallocate_clears_and_reuses_the_slot(target):
    t = target()
    run(t, IMAGE, Instantiate("i1", "a"), Write("i1", 0x10, b"HELLO"), Grow("i1", 1),
        Deallocate("i1"))
    assert run(t, Instantiate("i1", "a"), Read("i1", 0x10, 5), Size("i1")) == [
        Slot(0), Data(b"hello"), Number(1)]


def test_drop_keeps_live_instances_and_forbids_new_ones(target):
    t = target()
    run(t, IMAGE, Instantiate("i1", "a"), Drop("a"))
    assert run(t, Read("i1", 0x10, 5), Deallocate("i1")) == [Data(b"hello"), None]
    with pytest.raises(TargetError, match="module 'a' was dropped"):
        t.apply(Instantiate("i2", "a"))


def test_shared_memories(target):
    t = target()
    assert run(t, SharedDecl("s", 1, 4), SharedGrow("s", 2), SharedSize("s"), SharedGrow("s", 2),
               SharedSize("s")) == [None, Number(1), Number(3), Number(-1), Number(3)]
    region = t.memory("s")
    assert (region.size, region.limit) == (3 * WASM_PAGE, 4 * WASM_PAGE)


def test_unknown_names_are_target_errors(target):
    t = target()
    with pytest.raises(TargetError, match="no live instance 'i9'"):
        t.apply(Read("i9", 0, 1))
    with pytest.raises(TargetError, match="no module 'zz'"):
        t.apply(Instantiate("i1", "zz"))


# --- error kinds ---------------------------------------------------------------------------


def test_error_kinds(target):
    t = target(memories=1)
    results = run(t, ModuleDecl("big", 17), ModuleDecl("s", 1, 2, shared=True), IMAGE,
                  Instantiate("i1", "a"), Instantiate("i2", "a"))
    assert results == [Error("too-large"), Error("shared-unsupported"), None, Slot(0),
                       Error("pool-exhausted")]
    assert run(t, Deallocate("i1"), Instantiate("i2", "a")) == [None, Slot(0)]


def test_no_memories_means_every_instantiate_is_exhausted(target):
    t = target(memories=0)
    assert run(t, IMAGE, Instantiate("i1", "a")) == [None, Error("pool-exhausted")]


def test_shared_and_too_large_is_too_large(target):
    """`size_checked_before_shared`: Wasmtime checks the size before sharedness."""
    t = target()
    assert run(t, ModuleDecl("s", 20, 40, shared=True)) == [Error("too-large")]


# --- slots ---------------------------------------------------------------------------------


def test_slots_follow_the_layout_and_affinity(target):
    t = target()
    b = ModuleDecl("b", 1, data=(Segment(0, b"B"),))
    slots = run(t, IMAGE, b, Instantiate("i1", "a"), Instantiate("i2", "b"))[2:]
    assert slots == [Slot(0), Slot(1)]
    stride = 1 * MiB + 64 * KiB
    assert t.memory("i2").base - t.memory("i1").base == stride
    run(t, Deallocate("i1"), Deallocate("i2"))
    assert run(t, Instantiate("j2", "b"), Instantiate("j1", "a")) == [Slot(1), Slot(0)]


def test_cold_slots_first_while_few_are_warm_then_the_least_recently_freed(target):
    t = target(warm_slots=1)
    mods = [ModuleDecl(n, 1) for n in "abc"]
    run(t, *mods, Instantiate("i", "a"), Deallocate("i"))
    assert run(t, Instantiate("j", "b")) == [Slot(0)]  # 1 warm slot >= warm-slots: evict it
    t2 = target(warm_slots=2)
    run(t2, *mods, Instantiate("i", "a"), Deallocate("i"))
    assert run(t2, Instantiate("j", "b")) == [Slot(1)]


def test_large_pools_are_sharded(target):
    """`index_shards`: from 128 slots each shard has its own share of the warm budget (when
    Wasmtime shards at all: since 48, with more than one CPU)."""
    results = {}
    for memories in (127, 128):
        t = target(memories=memories, max_memory=64 * KiB, guard=4 * KiB, warm_slots=2)
        run(t, *(ModuleDecl(n, 1) for n in "abc"), Instantiate("i", "a"), Deallocate("i"))
        results[memories] = run(t, Instantiate("j", "b"), Deallocate("j"), Instantiate("k", "c"))
        t.close()
    assert results[127] == [Slot(1), None, Slot(0)]
    assert results[128] == ([Slot(0), None, Slot(0)] if index_shards(128) > 1 else results[127])


# --- keep-resident, styles, images ---------------------------------------------------------


def _faults_after_reuse(t, length):
    run(t, ModuleDecl("m", 2, data=(Segment(0, b"\x07" * 100),)), Instantiate("i", "m"))
    region = t.memory("i")
    observers.touch(region.base, length)
    run(t, Deallocate("i"), Instantiate("i", "m"))
    return observers.touch(t.memory("i").base, length)


def test_keep_resident_bytes_take_no_fault_on_reuse(target):
    pages = 2 * WASM_PAGE // OS_PAGE
    assert _faults_after_reuse(target(keep_resident=0), 2 * WASM_PAGE) == pages
    assert _faults_after_reuse(target(keep_resident=WASM_PAGE), 2 * WASM_PAGE) == pages // 2
    image_faults = per_version(v32=1, v50=0)  # `reset_madvises_image` in 32..36
    assert _faults_after_reuse(target(keep_resident=2 * WASM_PAGE), 2 * WASM_PAGE) == image_faults


def _accessible_after_shrinking_reuse(t):
    run(t, ModuleDecl("big", 4, 16), ModuleDecl("small", 1, 16), Instantiate("i", "big"),
        Grow("i", 2), Deallocate("i"))
    assert run(t, Instantiate("i", "small")) == [Slot(0)]
    region = t.memory("i")
    return observers.accessible_bytes(region.base, region.limit)


def test_dynamic_style_keeps_accessible_bytes_and_still_traps(target):
    if not hasattr(bindings(), "wasmtime_config_signals_based_traps_set"):
        with pytest.raises(Unsupported, match="signals_based_traps"):
            target(style="dynamic", guard=0)
        return
    t = target(style="dynamic", guard=0, warm_slots=0)
    assert _accessible_after_shrinking_reuse(t) == 6 * WASM_PAGE
    outside = run(t, Read("i", WASM_PAGE, 1), Write("i", WASM_PAGE, b"x"))
    assert outside == [Error("out-of-bounds")] * 2


@pytest.mark.parametrize("guard", [0, 64 * KiB])
def test_static_style_fits_the_memory_exactly(target, guard):
    t = target(style="static", guard=guard, warm_slots=0)
    pages = per_version(v32=6, v50=1) if guard == 0 else 1  # `static_keeps_accessible` before 44
    assert _accessible_after_shrinking_reuse(t) == pages * WASM_PAGE


def test_memfd_appears_at_first_instantiation_and_goes_with_the_module(target):
    t = target()
    baseline = observers.memfd_count()
    run(t, IMAGE)
    assert observers.memfd_count() == baseline
    run(t, Instantiate("i1", "a"), Deallocate("i1"))
    assert observers.memfd_count() == baseline + 1  # the warm slot keeps the image mapped
    run(t, Drop("a"))
    assert observers.memfd_count() == baseline


# --- measured differences with decommit batching and shared memories ----------------------


def test_empty_decommits_are_queued_too(target):
    """`queue_empty_decommits`: a memory with nothing to decommit still waits for the batch."""
    t = target(decommit_batch=3)
    second = per_version(v32=Slot(0), v50=Slot(1))  # 32.0.0 frees a slot with nothing to decommit
    assert run(t, ModuleDecl("z", 0, 3), Instantiate("i", "z"), Deallocate("i"),
               Instantiate("i", "z")) == [None, Slot(0), None, second]


def test_module_drop_does_not_flush_the_decommit_queue(target):
    """`purge_flushes_queue` is off: the queued slot keeps the dropped module's image and memfd."""
    t = target(decommit_batch=2)
    baseline = observers.memfd_count()
    run(t, IMAGE, Instantiate("i", "a"), Deallocate("i"), Drop("a"))
    assert observers.memfd_count() == baseline + 1
    t.close()
    assert observers.memfd_count() == baseline


@pytest.mark.parametrize("segment", [Segment(0, bytes(4096)), Segment(0, bytes(10)),
                                     Segment(100, b"\0")])
def test_all_zero_segments_still_make_an_image(target, segment):
    """`zero_only_segments_make_image`: nothing is trimmed from an image without a non-zero byte."""
    t = target()
    baseline = observers.memfd_count()
    run(t, ModuleDecl("z", 1, data=(segment,)), Instantiate("i", "z"))
    base = t.memory("i").base
    maps = observers.mappings()
    images = [(m.start - base, m.end - m.start) for m in maps if m.is_memfd and m.start == base]
    assert (observers.memfd_count() - baseline, images) == (1, [(0, OS_PAGE)])
    assert run(t, Read("i", 0, 8)) == [Data(bytes(8))]


def test_shared_memories_reserve_the_pool_reservation(target):
    """`shared_reservation`: growth stops at `reservation` when `min` fits in it."""
    t = target(max_memory=1 * MiB, reservation=1 * MiB)
    run(t, SharedDecl("s", 1, 64), SharedDecl("t", 17, 200))
    assert run(t, SharedGrow("s", 15), SharedGrow("s", 1), SharedGrow("t", 183)) == [
        Number(1), Number(-1), Number(17)]


# --- configurations it cannot or will not run ----------------------------------------------


@pytest.mark.parametrize("pool", [
    dict(growth="memfd"), dict(strategy="random"), dict(style="dynamic"),
    dict(reservation=512 * KiB), dict(memories=200_000, max_memory=4 * 1024 * MiB),
])
def test_open_refuses_with_a_reason_and_the_process_lives_on(pool):
    t = make_target("wasmtime")
    with pytest.raises(Unsupported) as refused:
        t.open(PoolSpec(**{**SMALL, **pool}))
    assert refused.value.reason
    t.close()  # closing a target that never opened is fine


def test_close_releases_everything_and_is_idempotent(target):
    t = target()
    run(t, IMAGE, Instantiate("i1", "a"), Instantiate("i2", "a"), SharedDecl("s", 1, 2))
    region = t.memory("i1")
    t.close()
    t.close()
    assert (t.pool, t.instances, t.modules, t.shared) == (None, {}, {}, {})
    assert observers.accessible_bytes(region.base, region.limit) == 0  # the slot is gone
