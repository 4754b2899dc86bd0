"""Known mistake: no packing; the LSTM runs over the padded batch and output[:, -1] is classified.

Expect: padding
Expect: pack_padded_sequence
"""

from __future__ import annotations

import torch
from torch import nn

from pytorch_path.data import PAD_TOKEN


class LSTMClassifier(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_classes: int,
        *,
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_TOKEN)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(tokens)
        output, _ = self.lstm(embedded)
        return self.head(output[:, -1])
