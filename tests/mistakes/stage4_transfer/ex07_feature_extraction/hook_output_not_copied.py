"""Known mistake: the hook keeps the module's output itself, which the in-place ReLU after a BatchNorm then overwrites.

Expect: output.clone()
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
        kept.append(output)

    flags = _training_flags(model)
    handle = module.register_forward_hook(keep_output)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
        return torch.flatten(kept[0], 1)
    finally:
        handle.remove()
        _restore_flags(model, flags)
