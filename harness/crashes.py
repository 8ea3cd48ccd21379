"""The identity of a crash: its cause, the op that was running, and the target's stack.

`crash_signature(cause, op_kind, stack)` is `crash/<cause>/<op kind>[@<stack key>]`, the same
whichever engine or process saw the crash (a nightly worker that died, the corpus replay, the
atheris engine's libFuzzer child). The cause is the signal (`SIGSEGV`, `SIGABRT`, ...),
`timeout` (a hang), `oom` or `exception-<Type>`; `none` stands for the op when none was running.

Two deaths of the same cause on the same op kind can be two bugs: a SIGSEGV while growing in
the allocator's `_extend` is not one in its `reset`. The worker's log holds the Python stack at
the moment of death — faulthandler's dump for a signal or a hang (most recent call first), the
traceback for an exception (most recent call last). `stack_of(text)` reads the innermost frames
of the thread that died, innermost first, as `file:function` (no line numbers: an edit elsewhere
in the file does not make a new finding), keeping only the target's own code:

- the frames from the harness's machinery on (executor, engines, workers: everything under
  `harness/` but `harness/targets/`) are the same for every crash of the target and are cut;
- mutant catalogues (`harness/mutants.py`, `harness/stress/mutants.py`, and any file that
  defines `MUTANTS`) are dropped too: a seeded bug patches a method from outside, and the crash
  is the same bug of the allocator whichever mutant brought it out ("mutant-free").

`last_dump(text)` is the part of a log that tells of the death: from the last faulthandler
header on (innermost frames first, so a tail of the log would cut exactly those off).

`stack_key(text)` is the short hash of those frames that tells such findings apart, or None
when the log holds no stack of the target's code (the crash key is then cause and op kind only).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

DEPTH = 5
"""How many of the target's innermost frames make a crash's identity."""

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+,? in (?P<function>\S+)')
_HEADER_FIRST = re.compile(r"^(Current thread|Thread|Stack)( 0x[0-9a-f]+)? ?.*\(most recent call first\):")
_MUTANT_FILES = ("harness/mutants.py", "harness/stress/mutants.py")


def crash_signature(cause: str, op_kind: str | None, stack: str | None = None) -> str:
    """`crash/<cause>/<op kind>`, with `@<stack>` (a `stack_key`) when there is one."""
    return f"crash/{cause}/{op_kind or 'none'}" + (f"@{stack}" if stack else "")


def last_dump(text: str, limit: int = 4000) -> str | None:
    """The last faulthandler dump in `text` — every thread block of it, and the `Fatal Python
    error` line before them if there is one — at most `limit` characters; None when there is none."""
    lines = text.splitlines(keepends=True)
    headers = [i for i, line in enumerate(lines) if _HEADER_FIRST.match(line)]
    if not headers:
        return None
    first = headers[-1]
    i = first - 1
    while i >= 0 and (_HEADER_FIRST.match(lines[i]) or _FRAME.match(lines[i]) or not lines[i].strip()
                      or lines[i].startswith("  ")):
        if _HEADER_FIRST.match(lines[i]):
            first = i  # an earlier thread block of the same dump
        i -= 1
    if i >= 0 and lines[i].startswith("Fatal Python error"):
        first = i
    return "".join(lines[first:])[:limit]


def stack_of(text: str) -> list[str]:
    """The target's innermost frames in `text` (a worker's log tail), innermost first: the frames
    above the harness's first, mutant catalogues left out."""
    frames = []
    for path, function in _innermost_first(text.splitlines()):
        if _is_mutant_catalogue(path):
            continue
        if _is_harness_machinery(path):
            break  # the harness called the target here: the rest is the same for every crash
        frames.append(f"{_short(path)}:{function}")
    return frames[:DEPTH]


def stack_key(text: str) -> str | None:
    """A short hash of `stack_of(text)`; None when there is no frame of the target's code."""
    frames = stack_of(text)
    if not frames:
        return None
    return hashlib.sha256("\n".join(frames).encode()).hexdigest()[:8]


def _innermost_first(lines: list[str]) -> list[tuple[str, str]]:
    """The frames of the thread that died: faulthandler's `Current thread` block (or the first
    thread block when none is marked current), else the last traceback in the text, reversed."""
    blocks: list[tuple[bool, list[tuple[str, str]]]] = []  # (current thread?, frames in order)
    traceback: list[tuple[str, str]] = []
    in_dump = False
    for line in lines:
        if header := _HEADER_FIRST.match(line):
            blocks.append((header[1] != "Thread", []))  # `Stack`: the one thread dumped
            in_dump = True
        elif line.startswith("Traceback (most recent call last):"):
            traceback, in_dump = [], False
        elif frame := _FRAME.match(line):
            (blocks[-1][1] if in_dump else traceback).append((frame["file"], frame["function"]))
        elif in_dump and line.strip() and not line.startswith(" "):
            in_dump = False
    current = [frames for is_current, frames in blocks if is_current] or [frames for _, frames in blocks]
    if current and current[-1]:
        return current[-1]
    return list(reversed(traceback))


def _is_mutant_catalogue(path: str) -> bool:
    return Path(path).as_posix().endswith(_MUTANT_FILES) or _defines_mutants(path)


def _is_harness_machinery(path: str) -> bool:
    """Under `harness/` (executor, engines, workers), but not a target of `harness/targets/`."""
    posix = "/" + Path(path).as_posix()
    return "/harness/" in posix and "/harness/targets/" not in posix


def _defines_mutants(path: str) -> bool:
    """Whether `path` is a user's mutant file (`--mutants-from`): it defines `MUTANTS`."""
    try:
        return re.search(r"^MUTANTS\s*[:=]", Path(path).read_text(encoding="utf-8", errors="replace"), re.M) is not None
    except OSError:
        return False


def _short(path: str) -> str:
    """The path from the package folder on (`allocator/slot.py`, `wasmtime/_store.py`)."""
    parts = Path(path).parts
    for anchor in ("allocator", "harness", "site-packages"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[index + (anchor == "site-packages"):])
    return Path(path).name
