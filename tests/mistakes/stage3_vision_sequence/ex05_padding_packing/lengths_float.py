"""Known mistake: lengths is built with torch.tensor of floats (len(seq) * 1.0), giving float32.

Expect: expected torch.int64
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

from pytorch_path.data import PAD_TOKEN


def collate_sequences(batch: list[tuple[torch.Tensor, int]]) -> dict[str, torch.Tensor]:
    sequences = [seq for seq, _ in batch]
    device = sequences[0].device
    tokens = pad_sequence(sequences, batch_first=True, padding_value=PAD_TOKEN)
    lengths = torch.tensor([len(seq) * 1.0 for seq in sequences])
    positions = torch.arange(tokens.shape[1], device=device)
    mask = positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64, device=device)
    return {"tokens": tokens, "lengths": lengths, "mask": mask, "labels": labels}
