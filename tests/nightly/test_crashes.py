"""A crash's identity includes the target's own frames, read from real faulthandler and traceback
output, with the harness's machinery and mutant catalogues left out."""

from __future__ import annotations

import faulthandler
import importlib.util
import signal
import traceback
from functools import partial
from pathlib import Path
from types import ModuleType

from harness.nightly.deaths import examine
from harness.nightly.layout import WorkerFiles
from harness.crashes import DEPTH, stack_key, stack_of

from .helpers import SEGV

# A call chain as in a worker: the executor (harness) calls the allocator, whose method a mutant
# has replaced (harness/mutants.py), which calls back into the allocator where the crash happens.
SOURCES = {
    "harness/executor.py": "def step(then):\n    return then()\n",
    "harness/mutants.py": "def buggy(then):\n    return then()\n",
    "allocator/slot.py": "def reset(then):\n    return then()\n\ndef extend(then):\n    return then()\n",
}


def load(root: Path, relative: str) -> ModuleType:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SOURCES[relative])
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_").removesuffix(".py"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chain(root: Path, innermost, through_mutant: bool):
    """executor.step → slot.reset → [mutants.buggy →] slot.extend → `innermost` (a C function:
    no frame of this file's in the stack)."""
    executor, mutants, slot = (load(root, r) for r in SOURCES)
    inner = partial(slot.extend, innermost)
    middle = partial(mutants.buggy, inner) if through_mutant else inner
    return partial(executor.step, partial(slot.reset, middle))


def faulthandler_dump(tmp_path: Path, through_mutant: bool) -> str:
    out = tmp_path / f"dump-{through_mutant}.txt"
    with out.open("w") as handle:
        chain(tmp_path / f"m{through_mutant}", partial(faulthandler.dump_traceback, handle, all_threads=True),
              through_mutant)()
    return "Fatal Python error: Segmentation fault\n\n" + out.read_text()


def test_the_target_frames_of_a_faulthandler_dump_innermost_first(tmp_path: Path) -> None:
    frames = stack_of(faulthandler_dump(tmp_path, through_mutant=False))
    assert frames[:2] == ["allocator/slot.py:extend", "allocator/slot.py:reset"]
    assert not any(f.startswith("harness/") for f in frames) and len(frames) <= DEPTH


def test_a_mutant_in_the_chain_does_not_change_the_key(tmp_path: Path) -> None:
    plain, mutated = faulthandler_dump(tmp_path, False), faulthandler_dump(tmp_path, True)
    assert "mutants.py" in mutated and stack_of(plain)[:2] == stack_of(mutated)[:2]
    assert stack_key(plain) == stack_key(mutated) is not None


def test_a_traceback_gives_the_same_frames_as_a_dump(tmp_path: Path) -> None:
    try:
        chain(tmp_path / "t", partial({}.__getitem__, "slot"), through_mutant=True)()
    except KeyError:
        text = traceback.format_exc()
    dumped = stack_of(faulthandler_dump(tmp_path, through_mutant=True))
    assert stack_of(text)[:2] == dumped[:2] == ["allocator/slot.py:extend", "allocator/slot.py:reset"]


def test_different_crash_sites_have_different_keys(tmp_path: Path) -> None:
    slot = load(tmp_path / "d", "allocator/slot.py")
    dumps = []
    for site in (slot.reset, slot.extend):
        out = tmp_path / f"{site.__name__}.txt"
        with out.open("w") as handle:
            site(partial(faulthandler.dump_traceback, handle, all_threads=False))
        dumps.append(out.read_text())
    assert stack_key(dumps[0]) != stack_key(dumps[1])


def test_no_target_frame_means_no_key() -> None:
    assert stack_key("Fatal Python error: Segmentation fault\n\nCurrent thread 0x00007f (most recent call first):\n"
                     '  File "/src/harness/executor.py", line 3 in step\n') is None
    assert stack_key("") is None


def test_a_crash_claim_keys_on_its_stack(tmp_path: Path) -> None:
    files = WorkerFiles(tmp_path / "workers" / "0").create()
    files.flight.write_text(SEGV)
    dump = faulthandler_dump(tmp_path, through_mutant=True)
    files.log.write_text("".join(f"progress line {n}\n" for n in range(50)) + dump)
    claim = examine(files, -signal.SIGSEGV, None, "crashy", 1.0, "worker 0").claim
    assert claim.detail.startswith("Fatal Python error: Segmentation fault") and "progress line" not in claim.detail
    assert claim.key == f"crashy:crash/SIGSEGV/grow@{stack_key(files.log.read_text())}"
    assert claim.stack[:2] == ["allocator/slot.py:extend", "allocator/slot.py:reset"]
