"""Known mistake: split_dataset only rejects negative fractions, so a fraction of 0 (an empty split) slips through.

Expect: [0.0, 1.0]
Expect: expected ValueError to be raised
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Subset, random_split


class TensorPairDataset(Dataset):
    """A map-style dataset over a features tensor and a labels tensor of the same length.

    - ``features``: shape ``(N, ...)``; ``labels``: shape ``(N, ...)`` (often ``(N,)`` int64);
      both are stored as given (no copy, no conversion). Raises ``ValueError`` when their
      first dims differ.
    - ``transform``: an optional callable applied to the features of one item *each time
      that item is read*, in ``__getitem__``; it never runs in ``__init__`` and never
      changes the stored tensors (a random augmentation gives a new draw on every read).
    """

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Keep the tensors and the transform; do no work on the data here."""
        if features.shape[0] != labels.shape[0]:
            raise ValueError(
                f"features and labels differ in length: {features.shape[0]} != {labels.shape[0]}"
            )
        self.features = features
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        """The number of items, ``N``."""
        return self.features.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``index`` as a tuple ``(x, y)``.

        ``x`` is ``transform(features[index])`` (or ``features[index]`` without a transform)
        and ``y`` is ``labels[index]`` (a 0-dim tensor when labels are ``(N,)``).
        """
        x = self.features[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[index]


def split_dataset(dataset: Dataset, fractions: Sequence[float], seed: int) -> list[Subset]:
    """Split ``dataset`` at random into ``len(fractions)`` disjoint ``Subset``s, reproducibly.

    Sizes, for ``n = len(dataset)``: split ``i`` gets ``floor(n * fractions[i])`` items, and
    the items left over by rounding down all go to the *first* split, so the sizes always
    sum to ``n``. Example: ``n=10, fractions=[0.5, 0.25, 0.25]`` gives sizes ``[6, 2, 2]``.

    The split is ``torch.utils.data.random_split(dataset, sizes,
    generator=torch.Generator().manual_seed(seed))``: the same seed gives the same split
    whatever the global RNG state, and the global RNG is neither used nor changed.

    Raises ``ValueError`` if ``fractions`` is empty, holds a value outside ``(0, 1]``, or does
    not sum to 1 (within 1e-6).
    """
    fractions = [float(f) for f in fractions]
    if not fractions or any(f < 0.0 or f > 1.0 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], got {fractions}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions)})")
    n = len(dataset)
    sizes = [math.floor(n * f) for f in fractions]
    sizes[0] += n - sum(sizes)
    return random_split(dataset, sizes, generator=torch.Generator().manual_seed(seed))


def make_loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool = False
) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` whose order depends on ``seed`` alone.

    - batches of ``batch_size`` items; the last batch is smaller when ``batch_size`` does not
      divide ``len(dataset)``, or dropped when ``drop_last`` is True;
    - ``shuffle=True``: a new order each epoch (each ``iter(loader)``), drawn from the
      loader's own generator ``torch.Generator().manual_seed(seed)``, so two loaders made
      with the same seed give the same sequence of epochs, whatever the global RNG does in
      between; ``shuffle=False``: the dataset's order;
    - ``num_workers=0``: items are loaded in the main process.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=0,
        generator=torch.Generator().manual_seed(seed),
    )


def count_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches one epoch over ``n`` items yields: ``len(loader)`` without a loader.

    ``n=10, batch_size=4`` gives 3 batches (4, 4, 2), or 2 with ``drop_last=True``.
    """
    return n // batch_size if drop_last else -(-n // batch_size)
