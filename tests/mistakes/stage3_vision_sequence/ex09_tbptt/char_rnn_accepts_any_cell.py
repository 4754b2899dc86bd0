"""Known mistake: CharRNN takes any cell other than 'gru' for an LSTM instead of refusing it.

Expect: expected valueerror to be raised
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
        rnn_class = nn.GRU if cell == "gru" else nn.LSTM
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = rnn_class(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        out, hidden = self.rnn(self.embedding(x), hidden)
        return self.head(out), hidden
