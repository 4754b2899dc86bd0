"""Known mistake: save_program opens the path with "xb", so an existing file is an error.

Expect: an existing file is replaced
"""

from __future__ import annotations

import os

import torch
from torch.export import ExportedProgram


def save_program(program: ExportedProgram, path: str | os.PathLike[str]) -> None:
    with open(path, "xb") as f:  # "x": never clobber a file... which the contract asks for
        torch.export.save(program, f)
