"""The stress tests: a short variant of each check runs by default, the long ones on request.

Tests marked `stress` (and `slow`) are long (tens of seconds each). They run when the marker
expression names either marker (`pytest -n auto -m stress`, `-m slow`) and are skipped
otherwise, so that the default run stays short even though it deselects nothing.
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
