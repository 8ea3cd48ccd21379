"""The `.ops` text format (`docs/ops-format.md`, version 1): text to `Program` and back.

Guarantees:

- `parse` returns a `Program` that passes `validate.check` (unless `check=False`), or raises
  `InvalidProgram` naming the source, the line, the column (1-based) of the offending token and
  what to do about it. It raises nothing else, whatever the input, and never takes more memory
  for literals than `validate.MAX_PROGRAM_LITERALS` (a `fill:` is measured before it is made).
- `format_program` writes canonical text: for every valid program `p`,
  `parse(format_program(p)) == p`, and `format_program` of that is the same text again.

Reading (where the spec is silent): tokens are separated by spaces or tabs; lines end in `\\n`
(a `\\r` before it is dropped) and are at most 1 MiB of UTF-8; a leading byte-order mark is
ignored. Sizes in bytes (offsets, lengths, `fill:` counts, byte-sized pool keys, the numeric
arguments of `expect` and the value of `expect accessible`) may carry a unit; counts (pages,
deltas, slots, faults, `=> N`) may not. Numbers may be negative (`=> -1`); `validate` says
where that is allowed. Comments: whole-line comments, and those ending a statement's line, are
kept with the next op (those above `version` and `pool` too), trailing ones at the end.

Canonical text: `version 1`; `pool` with the keys of `PoolSpec.given` in their order, then any
other key whose value differs from the default; one statement a line, operands in the order of
the spec's table, single spaces, `=> RESULT` last; each comment line as `# TEXT` just above its
statement. Sizes are written `NGiB`, `NMiB`, `Np` or `NKiB` with the first unit that divides
them exactly, else in decimal; counts in decimal. A literal is `fill:0xHH*COUNT` when it is one
byte repeated 8 times or more, `"text"` when every byte is printable ASCII, tab or newline
(escaped `\\\\ \\" \\n \\t`), `""` when empty, else `hex:...` in lowercase.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

from harness import validate
from harness.errors import InvalidProgram, suggest
from harness.ops import (
    STATEMENT_TYPES,
    WASM_PAGE,
    Data,
    Error,
    Expect,
    Faults,
    GiB,
    KiB,
    MiB,
    Number,
    Op,
    PoolSpec,
    Program,
    Result,
    Segment,
    Slot,
)

MAX_LINE_BYTES = 1 * MiB
"""Longest line, in bytes of UTF-8."""

MAX_FILE_BYTES = 256 * MiB
"""Largest file `parse_file` reads."""

__all__ = ["parse", "parse_file", "format_program", "format_op", "format_literal", "format_size"]


# --- Public API ---------------------------------------------------------------------------------


def parse(text: str | bytes, source: str = "<string>", *, check: bool = True) -> Program:
    """The program `text` writes; `InvalidProgram` if it is malformed (or, with `check`, misused).

    `source` names the text in messages and becomes `Program.source`.
    """
    reader = _Reader()
    for number, line in _lines(text, source):
        try:
            reader.read_line(number, line)
        except _Bad as bad:
            raise InvalidProgram(source, number, bad.column, bad.reason) from None
    program = reader.program(source)
    if check:
        validate.check(program, locate=reader.locate)
    return program


def parse_file(path: str | PathLike[str], *, check: bool = True) -> Program:
    """`parse` of the file's bytes, named by `path`. A file that cannot be read, or is larger
    than `MAX_FILE_BYTES`, is an `InvalidProgram` at line 1, column 1 too."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise InvalidProgram(str(path), 1, 1, f"cannot read: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        reason = f"file is larger than {MAX_FILE_BYTES} bytes: not an .ops file?"
        raise InvalidProgram(str(path), 1, 1, reason)
    return parse(data, str(path), check=check)


def format_program(program: Program) -> str:
    """The canonical text of `program` (see the module docstring), ending in a newline."""
    lines = [f"version {program.version}"]
    if program.pool is not None:
        lines.append(_format_pool(program.pool))
    notes = _comments_by_index(program)
    for index, op in enumerate(program.statements):
        lines += _comment_lines(notes.get(index, ()))
        lines.append(format_op(op))
    lines += _comment_lines(notes.get(len(program.statements), ()))
    return "\n".join(lines) + "\n"


def format_op(op: Op) -> str:
    """One statement in canonical form, without its comments."""
    grammar = _GRAMMARS[op.kind]
    words = [op.kind, *grammar.show(op)]
    if op.result is not None:
        words += ["=>", _format_result(op.result)]
    return " ".join(words)


def format_literal(data: bytes) -> str:
    """`fill:0xHH*N` for one byte repeated ≥ 8 times, `"text"` for printable ASCII, or `hex:`."""
    byte = validate.fill_byte(data)
    if byte is not None:
        return f"fill:0x{byte:02x}*{len(data)}"
    if all(32 <= b < 127 or b in (9, 10) for b in data):
        return '"' + "".join(_ESCAPED.get(chr(b), chr(b)) for b in data) + '"'
    return "hex:" + data.hex()


def format_size(value: int) -> str:
    """A size in bytes: with the largest of GiB, MiB, p, KiB that divides it, else decimal."""
    for unit, suffix in _SIZE_UNITS:
        if value > 0 and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


# --- Lines --------------------------------------------------------------------------------------


class _Bad(Exception):
    """A problem at `column` of the line being read; the caller adds the source and line."""

    def __init__(self, column: int, reason: str) -> None:
        super().__init__(column, reason)
        self.column = column
        self.reason = reason


def _lines(text: str | bytes, source: str) -> Iterator[tuple[int, str]]:
    """The numbered lines of `text`, after the checks that concern the whole file."""
    decoded = _decode(text, source)
    if not decoded.strip():
        raise InvalidProgram(source, 1, 1, "empty file: an .ops file starts with `version 1`")
    for index, line in enumerate(decoded.split("\n")):
        line = line.removesuffix("\r")
        if len(line) * 4 > MAX_LINE_BYTES and len(line.encode()) > MAX_LINE_BYTES:
            column = len(line.encode()[:MAX_LINE_BYTES].decode(errors="ignore")) + 1
            reason = f"line longer than {MAX_LINE_BYTES} bytes (1 MiB): split the statement"
            raise InvalidProgram(source, index + 1, column, reason)
        yield index + 1, line


def _decode(text: str | bytes, source: str) -> str:
    """`text` as a string without a byte-order mark; refuses NUL bytes and what is not UTF-8."""
    nul = text.find(b"\0" if isinstance(text, bytes) else "\0")
    if nul >= 0:
        line, column = _where(text, nul)
        reason = "binary data (a NUL byte): an .ops file is UTF-8 text"
        raise InvalidProgram(source, line, column, reason)
    bad = _undecodable(text)
    if bad is not None:
        line, column = _where(text, bad)
        reason = "not UTF-8 text (an invalid byte here): save the file as UTF-8"
        raise InvalidProgram(source, line, column, reason)
    decoded = text.decode() if isinstance(text, bytes) else text
    return decoded.removeprefix("\ufeff")


def _undecodable(text: str | bytes) -> int | None:
    """Where `text` stops being UTF-8 (a lone surrogate, in a string), or None."""
    if isinstance(text, str):
        match = _SURROGATE.search(text)
        return match.start() if match else None
    try:
        text.decode()
    except UnicodeDecodeError as error:
        return error.start
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _where(text: str | bytes, position: int) -> tuple[int, int]:
    """1-based line and column of `text[position]` (columns count characters)."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    start = text.rfind(newline, 0, position) + 1  # type: ignore[arg-type]
    prefix = text[start:position]
    width = len(prefix.decode(errors="replace") if isinstance(prefix, bytes) else prefix)
    return text.count(newline, 0, position) + 1, width + 1  # type: ignore[arg-type]


# --- Tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    column: int

    def part(self, start: int, end: int | None = None) -> _Token:
        """The piece `text[start:end]`, with its own column."""
        return _Token(self.text[start:end], self.column + start)

    @property
    def end(self) -> int:
        return self.column + len(self.text)


_TOKEN = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^ \t"#]+)+')
_BLANK = re.compile(r"[ \t]*")


def _tokenize(line: str) -> tuple[list[_Token], str | None]:
    """The tokens of a line and its comment (the text after an unquoted `#`), or None."""
    tokens: list[_Token] = []
    position = _BLANK.match(line).end()  # type: ignore[union-attr]
    while position < len(line):
        if line[position] == "#":
            return tokens, line[position + 1 :]
        match = _TOKEN.match(line, position)
        if match is None:
            raise _Bad(position + 1, 'unterminated string: add the closing `"`')
        tokens.append(_Token(match.group(), position + 1))
        position = _BLANK.match(line, match.end()).end()  # type: ignore[union-attr]
    return tokens, None


class _Budget:
    """Bytes of literals the file may still make; spent before a `fill:` is allocated."""

    def __init__(self) -> None:
        self.left = validate.MAX_PROGRAM_LITERALS

    def spend(self, size: int, column: int) -> None:
        if size > validate.MAX_LITERAL:
            limit = validate.MAX_LITERAL
            raise _Bad(column, f"a {size}-byte literal is over the {limit}-byte (64 MiB) limit")
        if size > self.left:
            limit = validate.MAX_PROGRAM_LITERALS
            raise _Bad(column, f"the literals of this file add up to more than {limit} bytes")
        self.left -= size


class _Cursor:
    """The tokens of one statement, taken left to right; remembers the column of each field."""

    def __init__(self, tokens: list[_Token], budget: _Budget) -> None:
        self.tokens = tokens
        self.position = 0
        self.budget = budget
        self.columns: dict[str, int] = {}
        self.usage = ""

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            usage = f" (the statement is `{self.usage}`)" if self.usage else ""
            reason = f"expected {what}, found the end of the line{usage}"
            raise _Bad(self.tokens[-1].end, reason)
        self.position += 1
        return token

    def read(self, field: str, operand: _Operand, what: str) -> object:
        """The next token read as `operand`, recorded as `field`."""
        token = self.take(what)
        self.columns[field] = token.column
        return operand.read(token, self.budget)

    def finish(self, usage: str) -> None:
        token = self.peek()
        if token is not None:
            raise _Bad(token.column, _unexpected(token.text, usage, _glued(token.text)))


# --- Operands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Operand:
    """How one kind of operand is read from a token and written back."""

    what: str
    read: Callable[[_Token, _Budget], Any]
    show: Callable[[Any], str]


_NUMBER = re.compile(r"(-?)(0x[0-9a-fA-F]*|[0-9]+)([A-Za-z]*)\Z")
_SIZE_UNITS = ((GiB, "GiB"), (MiB, "MiB"), (WASM_PAGE, "p"), (KiB, "KiB"))
_UNITS = {suffix: unit for unit, suffix in _SIZE_UNITS}
_UNIT_GUESSES = {"k": "KiB", "m": "MiB", "g": "GiB", "p": "p", "page": "p", "pages": "p"}
_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
_BOOLS = {"true": True, "false": False}


def _number(token: _Token, units: bool) -> int:
    match = _NUMBER.match(token.text)
    if match is None:
        reason = f"expected a number (decimal or 0x hex), found `{token.text}`"
        raise _Bad(token.column, reason + _glued(token.text))
    sign, digits, unit = match.groups()
    if digits == "0x":
        raise _Bad(token.column, f"`{token.text}`: `0x` needs hex digits after it, as in 0x10")
    if len(digits) > 24:
        raise _Bad(token.column, f"`{token.text}` is too large a number")
    if unit and unit not in _UNITS:
        raise _Bad(token.column + match.start(3), _unit_problem(sign + digits, unit))
    if unit and not units:
        reason = f"`{token.text}` has a unit, but this is a count (of pages, slots or faults)"
        raise _Bad(token.column, f"{reason}: write a plain number")
    value = int(digits, 16 if digits.startswith("0x") else 10) * _UNITS.get(unit, 1)
    return -value if sign else value


def _unit_problem(number: str, unit: str) -> str:
    guess = _UNIT_GUESSES.get(unit.lower().removesuffix("b").removesuffix("i"))
    hint = f"; did you mean `{number}{guess}`?" if guess else ""
    return f"unknown unit `{unit}`: units are KiB, MiB, GiB and p (64 KiB pages){hint}"


def _unexpected(text: str, usage: str, hint: str) -> str:
    return f"unexpected `{text}`{hint} (the statement is `{usage}`)"


def _glued(text: str) -> str:
    """A hint for `=>` or `==` written without the spaces around them."""
    glued = "=>" in text or "==" in text
    return "; put spaces around `=>` and `==`" if glued and len(text) > 2 else ""


def _numeric(token: _Token) -> bool:
    """Whether the token is meant as a number (names start with a letter)."""
    return token.text[:1].isdigit() or token.text.startswith("-")


def _size(token: _Token, budget: _Budget) -> int:
    return _number(token, units=True)


def _count(token: _Token, budget: _Budget) -> int:
    return _number(token, units=False)


def _name(token: _Token, budget: _Budget) -> str:
    if _NAME.match(token.text):
        return token.text
    lowered = token.text.lower()
    hint = f"; did you mean `{lowered}`?" if _NAME.match(lowered) else _glued(token.text)
    reason = f"expected a name ([a-z][a-z0-9_-]*, e.g. i1), found `{token.text}`{hint}"
    raise _Bad(token.column, reason)


def _word(token: _Token, budget: _Budget) -> str:
    return token.text


def _bool_or_size(token: _Token, budget: _Budget) -> int | bool:
    if token.text in _BOOLS:
        return _BOOLS[token.text]
    if not _numeric(token):
        hint = suggest(token.text, _BOOLS)
        reason = f"expected a number, `true` or `false`, found `{token.text}`{hint}"
        raise _Bad(token.column, reason)
    return _size(token, budget)


def _name_or_size(token: _Token, budget: _Budget) -> str | int:
    return _size(token, budget) if _numeric(token) else _name(token, budget)


def _format_name_or_size(value: str | int) -> str:
    return value if isinstance(value, str) else format_size(value)


# --- Byte literals ------------------------------------------------------------------------------

_LITERAL_HELP = 'a byte literal ("text", hex:00ff, fill:0xcc*4096)'
_ESCAPED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
_ESCAPES = {"\\": 0x5C, '"': 0x22, "n": 0x0A, "t": 0x09}
_C_ESCAPES = {"r": 0x0D, "0": 0x00, "a": 0x07, "b": 0x08, "f": 0x0C, "v": 0x0B, "e": 0x1B}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_NOT_HEX = re.compile(r"[^0-9a-fA-F]")


def _literal(token: _Token, budget: _Budget) -> bytes:
    for prefix, reader in _LITERAL_READERS.items():
        if token.text.startswith(prefix):
            return reader(token, budget)
    raise _Bad(token.column, f"expected {_LITERAL_HELP}, found `{token.text}`")


def _quoted(token: _Token, budget: _Budget) -> bytes:
    match = _QUOTED.match(token.text)
    if match is None:
        raise _Bad(token.column, 'unterminated string: add the closing `"`')
    if match.end() < len(token.text):
        raise _Bad(token.column + match.end(), "unexpected text after the closing quote")
    data = _unescape(token.part(1, match.end() - 1))
    budget.spend(len(data), token.column)
    return data


def _unescape(body: _Token) -> bytes:
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(body.text):
        out += body.text[position : match.start()].encode()
        out.append(_escape_value(match.group(1), body.column + match.start()))
        position = match.end()
    out += body.text[position:].encode()
    return bytes(out)


def _escape_value(escape: str, column: int) -> int:
    if escape in _ESCAPES:
        return _ESCAPES[escape]
    if len(escape) == 3:
        return int(escape[1:], 16)
    if escape == "x":
        raise _Bad(column, "`\\x` takes two hex digits, as in `\\x0a`")
    known = "the escapes are \\\\ \\\" \\n \\t \\xHH"
    byte = _C_ESCAPES.get(escape)
    hint = f"; write `\\x{byte:02x}` for that byte" if byte is not None else ""
    raise _Bad(column, f"unknown escape `\\{escape}`: {known}{hint}")


def _hex(token: _Token, budget: _Budget) -> bytes:
    digits = token.part(4)
    bad = _NOT_HEX.search(digits.text)
    if bad is not None:
        raise _Bad(digits.column + bad.start(), f"`{bad.group()}` is not a hex digit")
    if len(digits.text) % 2:
        raise _Bad(digits.column, "odd number of hex digits: a byte takes two (05, not 5)")
    budget.spend(len(digits.text) // 2, token.column)
    return bytes.fromhex(digits.text)


def _fill(token: _Token, budget: _Budget) -> bytes:
    star = token.text.find("*")
    if star < 0:
        raise _Bad(token.column, "a fill is `fill:BYTE*COUNT`, as in `fill:0xcc*4096`")
    byte = _number(token.part(5, star), units=False)
    count = _number(token.part(star + 1), units=True)
    if not 0 <= byte <= 255:
        raise _Bad(token.column + 5, f"fill byte {byte} is not a byte (0 to 255, 0x00 to 0xff)")
    if count < 0:
        raise _Bad(token.column + star + 1, f"fill count {count} is negative")
    budget.spend(count, token.column)
    return bytes([byte]) * count


_LITERAL_READERS: dict[str, Callable[[_Token, _Budget], bytes]] = {
    '"': _quoted,
    "hex:": _hex,
    "fill:": _fill,
}


def _segment(token: _Token, budget: _Budget) -> Segment:
    colon = token.text.find(":")
    if colon < 0:
        raise _Bad(token.column, 'a data segment is `OFFSET:LITERAL`, as in `0x10:"hello"`')
    offset = _size(token.part(0, colon), budget)
    return Segment(offset, _literal(token.part(colon + 1), budget))


def _format_segment(segment: Segment) -> str:
    return f"{format_size(segment.offset)}:{format_literal(segment.data)}"


_NAME_OPERAND = _Operand("a name", _name, str)
_WORD_OPERAND = _Operand("a word", _word, str)
_SIZE_OPERAND = _Operand("a size", _size, format_size)
_COUNT_OPERAND = _Operand("a number", _count, str)
_LITERAL_OPERAND = _Operand("a byte literal", _literal, format_literal)
_SEGMENT_OPERAND = _Operand("OFFSET:LITERAL", _segment, _format_segment)
_ARG_OPERAND = _Operand("an argument", _name_or_size, _format_name_or_size)
_VALUE_OPERAND = _Operand("a value", _bool_or_size, str)


# --- Statements ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grammar:
    """How one statement's operands are written: positional ones, then `KEY=VALUE` options and
    flags in any order (written back in the order given here). A flag's operand is None."""

    usage: str
    positional: tuple[tuple[str, _Operand], ...]
    options: tuple[tuple[str, _Operand | None], ...] = ()
    required: tuple[str, ...] = ()
    repeated: tuple[str, ...] = ()
    has_result: bool = True

    def read(self, cursor: _Cursor) -> dict[str, Any]:
        """The fields the operands give, by name; the cursor stops at `=>` or the line's end."""
        cursor.usage = self.usage
        values = {
            name: cursor.read(name, operand, f"{operand.what} ({name})")
            for name, operand in self.positional
        }
        values.update(self._read_options(cursor))
        return values

    def show(self, op: Op) -> list[str]:
        words = [operand.show(getattr(op, name)) for name, operand in self.positional]
        for key, operand in self.options:
            words += _show_option(key, operand, getattr(op, key), key in self.repeated)
        return words

    def _read_options(self, cursor: _Cursor) -> dict[str, Any]:
        values: dict[str, Any] = {key: [] for key in self.repeated}
        while (token := cursor.peek()) is not None and token.text != "=>":
            cursor.position += 1
            key, value = self._read_option(token, cursor.budget)
            if key in self.repeated:
                cursor.columns[f"{key}[{len(values[key])}]"] = token.column
                values[key].append(value)
            elif key in values:
                raise _Bad(token.column, f"`{key}` is given twice")
            else:
                cursor.columns[key], values[key] = token.column, value
        self._require(values, cursor)
        return {key: tuple(v) if key in self.repeated else v for key, v in values.items()}

    def _read_option(self, token: _Token, budget: _Budget) -> tuple[str, Any]:
        key, equals, _ = token.text.partition("=")
        known = dict(self.options)
        if key not in known:
            hint = suggest(key, known) or _glued(token.text)
            raise _Bad(token.column, _unexpected(token.text, self.usage, hint))
        operand = known[key]
        if operand is None:
            if equals:
                raise _Bad(token.column, f"`{key}` is a flag: write `{key}` alone")
            return key, True
        if not equals or token.text == key + "=":
            raise _Bad(token.column, f"`{key}` takes a value: `{key}=...`")
        return key, operand.read(token.part(len(key) + 1), budget)

    def _require(self, values: dict[str, Any], cursor: _Cursor) -> None:
        for key in self.required:
            if key not in values:
                column = cursor.tokens[-1].end
                raise _Bad(column, f"missing `{key}=`: the statement is `{self.usage}`")


def _show_option(key: str, operand: _Operand | None, value: Any, repeated: bool) -> list[str]:
    if operand is None:
        return [key] if value else []
    values = value if repeated else () if value is None else (value,)
    return [f"{key}={operand.show(item)}" for item in values]


class _ExpectGrammar:
    """`expect OBSERVABLE ARGS... == VALUE`: arguments are names or sizes, the value a number
    or `true`/`false`; `validate` checks them against `ops.OBSERVABLES`."""

    usage = "expect OBSERVABLE ARGS... == VALUE"
    has_result = False
    SIZE_VALUED = ("accessible",)  # observables whose value is in bytes, written as a size

    def read(self, cursor: _Cursor) -> dict[str, Any]:
        observable = cursor.read("observable", _WORD_OPERAND, "an observable")
        args = []
        while (token := cursor.peek()) is not None and token.text != "==":
            args.append(cursor.read(f"args[{len(args)}]", _ARG_OPERAND, "an argument"))
        cursor.take("`== VALUE`")
        value = cursor.read("value", _VALUE_OPERAND, "the value")
        return {"observable": observable, "args": tuple(args), "value": value}

    def show(self, op: Expect) -> list[str]:
        args = [_format_name_or_size(arg) for arg in op.args]
        return [op.observable, *args, "==", self._show_value(op)]

    def _show_value(self, op: Expect) -> str:
        if isinstance(op.value, bool):
            return str(op.value).lower()
        return format_size(op.value) if op.observable in self.SIZE_VALUED else str(op.value)


_INSTANCE = ("instance", _NAME_OPERAND)
_NAMED = (("name", _NAME_OPERAND),)
_PAGES = (("min", _COUNT_OPERAND), ("max", _COUNT_OPERAND))
_RANGE = (_INSTANCE, ("offset", _SIZE_OPERAND), ("length", _SIZE_OPERAND))

_GRAMMARS: dict[str, Any] = {
    "module": _Grammar(
        "module M min=PAGES [max=PAGES] [shared] [data=OFFSET:LITERAL ...]",
        _NAMED,
        options=(*_PAGES, ("shared", None), ("data", _SEGMENT_OPERAND)),
        required=("min",),
        repeated=("data",),
    ),
    "instantiate": _Grammar("instantiate I M", (_INSTANCE, ("module", _NAME_OPERAND))),
    "write": _Grammar(
        "write I OFFSET LITERAL", (_INSTANCE, ("offset", _SIZE_OPERAND), ("data", _LITERAL_OPERAND))
    ),
    "read": _Grammar("read I OFFSET LEN", _RANGE),
    "touch": _Grammar("touch I OFFSET LEN", _RANGE),
    "grow": _Grammar("grow I DELTA", (_INSTANCE, ("delta", _COUNT_OPERAND))),
    "size": _Grammar("size I", (_INSTANCE,)),
    "deallocate": _Grammar("deallocate I", (_INSTANCE,)),
    "drop": _Grammar("drop M", (("module", _NAME_OPERAND),)),
    "shared": _Grammar("shared S min=PAGES max=PAGES", _NAMED, _PAGES, required=("min", "max")),
    "shared-grow": _Grammar("shared-grow S DELTA", (*_NAMED, ("delta", _COUNT_OPERAND))),
    "shared-size": _Grammar("shared-size S", _NAMED),
    "expect": _ExpectGrammar(),
}
"""Keyword -> grammar of its operands, for every statement of `ops.STATEMENT_TYPES`."""

assert set(_GRAMMARS) == set(STATEMENT_TYPES), "every statement of ops.py has a grammar"


# --- Results ------------------------------------------------------------------------------------

_RESULT_WORDS: dict[str, tuple[Callable[[Any], Result], _Operand]] = {
    "faults": (Faults, _COUNT_OPERAND),
    "slot": (Slot, _COUNT_OPERAND),
    "error": (Error, _WORD_OPERAND),
}

_RESULT_HELP = "a number, a byte literal, `faults N`, `slot N` or `error KIND`"


def _read_result(cursor: _Cursor) -> Result:
    token = cursor.take(f"a result ({_RESULT_HELP})")
    cursor.columns["result"] = token.column
    if token.text in _RESULT_WORDS:
        make, operand = _RESULT_WORDS[token.text]
        return make(cursor.read("result-value", operand, f"{operand.what} after `{token.text}`"))
    if token.text.startswith(tuple(_LITERAL_READERS)):
        return Data(_literal(token, cursor.budget))
    if _numeric(token):
        return Number(_count(token, cursor.budget))
    hint = suggest(token.text, _RESULT_WORDS)
    raise _Bad(token.column, f"expected a result ({_RESULT_HELP}), found `{token.text}`{hint}")


_RESULT_SHOW: dict[type, Callable[[Any], str]] = {
    Number: lambda result: str(result.value),
    Data: lambda result: format_literal(result.value),
    Faults: lambda result: f"faults {result.count}",
    Slot: lambda result: f"slot {result.index}",
    Error: lambda result: f"error {result.kind}",
}


def _format_result(result: Result) -> str:
    return _RESULT_SHOW[type(result)](result)


def _read_op(keyword: _Token, cursor: _Cursor, line: int) -> Op:
    grammar = _GRAMMARS.get(keyword.text)
    if grammar is None:
        hint = suggest(keyword.text, [*_GRAMMARS, "version", "pool"])
        raise _Bad(keyword.column, f"unknown statement `{keyword.text}`{hint}")
    values = grammar.read(cursor)
    token = cursor.peek()
    if token is not None and token.text == "=>":
        if not grammar.has_result:
            reason = f"`{keyword.text}` has no `=> result`: write `{grammar.usage}`"
            raise _Bad(token.column, reason)
        cursor.position += 1
        values["result"] = _read_result(cursor)
    cursor.finish(grammar.usage)
    return STATEMENT_TYPES[keyword.text](**values, line=line)


# --- Pool ---------------------------------------------------------------------------------------

_POOL_OPERANDS = {"int": _COUNT_OPERAND, "size": _SIZE_OPERAND}  # other kinds are enums: words

_POOL_GRAMMAR = _Grammar(
    "pool KEY=VALUE ... (keys: " + ", ".join(PoolSpec.KEYS) + ")",
    positional=(),
    options=tuple(
        (key, _POOL_OPERANDS.get(kind, _WORD_OPERAND) if isinstance(kind, str) else _WORD_OPERAND)
        for key, (_, kind) in PoolSpec.KEYS.items()
    ),
    has_result=False,
)
_DEFAULT_POOL = PoolSpec()


def _read_pool(cursor: _Cursor) -> PoolSpec:
    """The pool a `pool` line sets; `given` lists its keys in the order written."""
    values = _POOL_GRAMMAR.read(cursor)
    cursor.finish(_POOL_GRAMMAR.usage)
    settings = {PoolSpec.KEYS[key][0]: value for key, value in values.items()}
    return PoolSpec(**settings, given=tuple(values))


def _format_pool(pool: PoolSpec) -> str:
    shown = dict.fromkeys(key for key in pool.given if key in PoolSpec.KEYS)
    for key, (attr, _) in PoolSpec.KEYS.items():
        if getattr(pool, attr) != getattr(_DEFAULT_POOL, attr):
            shown[key] = None
    operands = dict(_POOL_GRAMMAR.options)
    words = ["pool"]
    for key in shown:
        value = getattr(pool, PoolSpec.KEYS[key][0])
        if value is not None:
            words.append(f"{key}={operands[key].show(value)}")  # type: ignore[union-attr]
    return " ".join(words)


# --- Comments -----------------------------------------------------------------------------------


def _comment_text(comment: str) -> str:
    """What a comment says: the text after `#` and one space, without trailing blanks."""
    return comment.removeprefix(" ").rstrip()


def _comment_lines(texts: tuple[str, ...] | list[str]) -> list[str]:
    lines = [part.rstrip() for text in texts for part in text.split("\n")]
    return [f"# {line}" if line else "#" for line in lines]


def _comments_by_index(program: Program) -> dict[int, list[str]]:
    """The comments of each statement index (out-of-range indices go to the nearest end)."""
    notes: dict[int, list[str]] = {}
    last = len(program.statements)
    for index, texts in program.comments:
        notes.setdefault(min(max(index, 0), last), []).extend(texts)
    return notes


# --- The reader of a whole file -----------------------------------------------------------------


@dataclass
class _Reader:
    """Reads the lines of one file in order into the parts of a `Program`."""

    version_line: int = 0
    pool: PoolSpec | None = None
    pool_line: int = 0
    pool_columns: dict[str, int] = field(default_factory=dict)
    statements: list[Op] = field(default_factory=list)
    columns: list[dict[str, int]] = field(default_factory=list)
    comments: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    budget: _Budget = field(default_factory=_Budget)

    def read_line(self, number: int, line: str) -> None:
        tokens, comment = _tokenize(line)
        if comment is not None:
            self.pending.append(_comment_text(comment))
        if tokens:
            cursor = _Cursor(tokens, self.budget)
            keyword = cursor.take("a statement")
            cursor.columns["kind"] = keyword.column
            self._statement(number, keyword, cursor)

    def _statement(self, number: int, keyword: _Token, cursor: _Cursor) -> None:
        if not self.version_line:
            self._version(number, keyword, cursor)
        elif keyword.text == "version":
            reason = f"`version` again: it is given once, at line {self.version_line}"
            raise _Bad(keyword.column, reason)
        elif keyword.text == "pool":
            self._pool(number, keyword, cursor)
        else:
            self.statements.append(_read_op(keyword, cursor, number))
            self.columns.append(cursor.columns)
            self._attach_comments()

    def _version(self, number: int, keyword: _Token, cursor: _Cursor) -> None:
        if keyword.text != "version":
            reason = "missing `version 1`: the first statement must be `version 1`"
            raise _Bad(keyword.column, f"{reason}, not `{keyword.text}`")
        version = cursor.read("version", _COUNT_OPERAND, "the format version (1)")
        if version != 1:
            reason = f"unsupported version {version}: this poolfuzz reads version 1"
            raise _Bad(cursor.columns["version"], reason)
        cursor.finish("version 1")
        self.version_line = number

    def _pool(self, number: int, keyword: _Token, cursor: _Cursor) -> None:
        if self.pool is not None:
            reason = f"a second `pool`: merge it into the one at line {self.pool_line}"
            raise _Bad(keyword.column, reason)
        if self.statements:
            first = self.statements[0].line
            reason = f"`pool` after an op (line {first}): move it above the first op"
            raise _Bad(keyword.column, reason)
        self.pool = _read_pool(cursor)
        self.pool_line, self.pool_columns = number, cursor.columns

    def _attach_comments(self) -> None:
        if self.pending:
            self.comments.append((len(self.statements) - 1, tuple(self.pending)))
            self.pending = []

    def program(self, source: str) -> Program:
        if not self.version_line:
            raise InvalidProgram(source, 1, 1, "missing `version 1`: the file has only comments")
        if self.pending:
            self.comments.append((len(self.statements), tuple(self.pending)))
        statements = tuple(self.statements)
        return Program(statements, self.pool, 1, tuple(self.comments), source)

    def locate(self, where: int | str, field: str) -> tuple[int, int]:
        """(line, column) of a field of statement `where` (or of the pool), for `validate`."""
        if where == "pool":
            return self.pool_line or self.version_line, self.pool_columns.get(field, 1)
        columns = self.columns[int(where)]
        column = columns.get(field, columns.get(field.partition("[")[0], columns["kind"]))
        return self.statements[int(where)].line, column
