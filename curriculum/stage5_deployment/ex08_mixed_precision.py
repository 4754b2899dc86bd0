"""5.8 Mixed precision with torch.autocast and torch.amp.GradScaler.

Write autocast_forward and amp_train_step below, then run ``make check ex=5.8``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def autocast_forward(
    model: nn.Module,
    x: torch.Tensor,
    *,
    device_type: str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Run ``model(x)`` under ``torch.autocast`` and return the output as autocast made it.

    Use ``torch.autocast(device_type=..., dtype=...)`` (the same class as
    ``torch.amp.autocast``). The deprecated ``torch.cuda.amp.autocast`` and
    ``torch.cpu.amp.autocast`` are refused by the grader: they raise there, with a message
    that names ``torch.amp``.

    Inside the autocast region each op runs in the precision autocast's list for the device
    gives it: matrix products (``nn.Linear``, convolutions) in ``dtype``; ops that need the
    range, such as the losses (``cross_entropy``, ``mse_loss``; on CUDA also softmax, norms,
    ``exp``, ``log``), in float32; the rest follow their inputs. So a model that ends with an
    ``nn.Linear`` gives a bfloat16 output on the CPU: return it as it is (no ``.float()``).
    Autocast only touches ops on tensors of its own device type: ``torch.autocast("cuda")``
    leaves a model running on the CPU in float32.

    The model is not changed: its parameters stay float32 (autocast casts copies on the
    fly; never call ``model.half()`` or ``model.to(torch.bfloat16)``), and autocast is off
    again once the function returns.

    Args:
        model: a float32 model on ``x``'s device.
        x: the input batch.
        device_type: the autocast device type (``"cpu"``, ``"cuda"``, ``"mps"``); by default
            ``x.device.type``.
        dtype: the lower precision; by default ``torch.bfloat16`` when the device type is
            ``"cpu"`` and ``torch.float16`` otherwise (what ``torch.get_autocast_dtype``
            gives for each device type out of the box).

    Returns:
        ``model(x)`` computed inside the autocast region, in the dtype autocast gave it
        (the grader compares it with its own autocast run within bfloat16 / float16
        tolerance: rtol 1.6e-2, atol 1e-2).
    """
    # TODO(5.8): resolve the defaults, then call the model inside a torch.autocast block.
    raise NotImplementedError("5.8: autocast_forward")


def amp_train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    *,
    max_norm: float = 1.0,
) -> dict[str, Any]:
    """One mixed-precision training step, with gradient scaling and clipping.

    In this order:

    1. Under ``torch.autocast`` for ``x.device.type``, with the default dtype of
       :func:`autocast_forward` (bfloat16 on the CPU, float16 on CUDA): ``out = model(x)``
       and ``loss = loss_fn(out, y)``. The loss belongs inside the region too: autocast
       computes it in float32 (outside, a cross-entropy of bfloat16 logits runs in
       bfloat16).
    2. ``scaler.scale(loss).backward()``, outside the autocast block: the loss is multiplied
       by the scale so that small float16 gradients do not flush to zero.
    3. ``scaler.unscale_(optimizer)``: divides every ``.grad`` by the scale, in place, and
       notes whether any is inf or NaN.
    4. ``grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)``, on the
       true, unscaled gradients. (Clipping before ``unscale_`` clips the scaled gradients,
       and its norm comes out ``scale`` times too large.)
    5. ``scaler.step(optimizer)``: calls ``optimizer.step()``, unless step 3 found inf/NaN
       gradients, in which case the step is skipped: weights and optimizer state stay as
       they were.
    6. ``scaler.update()``: after a skipped step the scale is multiplied by the scaler's
       ``backoff_factor``; after ``growth_interval`` good steps in a row, by its
       ``growth_factor``.
    7. ``optimizer.zero_grad(set_to_none=True)``: afterwards every ``.grad`` is ``None``
       (also after a skipped step).

    Use the ``scaler`` you are given (the grader passes a ``torch.amp.GradScaler`` for
    ``x``'s device, e.g. ``torch.amp.GradScaler("cpu", init_scale=1024.0,
    growth_interval=2)``); build none. The deprecated ``torch.cuda.amp.GradScaler`` and
    ``torch.cuda.amp.autocast`` are refused by the grader (they raise, naming
    ``torch.amp``). The parameters stay float32 ``nn.Parameter``s.

    Args:
        model: a float32 model on ``x``'s device, in the mode it is given, and left in that
            mode (no ``model.train()`` or ``model.eval()`` here).
        x: the input batch.
        y: the targets, on ``x``'s device.
        loss_fn: ``loss_fn(out, y)`` returns a scalar loss tensor.
        optimizer: an optimizer over ``model.parameters()``.
        scaler: the ``torch.amp.GradScaler`` that scales the loss.
        max_norm: the largest total 2-norm of all gradients together (default 1.0).

    Returns:
        A dict of Python values (the grader compares them, and the weights after each
        step, with a correct step's twin run: rtol 1e-2, atol 1e-4 for the numbers, rtol
        1e-2, atol 1e-3 for the weights)::

            {
                "loss": float,      # loss.item(), the loss computed under autocast
                "grad_norm": float, # what clip_grad_norm_ returned: the norm before
                                    # clipping, of the unscaled gradients (inf or nan
                                    # when the step was skipped)
                "scale": float,     # scaler.get_scale() after scaler.update()
                "skipped": bool,    # True when the scaler skipped optimizer.step()
                                    # because of inf/NaN gradients
            }

        Detect ``skipped`` as ``scaler.get_scale()`` after ``update()`` being smaller than
        before the step (it only ever falls after a skip), or as a non-finite
        ``grad_norm``: the two agree.
    """
    # TODO(5.8): autocast forward + loss, scaled backward, unscale_, clip, step, update,
    # zero_grad; then report loss, grad_norm, scale and skipped as Python values.
    raise NotImplementedError("5.8: amp_train_step")
