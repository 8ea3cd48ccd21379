"""Fixtures of the nightly runner's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def crashy(monkeypatch: pytest.MonkeyPatch):
    """`crashy("segv=1")` sets the crashy target's modes for this test and the processes it starts."""

    def use(modes: str) -> None:
        monkeypatch.setenv("POOLFUZZ_CRASHY", modes)

    return use
