"""The catalogue's shape, and that every mutant patches the allocator only while active."""

from __future__ import annotations

import re
import sys

import pytest

from harness.mutants import MUTANTS, Mutant, activate, replaced

Snapshot = dict[str, dict[str, object]]


def allocator_attributes() -> Snapshot:
    """Every attribute of every `allocator` module and of every class defined in one."""
    snapshot: Snapshot = {}
    for module_name, module in list(sys.modules.items()):
        if module_name != "allocator" and not module_name.startswith("allocator."):
            continue
        snapshot[module_name] = dict(vars(module))
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module_name:
                snapshot[f"{module_name}.{value.__qualname__}"] = dict(vars(value))
    return snapshot


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """`owner.attribute` of every attribute added, removed or replaced by another object."""
    changed = []
    for owner in before.keys() | after.keys():
        old, new = before.get(owner, {}), after.get(owner, {})
        for attribute in old.keys() | new.keys():
            if attribute not in old or attribute not in new or old[attribute] is not new[attribute]:
                changed.append(f"{owner}.{attribute}")
    return sorted(changed)


def test_the_catalogue_has_at_least_16_mutants_and_some_sequential_ones() -> None:
    assert len(MUTANTS) >= 16
    assert sum(m.sequential for m in MUTANTS.values()) >= 16


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_named_and_says_what_it_models(name: str) -> None:
    mutant = MUTANTS[name]
    assert isinstance(mutant, Mutant) and mutant.name == name
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
    assert mutant.models.strip() and "\n" not in mutant.models
    assert callable(mutant.patch)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_patches_while_active_and_restores_after(name: str) -> None:
    before = allocator_attributes()
    with activate(name):
        assert differences(before, allocator_attributes()), f"{name} patches nothing"
    assert differences(before, allocator_attributes()) == []
    with pytest.raises(RuntimeError, match="inside"), activate(name):
        raise RuntimeError("raised inside the block")
    assert differences(before, allocator_attributes()) == []


def test_a_mutant_can_be_activated_again_and_by_value() -> None:
    before = allocator_attributes()
    for _ in range(2):
        with activate(MUTANTS["no-shrink-static"]):
            assert differences(before, allocator_attributes())
    assert differences(before, allocator_attributes()) == []


def test_unknown_name_lists_the_choices_and_suggests_the_closest() -> None:
    with pytest.raises(ValueError) as caught:
        activate("skip-madvise-on-clean")
    message = str(caught.value)
    assert "'skip-madvise-on-clean'" in message
    assert "did you mean `skip-madvise-on-clear`?" in message
    assert all(name in message for name in MUTANTS)


def test_replaced_restores_an_inherited_attribute_by_deleting_it() -> None:
    class Base:
        def f(self) -> str:
            return "base"

    class Derived(Base):
        pass

    with replaced(Derived, "f", lambda original: lambda self: "patched " + original(self)):
        assert Derived().f() == "patched base"
    assert "f" not in vars(Derived) and Derived().f() == "base"


def test_a_patch_that_is_no_context_manager_is_refused_by_name() -> None:
    bogus = Mutant("bogus", "returns no context manager", lambda: 42)
    with pytest.raises(TypeError, match="'bogus'"):
        activate(bogus)

