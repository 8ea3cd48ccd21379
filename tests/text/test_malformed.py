"""Malformed files of every kind: each fails at the right line and column, with a useful reason."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import text
from harness.errors import InvalidProgram
from harness.ops import Program

from .helpers import HEADER, PRELUDE, assert_fails, failure
from .strategies import programs

H, P = HEADER, HEADER + PRELUDE  # P's next statement is on line 4

MALFORMED = [
    # (name, source, line, column, fragment of the reason)
    ("empty file", "", 1, 1, "empty file"),
    ("blank file", "  \n\t\n", 1, 1, "empty file"),
    ("only comments", "# nothing\n", 1, 1, "missing `version 1`"),
    ("missing version", "module a min=1\n", 1, 1, "missing `version 1`"),
    ("version not first", "\n  pool memories=1\nversion 1\n", 2, 3, "missing `version 1`"),
    ("wrong version", "version 2\n", 1, 9, "unsupported version 2"),
    ("version without number", "version\n", 1, 8, "expected the format version"),
    ("version twice", H + "version 1\n", 2, 1, "given once, at line 1"),
    ("version with extra", "version 1 2\n", 1, 11, "unexpected `2`"),
    ("unknown op", H + "instanciate i1 a\n", 2, 1, "did you mean `instantiate`?"),
    ("unknown op, no guess", H + "frobnicate\n", 2, 1, "unknown statement `frobnicate`"),
    ("duplicate pool",
     H + "pool memories=1\npool guard=0\n", 3, 1, "merge it into the one at line 2"),
    ("pool after op", H + "module a min=1\npool memories=1\n", 3, 1, "move it above the first op"),
    ("unknown pool key", H + "pool memorys=2\n", 2, 6, "did you mean `memories`?"),
    ("pool key with _", H + "pool max_memory=1MiB\n", 2, 6, "did you mean `max-memory`?"),
    ("pool key twice", H + "pool guard=0 guard=1\n", 2, 14, "given twice"),
    ("pool key without value", H + "pool guard\n", 2, 6, "takes a value: `guard=...`"),
    ("pool enum misspelt",
     H + "pool strategy=reuse_affinity\n", 2, 6, "did you mean `reuse-affinity`?"),
    ("pool negative", H + "pool memories=-1\n", 2, 6, "memories -1 is impossible"),
    ("pool too large", H + "pool max-memory=5GiB\n", 2, 6, "max-memory 5368709120 is impossible"),
    ("pool bad unit", H + "pool guard=2KB\n", 2, 13, "did you mean `2KiB`?"),
    ("pool count with unit", H + "pool memories=1p\n", 2, 15, "plain number"),
    ("bad literal", P + "write i1 0 hello\n", 4, 12, "expected a byte literal"),
    ("bad escape", P + r'write i1 0 "\z"' + "\n", 4, 13, "unknown escape `\\z`"),
    ("unterminated string", P + 'write i1 0 "abc\n', 4, 12, "unterminated string"),
    ("odd hex", P + "write i1 0 hex:123\n", 4, 16, "odd number of hex digits"),
    ("missing operand", P + "read i1 0\n", 4, 10, "the statement is `read I OFFSET LEN`"),
    ("extra operand", P + "size i1 2\n", 4, 9, "unexpected `2`"),
    ("empty result", P + "size i1 =>\n", 4, 11, "expected a result"),
    ("unknown result", P + "size i1 => ok\n", 4, 12, "expected a result"),
    ("misspelt result", P + "touch i1 0 1 => fault 1\n", 4, 17, "did you mean `faults`?"),
    ("tokens after result", P + "size i1 => 1 2\n", 4, 14, "unexpected `2`"),
    ("glued arrow", P + "size i1 =>1\n", 4, 9, "put spaces around `=>`"),
    ("glued equals", P + "expect size i1 ==1\n", 4, 16, "put spaces around `=>` and `==`"),
    ("result on expect", P + "expect size i1 == 2 => 2\n", 4, 21, "no `=> result`"),
    ("expect without ==", P + "expect size i1 2\n", 4, 17, "expected `== VALUE`"),
    ("expect without value", P + "expect size i1 ==\n", 4, 18, "expected the value"),
    ("module without min", H + "module a max=1\n", 2, 15, "missing `min=`"),
    ("module unknown option", H + "module a min=1 mx=2\n", 2, 16, "did you mean `max`?"),
    ("module option twice", H + "module a min=1 min=2\n", 2, 16, "given twice"),
    ("module option no value", H + "module a min=\n", 2, 10, "takes a value"),
    ("flag with value", H + "module a min=1 shared=1\n", 2, 16, "is a flag"),
    ("segment without colon", H + 'module a min=1 data="x"\n', 2, 21, "OFFSET:LITERAL"),
    ("bad name", H + "module Mod min=1\n", 2, 8, "did you mean `mod`?"),
    ("NUL byte", b"version 1\nmodule a\x00 min=1\n", 2, 9, "binary data"),
    ("binary garbage", bytes(range(256)) * 4, 1, 1, "binary data"),
    ("not UTF-8", b"version 1\n# caf\xe9\n", 2, 6, "not UTF-8"),
    ("lone surrogate", "version 1\n# \ud800\n", 2, 3, "not UTF-8"),
    ("huge line", H + "# " + "x" * (1 << 20), 2, (1 << 20) + 1, "longer than 1048576 bytes"),
    ("huge fill", P + "write i1 0 fill:0*1GiB\n", 4, 12, "64 MiB"),
    ("huge number", P + "read i1 0 " + "9" * 50 + "\n", 4, 11, "too large"),
    ("undefined module", H + "instantiate i1 a\n", 2, 16, "no module named `a`"),
    ("undefined instance", P + "size i2\n", 4, 6, "no instance named `i2`"),
    ("impossible min > max", H + "module a min=2 max=1\n", 2, 10, "more than max=1"),
    ("impossible pages", H + "module a min=65537\n", 2, 10, "0 to 65536 pages"),
    ("negative grow", P + "grow i1 -1\n", 4, 9, "delta -1 is impossible"),
    ("impossible offset", P + "read i1 4GiB 1\n", 4, 9, "offset 4294967296 is impossible"),
    ("impossible length", P + "touch i1 0 5GiB\n", 4, 12, "length 5368709120 is impossible"),
]


@pytest.mark.parametrize(
    "source, line, column, fragment",
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed(source: str | bytes, line: int, column: int, fragment: str) -> None:
    assert_fails(source, line, column, fragment)


def test_message_names_source_line_and_column(tmp_path: object) -> None:
    path = tmp_path / "bad.ops"  # type: ignore[operator]
    path.write_text("version 1\nmodul a min=1\n")
    with pytest.raises(InvalidProgram) as caught:
        text.parse_file(path)
    assert str(caught.value) == (
        f"{path}:2:1: unknown statement `modul`; did you mean `module`?"
    )


def test_parse_file_reads_bytes(tmp_path: object) -> None:
    path = tmp_path / "ok.ops"  # type: ignore[operator]
    path.write_bytes(b"version 1\nmodule a min=1 data=0:\"\xc3\xa9\"\n")
    program = text.parse_file(path)
    assert program.statements[0].data[0].data == "é".encode()
    assert program.source == str(path)


def test_parse_file_of_an_empty_file(tmp_path: object) -> None:
    path = tmp_path / "empty.ops"  # type: ignore[operator]
    path.write_bytes(b"")
    with pytest.raises(InvalidProgram, match="empty file"):
        text.parse_file(path)


def test_parse_without_check_keeps_static_misuse() -> None:
    program = text.parse(H + "size nobody\n", check=False)
    assert program.statements[0].instance == "nobody"


def test_errors_are_invalid_program_only() -> None:
    for source in ["version 1\n\"", "version 1\n=>", "version 1\npool =", "version 1\nexpect"]:
        assert isinstance(failure(source), InvalidProgram)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_input_parses_or_is_invalid(data: bytes | str) -> None:
    try:
        text.parse(data)
    except InvalidProgram:
        pass


_EDITS = st.sampled_from(
    [" ", "\t", '"', "\\", "#", "=>", "==", ":", "*", "-", "0x", "p", "hex:", "\n"]
)
_DAMAGE = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 2), _EDITS), max_size=3)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_statements=6), _DAMAGE)
def test_damaged_programs_parse_or_are_invalid(program: Program, edits: list) -> None:
    """A valid program's text with a few characters cut or inserted: never any other error."""
    written = text.format_program(program)
    for position, cut, insert in edits:
        position %= len(written) + 1
        written = written[:position] + insert + written[position + cut :]
    try:
        parsed = text.parse(written)
    except InvalidProgram:
        return
    assert text.parse(text.format_program(parsed)) == parsed
