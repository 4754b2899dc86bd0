"""3.8 Grad-CAM by hand with hooks.

Implement grad_cam and upsample_cam below, then run ``make check ex=3.8``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from typing import Any  # noqa: F401  (handy for a hook's signature)

import torch
from torch import nn
from torch.nn import functional as F  # noqa: F401  (F.relu, F.interpolate)


def grad_cam(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    class_idx: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Grad-CAM heatmaps of ``model`` at ``layer`` for a batch of images.

    Args:
        model: a classifier; ``model(x)`` returns logits of shape ``(N, num_classes)``.
        layer: a submodule of ``model`` that runs exactly once per forward pass and returns
            a tensor ``A`` of shape ``(N, K, h, w)`` (K channels at resolution h x w).
        x: images of shape ``(N, C, H, W)`` (one image is ``(1, C, H, W)``), in the model's
            dtype and on its device.
        class_idx: which class to explain: an ``int`` (the same class for every sample), an
            int64 tensor of shape ``(N,)`` (one class per sample), or ``None`` (each sample's
            predicted class, the argmax of its logits).

    Returns:
        A tensor of shape ``(N, h, w)`` at the layer's resolution, in ``x``'s dtype and on
        ``x``'s device, with no autograd graph. For each sample, with ``y`` the logit of its
        class (before any softmax):

        - ``w_k = mean over (h, w) of dy / dA_k`` (one weight per channel);
        - ``cam = relu(sum_k w_k * A_k)``;
        - the map divided by its own maximum, so its largest value is 1; a map that is all
          zeros (no evidence for the class) stays all zeros, never NaN.

    Side effects, none left behind:

    - capture ``A`` with ``layer.register_forward_hook``; get its gradient with
      ``torch.autograd.grad`` (or a backward hook); every hook is removed before returning,
      also when the model raises (``try``/``finally``), and an error propagates unchanged;
    - the forward pass runs in eval mode (BatchNorm uses its running statistics, Dropout is
      off); the model's previous mode (``model.training``) is restored afterwards;
    - no parameter's ``.grad`` changes (``None`` stays ``None``, an existing gradient keeps
      its values), and neither the weights nor ``x`` (values, ``requires_grad``) change;
    - works when called inside ``torch.no_grad()`` and when every parameter has
      ``requires_grad=False``; grad mode is as before once the function returns.
    """
    # TODO(3.8): hook the layer, forward in eval mode, autograd.grad of the class logits,
    # weight, sum, relu, scale; clean up in a finally block.
    raise NotImplementedError("3.8: grad_cam")


def upsample_cam(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize heatmaps to an image's size, for drawing them over the image.

    Args:
        cam: heatmaps of shape ``(N, h, w)``, as returned by :func:`grad_cam`.
        size: the target ``(H, W)``.

    Returns:
        A tensor of shape ``(N, H, W)`` in ``cam``'s dtype and on its device: bilinear
        interpolation with ``align_corners=False`` (``F.interpolate`` works on
        ``(N, 1, h, w)``), not scaled again. ``cam`` is not modified.
    """
    # TODO(3.8): add a channel dim, F.interpolate(..., mode="bilinear", align_corners=False),
    # remove the channel dim.
    raise NotImplementedError("3.8: upsample_cam")
