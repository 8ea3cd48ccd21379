"""The expectations the wasmtime target declares are the installed release's behaviour: each
declared field is both sufficient (the model told it predicts what Wasmtime did) and necessary
(reset alone, the model predicts something else) on the probe that measures it; and random
programs agree with the model told the expectations."""

import dataclasses
import random

import pytest

pytest.importorskip("wasmtime")

from harness.expectations import SEMANTICS  # noqa: E402
from harness.matrix import PROBES, predict_probe, probe_program, run_probe  # noqa: E402
from harness.ops import GiB, KiB, MiB, PoolSpec  # noqa: E402
from harness.targets import make_target  # noqa: E402
from harness.targets.wasmtime_target import wasmtime_expectations  # noqa: E402
from harness.text import format_op  # noqa: E402
from wasmtime_differential import differential  # noqa: E402

pytestmark = pytest.mark.wasmtime

SMALL = PoolSpec(memories=4, max_memory=1 * MiB, guard=0)


@pytest.mark.parametrize("version, declared", [
    ("32.0.0", {"reset_madvises_image", "static_keeps_accessible"}),
    ("36.0.0", {"reset_madvises_image", "static_keeps_accessible"}),
    ("36.0.7", {"reset_madvises_image"}),
    ("37.0.0", {"queue_empty_decommits", "static_keeps_accessible"}),
    ("40.0.0", {"queue_empty_decommits", "static_keeps_accessible"}),
    ("42.0.2", {"queue_empty_decommits"}),
    ("43.0.0", {"queue_empty_decommits", "static_keeps_accessible"}),
    ("44.0.0", {"queue_empty_decommits"}),
    ("50.0.1", {"queue_empty_decommits"}),
])
def test_releases_declare_what_their_source_and_measurements_say(version, declared):
    always = {"purge_flushes_queue", "zero_only_segments_make_image", "sparse_rule_on_extent",
              "size_checked_before_shared", "shared_reservation"}
    assert set(wasmtime_expectations(SMALL, version).differences()) == always | declared


def test_static_keeps_accessible_needs_guard_zero_and_a_small_reservation():
    old = "40.0.0"
    assert wasmtime_expectations(SMALL, old).static_keeps_accessible
    assert not wasmtime_expectations(SMALL.replace(guard=4 * KiB), old).static_keeps_accessible
    assert not wasmtime_expectations(SMALL.replace(reservation=4 * GiB), old).static_keeps_accessible
    assert not wasmtime_expectations(SMALL.replace(style="dynamic"), old).static_keeps_accessible


def test_shards_from_48_and_128_slots():
    big = SMALL.replace(memories=128)
    assert wasmtime_expectations(big, "47.0.1").index_shards == 1
    assert wasmtime_expectations(SMALL, "50.0.1").index_shards == 1
    assert wasmtime_expectations(big, "50.0.1").index_shards >= 1  # one per CPU, at most 16


PROBED = {
    "queue_empty_decommits": "nothing to decommit, decommit-batch 3: next instance's slot",
    "purge_flushes_queue": "drop while its slot is queued (batch 2): image mappings, memfds left",
    "reset_madvises_image": "image page below keep-resident: faults on reuse",
    "zero_only_segments_make_image": "segment of zero bytes only: memfds",
    "sparse_rule_on_extent": 'segments 0:"a" and 0xfffffe:"z" (extent 16 MiB - 1): memfds',
    "static_keeps_accessible": "static, guard 0: accessible pages after a shrinking reuse",
    "index_shards": "128 slots, warm-slots 2, modules a, b, c in turn: slots",
    "size_checked_before_shared": "shared module too large for the pool",
    "shared_reservation": "standalone shared memory min 1 max 64, reservation 1 MiB: grows to",
}
"""The probe (`harness.matrix.PROBES`) that measures each field."""


def test_every_field_has_a_probe():
    names = {p.name for p in PROBES}
    assert set(PROBED) == {f.name for f in dataclasses.fields(SEMANTICS)}
    assert set(PROBED.values()) <= names


@pytest.mark.parametrize("flag", sorted(PROBED))
def test_a_declared_difference_is_sufficient_and_necessary(flag):
    probe = next(p for p in PROBES if p.name == PROBED[flag])
    declared = make_target("wasmtime").expectations(probe_program(probe).pool_spec)
    measured = run_probe(probe)
    assert predict_probe(probe, declared) == measured
    if flag not in declared.differences():
        assert predict_probe(probe, SEMANTICS) == measured  # the release does what §1-§7 say
        return
    reset = dataclasses.replace(declared, **{flag: getattr(SEMANTICS, flag)})
    assert predict_probe(probe, reset) != measured


def pools(seed: int) -> PoolSpec:
    """A random pool the wasmtime target runs: small, or large enough to be sharded."""
    rng = random.Random(seed)
    return PoolSpec(
        memories=rng.choice([1, 2, 3, 5, 128, 131]),
        max_memory=rng.choice([64 * KiB, 256 * KiB, 1 * MiB]),
        keep_resident=rng.choice([0, 4 * KiB, 64 * KiB, 256 * KiB]),
        guard=rng.choice([0, 64 * KiB]),
        warm_slots=rng.randint(0, 4),
        decommit_batch=rng.randint(1, 3),
    )


@pytest.mark.parametrize("seed", range(24))
def test_random_programs_agree_with_the_model_told_the_expectations(seed):
    spec = pools(seed)
    ops, mismatch = differential(spec, seed, steps=50)
    assert mismatch is None, f"{spec}\n{mismatch}\n" + "\n".join(map(format_op, ops))


def test_a_dropped_modules_memfd_lives_until_another_module_takes_its_queued_slot():
    """`purge_flushes_queue` off, beyond the probe: after the flush the slot is warm with the
    dead module's image; the memfd closes only when another module's instance takes it."""
    from harness.matrix import drive
    from harness.model import Model
    from harness.ops import Expect, without_results
    from harness.text import parse

    program = parse("""version 1
pool memories=2 max-memory=1MiB guard=64KiB decommit-batch=2
module a min=1 data=0:"a"
module b min=1
instantiate i a
deallocate i
drop a
instantiate j b
deallocate j
expect memfds == 0
instantiate k b
expect memfds == 0
instantiate l b
expect memfds == 0
""")
    measured = drive(program)
    model = Model(program.pool_spec, make_target("wasmtime").expectations(program.pool_spec))
    predicted = [model.observe(op) if isinstance(op, Expect) else model.apply(without_results(op))
                 for op in program.statements]
    assert measured == predicted
    assert [str(v) for v in measured[-5:]] == ["1", "Slot(index=1)", "1", "Slot(index=0)", "0"]
