"""3.9 Truncated backpropagation through time (reference solution)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class CharRNN(nn.Module):
    """A character-level language model, given as an example of the model interface.

    ``Embedding(vocab_size, embedding_dim)`` → ``nn.GRU`` or ``nn.LSTM`` (``batch_first=True``)
    → ``Linear(hidden_size, vocab_size)``: at every step, logits for the next character.

    The interface ``train_tbptt`` relies on (any model with it works, e.g. one that reads
    float features instead of characters): ``forward(x, hidden=None)`` returns
    ``(out, hidden)``, where ``x`` is ``(B, t, ...)`` (batch first, time on dim 1), ``out``
    is ``(B, t, ...)``, and ``hidden`` is the recurrent state after the last step: a tensor
    ``(num_layers, B, hidden_size)`` for an RNN or a GRU, a tuple ``(h, c)`` of two such
    tensors for an LSTM. Passing ``hidden=None`` starts from zeros; passing the returned
    ``hidden`` back in continues the sequence where it stopped.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        *,
        cell: str = "gru",
        num_layers: int = 1,
    ) -> None:
        """Build the layers; ``cell`` is ``"gru"`` (nn.GRU) or ``"lstm"`` (nn.LSTM).

        The recurrent layer ``self.rnn`` stacks ``num_layers`` layers (one by default).

        Any other ``cell`` raises ``ValueError``. This class is given code, but it is in
        your file, so the grader checks that it still does what it says.
        """
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        rnn_class = nn.GRU if cell == "gru" else nn.LSTM
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = rnn_class(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        """Map int64 characters ``(B, t)`` to logits ``(B, t, vocab_size)`` and the new state."""
        out, hidden = self.rnn(self.embedding(x), hidden)
        return self.head(out), hidden


def detach_hidden(hidden: Any) -> Any:
    """Cut a recurrent state off from the graph that produced it.

    ``hidden`` is ``None``, a tensor (an RNN's or GRU's state) or a tuple of tensors (an
    LSTM's ``(h, c)``). Returns the same structure with every tensor replaced by
    ``tensor.detach()``: the same values (no copy), ``requires_grad`` False, no ``grad_fn``.
    ``None`` gives ``None``; a tuple gives a tuple. The argument itself is not changed (no
    in-place ``detach_()``): the caller's tensors keep their graph.
    """
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return tuple(detach_hidden(h) for h in hidden)


def train_tbptt(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    chunk: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> list[float]:
    """Train on one long batch of sequences with truncated backpropagation through time.

    - ``inputs``: ``(B, T, ...)`` and ``targets``: ``(B, T, ...)``, batch first, time on
      dim 1 (for a single long sequence, ``B = 1``); ``model`` follows :class:`CharRNN`'s
      interface, ``forward(x, hidden) -> (out, hidden)``, on the inputs' device.
    - Split time into consecutive chunks ``[0, chunk)``, ``[chunk, 2 * chunk)``, …; the last
      chunk is shorter when ``chunk`` does not divide ``T``, so there are ``ceil(T / chunk)``
      chunks (one when ``chunk >= T``).
    - The hidden state starts as ``None`` and is CARRIED from chunk to chunk (each chunk starts
      where the previous one stopped), but is passed through :func:`detach_hidden` before each
      chunk, so that backward stops at the chunk's start (for an LSTM, both ``h`` and ``c``).
    - For each chunk, in order: ``optimizer.zero_grad()``,
      ``out, hidden = model(x_chunk, hidden)``, ``loss = loss_fn(out, y_chunk)``,
      ``loss.backward()``, ``optimizer.step()``, and record ``loss.item()``.
    - ``inputs`` and ``targets`` are not modified.

    Returns the per-chunk losses, a list of ``ceil(T / chunk)`` Python floats.
    Raises ``ValueError`` if ``chunk < 1``.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    hidden = None
    losses: list[float] = []
    for start in range(0, inputs.shape[1], chunk):
        x = inputs[:, start : start + chunk]
        y = targets[:, start : start + chunk]
        hidden = detach_hidden(hidden)
        optimizer.zero_grad()
        out, hidden = model(x, hidden)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
