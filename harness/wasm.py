"""Real WebAssembly modules for `module` statements: one linear memory plus small accessors.

`module_bytes(decl)` encodes the module in the binary format directly (a few microseconds even
for megabytes of data, where going through WAT text costs ~0.3 s per MiB); `module_wat(decl)`
writes the same module as WAT text, for reading, and `wat2wasm(module_wat(decl))` gives the
very same bytes (a test asserts it). Neither needs a runtime.

The module has exactly one defined memory, exported as `memory`, with the declaration's limits,
and its data segments as *active* segments at constant offsets, in declaration order (so that a
runtime lays later segments over earlier ones, as docs/semantics.md §2 builds the image). The
functions it exports:

| export   | signature          | body                                               |
|----------|--------------------|----------------------------------------------------|
| `load8`  | (addr i32) -> i32  | `i32.load8_u` of byte `addr`                       |
| `store8` | (addr i32, v i32)  | `i32.store8` of the low byte of `v` at `addr`      |
| `grow`   | (delta i32) -> i32 | `memory.grow`: the old size in pages, or -1        |
| `size`   | () -> i32          | `memory.size` in pages                             |

Every access goes through the runtime's own bounds checking (guard pages or explicit checks):
an address at or past the memory's current size traps. Addresses and deltas are *unsigned* i32
in Wasm; `as_i32` converts a Python int in `[0, 2**32)` to the signed form host APIs pass.

A `shared` memory must have a maximum in Wasm, so a shared declaration without `max` is written
with the largest one, 65536 pages, which is what an absent `max` means in the text format.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.ops import ModuleDecl

MEMORY = "memory"
LOAD8 = "load8"
STORE8 = "store8"
GROW = "grow"
SIZE = "size"
EXPORTS = (MEMORY, LOAD8, STORE8, GROW, SIZE)
"""Names every generated module exports."""

U32 = 1 << 32

ACCESSORS_WAT = f"""\
  (func (export "{LOAD8}") (param i32) (result i32)
    local.get 0
    i32.load8_u)
  (func (export "{STORE8}") (param i32 i32)
    local.get 0
    local.get 1
    i32.store8)
  (func (export "{GROW}") (param i32) (result i32)
    local.get 0
    memory.grow)
  (func (export "{SIZE}") (result i32)
    memory.size)"""
"""The accessor functions of every generated module, as WAT (indented for a module body)."""


def memory_limits(decl: ModuleDecl) -> tuple[int, int | None, bool]:
    """`(min, max, shared)` of the memory type; `max` is `None` for an unshared memory without
    one, and 65536 for a shared memory without one (Wasm requires a maximum there)."""
    maximum = decl.max_pages if decl.shared else decl.max
    return decl.min, maximum, decl.shared


# --- WAT text ----------------------------------------------------------------------------


def wat_string(data: bytes) -> str:
    """`data` as a WAT string literal: every byte written as a `\\hh` escape."""
    return '"' + "".join(f"\\{byte:02x}" for byte in data) + '"'


def module_wat(
    decl: ModuleDecl,
    data_text: Callable[[bytes], str] = wat_string,
    accessors: str = ACCESSORS_WAT,
) -> str:
    """The WAT text of the module `decl` declares (see the module docstring).

    `data_text` writes each segment's bytes and `accessors` stands for the accessor functions;
    the defaults give complete WAT. Other values let a caller embed the text in a template
    (the standalone reproducers write `{wat_string(b"...")}` and `{ACCESSORS}` there)."""
    minimum, maximum, shared = memory_limits(decl)
    limits = " ".join(str(n) for n in (minimum, maximum) if n is not None)
    limits += " shared" if shared else ""
    lines = [f";; module {decl.name}", "(module", f'  (memory (export "{MEMORY}") {limits})']
    for segment in decl.data:
        lines.append(f"  (data (i32.const {as_i32(segment.offset)}) {data_text(segment.data)})")
    lines.append(accessors + ")")
    return "\n".join(lines) + "\n"


# --- Binary format -----------------------------------------------------------------------

_I32 = 0x7F
_TYPES = (((_I32,), (_I32,)), ((_I32, _I32), ()), ((), (_I32,)))
"""Function types: 0 = (i32) -> i32, 1 = (i32, i32) -> (), 2 = () -> i32."""

_FUNCTIONS = (
    # (export name, type index, body: no locals, instructions, `end`)
    (LOAD8, 0, bytes([0x00, 0x20, 0x00, 0x2D, 0x00, 0x00, 0x0B])),  # local.get 0; i32.load8_u
    (STORE8, 1, bytes([0x00, 0x20, 0x00, 0x20, 0x01, 0x3A, 0x00, 0x00, 0x0B])),  # i32.store8
    (GROW, 0, bytes([0x00, 0x20, 0x00, 0x40, 0x00, 0x0B])),  # local.get 0; memory.grow 0
    (SIZE, 2, bytes([0x00, 0x3F, 0x00, 0x0B])),  # memory.size 0
)
_EXPORT_FUNC, _EXPORT_MEMORY = 0x00, 0x02


def uleb128(value: int) -> bytes:
    """Unsigned LEB128 encoding of `value >= 0`."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sleb128(value: int) -> bytes:
    """Signed LEB128 encoding of `value`."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def _vector(items: list[bytes]) -> bytes:
    return uleb128(len(items)) + b"".join(items)


def _name(text: str) -> bytes:
    raw = text.encode()
    return uleb128(len(raw)) + raw


def _section(section_id: int, items: list[bytes]) -> bytes:
    content = _vector(items)
    return bytes([section_id]) + uleb128(len(content)) + content


def _memory_type(decl: ModuleDecl) -> bytes:
    minimum, maximum, shared = memory_limits(decl)
    if maximum is None:
        return b"\x00" + uleb128(minimum)
    return (b"\x03" if shared else b"\x01") + uleb128(minimum) + uleb128(maximum)


def _func_type(params: tuple[int, ...], results: tuple[int, ...]) -> bytes:
    return b"\x60" + uleb128(len(params)) + bytes(params) + uleb128(len(results)) + bytes(results)


def _exports() -> list[bytes]:
    """The memory (index 0), then every accessor function, by its index."""
    exports = [_name(MEMORY) + bytes([_EXPORT_MEMORY, 0])]
    for index, (name, _, _) in enumerate(_FUNCTIONS):
        exports.append(_name(name) + bytes([_EXPORT_FUNC, index]))
    return exports


def _data_segment(offset: int, data: bytes) -> bytes:
    """An active segment of memory 0 at constant offset `offset` (flag 0)."""
    return b"\x00\x41" + sleb128(as_i32(offset)) + b"\x0b" + uleb128(len(data)) + data


def module_bytes(decl: ModuleDecl) -> bytes:
    """The binary module `decl` declares (see the module docstring)."""
    sections = [
        _section(1, [_func_type(params, results) for params, results in _TYPES]),
        _section(3, [uleb128(type_index) for _, type_index, _ in _FUNCTIONS]),
        _section(5, [_memory_type(decl)]),
        _section(7, _exports()),
        _section(10, [uleb128(len(body)) + body for _, _, body in _FUNCTIONS]),
    ]
    if decl.data:
        sections.append(_section(11, [_data_segment(s.offset, s.data) for s in decl.data]))
    return b"\x00asm\x01\x00\x00\x00" + b"".join(sections)


def as_i32(value: int) -> int:
    """The signed i32 with the same 32 bits as `value`, which must lie in `[0, 2**32)`.

    Raises `ValueError` outside that range: such an address or delta has no i32 encoding.
    """
    if not 0 <= value < U32:
        raise ValueError(f"{value} does not fit in an unsigned 32-bit Wasm operand")
    return value - U32 if value >= U32 // 2 else value


__all__ = [
    "ACCESSORS_WAT",
    "EXPORTS",
    "GROW",
    "LOAD8",
    "MEMORY",
    "SIZE",
    "STORE8",
    "as_i32",
    "memory_limits",
    "module_bytes",
    "module_wat",
    "sleb128",
    "uleb128",
    "wat_string",
]
