"""The stress tests: a short variant of each check runs by default, the long ones on request.

Tests marked `stress` (and `slow`) are long (tens of seconds each). The default run deselects
them (pyproject's `-m 'not slow and not stress'`), and `pytest -n auto -m stress` (or `-m slow`)
selects them. This hook keeps them out of any other run whose marker expression names neither
marker (`-m ''`, or an `addopts` without the deselection): they are skipped,
with the reason, instead of making such a run take minutes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expression = config.getoption("markexpr") or ""
    if "stress" in expression or "slow" in expression:
        return
    skip = pytest.mark.skip(reason="long stress variant: select it with -m stress")
    for item in items:
        if item.get_closest_marker("stress") and HERE in Path(item.path).parents:
            item.add_marker(skip)
