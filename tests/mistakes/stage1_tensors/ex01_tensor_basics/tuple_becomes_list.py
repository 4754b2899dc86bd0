"""Known mistake: move_to turns tuples into lists.

Expect: move_to(batch
"""

from __future__ import annotations

from typing import Any

import torch


def move_to(obj: Any, device: str | torch.device) -> Any:
    if isinstance(obj, (torch.Tensor, torch.nn.Module)):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: move_to(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [move_to(value, device) for value in obj]
    return obj
