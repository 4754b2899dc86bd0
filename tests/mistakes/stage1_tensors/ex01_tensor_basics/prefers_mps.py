"""Known mistake: pick_device checks mps before cuda.

Expect: pick_device()
"""

from __future__ import annotations

from typing import Any

import torch


def arange_grid(rows: int, cols: int, *, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    return torch.arange(rows * cols, dtype=dtype, device=device).reshape(rows, cols)


def describe_tensor(t: torch.Tensor) -> dict[str, Any]:
    return {
        "shape": tuple(t.shape),
        "dtype": str(t.dtype).removeprefix("torch."),
        "device": str(t.device),
        "numel": t.numel(),
        "requires_grad": t.requires_grad,
    }


def pick_device() -> torch.device:
    if torch.backends.mps.is_available():
        return torch.device("mps")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def move_to(obj: Any, device: str | torch.device) -> Any:
    if isinstance(obj, (torch.Tensor, torch.nn.Module)):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: move_to(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(value, device) for value in obj)
    return obj
