"""Known mistake: the checksum's ValueError says only "checksum mismatch", without the file or digests.

Expect: does not give the file and the expected digest and the actual digest
"""

from __future__ import annotations

import hashlib
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
    want = (expected_sha256 or data.expected_sha256(data.BACKBONE_FILE)).lower()
    if hashlib.sha256(file.read_bytes()).hexdigest() != want:
        raise ValueError("checksum mismatch")
    state = torch.load(file, map_location="cpu", weights_only=True)
    model = data.make_backbone()
    model.load_state_dict(state, strict=True)
    return model.eval()
