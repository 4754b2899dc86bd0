"""Known mistake: the batch is padded with -1 instead of PAD_TOKEN (0).

Expect: padding value
Expect: PAD_TOKEN (0)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from pytorch_path.data import PAD_TOKEN


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
        if len(sequences) != len(labels):
            raise ValueError(
                f"got {len(sequences)} sequences but {len(labels)} labels; need one label each"
            )
        self.sequences = sequences
        self.labels = labels

    def __len__(self) -> int:
        """The number of sequences, ``N``."""
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Item ``index`` as ``(sequence, label)``: the stored 1-D tensor and a Python int."""
        return self.sequences[index], int(self.labels[index])


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
    sequences = [seq for seq, _ in batch]
    device = sequences[0].device
    tokens = pad_sequence(sequences, batch_first=True, padding_value=-1)
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.int64)
    positions = torch.arange(tokens.shape[1], device=device)
    mask = positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64, device=device)
    return {"tokens": tokens, "lengths": lengths, "mask": mask, "labels": labels}
