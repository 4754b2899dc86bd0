"""Known mistake: seed_everything seeds a new torch.Generator instead of torch's global RNG.

Expect: torch.rand(3)
Expect: torch.manual_seed
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed every global random number generator a training script draws from.

    After ``seed_everything(s)``, the next draws from Python's ``random`` module
    (``random.random()``, ``random.shuffle``), NumPy's global RNG (``np.random.rand()``,
    ``np.random.shuffle``), torch's CPU RNG (``torch.rand()``, ``torch.randn()``) and the
    RNG of every CUDA device are the same every time the program runs. Each one is
    seeded with ``seed`` itself (``0 <= seed < 2**32``). Returns ``None``; draws nothing.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.Generator().manual_seed(seed)


def make_generator(seed: int) -> torch.Generator:
    """Return a new CPU ``torch.Generator`` seeded with ``seed``.

    Its ``initial_seed()`` is ``seed`` and ``g.device`` is ``cpu``. It is a generator of its
    own: making it or drawing from it leaves torch's global RNG (the one ``torch.rand()``
    uses) untouched, and two generators made by two calls do not affect each other.
    """
    return torch.Generator(device="cpu").manual_seed(seed)


def sample_noise(shape: tuple[int, ...], seed: int, device: str | torch.device) -> torch.Tensor:
    """Return standard-normal noise of this shape, the same for a seed on every device.

    - a float32 tensor of shape ``shape`` on ``device``;
    - its values are exactly the values ``torch.randn(shape, generator=g)`` draws on the
      CPU from a generator ``g = make_generator(seed)``, so they are identical on cpu,
      cuda and mps (each device's own RNG would give different numbers);
    - it neither reads nor changes torch's global RNG state: calling it does not change
      what ``torch.rand()`` returns next, and the global seed does not change the noise.
    """
    noise = torch.randn(tuple(shape), generator=make_generator(seed), dtype=torch.float32)
    return noise.to(device)


def shuffled_indices(n: int, seed: int) -> torch.Tensor:
    """Return a random permutation of ``0 .. n-1`` that depends only on ``seed``.

    An int64 CPU tensor of shape ``(n,)``, exactly ``torch.randperm(n, generator=g)``
    with ``g = make_generator(seed)`` (the order a seeded ``DataLoader`` shuffle would
    use). Like ``sample_noise`` it neither reads nor changes torch's global RNG state.
    """
    return torch.randperm(n, generator=make_generator(seed))
