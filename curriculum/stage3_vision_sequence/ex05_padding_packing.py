"""3.5 Variable-length sequences: padding, lengths and masks.

Write SequenceDataset and collate_sequences below, then run ``make check ex=3.5``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence  # noqa: F401 (it pads a list of 1-D tensors)
from torch.utils.data import Dataset

from pytorch_path.data import PAD_TOKEN  # noqa: F401 (0, the padding id)


class SequenceDataset(Dataset):
    """A map-style dataset of variable-length token sequences and their class labels.

    - ``sequences``: a list of 1-D int64 tensors, one per item, of any lengths (at least 1);
      they are kept as given (no copy, no padding here: padding is the collate function's job,
      because the right amount of padding depends on which items end up in the same batch).
    - ``labels``: one class index per sequence, either a 1-D int64 tensor of shape ``(N,)`` or
      a list of Python ints.

    Raises ``ValueError`` when the number of labels differs from the number of sequences.
    """

    def __init__(self, sequences: Sequence[torch.Tensor], labels: torch.Tensor | Sequence[int]):
        """Keep the sequences and the labels; check that there is one label per sequence."""
        # TODO(3.5): Check there is one label per sequence, then keep both as given.
        raise NotImplementedError("3.5: SequenceDataset.__init__")

    def __len__(self) -> int:
        """The number of sequences, ``N``."""
        # TODO(3.5): How many sequences are stored?
        raise NotImplementedError("3.5: SequenceDataset.__len__")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Item ``index`` as ``(sequence, label)``: the stored 1-D tensor and a Python int."""
        # TODO(3.5): Return the stored sequence and its label as a Python int.
        raise NotImplementedError("3.5: SequenceDataset.__getitem__")


def collate_sequences(batch: list[tuple[torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    """Pad a list of ``(sequence, label)`` items into one batch (a ``collate_fn``).

    ``batch`` holds ``B`` items as :class:`SequenceDataset` returns them: 1-D int64 token
    tensors of lengths ``L_0 .. L_{B-1}`` (each at least 1), all on one device, and labels
    (Python ints, or 0-dim integer tensors). With ``T_max = max(L_i)``, returns a dict:

    - ``"tokens"``: ``(B, T_max)`` int64, on the sequences' device, batch first; row ``i``
      holds sequence ``i`` followed by ``T_max - L_i`` copies of ``PAD_TOKEN`` (0);
    - ``"lengths"``: ``(B,)`` int64 holding ``L_i``, always on the CPU (the place
      ``pack_padded_sequence`` wants it), whatever device the sequences are on;
    - ``"mask"``: ``(B, T_max)`` bool on the sequences' device, True at real tokens and False
      at padding (``mask[i, t]`` is ``t < L_i``);
    - ``"labels"``: ``(B,)`` int64 on the sequences' device.

    Row ``i`` of every entry belongs to item ``i``: the batch is NOT sorted by length.
    The input tensors are not modified, and ``"tokens"`` is a new tensor (writing to it leaves
    the sequences alone).
    """
    # TODO(3.5): Pad with torch.nn.utils.rnn.pad_sequence(batch_first=True); build lengths,
    # mask and labels from the items, in the order given.
    raise NotImplementedError("3.5: collate_sequences")
