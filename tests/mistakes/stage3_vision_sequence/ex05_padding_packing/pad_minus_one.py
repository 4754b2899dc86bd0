"""Known mistake: the batch is padded with -1 instead of PAD_TOKEN (0).

Expect: padding value
Expect: PAD_TOKEN (0)
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence


def collate_sequences(batch: list[tuple[torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    sequences = [seq for seq, _ in batch]
    device = sequences[0].device
    tokens = pad_sequence(sequences, batch_first=True, padding_value=-1)
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.int64)
    positions = torch.arange(tokens.shape[1], device=device)
    mask = positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64, device=device)
    return {"tokens": tokens, "lengths": lengths, "mask": mask, "labels": labels}
