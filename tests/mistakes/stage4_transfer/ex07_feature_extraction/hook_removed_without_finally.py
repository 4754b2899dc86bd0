"""Known mistake: extract_with_hook removes the hook after a successful forward only, so a forward that raises leaves it behind.

Expect: replaced by a module whose forward raises
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
    handle = module.register_forward_hook(keep_output)
    try:
        model.eval()
        with torch.no_grad():
            model(x)
        handle.remove()
        return torch.flatten(kept[0], 1)
    finally:
        _restore_flags(model, flags)
