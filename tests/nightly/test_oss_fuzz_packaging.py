"""packaging/oss-fuzz: the files OSS-Fuzz and ClusterFuzzLite expect of a Python project."""

from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.engines.atheris_encode import encode_nearest
from harness.text import parse_file

from .helpers import ROOT

PACKAGING = ROOT / "packaging" / "oss-fuzz"


def load_seed_corpus_module():
    spec = importlib.util.spec_from_file_location("seed_corpus", PACKAGING / "seed_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_is_valid_bash_and_builds_the_fuzzer_the_python_way() -> None:
    assert subprocess.run(["bash", "-n", str(PACKAGING / "build.sh")]).returncode == 0
    build = (PACKAGING / "build.sh").read_text()
    assert build.startswith("#!/bin/bash -eu")
    assert "compile_python_fuzzer packaging/oss-fuzz/poolfuzz_fuzzer.py" in build
    assert '"$OUT/poolfuzz_fuzzer_seed_corpus.zip"' in build and "poolfuzz_fuzzer.options" in build
    assert os.access(PACKAGING / "build.sh", os.X_OK)


def test_project_and_dockerfile() -> None:
    lines = [line.strip() for line in (PACKAGING / "project.yaml").read_text().splitlines()]
    assert "language: python" in lines and "- libfuzzer" in lines
    assert {"- address", "- undefined"} <= set(lines)
    docker = (PACKAGING / "Dockerfile").read_text().splitlines()
    assert "FROM gcr.io/oss-fuzz-base/base-builder-python" in docker
    assert "COPY packaging/oss-fuzz/build.sh $SRC/" in docker


def test_options_file_is_read_by_the_runner_format() -> None:
    options = configparser.ConfigParser()
    options.read(PACKAGING / "poolfuzz_fuzzer.options")
    assert dict(options["libfuzzer"]) == {"max_len": "512", "timeout": "60", "rss_limit_mb": "2560", "detect_leaks": "0"}


def test_seed_corpus_archive_holds_every_regression_file_reproducibly(tmp_path: Path) -> None:
    seed_corpus = load_seed_corpus_module()
    regression = ROOT / "corpora" / "regression"
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    count = seed_corpus.write_seed_corpus(first, [regression])
    seed_corpus.write_seed_corpus(second, [regression])
    assert first.read_bytes() == second.read_bytes()
    files = sorted(p.name for p in regression.glob("*.ops"))
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert [n for n in names if n.endswith(".ops")] == files and len(names) == count
        assert {n for n in names if not n.endswith(".ops")} == {f"random-{i:03}" for i in range(count - len(files))}
        for name in files:  # each file's entry is the fuzzer's input for its (nearest) program
            program, _ = encode_nearest(parse_file(regression / name))
            assert archive.read(name) == program
    with pytest.raises(ValueError, match="no .ops files"):
        seed_corpus.write_seed_corpus(tmp_path / "c.zip", [tmp_path])


def test_the_fuzzer_script_runs_libfuzzer_through_the_atheris_entry(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    script = PACKAGING / "poolfuzz_fuzzer.py"
    assert "from harness.engines import atheris_main" in script.read_text()
    (tmp_path / "corpus").mkdir()
    done = subprocess.run([sys.executable, str(script), "-runs=20", "-seed=1", str(tmp_path / "corpus")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "POOLFUZZ_FINDINGS": str(tmp_path / "found")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 20 runs" in done.stderr


@pytest.mark.slow  # two minutes: a virtual environment, PyInstaller, the packaged fuzzer's runs
def test_the_build_script_builds_a_fuzzer_that_runs_its_seed_corpus(tmp_path: Path) -> None:
    """build.sh as the OSS-Fuzz image runs it (`build_locally.sh` stands in for the image)."""
    done = subprocess.run([str(PACKAGING / "build_locally.sh"), str(tmp_path)], capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    out = tmp_path / "out"
    assert {"poolfuzz_fuzzer", "poolfuzz_fuzzer.pkg", "poolfuzz_fuzzer.options", "poolfuzz_fuzzer_seed_corpus.zip",
            "poolfuzz-native"} <= {p.name for p in out.iterdir()}
    with zipfile.ZipFile(out / "poolfuzz_fuzzer_seed_corpus.zip") as archive:
        runs = len(archive.namelist()) + 200
    assert f"Done {runs} runs" in (tmp_path / "fuzzer.log").read_text()
    assert not (tmp_path / "findings").exists()  # the reference allocator: no divergence
