"""Helpers of the nightly runner's tests: programs for the crashy target, and runs of
`python -m harness.nightly` in a child process (as a person or CI runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.ops import Program
from harness.text import parse

ROOT = Path(__file__).resolve().parents[2]

SEGV = """version 1
pool memories=2 max-memory=1MiB
module a min=1 max=8
module b min=1
instantiate i1 a
write i1 0 "abc"
instantiate i2 b
read i1 0 3
size i1
grow i1 1
"""
"""With `POOLFUZZ_CRASHY=segv=1`, the first grow faults: the reproducer is module, instantiate, grow."""

HANG = """version 1
pool memories=1 max-memory=1MiB
module a min=1
instantiate i1 a
shared s1 min=0 max=4
size i1
shared-grow s1 1
"""
"""With `POOLFUZZ_CRASHY=hang=1`, the shared-grow never returns."""

PASSING = """version 1
pool memories=2 max-memory=1MiB keep-resident=64KiB style=dynamic
module a min=1 max=4 data=0x10:"hello"
instantiate i1 a => slot 0
write i1 0 fill:0xcc*4096
deallocate i1
instantiate i1 a => slot 0
read i1 0x10 5 => "hello"
"""


def program(text: str) -> Program:
    return parse(text, check=False)


def corpus(folder: Path, **files: str) -> Path:
    """A corpus folder holding `name.ops` for each keyword."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.ops").write_text(text)
    return folder


def nightly_command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "harness.nightly", "--out", str(out), "--database", "none", *args]


def run_nightly(out: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m harness.nightly` to its end; the completed process."""
    return subprocess.run(nightly_command(out, *args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def only_run(out: Path) -> Path:
    """The one run folder under `out`."""
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def load_report(run: Path) -> dict:
    return json.loads((run / "report.json").read_text())
