"""The formatter's canonical forms, and parse/format round trips of arbitrary valid programs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from harness import ops, text, validate
from harness.ops import PoolSpec, Program

from .strategies import literals, programs, sizes


@pytest.mark.parametrize(
    "value, written",
    [
        (0, "0"),
        (1, "1"),
        (1000, "1000"),
        (1024, "1KiB"),
        (1536, "1536"),
        (4096, "4KiB"),
        (65536, "1p"),
        (196608, "3p"),
        (1 << 20, "1MiB"),
        (3 << 20, "3MiB"),
        (1 << 30, "1GiB"),
        (1 << 32, "4GiB"),
        ((1 << 32) - 1, "4294967295"),
    ],
)
def test_format_size(value: int, written: str) -> None:
    assert text.format_size(value) == written


@pytest.mark.parametrize(
    "data, written",
    [
        (b"", '""'),
        (b"hello", '"hello"'),
        (b'a"b\\c\nd\te', r'"a\"b\\c\nd\te"'),
        (b"\x00\xff\x10", "hex:00ff10"),
        (b"hello\x00", "hex:68656c6c6f00"),
        (b"\xcc" * 7, "hex:cccccccccccccc"),
        (b"\xcc" * 8, "fill:0xcc*8"),
        (b"a" * 8, "fill:0x61*8"),
        (b"\x00" * 65536, "fill:0x00*65536"),
    ],
)
def test_format_literal(data: bytes, written: str) -> None:
    assert text.format_literal(data) == written


@pytest.mark.parametrize(
    "op, written",
    [
        (ops.ModuleDecl("a", 1, 4, True, (ops.Segment(16, b"hi"), ops.Segment(0, b"\1"))),
         'module a min=1 max=4 shared data=16:"hi" data=0:hex:01'),
        (ops.ModuleDecl("a", 2, result=ops.Error("too-large")),
         "module a min=2 => error too-large"),
        (ops.Instantiate("i", "a", ops.Slot(1)), "instantiate i a => slot 1"),
        (ops.Write("i", 65536, b"\xcc" * 4096), "write i 1p fill:0xcc*4096"),
        (ops.Read("i", 16, 2), "read i 16 2"),
        (ops.Grow("i", 1, ops.Number(-1)), "grow i 1 => -1"),
        (ops.Expect("zero", ("i", 0, 4096), True), "expect zero i 0 4KiB == true"),
        (ops.Expect("resident", ("i", 0, 65536), 16), "expect resident i 0 1p == 16"),
        (ops.Expect("accessible", ("i",), 131072), "expect accessible i == 2p"),
        (ops.Expect("memfds", (), 0), "expect memfds == 0"),
    ],
)
def test_format_op(op: object, written: str) -> None:
    assert text.format_op(op) == written  # type: ignore[arg-type]


def test_pool_prints_given_keys_in_order_then_other_changes() -> None:
    pool = PoolSpec(guard=0, memories=4, seed=3, given=("guard", "memories"))
    assert text.format_program(Program(pool=pool)) == "version 1\npool guard=0 memories=4 seed=3\n"


def test_comments_are_re_emitted_above_their_statement() -> None:
    program = Program(
        (ops.ModuleDecl("a", 1), ops.ModuleDecl("b", 1)),
        comments=((1, ("two", "", " indented")), (0, ("one\nline two  ",)), (9, ("end",))),
    )
    assert text.format_program(program) == (
        "version 1\n# one\n# line two\nmodule a min=1\n"
        "# two\n#\n#  indented\nmodule b min=1\n# end\n"
    )


def test_largest_inline_literal_fits_a_line() -> None:
    data = bytes(range(256)) * (validate.MAX_INLINE_BYTES // 256)
    program = Program((ops.ModuleDecl("a", 1), ops.Instantiate("i", "a"), ops.Write("i", 0, data)))
    assert text.parse(text.format_program(program)) == program


def _assert_round_trip(program: Program) -> None:
    validate.check(program)
    written = text.format_program(program)
    parsed = text.parse(written)
    assert parsed == program
    assert parsed.comments == program.comments
    assert text.format_program(parsed) == written


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_round_trip(program: Program) -> None:
    _assert_round_trip(program)


@settings(max_examples=100, deadline=None)
@given(literals)
def test_literal_round_trip(data: bytes) -> None:
    module = text.parse(f"version 1\nmodule a min=2 data=0:{text.format_literal(data)}\n")
    assert module.statements[0].data[0].data == data  # type: ignore[attr-defined]


@settings(max_examples=100, deadline=None)
@given(sizes)
def test_size_round_trip(value: int) -> None:
    pool = text.parse(f"version 1\npool max-memory={text.format_size(value)}\n").pool
    assert pool is not None and pool.max_memory == value
