"""The seed corpus archive of the poolfuzz fuzzer: the programs of the given folders, in one zip.

    python3 packaging/oss-fuzz/seed_corpus.py $OUT/poolfuzz_fuzzer_seed_corpus.zip corpora/regression

OSS-Fuzz and ClusterFuzzLite unpack `<fuzzer>_seed_corpus.zip` into the fuzzer's first corpus.
Each `.ops` file is there as the fuzzer's input for its program (`harness.engines.atheris_encode`,
the nearest program the decoder can express), named after the file, beside the engine's
`random-NNN` first inputs — the seeds `poolfuzz atheris` starts a new corpus with. The archive is
reproducible: entries sorted, with a fixed date.
"""

import sys
import zipfile
from pathlib import Path

from harness.engines.atheris_engine import named_corpus_seeds

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def write_seed_corpus(archive: Path, folders: list[Path]) -> int:
    """Write `archive`; the number of inputs in it. ValueError if a folder has no `.ops` file."""
    seeds: dict[str, bytes] = {}
    for folder in folders:
        found = named_corpus_seeds(folder)
        if not any(name.endswith(".ops") for name in found):
            raise ValueError(f"no .ops files under {folder}")
        seeds |= found
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in sorted(seeds.items()):
            zipped.writestr(zipfile.ZipInfo(name, FIXED_DATE), data)
    return len(seeds)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: seed_corpus.py ARCHIVE.zip FOLDER...")
    count = write_seed_corpus(Path(sys.argv[1]), [Path(a) for a in sys.argv[2:]])
    print(f"{sys.argv[1]}: {count} seed inputs")
