"""Known mistake: class_idx defaults to 0, so grad_cam(model, layer, x) explains class 0.

Expect: class_idx defaults to none
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def grad_cam(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    class_idx: int | torch.Tensor | None = 0,
) -> torch.Tensor:
    captured: dict[str, torch.Tensor] = {}

    def keep_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        captured["A"] = output

    was_training = model.training
    handle = layer.register_forward_hook(keep_output)
    try:
        model.eval()
        with torch.enable_grad():
            # a fresh leaf that requires grad: the graph reaches the layer even when the
            # model is frozen or the caller is inside torch.no_grad()
            logits = model(x.detach().requires_grad_(True))
            n = logits.shape[0]
            if class_idx is None:
                idx = logits.argmax(dim=1)
            elif isinstance(class_idx, torch.Tensor):
                idx = class_idx.to(device=logits.device, dtype=torch.long).reshape(-1).expand(n)
            else:
                idx = torch.full((n,), int(class_idx), dtype=torch.long, device=logits.device)
            score = logits.gather(1, idx.reshape(n, 1)).sum()
            activations = captured["A"]
            (grads,) = torch.autograd.grad(score, activations)
        weights = grads.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
        cam = F.relu((weights * activations).sum(dim=1)).detach()  # (N, h, w)
        peak = cam.amax(dim=(1, 2), keepdim=True)
        return cam / torch.where(peak > 0, peak, torch.ones_like(peak))
    finally:
        handle.remove()
        model.train(was_training)
