#!/usr/bin/env python
"""Build datasets/ from the read-only sources in ../shared/datasets, reproducibly.

    python scripts/build_datasets.py            # write datasets/, MANIFEST.sha256 and the README table
    python scripts/build_datasets.py --check    # rebuild in a temp folder, compare with datasets/

Fashion-MNIST: the four published gzip IDX files, copied byte for byte (all 70,000 images fit the
60 MB budget). FSDD: the 3,000 WAV files of recordings.tar.gz decoded to int16 and stored in one
compressed .npz (audio concatenated + offsets, digit, speaker, take, speakers.csv verbatim). The .npz
is written with fixed timestamps and member order, so a rebuild gives the same bytes.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # works from a checkout without `pip install -e .`
from cnncourse.data import FASHION_FILES, FSDD_FILE, MANIFEST, read_idx_gz, sha256_file  # noqa: E402

SOURCE = REPO.parent / "shared" / "datasets"
WAV_NAME = re.compile(r"recordings/(\d)_([a-z]+)_(\d+)\.wav")
TABLE_START, TABLE_END = "<!-- manifest:start -->", "<!-- manifest:end -->"


def copy_fashion(source: Path, out: Path) -> list[str]:
    """Copy the gz IDX files unchanged after checking they parse (60,000 / 10,000 28x28 images)."""
    rels = [rel for pair in FASHION_FILES.values() for rel in pair]
    for rel in rels:
        src = source / "fashion-mnist" / Path(rel).name
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / rel)
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = (read_idx_gz(out / rel) for rel in FASHION_FILES[split])
        assert images.shape == (n, 28, 28) and labels.shape == (n,) and labels.max() == 9, split
    return rels


def read_fsdd(source: Path) -> dict[str, np.ndarray]:
    """All recordings, sorted by (digit, speaker, take), as arrays for the .npz."""
    speakers_csv = (source / "fsdd" / "speakers.csv").read_text()
    names = [line.split(",")[0] for line in speakers_csv.splitlines()[1:] if line.strip()]
    clips = {}
    with tarfile.open(source / "fsdd" / "recordings.tar.gz") as tar:
        for member in tar:
            match = WAV_NAME.fullmatch(member.name)
            if not match:
                continue
            digit, speaker, take = int(match[1]), match[2], int(match[3])
            audio, rate = sf.read(io.BytesIO(tar.extractfile(member).read()), dtype="int16")
            if rate != 8000 or audio.ndim != 1:
                raise ValueError(f"{member.name}: expected mono 8 kHz, got {rate} Hz, shape {audio.shape}")
            clips[(digit, names.index(speaker), take)] = audio
    if len(clips) != 3000:
        raise ValueError(f"expected 3,000 recordings, found {len(clips)}")
    keys = sorted(clips)
    digits, speakers, takes = (np.array(column, dtype=np.int64) for column in zip(*keys, strict=True))
    return {
        "audio": np.concatenate([clips[k] for k in keys]),
        "offsets": np.concatenate([[0], np.cumsum([len(clips[k]) for k in keys])]).astype(np.int64),
        "digits": digits, "speakers": speakers, "takes": takes,
        "sample_rate": np.array(8000, dtype=np.int64),
        "speakers_csv": np.array(speakers_csv),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but with a fixed timestamp so that the sha256 does not change per build."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def build(source: Path, out: Path) -> list[str]:
    rels = copy_fashion(source, out)
    write_npz(out / FSDD_FILE, read_fsdd(source))
    return rels + [FSDD_FILE]


def write_manifest(out: Path, rels: list[str]) -> dict[str, str]:
    """Digests of the built files, plus the entries other scripts own (scripts/pretrain_source.py's checkpoint)."""
    digests = {rel: sha256_file(out / rel) for rel in rels}
    if (out / MANIFEST).is_file():
        for line in (out / MANIFEST).read_text().splitlines():
            digest, _, rel = line.partition("  ")
            if rel and rel not in digests and (out / rel).is_file():
                digests[rel] = digest
    (out / MANIFEST).write_text("".join(f"{d}  {rel}\n" for rel, d in digests.items()))
    return digests


def update_readme(out: Path, digests: dict[str, str]) -> None:
    """Rewrite the table between the manifest markers of datasets/README.md."""
    readme = out / "README.md"
    text = readme.read_text()
    rows = [f"| `{rel}` | {(out / rel).stat().st_size:,} | `{d}` |" for rel, d in digests.items()]
    total = sum((out / rel).stat().st_size for rel in digests)
    table = "\n".join(["| file | bytes | sha256 |", "|---|---:|---|", *rows, f"| total | {total:,} | |"])
    head, rest = text.split(TABLE_START)
    readme.write_text(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{rest.split(TABLE_END)[1]}")


def check(source: Path, out: Path) -> list[str]:
    """Differences between a fresh build and `out`: bytes for copies, array contents for the .npz."""
    with tempfile.TemporaryDirectory() as tmp:
        rels, problems = build(source, Path(tmp)), []
        for rel in rels:
            fresh, kept = Path(tmp) / rel, out / rel
            if not kept.is_file():
                problems.append(f"{rel}: missing")
            elif rel.endswith(".npz"):  # zlib builds may compress differently; the arrays must agree
                with np.load(fresh) as a, np.load(kept) as b:
                    if a.files != b.files or any(not np.array_equal(a[k], b[k]) for k in a.files):
                        problems.append(f"{rel}: arrays differ from a fresh build")
            elif sha256_file(fresh) != sha256_file(kept):
                problems.append(f"{rel}: bytes differ from the source")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=SOURCE, help="folder with fashion-mnist/ and fsdd/")
    parser.add_argument("--out", type=Path, default=REPO / "datasets")
    parser.add_argument("--check", action="store_true", help="only compare a fresh build with --out")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.source, args.out)
        print("\n".join(problems) or f"{args.out} matches a fresh build from {args.source}")
        return 1 if problems else 0
    digests = write_manifest(args.out, build(args.source, args.out))
    if (args.out / "README.md").is_file():
        update_readme(args.out, digests)
    for rel, d in digests.items():
        print(f"{d}  {rel}  {(args.out / rel).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
