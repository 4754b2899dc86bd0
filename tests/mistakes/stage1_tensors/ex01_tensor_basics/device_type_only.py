"""Known mistake: describe_tensor reports t.device.type, dropping the device's index.

Right on the CPU (``"cpu"`` either way); a GPU tensor gives ``"cuda"`` instead of
``"cuda:0"``, so two GPUs can no longer be told apart.

Expect: 'device' is 'cuda' (str), expected 'cuda:0' (str)
"""

from __future__ import annotations

from typing import Any

import torch


def describe_tensor(t: torch.Tensor) -> dict[str, Any]:
    return {
        "shape": tuple(t.shape),
        "dtype": str(t.dtype).removeprefix("torch."),
        "device": t.device.type,
        "numel": t.numel(),
        "requires_grad": t.requires_grad,
    }
