"""Known mistake: the padded width is max length + 1 (an off-by-one), leaving an extra padding column.

Expect: T_max
Expect: one column off
"""

from __future__ import annotations

import torch

from pytorch_path.data import PAD_TOKEN


def collate_sequences(batch: list[tuple[torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    sequences = [seq for seq, _ in batch]
    device = sequences[0].device
    t_max = max(len(s) for s in sequences) + 1
    tokens = torch.full((len(sequences), t_max), PAD_TOKEN, dtype=torch.int64, device=device)
    for i, seq in enumerate(sequences):
        tokens[i, : len(seq)] = seq
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.int64)
    positions = torch.arange(tokens.shape[1], device=device)
    mask = positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64, device=device)
    return {"tokens": tokens, "lengths": lengths, "mask": mask, "labels": labels}
