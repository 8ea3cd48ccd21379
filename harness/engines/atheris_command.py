"""`poolfuzz atheris`: the atheris engine with a libFuzzer command line.

    poolfuzz atheris [--target NAME] [--mutant NAME] [--mutants-from FILE.py] [--out DIR]
                     [--json FILE] [--keep-going] [-- [CORPUS_DIR] [-FLAG=VALUE ...]]

Everything after `--` is libFuzzer's own command line, as a libFuzzer binary takes it: at most
one corpus folder (default `.poolfuzz-cache/atheris-corpus`; seeded from `corpora/` when it is
missing or empty) and flags of the form `-name=value`, passed on unchanged (`-runs=N`,
`-seed=N`, `-max_len=N`, `-dict=FILE`, `-only_ascii=1`, ...). Two flags are the campaign's:

- `-max_total_time=N` is its budget in seconds (default 60, as for `poolfuzz fuzz`);
- the flags the engine sets itself or cannot follow (`SUPERVISOR_FLAGS`: `-artifact_prefix`,
  `-jobs`, `-workers`, `-fork`, `-merge`, ...) are refused: it supervises one libFuzzer
  process, and turns its crash artifacts into `.ops` findings under `--out` (default
  `corpora/found/`). For more processes, run several `poolfuzz atheris` on one corpus folder.

Exit status: 0 nothing found, 1 findings (each an `.ops` file `poolfuzz replay` runs), 2
misuse (a flag of another shape, an engine flag, two corpus folders, atheris not installed) —
said in one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.engines.atheris_engine import SUPERVISOR_FLAGS

FLAG = re.compile(r"-([a-z_]+)=(.*)", re.DOTALL)
DEFAULT_BUDGET = 60.0


@dataclass
class LibFuzzerCommand:
    """What a libFuzzer command line asks of the campaign."""

    corpus: Path | None = None
    budget: float = DEFAULT_BUDGET
    flags: list[str] = field(default_factory=list)


def parse_libfuzzer_command(words: Sequence[str]) -> LibFuzzerCommand:
    """Split libFuzzer's command line (see the module docstring); ValueError, in one line, for
    anything else."""
    command = LibFuzzerCommand()
    for word in words:
        match = FLAG.fullmatch(word)
        if match is None:
            if word.startswith("-"):
                raise ValueError(f"libFuzzer flags are written -name=value, not {word!r}")
            if command.corpus is not None:
                raise ValueError(f"one corpus folder only (got {str(command.corpus)!r} and {word!r})")
            command.corpus = Path(word)
            continue
        name, value = match[1], match[2]
        if name == "max_total_time":
            if not value.isdigit() or int(value) == 0:
                raise ValueError(f"-max_total_time is the budget in whole seconds, above 0 (got {value!r})")
            command.budget = float(value)
        elif f"-{name}" in SUPERVISOR_FLAGS:
            raise ValueError(f"-{name} is not available: the engine sets it itself or supervises a single "
                             f"libFuzzer process (run several `poolfuzz atheris` on one corpus folder instead)")
        else:
            command.flags.append(word)
    if command.corpus is not None and command.corpus.exists() and not command.corpus.is_dir():
        raise ValueError(f"the corpus {str(command.corpus)!r} is not a folder")
    return command
