"""One smoke run of `poolfuzz bench` shared by the folder: every section, tiny repeat counts."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from harness.bench import command
from harness.bench.plan import SMOKE


@pytest.fixture(scope="package")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    """`poolfuzz bench --quick --json FILE --out DIR` under the `SMOKE` plan: the JSON it wrote,
    the folder it wrote into, and what it printed."""
    out = tmp_path_factory.mktemp("bench")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr(command, "QUICK", SMOKE)
        status = command.main_bench(["--quick", "--json", str(out / "bench.json"), "--out", str(out)])
    assert status == 0, printed.getvalue()
    return json.loads((out / "bench.json").read_text()), out, printed.getvalue()
