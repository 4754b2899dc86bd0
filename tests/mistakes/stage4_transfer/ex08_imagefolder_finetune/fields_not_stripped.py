"""Known mistake: the annotation fields are used as split, so a space around a file name or class counts.

Expect: stripped of surrounding whitespace
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
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise ValueError(f"line {number}: expected '<file name>\\t<class>'")
        source, target = images / fields[0], val_dir / fields[1] / fields[0]
        if source.is_file():
            moves.append((source, target))
        elif not target.is_file():
            raise FileNotFoundError(f"{fields[0]} is listed but missing")
    for source, target in moves:
        target.parent.mkdir(exist_ok=True)
        shutil.move(source, target)
    if images.is_dir() and not any(images.iterdir()):
        images.rmdir()
    return len(moves)
