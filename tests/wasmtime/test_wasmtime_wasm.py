"""The generated modules: the binary encoder against `wat2wasm`, and what the modules do."""

import pytest

wasmtime = pytest.importorskip("wasmtime")

from harness import wasm  # noqa: E402
from harness.ops import ModuleDecl, Segment  # noqa: E402

pytestmark = pytest.mark.wasmtime

DECLS = [
    ModuleDecl("plain", 1),
    ModuleDecl("empty", 0, 0),
    ModuleDecl("bounded", 2, 5, data=(Segment(0x10, b"hello"), Segment(0x12, b"LL"))),
    ModuleDecl("shared", 1, 4, shared=True),
    ModuleDecl("shared-unbounded", 3, None, shared=True, data=(Segment(0, b"\x00\xff"),)),
    ModuleDecl("high", 65536, data=(Segment(2**31 + 5, b"x"), Segment(0x7FFFFFFF, b""))),
    ModuleDecl("big", 16, 32, data=(Segment(100, bytes(range(256)) * 600),)),
]


@pytest.mark.parametrize("decl", DECLS, ids=lambda d: d.name)
def test_binary_encoding_is_what_wat2wasm_makes_of_the_wat(decl):
    assert wasm.module_bytes(decl) == bytes(wasmtime.wat2wasm(wasm.module_wat(decl)))


def test_memory_type_follows_the_declaration():
    engine = wasmtime.Engine()
    for decl, limits in [
        (ModuleDecl("a", 1), (1, None)),
        (ModuleDecl("b", 2, 7), (2, 7)),
        (ModuleDecl("c", 1, None, shared=True), (1, 65536)),
    ]:
        module = wasmtime.Module(engine, wasm.module_bytes(decl))
        exports = {e.name: e.type for e in module.exports}
        assert sorted(exports) == sorted(wasm.EXPORTS)
        memory = exports[wasm.MEMORY]
        assert (memory.limits.min, memory.limits.max) == limits
        assert memory.is_shared == decl.shared


def test_accessors_read_write_grow_and_trap_past_the_end():
    engine = wasmtime.Engine()
    decl = ModuleDecl("m", 1, 3, data=(Segment(0x10, b"hi"), Segment(0x11, b"o")))
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, wasm.module_bytes(decl))
    exports = wasmtime.Instance(store, module, []).exports(store)
    load8, store8 = exports[wasm.LOAD8], exports[wasm.STORE8]
    assert [load8(store, 0x10), load8(store, 0x11)] == [ord("h"), ord("o")]  # later segment wins
    store8(store, 5, 0x1AB)
    assert load8(store, 5) == 0xAB
    assert exports[wasm.SIZE](store) == 1
    assert exports[wasm.GROW](store, 2) == 1
    assert exports[wasm.GROW](store, 1) == -1
    with pytest.raises(wasmtime.Trap) as trap:
        load8(store, 3 * 65536)
    assert trap.value.trap_code == wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS
    store.close()


@pytest.mark.parametrize("value", [0, 1, 63, 64, 127, 128, 624485, 2**32 - 1])
def test_uleb128_round_trips(value):
    raw = wasm.uleb128(value)
    assert sum((b & 0x7F) << (7 * i) for i, b in enumerate(raw)) == value
    assert all(b & 0x80 for b in raw[:-1]) and not raw[-1] & 0x80


@pytest.mark.parametrize("value, raw", [
    (0, b"\x00"), (-1, b"\x7f"), (63, b"\x3f"), (64, b"\xc0\x00"), (-64, b"\x40"),
    (-65, b"\xbf\x7f"), (-(2**31), b"\x80\x80\x80\x80\x78"),
])
def test_sleb128_known_encodings(value, raw):
    assert wasm.sleb128(value) == raw


def test_as_i32_wraps_unsigned_operands_and_refuses_the_rest():
    wrapped = [wasm.as_i32(v) for v in (0, 2**31 - 1, 2**31, 2**32 - 1)]
    assert wrapped == [0, 2**31 - 1, -(2**31), -1]
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match="32-bit"):
            wasm.as_i32(bad)
