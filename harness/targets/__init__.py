"""Targets: the allocators under test. Adding one is adding one file here.

A file `harness/targets/NAME.py` (or `NAME_target.py`, where NAME would shadow a package)
defines a class with `name = "NAME"` implementing `base.Target`, exported as `TARGET`.
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.targets.base import MemoryRegion, Target, TargetError, Unsupported

_NOT_TARGETS = {"base"}


def available() -> list[str]:
    """Names of every target shipped in this package."""
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_TARGETS and not info.name.startswith("_"):
            names.append(info.name.removesuffix("_target"))
    return sorted(names)


def make_target(name: str) -> Target:
    """A fresh, unopened target called `name`; ValueError naming the choices if there is none."""
    if name not in available():
        raise ValueError(f"unknown target {name!r}; available: {', '.join(available())}")
    for module_name in (name, f"{name}_target"):
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{module_name}":
                raise
            continue
        return module.TARGET()
    raise ValueError(f"target module for {name!r} defines no TARGET")


__all__ = ["MemoryRegion", "Target", "TargetError", "Unsupported", "available", "make_target"]
