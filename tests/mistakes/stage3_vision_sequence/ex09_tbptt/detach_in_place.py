"""Known mistake: detach_hidden detaches its argument in place with detach_() instead of returning detached tensors.

Expect: in place
"""

from __future__ import annotations

from typing import Any

import torch


def detach_hidden(hidden: Any) -> Any:
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        return hidden.detach_()
    for h in hidden:
        h.detach_()
    return hidden
