"""Known mistake: describe_tensor reports whether t has a gradient, not whether it requires one.

``t.grad is not None`` is False for a tensor that requires grad until backward() has run.

Expect: 'requires_grad' is false (bool), expected true (bool)
"""

from __future__ import annotations

from typing import Any

import torch


def describe_tensor(t: torch.Tensor) -> dict[str, Any]:
    return {
        "shape": tuple(t.shape),
        "dtype": str(t.dtype).removeprefix("torch."),
        "device": str(t.device),
        "numel": t.numel(),
        "requires_grad": t.grad is not None,
    }
