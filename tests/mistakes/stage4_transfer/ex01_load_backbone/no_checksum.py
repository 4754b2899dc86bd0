"""Known mistake: the checkpoint is loaded without checking its sha256 at all.

Expect: expected ValueError
Expect: sha256
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from pytorch_path import data


def load_backbone(
    path: str | os.PathLike[str] | None = None, *, expected_sha256: str | None = None
) -> nn.Module:
    file = Path(data.data_dir() / data.BACKBONE_FILE if path is None else path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint at {file}")
    state = torch.load(file, map_location="cpu", weights_only=True)
    model = data.make_backbone()
    model.load_state_dict(state, strict=True)
    return model.eval()
