#!/bin/bash -eu
# Builds the poolfuzz fuzzer into $OUT, the way OSS-Fuzz and ClusterFuzzLite build Python fuzzers:
# one PyInstaller package per fuzzer (compile_python_fuzzer), its .options file, its seed corpus.
# $SRC, $OUT, $CC and $CFLAGS (with the sanitizer flags) come from the base-builder image.
cd "$SRC/poolfuzz"

# The project and its dependencies (atheris itself is in the base image).
pip3 install .

# The native fault-counting helper is compiled by cffi on first use. There is no compiler where
# the fuzzer runs, so it is compiled here, with the sanitizer flags, into a folder shipped in
# $OUT; the fuzzer finds it there (POOLFUZZ_CACHE, set by poolfuzz_fuzzer.py).
(cd /tmp && POOLFUZZ_CACHE="$OUT/poolfuzz-native" python3 -c "from harness._native import native; native()")

# Targets are imported by name at run time: every module of both packages goes in, and the
# package data (the helper's C source, whose hash names the compiled helper).
compile_python_fuzzer packaging/oss-fuzz/poolfuzz_fuzzer.py \
    --collect-submodules harness \
    --collect-submodules allocator \
    --collect-data harness

cp packaging/oss-fuzz/poolfuzz_fuzzer.options "$OUT/"
python3 packaging/oss-fuzz/seed_corpus.py "$OUT/poolfuzz_fuzzer_seed_corpus.zip" corpora/regression
