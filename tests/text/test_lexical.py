"""Lexical rules of docs/ops-format.md: numbers, units, literals, names, comments, spacing."""

from __future__ import annotations

import pytest

from harness import text, validate
from harness.ops import Expect, Program, Read, Write

from .helpers import HEADER, PRELUDE, assert_fails, last

P = PRELUDE.count("\n") + 2  # line of the statement after HEADER + PRELUDE


@pytest.mark.parametrize(
    "written, value",
    [
        ("0", 0),
        ("17", 17),
        ("007", 7),
        ("0x10", 16),
        ("0xFF", 255),
        ("0xfF", 255),
        ("64KiB", 65536),
        ("1MiB", 1 << 20),
        ("1GiB", 1 << 30),
        ("3p", 196608),
        ("0x10KiB", 16384),
        ("0p", 0),
        ("4GiB", 1 << 32),
    ],
)
def test_numbers_and_units(written: str, value: int) -> None:
    assert last(f"read i1 0 {written}") == Read("i1", 0, value)


@pytest.mark.parametrize(
    "written, column, fragment",
    [
        ("64kib", 3, "did you mean `64KiB`?"),
        ("64KB", 3, "did you mean `64KiB`?"),
        ("1M", 2, "did you mean `1MiB`?"),
        ("2pages", 2, "did you mean `2p`?"),
        ("12abc", 3, "unknown unit `abc`"),
        ("0x", 1, "needs hex digits"),
        ("0X10", 1, "expected a number"),
        ("+1", 1, "expected a number"),
        ("1.5", 1, "expected a number"),
        ("1" * 40, 1, "too large"),
    ],
)
def test_bad_numbers(written: str, column: int, fragment: str) -> None:
    assert_fails(HEADER + PRELUDE + f"read i1 {written} 1\n", P, 9 + column - 1, fragment)


def test_counts_take_no_unit() -> None:
    assert_fails(HEADER + PRELUDE + "grow i1 1p\n", P, 9, "write a plain number")
    assert_fails(HEADER + "module a min=1p\n", 2, 14, "count")


@pytest.mark.parametrize(
    "literal, data",
    [
        ('"hello"', b"hello"),
        ('""', b""),
        ('"a b # c"', b"a b # c"),
        (r'"\\ \" \n \t"', b'\\ " \n \t'),
        (r'"\x00\xff\x41"', b"\x00\xffA"),
        ('"é"', "é".encode()),
        ("hex:00ff10", b"\x00\xff\x10"),
        ("hex:ABcd", b"\xab\xcd"),
        ("hex:", b""),
        ("fill:0xcc*4", b"\xcc" * 4),
        ("fill:7*3", b"\x07" * 3),
        ("fill:0*0", b""),
        ("fill:0xcc*1KiB", b"\xcc" * 1024),
    ],
)
def test_byte_literals(literal: str, data: bytes) -> None:
    assert last(f"write i1 0 {literal}") == Write("i1", 0, data)


@pytest.mark.parametrize(
    "literal, column, fragment",
    [
        (r'"a\qb"', 3, "unknown escape `\\q`"),
        (r'"a\rb"', 3, "write `\\x0d`"),
        (r'"\x4"', 2, "two hex digits"),
        ('"abc', 1, "unterminated string"),
        ('"abc"x', 6, "after the closing quote"),
        ("hex:abc", 5, "odd number of hex digits"),
        ("hex:0g", 6, "`g` is not a hex digit"),
        ("fill:0xcc", 1, "fill:BYTE*COUNT"),
        ("fill:0x100*2", 6, "not a byte"),
        ("fill:1*-2", 8, "negative"),
        ("fill:1*65MiB", 1, "64 MiB"),
        ("hello", 1, "expected a byte literal"),
        ("'hi'", 1, "expected a byte literal"),
    ],
)
def test_bad_literals(literal: str, column: int, fragment: str) -> None:
    assert_fails(HEADER + PRELUDE + f"write i1 0 {literal}\n", P, 12 + column - 1, fragment)


def test_fill_is_measured_before_it_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_fails(HEADER + PRELUDE + "write i1 0 fill:0*4GiB\n", P, 12, "64 MiB")
    monkeypatch.setattr(validate, "MAX_PROGRAM_LITERALS", 1 << 20)
    many = "".join("write i1 0 fill:0*300KiB\n" for _ in range(4))
    assert_fails(HEADER + PRELUDE + many, P + 3, 12, "add up to more than")


@pytest.mark.parametrize("name", ["a", "i1", "mod-a", "x_y", "z9-_"])
def test_names(name: str) -> None:
    assert last(f"module {name}x min=1").name == f"{name}x"


@pytest.mark.parametrize(
    "name, fragment",
    [("A", "did you mean `a`?"), ("1a", "expected a name"), ("_a", "expected a name"),
     ("a.b", "expected a name"), ("é", "expected a name")],
)
def test_bad_names(name: str, fragment: str) -> None:
    assert_fails(HEADER + f"module {name} min=1\n", 2, 8, fragment)


def test_spacing_tabs_crlf_and_bom() -> None:
    source = "\ufeffversion 1\r\n\tmodule   a\tmin=1  \r\n\n   \n"
    program = text.parse(source)
    assert [op.kind for op in program.statements] == ["module"]
    assert text.parse(source.encode()).statements == program.statements


def test_comments_attach_to_the_next_statement() -> None:
    source = (
        "# header\nversion 1  # on version\n# above pool\npool memories=2\n\n"
        "#  indented\nmodule a min=1 # trailing\n#\nmodule b min=1\n# the end\n"
    )
    program = text.parse(source)
    assert program.comments == (
        (0, ("header", "on version", "above pool", " indented", "trailing")),
        (1, ("",)),
        (2, ("the end",)),
    )


def test_hash_inside_a_string_is_not_a_comment() -> None:
    assert last('write i1 0 "#x" # y') == Write("i1", 0, b"#x")


def test_lines_are_numbered_from_one() -> None:
    program = text.parse(HEADER + "\n# c\n" + PRELUDE + "size i1\n")
    assert [op.line for op in program.statements] == [4, 5, 6]


def test_expect_values() -> None:
    assert last("expect zero i1 0 4KiB == false") == Expect("zero", ("i1", 0, 4096), False)
    assert last("expect accessible i1 == 2p") == Expect("accessible", ("i1",), 131072)


def test_program_records_its_source() -> None:
    assert text.parse(HEADER, source="x.ops").source == "x.ops"
    assert text.parse(HEADER) == Program()
