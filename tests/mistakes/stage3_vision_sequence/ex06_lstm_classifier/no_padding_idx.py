"""Known mistake: the embedding is created without padding_idx, so PAD_TOKEN gets a random trainable vector.

Expect: padding_idx=PAD_TOKEN
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence



class LSTMClassifier(nn.Module):
    """Classify padded token sequences: Embedding → LSTM over packed sequences → Linear.

    Attribute names (``load_state_dict`` relies on them; keep them exactly):

    - ``self.embedding``: ``nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_TOKEN)``;
      ``padding_idx`` keeps the padding id's vector at zero and never updates it;
    - ``self.lstm``: ``nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers,
      batch_first=True)`` (unidirectional, no dropout);
    - ``self.head``: ``nn.Linear(hidden_size, num_classes)``.

    So ``state_dict()`` has exactly the keys ``embedding.weight``, ``lstm.weight_ih_l0``,
    ``lstm.weight_hh_l0``, ``lstm.bias_ih_l0``, ``lstm.bias_hh_l0`` (and ``..._l1`` and so on
    for more layers), ``head.weight`` and ``head.bias``.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_classes: int,
        *,
        num_layers: int = 1,
    ) -> None:
        """Build the three layers described in the class docstring."""
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(B, num_classes)`` for a padded batch.

        - ``tokens``: ``(B, T)`` int64 on the model's device, batch first; row ``i`` holds
          ``lengths[i]`` real tokens followed by ``PAD_TOKEN`` (0). ``T`` may be larger than
          ``max(lengths)`` (extra padding), and the rows need not be sorted by length.
        - ``lengths``: ``(B,)`` int64, each at least 1, on the CPU or on the model's device.

        The LSTM reads each sequence only up to its true length: pack the embedded batch with
        ``pack_padded_sequence(..., lengths.cpu(), batch_first=True, enforce_sorted=False)``
        and classify the final hidden state of the last layer, ``h_n[-1]`` (B, hidden_size),
        the state after each sequence's last real token. Hence the logits of a sequence do not
        depend on how much padding follows it or on which other sequences share its batch.
        """
        embedded = self.embedding(tokens)
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (h_n, _) = self.lstm(packed)
        return self.head(h_n[-1])


def train_classifier(
    model: nn.Module, loader: Iterable[dict[str, torch.Tensor]], *, epochs: int, lr: float
) -> list[float]:
    """Train ``model`` with Adam and cross-entropy; return the loss of every step.

    - ``loader`` yields batch dicts like 3.5's ``collate_sequences`` makes (``"tokens"``,
      ``"lengths"``, ``"labels"``; other keys are ignored) and is iterated once per epoch.
    - One optimizer, ``torch.optim.Adam(model.parameters(), lr=lr)``, made once before the
      first epoch. The model is put in training mode.
    - Each batch: move ``tokens`` and ``labels`` to the device of the model's parameters
      (``lengths`` may stay on the CPU), clear the gradients, compute
      ``F.cross_entropy(model(tokens, lengths), labels)`` (the mean over the batch),
      backward, step, and record ``loss.item()``.

    Returns the recorded losses, one Python float per step, in order
    (``epochs * number of batches`` of them).
    """
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses: list[float] = []
    for _ in range(epochs):
        for batch in loader:
            tokens = batch["tokens"].to(device)
            labels = batch["labels"].to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(tokens, batch["lengths"]), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
