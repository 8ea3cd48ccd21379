"""Findings on disk: every divergence becomes a replayable `.ops` file, written atomically.

A finding file is an ordinary `.ops` program — the reproducer — whose first comment lines say
what it shows and how to replay it:

    # finding: touch/result/less (target reference, mutant skip-madvise-on-clear)
    # line 7: touch i1 0 1p => faults 16
    #   result: expected Faults(count=16) (model), observed Faults(count=0)
    # replay: poolfuzz replay corpora/found/touch-result-less-3f2a91c4.ops --target reference --mutant skip-madvise-on-clear

A finding on `--target wasmtime` also gets `<same name>.py` beside it, a standalone script that
shows the behaviour with only the `wasmtime` package (`harness.wasmtime_script`), named in the
header (`# standalone: ...`).

Files are named `<signature>-<hash of the text>.ops`, so the same reproducer is stored once and
different reproducers of one signature sit side by side. Writes go to a temporary file in the
same folder, then `os.replace`: a reader (or an interrupted campaign) never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from harness.divergence import Divergence
from harness.ops import Program
from harness.text import format_program

DEFAULT_DIR = Path("corpora/found")


def slug(signature: str) -> str:
    """A file-name-safe form of a signature."""
    return re.sub(r"[^a-z0-9]+", "-", signature.lower()).strip("-")


def replay_command(path: Path, target: str, mutant: str | None) -> str:
    extra = f" --mutant {mutant}" if mutant else ""
    return f"poolfuzz replay {path} --target {target}{extra}"


def finding_text(divergence: Divergence, program: Program, path: Path, target: str, mutant: str | None,
                 notes: tuple[str, ...] = ()) -> str:
    """The reproducer's text with the explanatory header (`notes` are extra header lines)."""
    where = f"target {target}" + (f", mutant {mutant}" if mutant else "")
    header = [f"finding: {divergence.signature} ({where})"]
    header += divergence.describe().splitlines()
    header.append(f"replay: {replay_command(path, target, mutant)}")
    header += notes
    body = format_program(program)
    lines = body.splitlines()
    comments = [f"# {line}" for line in header]
    return "\n".join(lines[:1] + comments + lines[1:]) + "\n"


def save(
    divergence: Divergence,
    program: Program,
    target: str,
    mutant: str | None = None,
    directory: Path = DEFAULT_DIR,
    signature: str | None = None,
) -> Path:
    """Write `program` (the reproducer of `divergence`) under `directory`; return its path.

    `signature` names the file (default: the divergence's own): a campaign names a finding by
    the signature it was first seen with, even if the annotated reproducer diverges earlier."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(format_program(program).encode()).hexdigest()[:8]
    path = directory / f"{slug(signature or divergence.signature)}-{digest}.ops"
    notes = companion_script(divergence, path, target, mutant)
    write_atomically(path, finding_text(divergence, program, path, target, mutant, notes))
    return path


def companion_script(divergence: Divergence, path: Path, target: str, mutant: str | None) -> tuple[str, ...]:
    """For a finding on real Wasmtime, writes `<path stem>.py`, a script that shows it with only
    the `wasmtime` package (`harness.wasmtime_script`); the header lines that say so."""
    if target != "wasmtime" or mutant:
        return ()
    from harness.wasmtime_script import save_script

    return (save_script(divergence, path),)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step (temporary file + rename in the same folder)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
