"""Known mistake: save_program skips the write when the path already exists.

Expect: still holds the older bytes
Expect: an existing file is replaced
"""

from __future__ import annotations

import os

import torch
from torch.export import ExportedProgram


def save_program(program: ExportedProgram, path: str | os.PathLike[str]) -> None:
    if not os.path.exists(path):
        torch.export.save(program, path)
