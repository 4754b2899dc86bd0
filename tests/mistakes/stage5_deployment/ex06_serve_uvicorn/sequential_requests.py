"""Known mistake: the batches are posted one after another in a plain loop, ignoring workers.

Expect: one after another
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import torch


def predict_many(
    url: str,
    batches: Sequence[torch.Tensor | Sequence[Sequence[float]]],
    *,
    timeout: float = 5.0,
    workers: int = 4,
) -> list[dict[str, Any]]:
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    answers = []
    with httpx.Client(timeout=httpx.Timeout(timeout)) as client:
        for batch in batches:
            rows = batch.tolist() if isinstance(batch, torch.Tensor) else batch
            response = client.post(f"{url}/predict", json={"inputs": rows})
            response.raise_for_status()
            answers.append(response.json())
    return answers
