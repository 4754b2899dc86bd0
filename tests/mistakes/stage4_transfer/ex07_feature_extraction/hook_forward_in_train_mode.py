"""Known mistake: extract_with_hook runs the forward pass without model.eval(), so BatchNorm uses (and updates) batch statistics.

Expect: ran in train mode
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def extract_with_hook(
    model: nn.Module, x: torch.Tensor, module_name: str = "avgpool"
) -> torch.Tensor:
    module = model.get_submodule(module_name)
    kept: list[torch.Tensor] = []

    def keep_output(mod: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        kept.append(output.clone())

    handle = module.register_forward_hook(keep_output)
    try:
        with torch.no_grad():
            model(x)
        return torch.flatten(kept[0], 1)
    finally:
        handle.remove()
