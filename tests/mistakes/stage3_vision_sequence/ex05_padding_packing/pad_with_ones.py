"""Known mistake: the batch is built with torch.ones, so the padding is 1 (token A) instead of 0.

Expect: padding value(s) [1]
"""

from __future__ import annotations

import torch


def collate_sequences(batch: list[tuple[torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    sequences = [seq for seq, _ in batch]
    device = sequences[0].device
    tokens = torch.ones(len(sequences), max(len(s) for s in sequences), dtype=torch.int64, device=device)
    for i, seq in enumerate(sequences):
        tokens[i, : len(seq)] = seq
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.int64)
    positions = torch.arange(tokens.shape[1], device=device)
    mask = positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64, device=device)
    return {"tokens": tokens, "lengths": lengths, "mask": mask, "labels": labels}
