"""The native helpers build lazily into a cache keyed by their source, safely under concurrency,
and fail with a clear message when no C compiler exists."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness import _native

ROOT = Path(__file__).resolve().parents[2]
BUILD_AND_TOUCH = (
    "from harness._native import native; "
    "lib = native().lib; print(lib.poolfuzz_thread_faults() > 0)"
)


def test_concurrent_first_builds_leave_one_complete_binary(tmp_path):
    env = {"POOLFUZZ_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_AND_TOUCH],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [builder.communicate(timeout=120) for builder in builders]
    assert [builder.returncode for builder in builders] == [0] * 4, results
    assert [out for out, _ in results] == ["True\n"] * 4
    name = _native.module_name(_native.source_text())
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.glob(name + ".*")]
    assert len(list(tmp_path.iterdir())) == 1  # no temporary build directory left behind


def test_a_cached_binary_is_loaded_without_rebuilding(tmp_path, monkeypatch):
    monkeypatch.setenv("POOLFUZZ_CACHE", str(tmp_path))
    source = _native.source_text()
    name = _native.module_name(source) + "_reuse"
    path = tmp_path / (name + ".so")
    _native.build(name, source, path)
    built = path.stat().st_mtime_ns
    assert _native.load(name, path).lib.poolfuzz_touch(0, 0) == 0
    assert path.stat().st_mtime_ns == built


def test_the_cache_key_follows_the_source():
    source = _native.source_text()
    assert _native.module_name(source) == _native.module_name(source)
    assert _native.module_name(source) != _native.module_name(source + "\n")


def test_missing_compiler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(_native.NativeBuildError, match="no C compiler.*/nonexistent/cc"):
        _native.build("_poolfuzz_no_cc", "", tmp_path / "x.so")
    assert not (tmp_path / "x.so").exists()


def test_a_failing_compilation_is_a_clear_error(tmp_path):
    with pytest.raises(_native.NativeBuildError, match=r"compiling .*touch\.c, .*fds\.c failed"):
        _native.build("_poolfuzz_broken", "this is not C;", tmp_path / "x.so")
    assert list(tmp_path.iterdir()) == []


def test_cache_directory_choice(monkeypatch):
    monkeypatch.setenv("POOLFUZZ_CACHE", "/somewhere")
    assert _native.cache_dir() == Path("/somewhere")
    monkeypatch.delenv("POOLFUZZ_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert _native.cache_dir() == Path("/xdg/poolfuzz")


def test_any_helper_is_built_by_the_same_builder(tmp_path, monkeypatch):
    monkeypatch.setenv("POOLFUZZ_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "twice.c"
    source.write_text("long twice(long x) { return 2 * x; }\n")
    module = _native.compiled(source, "long twice(long x);", "_poolfuzz_test_")
    assert module.lib.twice(21) == 42
    name = _native.module_name(source.read_text(), "long twice(long x);", "_poolfuzz_test_")
    assert [p.name.split(".")[0] for p in (tmp_path / "cache").iterdir()] == [name]
