"""Known mistake: torch.manual_seed is called once per seed before the methods run, not right before each model is built.

Expect: torch.manual_seed(seed)
"""

from __future__ import annotations

import torch
from torch import nn


def _build(method: str, seed: int) -> nn.Module:
    model = make_backbone()
    if method != "scratch":
        path = verify_file(BACKBONE_FILE)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.fc = nn.Linear(model.fc.in_features, 5)
    if method == "linear_probe":
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
    return model
