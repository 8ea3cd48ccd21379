"""`load_mutants`: a user's file of mutants, good and bad."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness import replay
from harness.mutants import Mutant, MutantFileError, activate, load_mutants

from .replaying import CORPUS, run

GOOD = """
    from contextlib import contextmanager

    from allocator.slot import MemoryImageSlot
    from harness.mutants import Mutant, replaced


    @contextmanager
    def never_madvise():
        with replaced(MemoryImageSlot, "_decommit_rest", lambda original: lambda self, *args: None):
            yield


    MUTANTS = {
        "mine-never-madvise": never_madvise,
        "mine-described": Mutant("mine-described", "a mutant with its own models line", never_madvise),
    }
"""


def write(tmp_path: Path, source: str, name: str = "my_mutants.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_a_good_file_gives_mutants_that_the_corpus_catches(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded = load_mutants(path)
    assert sorted(loaded) == ["mine-described", "mine-never-madvise"]
    factory_made = loaded["mine-never-madvise"]
    assert isinstance(factory_made, Mutant) and factory_made.name == "mine-never-madvise"
    assert factory_made.models == f"from {path}" and factory_made.sequential
    assert loaded["mine-described"].models == "a mutant with its own models line"
    zeroed = next(p for p in CORPUS if p.name == "memory-zeroed-reuse.ops")
    with activate(factory_made):
        assert run(zeroed).status == replay.FAILED
    assert run(zeroed).status == replay.PASSED


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("X = 1\n", "defines no MUTANTS"),
        ("MUTANTS = [print]\n", "MUTANTS is a list, expected a dict"),
        ("MUTANTS = {'Not Kebab': print}\n", "key 'Not Kebab' is not a kebab-case name"),
        ("MUTANTS = {3: print}\n", "key 3 is not a kebab-case name"),
        ("MUTANTS = {'answer': 42}\n", "MUTANTS['answer'] is 42; expected a Mutant or a zero-argument callable"),
        ("from harness.mutants import MUTANTS as CATALOGUE\nMUTANTS = {'other-name': CATALOGUE['no-shrink-static']}\n",
         "is a Mutant named 'no-shrink-static'; the key must be its name"),
        ("MUTANTS = {}\n1 / 0\n", "importing it raised ZeroDivisionError: division by zero"),
        ("MUTANTS = {\n", "importing it raised SyntaxError"),
        ("import no_such_module_of_mutants\n", "importing it raised ModuleNotFoundError"),
    ],
    ids=["no-mutants", "not-a-dict", "bad-key", "key-not-a-string", "not-callable",
         "name-mismatch", "raises", "syntax-error", "import-error"],
)
def test_a_bad_file_is_refused_naming_the_file(tmp_path: Path, source: str, fragment: str) -> None:
    path = write(tmp_path, source)
    with pytest.raises(MutantFileError) as caught:
        load_mutants(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.py"
    with pytest.raises(MutantFileError, match="absent.py: no such file"):
        load_mutants(path)
