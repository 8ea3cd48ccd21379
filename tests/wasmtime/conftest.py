"""Tests of the wasmtime target. Those marked `slow` (they download Wasmtime releases or run
for minutes) only run when selected: `pytest -m slow tests/wasmtime`."""

import pytest


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: select with -m slow")
    for item in items:
        if "slow" in item.keywords and "tests/wasmtime/" in str(item.path).replace("\\", "/"):
            item.add_marker(skip)
