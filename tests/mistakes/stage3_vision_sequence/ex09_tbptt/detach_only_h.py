"""Known mistake: for an LSTM only h is detached; the cell state c keeps the graph of the earlier chunks.

Expect: detach both h and c
"""

from __future__ import annotations

from typing import Any

import torch


def detach_hidden(hidden: Any) -> Any:
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return (hidden[0].detach(), *hidden[1:])
