"""Known mistake: sample_stream repeats one permutation instead of drawing a fresh one each time.

Expect: fresh permutation each time
"""

from __future__ import annotations

import math

import torch


def sample_stream(n: int, samples: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rounds = math.ceil(samples / n)
    return torch.randperm(n, generator=g).repeat(rounds)[:samples]
