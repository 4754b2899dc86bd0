"""Known mistake: the client is built without the timeout, so httpx's default of 5 s applies.

Expect: httpx.Timeout(timeout)
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
    with httpx.Client() as client:

        def post(batch: Any) -> dict[str, Any]:
            rows = batch.tolist() if isinstance(batch, torch.Tensor) else batch
            response = client.post(f"{url}/predict", json={"inputs": rows})
            response.raise_for_status()
            return response.json()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(post, batches))
