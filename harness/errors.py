"""The errors poolfuzz raises on purpose, split by whom to blame.

- `InvalidProgram`: the input is wrong (a malformed `.ops` file, a program that misuses a name).
  The person who wrote it can fix it from the message alone: where, what was found, what was
  expected.
- `HarnessError`: poolfuzz itself is wrong. Never the input's fault.

A divergence between a target and the model is a finding, returned as data, not raised.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PoolfuzzError(Exception):
    """Base of every error poolfuzz raises on purpose."""


class InvalidProgram(PoolfuzzError):
    """A program breaks the text format or its static rules.

    `line` and `column` are 1-based; they are 0 when unknown (a generated program has no text).
    `str(e)` is `source:line:column: reason`, the form editors and compilers use.
    """

    def __init__(self, source: str, line: int, column: int, reason: str) -> None:
        super().__init__(source, line, column, reason)
        self.source = source
        self.line = line
        self.column = column
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.reason}"


class HarnessError(PoolfuzzError):
    """A bug in poolfuzz itself: an invariant of the harness does not hold."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """`"; did you mean `x`?"` when one of `choices` is close to `word` (difflib), else `""`."""
    options = list(choices)
    lowered = {choice.lower(): choice for choice in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean `{lowered[close[0]]}`?" if close else ""
