#!/bin/bash -eu
# Builds the poolfuzz fuzzer into $OUT, the way OSS-Fuzz and ClusterFuzzLite build Python fuzzers:
# one PyInstaller package per fuzzer (compile_python_fuzzer), its .options file, its seed corpus.
# $SRC, $OUT, $CC and $CFLAGS (with the sanitizer flags) come from the base-builder image.
cd "$SRC/poolfuzz"

# The dependencies of pyproject.toml (atheris itself is in the base image). The project is used
# from the source tree rather than installed.
python3 - <<'PY' > /tmp/poolfuzz-requirements.txt
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
pip3 install -r /tmp/poolfuzz-requirements.txt

# The native fault-counting helper is compiled by cffi on first use. There is no compiler where
# the fuzzer runs, so it is compiled here, with the sanitizer flags, into a folder shipped in
# $OUT; the fuzzer finds it there (POOLFUZZ_CACHE, set by poolfuzz_fuzzer.py).
POOLFUZZ_CACHE="$OUT/poolfuzz-native" PYTHONPATH="$PWD" python3 -c "from harness._native import native; native()"

# Targets are imported by name at run time: collect every module of both packages.
compile_python_fuzzer packaging/oss-fuzz/poolfuzz_fuzzer.py \
    --paths "$PWD" \
    --collect-submodules harness \
    --collect-submodules allocator \
    --add-data "harness/native:harness/native"

cp packaging/oss-fuzz/poolfuzz_fuzzer.options "$OUT/"
python3 packaging/oss-fuzz/seed_corpus.py "$OUT/poolfuzz_fuzzer_seed_corpus.zip" corpora/regression
