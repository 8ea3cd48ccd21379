#!/bin/bash -eu
# Builds the poolfuzz fuzzer exactly as build.sh does on OSS-Fuzz / ClusterFuzzLite, but without
# Docker, then runs the built fuzzer on its seed corpus: a check of the packaging on any machine.
#
#   packaging/oss-fuzz/build_locally.sh [WORKDIR]      (default: a new temporary folder)
#
# What the base-builder-python image provides is made here instead:
#   $SRC/poolfuzz   the sources, as the Dockerfile's `COPY .` puts them (tracked and new files);
#   $SRC/build.sh   the build script, as the Dockerfile's second COPY puts it;
#   atheris, pyinstaller and compile_python_fuzzer (PyInstaller `--onefile` package plus the
#                   wrapper script the runner executes), in a virtual environment of their own.
# There are no sanitizer libraries here: the wrapper runs the package without LD_PRELOAD.
# Prints the folder of the build ($OUT) and the fuzzer's last lines; exit status 0 when the fuzzer
# ran every seed input and some more.
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d /tmp/poolfuzz-oss-fuzz.XXXXXX)}
export SRC="$work/src" OUT="$work/out"
rm -rf "$SRC" "$OUT" && mkdir -p "$SRC/poolfuzz" "$OUT"

(cd "$repo" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
    [ -f "$file" ] && mkdir -p "$SRC/poolfuzz/$(dirname "$file")" && cp -p "$file" "$SRC/poolfuzz/$file"
done)
cp "$repo/packaging/oss-fuzz/build.sh" "$SRC/build.sh"

python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install --quiet --upgrade pip
pip install --quiet "$SRC/poolfuzz[oss-fuzz]"  # the image's tools, at the versions pyproject declares

compile_python_fuzzer() {  # FUZZER.py [PyInstaller options...]: what the image's command does
    local fuzzer=$1 name package
    shift
    name=$(basename -s .py "$fuzzer")
    package="$name.pkg"
    pyinstaller --log-level WARN --distpath "$OUT" --workpath "$work/pyinstaller/$name" --specpath "$work/pyinstaller" \
        --onefile --name "$package" "$@" "$fuzzer"
    printf '#!/bin/sh\n# LLVMFuzzerTestOneInput for fuzzer detection.\nthis_dir=$(dirname "$0")\n"$this_dir/%s" "$@"\n' \
        "$package" > "$OUT/$name"
    chmod +x "$OUT/$name"
}
export -f compile_python_fuzzer
export work

(cd "$SRC" && bash "$SRC/build.sh")

seeds="$work/seeds"
rm -rf "$seeds" && mkdir -p "$seeds"
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
    "$OUT/poolfuzz_fuzzer_seed_corpus.zip" "$seeds"
count=$(find "$seeds" -type f | wc -l)
runs=$((count + 200))
echo "built into $OUT; running poolfuzz_fuzzer on $count seed inputs, $runs runs"
(cd "$work" && POOLFUZZ_FINDINGS="$work/findings" "$OUT/poolfuzz_fuzzer" -runs=$runs -seed=1 "$seeds" \
    > "$work/fuzzer.log" 2>&1) || { tail -30 "$work/fuzzer.log"; exit 1; }
tail -3 "$work/fuzzer.log"
grep -q "Done $runs runs" "$work/fuzzer.log"
