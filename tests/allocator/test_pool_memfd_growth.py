"""A whole pool in `growth="memfd"` mode: SIGBUS-safe bounds, resets, purge, shutdown."""

from __future__ import annotations

import pytest
from alloc_probes import accessible, extension_memfds, image_memfds, mappings_of

from allocator import OutOfBounds
from allocator.units import KiB

WASM_PAGE = 64 * KiB


@pytest.mark.parametrize("style", ["static", "dynamic"])
def test_accesses_stop_at_the_size_where_the_file_ends(make_engine, style: str) -> None:
    engine = make_engine(growth="memfd", style=style)
    memory = engine.compile("m", 1, 8).instantiate().memory
    for _ in range(3):
        size = memory.size_bytes
        assert accessible(memory.base, memory.limit) == size
        memory.write(size - 1, b"\x01")
        with pytest.raises(OutOfBounds):  # past the file's end: would be SIGBUS
            memory.read(size, 1)
        with pytest.raises(OutOfBounds):
            memory.write(size, b"\x01")
        assert memory.grow(2) == size // WASM_PAGE
        assert memory.read(size, 1) == b"\0"


def test_reuse_resets_contents_and_size(make_engine) -> None:
    engine = make_engine(memories=1, growth="memfd", keep_resident=8 * KiB)
    module = engine.compile("m", 1, 8, data=[(4, b"data")])
    for _ in range(3):
        instance = module.instantiate()
        memory = instance.memory
        assert memory.read(0, 8) == b"\0\0\0\0data" and memory.size() == 1
        assert accessible(memory.base, memory.limit) == WASM_PAGE
        memory.write(0, b"\xff" * 16)
        memory.grow(3)
        memory.write(3 * WASM_PAGE, b"ext")
        instance.deallocate()


def test_switching_modules_remaps_and_drop_purges(make_engine) -> None:
    engine = make_engine(memories=1, growth="memfd")
    memfds = image_memfds()
    a = engine.compile("a", 1, data=[(0, b"AAAA")])
    b = engine.compile("b", 2)
    instance = a.instantiate()
    instance.deallocate()
    inode = a.image.inode
    a.drop()
    assert mappings_of(inode) == 0 and image_memfds() == memfds
    instance = b.instantiate()
    assert instance.memory.read(0, 4) == bytes(4) and instance.memory.size() == 2
    assert accessible(instance.memory.base, instance.memory.limit) == 2 * WASM_PAGE


def test_extension_memfds_are_closed_with_the_engine(make_engine) -> None:
    before = extension_memfds()
    engine = make_engine(memories=3, growth="memfd")
    module = engine.compile("m", 1)
    instances = [module.instantiate() for _ in range(3)]
    assert extension_memfds() == before + 3
    instances[0].deallocate()
    engine.close()
    assert extension_memfds() == before
