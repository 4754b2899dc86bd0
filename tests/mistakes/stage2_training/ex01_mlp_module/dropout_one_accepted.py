"""Known mistake: the dropout check allows 1.0 (0 <= dropout <= 1), which would drop every hidden unit.

Expect: dropout=1.0
Expect: expected ValueError to be raised
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLP(nn.Module):
    """A multi-layer perceptron: Linear layers between consecutive ``sizes``.

    ``MLP([4, 16, 8, 3])`` maps 4 features to 3 outputs through two hidden layers::

        Linear(4, 16) -> act -> [dropout] -> Linear(16, 8) -> act -> [dropout] -> Linear(8, 3)

    - an activation follows every Linear layer except the last one (the output stays
      unbounded, e.g. logits that may be negative);
    - when ``dropout > 0``, an ``nn.Dropout(dropout)`` follows each of those activations
      (never the last layer); it is active in ``model.train()`` mode only.

    Attribute and parameter names (``load_state_dict`` relies on them):

    - ``self.layers`` is an ``nn.ModuleList`` holding exactly the ``nn.Linear`` layers, in
      order, and nothing else, so ``state_dict()`` has exactly the keys ``layers.0.weight``,
      ``layers.0.bias``, ``layers.1.weight``, … up to ``layers.{len(sizes) - 2}.bias``;
      activations and dropout hold no parameters and live outside ``self.layers``.
    """

    def __init__(self, sizes: list[int], *, activation: str = "relu", dropout: float = 0.0) -> None:
        """Build the layers.

        - ``sizes``: feature counts ``[in, hidden..., out]``, at least two entries; layer ``i``
          is ``nn.Linear(sizes[i], sizes[i + 1])`` (with a bias).
        - ``activation``: ``"relu"``, ``"tanh"`` or ``"gelu"`` (``nn.ReLU``, ``nn.Tanh``,
          ``nn.GELU``).
        - ``dropout``: the drop probability, ``0 <= dropout < 1``; ``0`` means no dropout.

        Raises ``ValueError`` for fewer than two sizes, an unknown activation name, or a
        dropout outside ``[0, 1)``.
        """
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least two sizes (in and out), got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.layers = nn.ModuleList(nn.Linear(d_in, d_out) for d_in, d_out in pairwise(sizes))
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` of shape ``(..., sizes[0])`` to ``(..., sizes[-1])``.

        Any number of leading (batch) dims is kept as it is: ``(N, sizes[0])`` gives
        ``(N, sizes[-1])`` and ``(A, B, sizes[0])`` gives ``(A, B, sizes[-1])``. The dtype and
        device are those of the parameters (the caller moves ``x`` and the model together).
        """
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = self.dropout(self.activation(x))
        return x


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameter values (scalars) in ``model``, as a Python int.

    Counts every element of every parameter with ``requires_grad=True``; frozen parameters
    (``requires_grad=False``) and buffers (e.g. BatchNorm's running statistics) are not
    counted. Equals ``torchinfo.summary(model, input_size=..., verbose=0).trainable_params``.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
