"""Known mistake: make_generator returns torch.manual_seed(seed), the re-seeded global generator.

Expect: global default generator
"""

from __future__ import annotations

import torch


def make_generator(seed: int) -> torch.Generator:
    return torch.manual_seed(seed)
