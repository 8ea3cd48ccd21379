"""A divergence: the first point where a target did not do what it must.

A divergence is a finding, returned as data (never raised). Its `signature` is its stable
identity — the op kind, the observable that differed and how — used to deduplicate findings,
as the minimizer's "still the same failure" predicate, and to name saved reproducers. It never
contains exact bytes or addresses, so the same bug found twice gets the same signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.ops import Program


@dataclass(frozen=True)
class Divergence:
    """Statement `index` (source `line`) of `program` made `observable` differ.

    `expected` is what the file's `=>`/`expect` or the model required, `observed` what the
    target showed; `source` says which of the two required it (`"file"` or `"model"`).
    `program.prefix(index + 1)` reproduces it.
    """

    program: Program
    index: int
    line: int
    op_text: str
    observable: str
    expected: object
    observed: object
    source: str = "model"
    detail: str = ""

    @property
    def op_kind(self) -> str:
        return self.program.statements[self.index].kind

    @property
    def signature(self) -> str:
        """`<op kind>/<observable>/<how>`, e.g. `instantiate/page-state/private-vs-absent`."""
        how = _shape(self.expected, self.observed)
        return f"{self.op_kind}/{self.observable}/{how}"

    @property
    def reproducer(self) -> Program:
        return self.program.prefix(self.index + 1)

    def describe(self) -> str:
        """A few lines for a person: where, what, expected and observed."""
        where = f"{self.program.source or '<program>'}:{self.line}" if self.line else f"statement {self.index + 1}"
        lines = [
            f"{where}: {self.op_text}",
            f"  {self.observable}: expected {_show(self.expected)} ({self.source}), observed {_show(self.observed)}",
        ]
        if self.detail:
            lines.append(f"  {self.detail}")
        return "\n".join(lines)


def _shape(expected: object, observed: object) -> str:
    """How two values differ, without their exact contents."""
    if isinstance(expected, str) and isinstance(observed, str):
        return f"{expected}-vs-{observed}"
    kinds = (type(expected).__name__.lower(), type(observed).__name__.lower())
    if kinds[0] != kinds[1]:
        return f"{kinds[0]}-vs-{kinds[1]}"
    if isinstance(expected, (int, float)) and isinstance(observed, (int, float)):
        return "more" if observed > expected else "less"
    return "differs"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
