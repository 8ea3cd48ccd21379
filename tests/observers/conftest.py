import pytest

from harness import observers

from . import vm


@pytest.fixture(autouse=True)
def thp_disabled():
    """Every test runs as the harness does, with transparent huge pages disabled for the
    process; the previous setting is restored afterwards."""
    before = observers.thp_disabled()
    observers.disable_thp()
    yield
    vm.set_thp_disabled(before)
