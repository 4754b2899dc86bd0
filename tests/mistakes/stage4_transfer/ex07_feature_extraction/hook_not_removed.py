"""Known mistake: extract_with_hook registers its forward hook and never removes it.

Expect: hooks are still registered
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

    flags = _training_flags(model)
    module.register_forward_hook(keep_output)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
        return torch.flatten(kept[-1], 1)
    finally:
        _restore_flags(model, flags)
