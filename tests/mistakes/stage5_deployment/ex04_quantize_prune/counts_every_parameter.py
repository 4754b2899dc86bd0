"""Known mistake: the byte counts include every parameter of the model, not only the Linear layers'.

Expect: count the nn.Linear layers only
"""

from __future__ import annotations

from typing import Any

from torch import nn


def quantize_linear_layers(model: nn.Module) -> dict[str, Any]:
    layers: dict[str, dict[str, Any]] = {}
    fp32_bytes = 4 * sum(p.numel() for p in model.parameters())
    int8_bytes = fp32_bytes
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        weight = module.weight.detach()
        q, scale = quantize_per_channel(weight)
        error = (dequantize(q, scale) - weight).abs().max().item()
        layers[name] = {"q": q, "scale": scale, "max_error": error}
        int8_bytes += -3 * weight.numel() + 4 * scale.numel()
    return {"layers": layers, "fp32_bytes": fp32_bytes, "int8_bytes": int8_bytes}
