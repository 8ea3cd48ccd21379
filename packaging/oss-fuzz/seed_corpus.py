"""The seed corpus archive of the poolfuzz fuzzer: every `.ops` file of the given folders, in one zip.

    python3 packaging/oss-fuzz/seed_corpus.py $OUT/poolfuzz_fuzzer_seed_corpus.zip corpora/regression

OSS-Fuzz and ClusterFuzzLite unpack `<fuzzer>_seed_corpus.zip` into the fuzzer's first corpus. Any
byte string decodes to a valid op sequence, so the files' bytes are useful, varied seeds. The
archive is reproducible: entries sorted, named by file name, with a fixed date.
"""

import sys
import zipfile
from pathlib import Path

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def write_seed_corpus(archive: Path, folders: list[Path]) -> int:
    """Write `archive`; the number of files in it. ValueError if there are none."""
    files = sorted({path.name: path for folder in folders for path in folder.rglob("*.ops")}.items())
    if not files:
        raise ValueError(f"no .ops files under {', '.join(map(str, folders))}")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, path in files:
            zipped.writestr(zipfile.ZipInfo(name, FIXED_DATE), path.read_bytes())
    return len(files)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: seed_corpus.py ARCHIVE.zip FOLDER...")
    count = write_seed_corpus(Path(sys.argv[1]), [Path(a) for a in sys.argv[2:]])
    print(f"{sys.argv[1]}: {count} seed inputs")
