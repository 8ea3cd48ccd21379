"""The model told a target's `Expectations`: each field changes exactly the rule it names, and
the defaults are docs/semantics.md (the whole corpus checks those on the reference target)."""

import dataclasses

import pytest

from harness.expectations import MEMORY_RESERVATION_FOR_GROWTH, SEMANTICS, Expectations, expectations_of
from harness.model import Model
from harness.model.index import IndexModel, ShardedIndexModel, index_model
from harness.ops import Error, Expect, Faults, GiB, Number, PoolSpec, Slot, without_results
from harness.targets import make_target
from harness.text import parse


def predict(text: str, **flags: object) -> list[object]:
    """What the model says each statement of `text` (after `version 1`) produces, told `flags`."""
    program = parse("version 1\n" + text.strip() + "\n")
    model = Model(program.pool_spec, Expectations(**flags))
    return [model.observe(op) if isinstance(op, Expect) else model.apply(without_results(op))
            for op in program.statements]


# --- the mechanism ---------------------------------------------------------------------------


def test_defaults_are_the_semantics_and_declare_no_difference():
    assert SEMANTICS == Expectations() and SEMANTICS.differences() == {}
    assert Expectations(index_shards=2, purge_flushes_queue=False).differences() == {
        "purge_flushes_queue": False, "index_shards": 2}


def test_a_target_without_expectations_gets_the_semantics():
    assert expectations_of(make_target("reference"), PoolSpec()) is SEMANTICS
    assert expectations_of(object(), PoolSpec()) is SEMANTICS


def test_a_target_must_declare_an_expectations_value():
    class Wrong:
        def expectations(self, pool):
            return {"index_shards": 2}

    with pytest.raises(TypeError, match="not Expectations"):
        expectations_of(Wrong(), PoolSpec())


@pytest.mark.parametrize("bad", [dict(index_shards=0), dict(shared_reservation=-1)])
def test_impossible_values_are_refused(bad):
    with pytest.raises(ValueError):
        Expectations(**bad)


def test_every_field_is_documented():
    """Each field has a docstring in the source saying what Wasmtime does (attribute
    docstrings are not kept at runtime, so the source is read)."""
    import inspect

    source = inspect.getsource(Expectations)
    for f in dataclasses.fields(Expectations):
        after = source.split(f"    {f.name}:", 1)[1].split("\n", 2)[1]
        assert after.strip().startswith('"""'), f"{f.name} has no docstring"


# --- one test per field ----------------------------------------------------------------------

EMPTY_RESET = """
pool memories=2 max-memory=1MiB guard=64KiB decommit-batch=3
module z min=0 max=3
instantiate i z
deallocate i
instantiate j z
"""


def test_queue_empty_decommits_keeps_a_slot_with_nothing_to_decommit_queued():
    assert predict(EMPTY_RESET)[-1] == Slot(0)
    assert predict(EMPTY_RESET, queue_empty_decommits=True)[-1] == Slot(1)


DROP_QUEUED = """
pool memories=2 max-memory=1MiB guard=64KiB decommit-batch=2
module a min=1 data=0:"a"
module b min=1
instantiate i a
deallocate i
drop a
expect image-mappings a == 0
expect memfds == 0
instantiate j b
deallocate j
expect image-mappings a == 0
expect memfds == 0
instantiate k b
expect memfds == 0
instantiate l b
expect memfds == 0
"""


def test_without_the_flush_a_dropped_module_keeps_its_queued_slot_and_memfd():
    assert predict(DROP_QUEUED)[5:] == [0, 0, Slot(1), None, 0, 0, Slot(0), 0, Slot(1), 0]
    # j's deallocation fills the batch: slot 0 becomes warm (affine to the dead `a`, still
    # mapping its image), then slot 1 (affine to b); k takes b's slot, so a's memfd stays open
    # until l takes slot 0 and replaces the image.
    assert predict(DROP_QUEUED, purge_flushes_queue=False)[5:] == [1, 1, Slot(1), None, 1, 1, Slot(1), 1, Slot(0), 0]


KEEP_IMAGE = """
pool memories=1 max-memory=1MiB guard=64KiB keep-resident=64KiB
module a min=2 data=0x1000:fill:0x07*4096
instantiate i a
touch i 0 128KiB
deallocate i
instantiate i a
expect resident i 64KiB 4KiB == 0
touch i 0 128KiB
"""


def test_reset_madvises_image_faults_image_pages_and_memsets_past_keep_resident():
    # §4: [0, 64 KiB) written back (image page included), the rest madvised: 16 faults.
    assert predict(KEEP_IMAGE)[-2:] == [0, Faults(16)]
    # 32..36: [0, 4 KiB) memset, the image page madvised, 60 KiB memset after the image (up to
    # 68 KiB), the rest madvised: the image page and [68 KiB, 128 KiB) fault, 1 + 15.
    assert predict(KEEP_IMAGE, reset_madvises_image=True)[-2:] == [1, Faults(16)]
    whole = KEEP_IMAGE.replace("keep-resident=64KiB", "keep-resident=128KiB")
    assert predict(whole, reset_madvises_image=True)[-1] == Faults(1)


def test_reset_madvises_image_counts_two_regions_against_the_batch():
    text = """
pool memories=2 max-memory=1MiB guard=64KiB keep-resident=8KiB decommit-batch=2
module a min=1 data=0:"a"
instantiate i a
deallocate i
instantiate j a
"""
    assert predict(text)[-1] == Slot(1)  # one region: queued, so a cold slot
    assert predict(text, reset_madvises_image=True)[-1] == Slot(0)  # two: decommitted at once


ZERO_DATA = """
pool memories=1 max-memory=1MiB guard=64KiB
module z min=1 data=100:hex:00
instantiate i z
expect memfds == 0
expect resident i 0 4KiB == 0
read i 100 1
"""


def test_zero_only_segments_make_an_all_zero_image():
    assert predict(ZERO_DATA)[2:4] == [0, 0]
    assert predict(ZERO_DATA, zero_only_segments_make_image=True)[2:] == [1, 1, predict(ZERO_DATA)[-1]]


SPARSE_EDGE = """
pool memories=1 max-memory=17MiB guard=64KiB
module s min=256 data=0:"a" data=0xfffffe:"z"
instantiate i s
expect memfds == 0
"""


def test_sparse_rule_on_extent_measures_the_segments_not_the_widened_image():
    assert predict(SPARSE_EDGE)[-1] == 0  # widened to 16 MiB: refused
    assert predict(SPARSE_EDGE, sparse_rule_on_extent=True)[-1] == 1  # extent 16 MiB - 1: kept
    far = SPARSE_EDGE.replace("min=256", "min=257").replace("0xfffffe", "0x1001000")
    leading_zeros = far.replace('data=0:"a"', 'data=0:hex:00 data=0x1000000:"a"')
    assert predict(leading_zeros)[-1] == 1  # trimmed to 2 pages: dense
    assert predict(leading_zeros, sparse_rule_on_extent=True)[-1] == 0  # extent 16 MiB + 4 KiB


SHRINK = """
pool memories=1 max-memory=1MiB guard=0 warm-slots=0
module big min=4 max=16
module small min=1 max=16
instantiate i big
grow i 2
deallocate i
instantiate i small
expect accessible i == 0
"""


def test_static_keeps_accessible_like_a_dynamic_memory():
    assert predict(SHRINK)[-1] == 65536
    assert predict(SHRINK, static_keeps_accessible=True)[-1] == 6 * 65536


def test_size_checked_before_shared():
    text = "pool memories=1 max-memory=1MiB guard=64KiB\nmodule s min=20 max=40 shared"
    assert predict(text) == [Error("shared-unsupported")]
    assert predict(text, size_checked_before_shared=True) == [Error("too-large")]


def test_shared_reservation_bounds_standalone_growth():
    text = """
pool memories=1 max-memory=1MiB guard=64KiB
shared s min=1 max=64
shared t min=17 max=200
shared-grow s 63
shared-grow s 15
shared-grow t 183
"""
    assert predict(text)[2:] == [Number(1), Number(-1), Number(17)]
    assert predict(text, shared_reservation=1 << 20)[2:] == [Number(-1), Number(1), Number(17)]


def test_shared_reservation_past_the_minimum_adds_the_growth_reserve():
    model = Model(PoolSpec(), Expectations(shared_reservation=1 << 20))
    from harness.ops import SharedDecl

    model.apply(SharedDecl("s", 17, 65536))
    assert model.shared["s"].max == (17 * 65536 + MEMORY_RESERVATION_FOR_GROWTH) // 65536
    assert MEMORY_RESERVATION_FOR_GROWTH == 2 * GiB


# --- the sharded index -----------------------------------------------------------------------


def test_one_shard_is_the_plain_index():
    assert isinstance(index_model(PoolSpec(memories=200)), IndexModel)
    with pytest.raises(ValueError, match="reuse-affinity"):
        index_model(PoolSpec(memories=200, strategy="random"), shards=2)


def test_shards_split_the_slots_and_the_warm_budget():
    ix = ShardedIndexModel(PoolSpec(memories=201, warm_slots=5), shards=2)
    assert [(s.first, s.end, s.warm_limit) for s in ix.shards] == [(0, 101, 3), (101, 201, 2)]
    tiny = ShardedIndexModel(PoolSpec(memories=3, warm_slots=1), shards=16)
    assert [(s.first, s.end) for s in tiny.shards] == [(0, 1), (1, 2), (2, 3)]


def test_each_shard_spends_only_its_own_warm_budget():
    """warm-slots 2 over 2 shards: one warm slot is the home shard's whole budget, so the next
    module evicts it instead of taking a cold slot (one index would take cold slot 1)."""
    pool = PoolSpec(memories=128, warm_slots=2)
    for ix, second in ((IndexModel(pool), 1), (ShardedIndexModel(pool, shards=2), 0)):
        assert ix.pick("a") == 0
        ix.release(0, "a")
        assert ix.pick("b") == second


def test_a_full_home_shard_overflows_into_the_next_and_purges_visit_all():
    ix = ShardedIndexModel(PoolSpec(memories=4, warm_slots=4), shards=2)
    assert [ix.pick("a") for _ in range(5)] == [0, 1, 2, 3, None]
    for slot in (3, 0, 2):
        ix.release(slot, "a")
    assert ix.affine("a") == [0, 3, 2]
    assert [ix.take_affine("a") for _ in range(4)] == [0, 2, 3, None]


def test_the_model_with_shards_picks_as_wasmtime_does():
    text = """
pool memories=128 max-memory=64KiB guard=4KiB warm-slots=2
module a min=1
module b min=1
module c min=1
instantiate i a
deallocate i
instantiate j b
deallocate j
instantiate k c
"""
    assert predict(text)[3::2] == [Slot(0), Slot(1), Slot(0)]
    assert predict(text, index_shards=2)[3::2] == [Slot(0), Slot(0), Slot(0)]
