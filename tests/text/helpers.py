"""Small helpers shared by the text-format tests."""

from __future__ import annotations

import pytest

from harness import text
from harness.errors import InvalidProgram
from harness.ops import Op

HEADER = "version 1\n"
PRELUDE = "module m min=2\ninstantiate i1 m\n"
"""A module and a live instance, so that instance ops have something to act on."""


def statements(body: str) -> tuple[Op, ...]:
    """The statements `body` writes, after `version 1`."""
    return text.parse(HEADER + body).statements


def last(body: str) -> Op:
    """The last statement of `PRELUDE + body`."""
    return statements(PRELUDE + body)[-1]


def failure(source: str | bytes) -> InvalidProgram:
    """The InvalidProgram that parsing `source` raises."""
    with pytest.raises(InvalidProgram) as caught:
        text.parse(source)
    return caught.value


def assert_fails(source: str | bytes, line: int, column: int, fragment: str) -> None:
    """Parsing fails at exactly (line, column), with `fragment` in the reason."""
    error = failure(source)
    assert (error.line, error.column) == (line, column), str(error)
    assert fragment in error.reason, str(error)
