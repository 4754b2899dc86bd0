"""Convert scikit-learn's bundled 8x8 handwritten digits into ``data/digits.npz``.

Run once, by a maintainer, with scikit-learn installed somewhere *outside* the
project's environment (scikit-learn is not a dependency of pytorch-path)::

    python -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install scikit-learn
    /tmp/skvenv/bin/python scripts/make_digits.py          # (re)write data/digits.npz
    /tmp/skvenv/bin/python scripts/make_digits.py --check  # verify, write nothing

``sklearn.datasets.load_digits`` reads a file that ships inside the scikit-learn
wheel; nothing is downloaded.

The output is byte-for-byte reproducible, so the sha256 that
``pytorch_path.data`` verifies is the sha256 of the file itself:

* the ``.npz`` is a zip archive written here by hand rather than by
  ``np.savez``/``np.savez_compressed``, which stamp every member with the current
  time; members are stored uncompressed (so the bytes do not depend on the
  zlib build), in a fixed order, with a fixed timestamp (1980-01-01), fixed
  permissions and a fixed "made on" system;
* each member is a ``.npy`` written with format version 1.0 and no pickles.

The script also records the file's sha256 and size in ``data/checksums.json``,
keeping any other entries (for example the backbone checkpoint) untouched.
Only numpy, scikit-learn and the standard library are needed: this script does
not import torch or pytorch_path.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
OUTPUT_NAME = "digits.npz"
CHECKSUMS_NAME = "checksums.json"
CHECKSUMS_FORMAT = 1

N_IMAGES = 1797
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def digits_arrays() -> dict[str, np.ndarray]:
    """The digits as ``images`` (uint8, (1797, 8, 8), 0..16) and ``labels`` (uint8, (1797,))."""
    from sklearn.datasets import load_digits  # only the maintainer needs scikit-learn

    bunch = load_digits()
    images = np.asarray(bunch.images)
    labels = np.asarray(bunch.target)
    if images.shape != (N_IMAGES, 8, 8) or labels.shape != (N_IMAGES,):
        raise SystemExit(f"unexpected shapes from scikit-learn: {images.shape}, {labels.shape}")
    if images.min() < 0 or images.max() > 16 or not np.array_equal(images, np.round(images)):
        raise SystemExit("unexpected pixel values: expected integers in 0..16")
    if sorted(np.unique(labels).tolist()) != list(range(10)):
        raise SystemExit("unexpected labels: expected the classes 0..9")
    return {
        "images": np.ascontiguousarray(images, dtype=np.uint8),
        "labels": np.ascontiguousarray(labels, dtype=np.uint8),
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A reproducible ``.npz`` (a zip of ``.npy`` members) holding ``arrays``, in key order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, arrays[name], version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # "Unix", whatever machine this runs on
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def read_checksums(path: Path) -> dict[str, object]:
    """The checksums file as a dict, or a fresh one if it does not exist yet."""
    if not path.exists():
        return {"format_version": CHECKSUMS_FORMAT, "files": {}}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict) or not isinstance(loaded.get("files"), dict):
        raise SystemExit(f"{path}: expected an object with a 'files' mapping")
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild in memory and compare with data/ (exit 1 on a difference); write nothing",
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)

    arrays = digits_arrays()
    payload = npz_bytes(arrays)
    digest = hashlib.sha256(payload).hexdigest()

    # The file must round-trip through np.load exactly.
    with np.load(io.BytesIO(payload), allow_pickle=False) as loaded:
        for name, array in arrays.items():
            assert loaded[name].dtype == array.dtype and np.array_equal(loaded[name], array)

    data_dir: Path = args.data_dir
    out_path = data_dir / OUTPUT_NAME
    checksums_path = data_dir / CHECKSUMS_NAME
    checksums = read_checksums(checksums_path)
    files = checksums["files"]
    assert isinstance(files, dict)
    entry = {"sha256": digest, "size": len(payload)}

    if args.check:
        problems = []
        if files.get(OUTPUT_NAME) != entry:
            problems.append(f"{checksums_path} records {files.get(OUTPUT_NAME)}, rebuilt {entry}")
        if not out_path.exists() or out_path.read_bytes() != payload:
            problems.append(f"{out_path} differs from a fresh rebuild")
        for problem in problems:
            print(f"MISMATCH: {problem}", file=sys.stderr)
        if not problems:
            print(f"OK: {out_path} and {checksums_path} match a fresh rebuild (sha256 {digest})")
        return 1 if problems else 0

    data_dir.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(payload)
    files[OUTPUT_NAME] = entry
    checksums["format_version"] = CHECKSUMS_FORMAT
    checksums["files"] = dict(sorted(files.items()))
    checksums_path.write_text(json.dumps(checksums, indent=2) + "\n", encoding="utf-8")
    counts = np.bincount(arrays["labels"], minlength=10).tolist()
    print(f"wrote {out_path} ({len(payload)} bytes, sha256 {digest})")
    print(f"images {arrays['images'].shape} {arrays['images'].dtype}, labels per class {counts}")
    print(f"updated {checksums_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
