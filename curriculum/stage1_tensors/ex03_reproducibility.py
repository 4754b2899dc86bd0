"""1.3 Seeds, generators and reproducible draws.

Implement the four functions below, then run ``make check ex=1.3``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import random  # noqa: F401 (seed_everything needs it)

import numpy as np  # noqa: F401 (seed_everything needs it)
import torch


def seed_everything(seed: int) -> None:
    """Seed every global random number generator a training script draws from.

    After ``seed_everything(s)``, the next draws from Python's ``random`` module
    (``random.random()``, ``random.shuffle``), NumPy's global RNG (``np.random.rand()``,
    ``np.random.shuffle``), torch's CPU RNG (``torch.rand()``, ``torch.randn()``) and the
    RNG of every CUDA device are the same every time the program runs. Each one is
    seeded with ``seed`` itself (``0 <= seed < 2**32``). Returns ``None``; draws nothing.
    """
    # TODO(1.3): Seed the three libraries' global RNGs (and CUDA's) with seed.
    raise NotImplementedError("1.3: seed_everything")


def make_generator(seed: int) -> torch.Generator:
    """Return a new CPU ``torch.Generator`` seeded with ``seed``.

    Its ``initial_seed()`` is ``seed`` and ``g.device`` is ``cpu``. It is a generator of its
    own: making it or drawing from it leaves torch's global RNG (the one ``torch.rand()``
    uses) untouched, and two generators made by two calls do not affect each other.
    """
    # TODO(1.3): Create a fresh generator and seed only that one.
    raise NotImplementedError("1.3: make_generator")


def sample_noise(shape: tuple[int, ...], seed: int, device: str | torch.device) -> torch.Tensor:
    """Return standard-normal noise of this shape, the same for a seed on every device.

    - a float32 tensor of shape ``shape`` on ``device``;
    - its values are exactly the values ``torch.randn(shape, generator=g)`` draws on the
      CPU from a generator ``g = make_generator(seed)``, so they are identical on cpu,
      cuda and mps (each device's own RNG would give different numbers);
    - it neither reads nor changes torch's global RNG state: calling it does not change
      what ``torch.rand()`` returns next, and the global seed does not change the noise.
    """
    # TODO(1.3): Draw on the CPU from your own generator, then move the result.
    raise NotImplementedError("1.3: sample_noise")


def shuffled_indices(n: int, seed: int) -> torch.Tensor:
    """Return a random permutation of ``0 .. n-1`` that depends only on ``seed``.

    An int64 CPU tensor of shape ``(n,)``, exactly ``torch.randperm(n, generator=g)``
    with ``g = make_generator(seed)`` (the order a seeded ``DataLoader`` shuffle would
    use). Like ``sample_noise`` it neither reads nor changes torch's global RNG state.
    """
    # TODO(1.3): torch.randperm accepts a generator too.
    raise NotImplementedError("1.3: shuffled_indices")
