"""Known mistake: move_to moves a dict's values by assigning into the caller's dict.

The result looks right, but the caller's batch now holds the moved tensors too (it was
promised to be left as it was).

Expect: build a new dict, list or tuple instead of assigning into the one you were given
"""

from __future__ import annotations

from typing import Any

import torch


def move_to(obj: Any, device: str | torch.device) -> Any:
    if isinstance(obj, (torch.Tensor, torch.nn.Module)):
        return obj.to(device)
    if isinstance(obj, dict):
        for key, value in obj.items():
            obj[key] = move_to(value, device)
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(value, device) for value in obj)
    return obj
