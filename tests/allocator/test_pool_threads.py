"""One pool used from many threads at once: every instance sees a pristine memory."""

from __future__ import annotations

import random

import pytest
from alloc_probes import run_threads

from allocator import PoolExhausted
from allocator.config import STRATEGIES
from allocator.units import KiB

WASM_PAGE = 64 * KiB


@pytest.mark.parametrize("growth", ["mprotect", "memfd"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_concurrent_instances_never_see_each_other(make_engine, strategy: str,
                                                   growth: str) -> None:
    engine = make_engine(memories=6, strategy=strategy, growth=growth, decommit_batch=3,
                         keep_resident=8 * KiB, style="dynamic")
    modules = [engine.compile(f"m{n}", 1, 3, data=[(n * 1000, f"module {n}".encode())])
               for n in range(3)]
    modules.append(engine.compile("plain", 1, 3))
    errors: list[str] = []

    def churn(me: int) -> None:
        rng = random.Random(me)
        for round_ in range(40):
            which = rng.randrange(len(modules))
            try:
                instance = modules[which].instantiate()
            except PoolExhausted:
                continue
            memory = instance.memory
            expected = bytearray(WASM_PAGE)
            for offset, data in modules[which].segments:
                expected[offset:offset + len(data)] = data
            if memory.read(0, WASM_PAGE) != expected:
                errors.append(f"thread {me} round {round_}: slot {instance.slot} not pristine")
            memory.grow(rng.randrange(3))
            memory.write(rng.randrange(memory.size_bytes - 8), b"scribble")
            instance.deallocate()

    run_threads(churn, 8)
    assert errors == []
    engine.pool.index.check()
    for module in modules:
        module.drop()
    assert all(engine.pool.image_slot(i) is None or engine.pool.image_slot(i).image is None
               for i in range(6))
