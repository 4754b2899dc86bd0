"""5.4 int8 weight quantization by hand, and L1 pruning.

Write quantize_per_channel, dequantize, quantize_linear_layers and prune_l1 below, then run
``make check ex=5.4``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune  # noqa: F401  (prune.l1_unstructured, prune.remove)


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``weight`` to int8, symmetrically, with one scale per output channel.

    The output channels are the slices ``weight[c]`` along dim 0 (the rows of a Linear
    weight ``(out, in)``, the filters of a Conv2d weight ``(out, in, kh, kw)``, the entries
    of a vector ``(C,)``). For each channel ``c``:

    - ``scale[c] = max(|weight[c]|) / 127``, in float32. A channel that is all zeros would
      get scale 0: give it ``scale[c] = 1.0`` instead (its values quantize to 0 whatever the
      scale, and 1.0 keeps every division finite). Never divide by zero: no NaN, no inf.
    - ``q[c] = clamp(round(weight[c] / scale[c]), -127, 127)`` as ``torch.int8``, rounded
      with ``torch.round``, which rounds half to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2,
      -2.5 -> -2), as ``torch.quantize_per_channel`` does.

    The range is symmetric, ``[-127, 127]`` (-128 is never used), and the zero point is 0,
    so ``q`` equals ``torch.quantize_per_channel(weight, scale, torch.zeros(C,
    dtype=torch.int64), 0, torch.qint8).int_repr()`` for the same scales. (torch multiplies
    by ``1 / scale`` where you divide by ``scale``: an element that lands within float
    rounding of a half-way point may round either way, and the grader accepts both.)

    Args:
        weight: a float32 tensor of shape ``(C, ...)`` with at least one dimension, on any
            device; it may be an ``nn.Parameter`` that requires grad.

    Returns:
        ``(q, scale)``: ``q`` int8 of ``weight``'s shape and ``scale`` float32 of shape
        ``(C,)``, both plain tensors on ``weight``'s device without autograd history
        (``requires_grad`` False: compute under ``torch.no_grad()`` or from
        ``weight.detach()``). ``weight`` is not modified.
    """
    # TODO(5.4): the per-channel max of |w| (reshape to (C, -1)), the scale (1.0 where it
    # would be 0), then round, clamp and cast to int8.
    raise NotImplementedError("5.4: quantize_per_channel")


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float32 weight that ``(q, scale)`` stands for: ``q[c] * scale[c]`` per channel.

    ``scale`` (shape ``(C,)``) multiplies the channels along dim 0, so it is broadcast over
    every other dim: reshape it to ``(C, 1, ..., 1)`` (``scale[:, None]`` for a 2-D ``q``).
    Careful with a square ``(C, C)`` weight: plain ``q * scale`` broadcasts over the *last*
    dim and silently scales the columns instead.

    For ``(q, scale) = quantize_per_channel(w)``, every element satisfies
    ``|dequantize(q, scale) - w| <= scale[c] / 2`` (up to float32 rounding).

    Args:
        q: an int8 tensor of shape ``(C, ...)`` with at least one dimension.
        scale: a float32 tensor of shape ``(C,)`` on ``q``'s device.

    Returns:
        A new float32 tensor of ``q``'s shape on ``q``'s device. ``q`` and ``scale`` are not
        modified.
    """
    # TODO(5.4): cast q to float32 and multiply by scale reshaped to (C, 1, ..., 1).
    raise NotImplementedError("5.4: dequantize")


def quantize_linear_layers(model: nn.Module) -> dict[str, Any]:
    """Quantize the weight of every ``nn.Linear`` in ``model``, and report what it saves.

    The Linear layers are found with ``model.named_modules()``, so nested ones count too;
    each is reported under its module name (``"features.1"``, ``"head"``, …). The model
    itself is **not modified**: its weights stay float32 Parameters with their values
    (quantize ``module.weight.detach()``; never write the result back).

    Returns:
        A dict::

            {
                "layers": {name: {"q": q, "scale": scale, "max_error": max_error}, ...},
                "fp32_bytes": int,
                "int8_bytes": int,
            }

        - ``q``, ``scale``: ``quantize_per_channel(module.weight)``, int8 ``(out, in)``
          and float32 ``(out,)``, on the layer's device, without autograd history;
        - ``max_error``: ``max |dequantize(q, scale) - module.weight|`` over the layer, a
          Python float (at most half the largest scale);
        - ``fp32_bytes``: the Linear layers as they are, in float32: 4 bytes per weight
          element plus 4 per bias element (a layer built with ``bias=False`` has none);
        - ``int8_bytes``: the same layers with int8 weights: 1 byte per weight element,
          4 per scale (one float32 per output channel), plus 4 per bias element (biases stay
          float32, so they count in both numbers).

        Other modules (LayerNorm, Conv2d, Embedding, …) count in neither number. For
        layers with many inputs the ratio ``fp32_bytes / int8_bytes`` approaches 4.

    How the grader measures accuracy: it builds its own copy of the float32 model whose
    Linear weights are ``q * scale`` from your report, and checks that its accuracy on
    held-out 8x8 digits is at most 2 percentage points below the float32 model's.
    """
    # TODO(5.4): loop over model.named_modules(), quantize each nn.Linear's weight, measure
    # the round-trip error, and add up the bytes.
    raise NotImplementedError("5.4: quantize_linear_layers")


def prune_l1(model: nn.Module, amount: float = 0.5) -> nn.Module:
    """Zero the smallest-magnitude fraction ``amount`` of each Linear and Conv2d weight.

    For every ``nn.Linear`` and ``nn.Conv2d`` in ``model.modules()`` (nested ones too):
    ``torch.nn.utils.prune.l1_unstructured(module, "weight", amount=amount)``, then
    ``prune.remove(module, "weight")``. Layer by layer (not one global threshold), exactly
    ``round(amount * weight.numel())`` entries become 0 (Python's ``round``, half to even,
    which is how ``prune`` counts): those of smallest ``|w|``. The other weights keep their
    values; biases and every other module (BatchNorm, LayerNorm, …) are left alone.

    ``prune.remove`` makes the zeros permanent: afterwards ``weight`` is a plain
    ``nn.Parameter`` again, the state_dict holds no ``weight_orig`` or ``weight_mask``, no
    forward pre-hook is left on the module, and ``named_parameters()`` gives the same names
    as before.

    Args:
        model: the model to prune, in place.
        amount: the fraction of each layer's weights to zero, ``0 <= amount < 1``
            (0 leaves every weight as it is).

    Returns:
        ``model`` itself (the same object), pruned in place.

    Raises:
        ValueError: when ``amount < 0`` or ``amount >= 1``, before any layer is changed
            (``prune`` itself would accept 1.0 and empty every layer).
    """
    # TODO(5.4): validate amount, then l1_unstructured + remove on every Linear and Conv2d.
    raise NotImplementedError("5.4: prune_l1")
