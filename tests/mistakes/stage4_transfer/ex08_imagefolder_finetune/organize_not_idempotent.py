"""Known mistake: organize_val_folder expects every listed image in images/, so a second call fails.

Expect: idempotent
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
    moves = []
    for number, line in enumerate((val_dir / annotations).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise ValueError(f"line {number}: expected '<file name>\\t<class>'")
        source = images / fields[0]
        if not source.is_file():
            raise FileNotFoundError(f"{fields[0]} is not in {images}")
        moves.append((source, val_dir / fields[1] / fields[0]))
    for source, target in moves:
        target.parent.mkdir(exist_ok=True)
        shutil.move(source, target)
    if images.is_dir() and not any(images.iterdir()):
        images.rmdir()
    return len(moves)
