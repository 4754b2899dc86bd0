"""Known mistake: the program is pickled with torch.save and unpickled with torch.load.

Expect: torch.export.load(path) could not read the file
"""

from __future__ import annotations

import os

import torch
from torch.export import ExportedProgram


def save_program(program: ExportedProgram, path: str | os.PathLike[str]) -> None:
    torch.save(program, path)


def load_program(path: str | os.PathLike[str]) -> ExportedProgram:
    return torch.load(path, weights_only=False)
