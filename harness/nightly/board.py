"""The claim board: one JSON file per distinct finding of a run, shared by all its processes.

A finding's identity is its key, `<target>:<signature>`. Signatures are the divergence's own
(`<op kind>/<observable>/<how>`) or, for a target that died, `crash/<cause>/<op kind>` where the
cause is the signal (`SIGSEGV`, `SIGABRT`, ...), `timeout` (a hang), `oom` or
`exception-<Type>`; a crash's key adds `@<hash>` of the mutant-free stack of the target's code
that was running (`harness.crashes`), when the log holds one. So findings are told apart by target,
divergent observable, op kind, crash signal and stack.

Invariants:
- `claim` creates the file with its whole content in one step (`link` of a complete temporary
  file), and only if no claim of that key exists: of many processes that see the same failure at
  once, exactly one gets `True`. The claim holds the raw reproducer, so a finding is on disk from
  the moment it is seen, whatever happens to the process that saw it.
- `update` replaces a claim atomically; only the process that owns the claim's next step
  (triage, or the supervisor once triage has stopped) calls it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.divergence import Divergence
from harness.findings import slug, write_atomically

CLAIMED, SAVED = "claimed", "saved"
KINDS = ("divergence", "crash", "hang", "oom")


def finding_key(target: str, signature: str, stack: str | None = None) -> str:
    return f"{target}:{signature}" + (f"@{stack}" if stack else "")


def kind_of_cause(cause: str) -> str:
    """The finding kind of a crash cause: `hang` for `timeout`, `oom`, else `crash`."""
    return {"timeout": "hang", "oom": "oom"}.get(cause, "crash")


def describe_cause(cause: str | None) -> str:
    """What the target did, for a person: `died of SIGSEGV`, `hung ...`, `raised KeyError`."""
    if cause is None:
        return "failed"
    if cause.startswith("exception-"):
        return f"raised {cause.removeprefix('exception-')}"
    return {
        "timeout": "hung (no result within the timeout)",
        "oom": "exhausted memory (killed at the resident-memory limit)",
    }.get(cause, f"died of {cause}")


@dataclass
class Claim:
    """One distinct finding. `raw` is the reproducer as seen (an `.ops` program); once saved,
    `path` (relative to the run folder) is the minimized, annotated one."""

    key: str
    target: str
    signature: str
    kind: str
    raw: str
    seconds: float
    source: str
    op_kind: str | None = None
    observable: str | None = None
    cause: str | None = None
    last_op: str = ""
    description: str = ""
    detail: str = ""
    status: str = CLAIMED
    path: str | None = None
    ops: int | None = None
    raw_ops: int = 0
    minimized: bool = False
    partial: str = ""  # a smaller reproducer triage reached before it turned to another claim
    stack: list[str] = dataclasses.field(default_factory=list)  # a crash's target frames, innermost first

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; expected one of {', '.join(KINDS)}")

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "Claim":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})  # type: ignore[arg-type]


def divergence_claim(target: str, divergence: Divergence, raw: str, seconds: float, source: str) -> Claim:
    """The claim of `divergence` on `target`, seen while running `raw` (an `.ops` program)."""
    return Claim(finding_key(target, divergence.signature), target, divergence.signature, "divergence", raw,
                 round(seconds, 3), source, op_kind=divergence.op_kind, observable=divergence.observable,
                 last_op=divergence.op_text, description=divergence.describe(),
                 raw_ops=len(divergence.program.statements))


class Board:
    """The claims of one run, in `folder` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def file_of(self, key: str) -> Path:
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        return self.folder / f"{slug(key)[:80]}-{digest}.json"

    def claim(self, claim: Claim) -> bool:
        """Create the claim of `claim.key` if there is none yet; whether this call created it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.file_of(claim.key)
        if path.exists():
            return False
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".claim.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(claim.to_json(), handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def knows(self, key: str) -> bool:
        return self.file_of(key).exists()

    def get(self, key: str) -> Claim | None:
        return _read(self.file_of(key))

    def update(self, claim: Claim) -> None:
        """Replace the claim of `claim.key` (atomically)."""
        write_atomically(self.file_of(claim.key), json.dumps(claim.to_json(), indent=1) + "\n")

    def all(self) -> list[Claim]:
        """Every claim, in the order they were seen."""
        claims = [c for c in (_read(p) for p in self.folder.glob("*.json")) if c is not None]
        return sorted(claims, key=lambda c: (c.seconds, c.key))

    def pending(self) -> list[Claim]:
        return [c for c in self.all() if c.status == CLAIMED]


def _read(path: Path) -> Claim | None:
    try:
        return Claim.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
