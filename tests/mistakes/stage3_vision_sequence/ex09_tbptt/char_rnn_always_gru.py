"""Known mistake: CharRNN builds an nn.GRU whatever the cell, so cell='lstm' gets a GRU.

Expect: cell='lstm' builds nn.lstm
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class CharRNN(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        *,
        cell: str = "gru",
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = nn.GRU(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        out, hidden = self.rnn(self.embedding(x), hidden)
        return self.head(out), hidden
