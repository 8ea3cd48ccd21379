#!/usr/bin/python3
"""The poolfuzz fuzzer for OSS-Fuzz and ClusterFuzzLite: libFuzzer's inputs, decoded into op
sequences (`harness.engines.atheris_engine.decode`), each run on the reference allocator beside
the model by the atheris entry point `harness.engines.atheris_main`.

Run as the fuzzing infrastructure runs it (every argument is libFuzzer's):

    ./poolfuzz_fuzzer [-runs=N] [-max_total_time=S] [CORPUS_DIR...] [CRASH_FILE]

Environment: `POOLFUZZ_TARGET` (default `reference`); `POOLFUZZ_FINDINGS`, where divergences are
saved as `.ops` files (default `./poolfuzz-findings`); `POOLFUZZ_CACHE`, the folder of the
compiled native helper (default: `poolfuzz-native` beside this fuzzer, where build.sh puts it).
"""

import os
import sys


def main() -> None:
    frozen = getattr(sys, "frozen", False)  # a PyInstaller package, as OSS-Fuzz runs it
    here = os.path.dirname(os.path.abspath(sys.executable if frozen else __file__))
    os.environ.setdefault("POOLFUZZ_CACHE", os.path.join(here, "poolfuzz-native"))
    from harness.engines import atheris_main  # imports nothing of harness before instrumenting it

    target = os.environ.get("POOLFUZZ_TARGET", "reference")
    findings = os.environ.get("POOLFUZZ_FINDINGS", os.path.join(os.getcwd(), "poolfuzz-findings"))
    atheris_main.main(["--target", target, "--out", findings, "--", *sys.argv[1:]])


if __name__ == "__main__":
    main()
