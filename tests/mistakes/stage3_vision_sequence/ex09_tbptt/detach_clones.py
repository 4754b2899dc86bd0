"""Known mistake: detach_hidden copies the state (clone().detach()) instead of just detaching it.

Expect: a copy (clone())
"""

from __future__ import annotations

from typing import Any

import torch


def detach_hidden(hidden: Any) -> Any:
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        return hidden.clone().detach()
    return tuple(detach_hidden(h) for h in hidden)
