"""Known mistake: images are moved while the annotation file is read, so a bad line later leaves a half-moved folder.

Expect: before moving anything
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def organize_val_folder(
    val_dir: str | os.PathLike[str], annotations: str = "val_annotations.txt"
) -> int:
    val_dir = Path(val_dir)
    images = val_dir / "images"
    moved = 0
    for number, line in enumerate((val_dir / annotations).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise ValueError(f"line {number}: expected '<file name>\\t<class>'")
        source, target = images / fields[0], val_dir / fields[1] / fields[0]
        if source.is_file():
            target.parent.mkdir(exist_ok=True)
            shutil.move(source, target)
            moved += 1
        elif not target.is_file():
            raise FileNotFoundError(f"{fields[0]} is listed but missing")
    if images.is_dir() and not any(images.iterdir()):
        images.rmdir()
    return moved
