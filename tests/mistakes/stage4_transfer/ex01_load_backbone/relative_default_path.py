"""Known mistake: the default path is "data/backbone.pt" and the digest is copied into the code.

Expect: data.data_dir()
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from pytorch_path import data

SHIPPED_SHA256 = "056af459a6cc327b5b4fcf30f549e256b998b39b124209bf63fa229bd60aa8dd"


def load_backbone(
    path: str | os.PathLike[str] | None = None, *, expected_sha256: str | None = None
) -> nn.Module:
    file = Path("data/backbone.pt" if path is None else path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint at {file}")
    want = (expected_sha256 or SHIPPED_SHA256).lower()
    got = hashlib.sha256(file.read_bytes()).hexdigest()
    if got != want:
        raise ValueError(f"{file} failed its checksum: expected sha256 {want}, got {got}")
    state = torch.load(file, map_location="cpu", weights_only=True)
    model = data.make_backbone()
    model.load_state_dict(state, strict=True)
    return model.eval()
