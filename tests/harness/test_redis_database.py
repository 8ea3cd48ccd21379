"""Hypothesis workers on many machines share one example database on a Redis server.

The test starts a real `redis-server` on a free loopback port (`.ci/run` installs the Debian
package), runs a campaign against a seeded bug with `--database redis://...`, and checks that the
failing example went into the server and that a second campaign replays it from there.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.redis

SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def campaign(url: str, out: Path, summary: Path) -> dict:
    # The dev profile: with fixed seeds (ci) Hypothesis keeps nothing in a database.
    args = ["fuzz", "--budget", "120s", "--profile", "dev", "--mutant", "memfd-created-eagerly",
            "--database", url, "--out", str(out), "--json", str(summary)]
    assert main(args) == 1
    return json.loads(summary.read_text())


def test_failing_examples_are_shared_through_redis(redis_url: str, tmp_path: Path) -> None:
    import redis

    first = campaign(redis_url, tmp_path / "a", tmp_path / "a.json")
    keys = redis.Redis.from_url(redis_url).keys(b"poolfuzz:*")
    assert keys, "no example was saved in the shared database"
    # A second worker (here: a second campaign) starts by replaying the shared example.
    second = campaign(redis_url, tmp_path / "b", tmp_path / "b.json")
    assert second["findings"][0]["signature"] == first["findings"][0]["signature"]
