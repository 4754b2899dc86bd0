"""Known mistake: predict runs the model under torch.no_grad() instead of torch.inference_mode().

Expect: inference_mode
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``model(x)`` for inference only, with autograd fully switched off.

    - the forward pass runs inside ``torch.inference_mode()``, so no graph is recorded and
      the result is an *inference tensor* (``out.is_inference()`` is True);
    - returns exactly what ``model(x)`` returns (same shape, dtype and device);
    - changes nothing else: the model's train/eval mode is the caller's business (do not call
      ``model.eval()`` here), and grad mode is as it was once the function returns.
    """
    with torch.no_grad():
        return model(x)


def frozen_feature_loss(
    encoder: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy loss of ``head`` on features from ``encoder``, training the head only.

    - ``x``: inputs of shape ``(N, D)``; ``y``: class indices of shape ``(N,)`` (int64);
    - features = ``encoder(x)``; logits = ``head(features)`` of shape ``(N, C)``;
    - returns the mean cross-entropy of the logits against ``y``: a 0-dim tensor that
      requires grad, so that ``loss.backward()`` fills the head's parameters' ``.grad``
      while every encoder parameter's ``.grad`` stays ``None``;
    - cut the graph between encoder and head; do not freeze the encoder by changing its
      parameters' ``requires_grad`` (that outlives this call), and do not call
      ``backward()`` yourself: the caller does.
    """
    features = encoder(x).detach()
    return F.cross_entropy(head(features), y)


def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    """Move ``target``'s parameters toward ``source``'s: an exponential moving average, in place.

    For each pair of parameters (in ``parameters()`` order; the models have the same
    architecture)::

        target_p = decay * target_p + (1 - decay) * source_p

    - update the existing tensors in place, without recording a graph: every parameter of
      ``target`` stays the same ``nn.Parameter`` object, a leaf with ``requires_grad=True``;
    - ``source`` is not changed;
    - returns None.
    """
    with torch.no_grad():
        for target_p, source_p in zip(target.parameters(), source.parameters(), strict=True):
            target_p.mul_(decay).add_(source_p, alpha=1 - decay)
