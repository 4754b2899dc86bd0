"""Known mistake: the answers are collected with as_completed, in the order they arrive, not the order of the batches.

Expect: as_completed
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
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
    with httpx.Client(timeout=httpx.Timeout(timeout)) as client:

        def post(batch: Any) -> dict[str, Any]:
            rows = batch.tolist() if isinstance(batch, torch.Tensor) else batch
            response = client.post(f"{url}/predict", json={"inputs": rows})
            response.raise_for_status()
            return response.json()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(post, batch) for batch in batches]
            return [future.result() for future in as_completed(futures)]
