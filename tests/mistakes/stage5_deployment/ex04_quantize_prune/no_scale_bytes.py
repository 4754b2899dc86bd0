"""Known mistake: int8_bytes counts one byte per weight but forgets the float32 scales.

Expect: the scales are missing
"""

from __future__ import annotations

from typing import Any

from torch import nn


def quantize_linear_layers(model: nn.Module) -> dict[str, Any]:
    layers: dict[str, dict[str, Any]] = {}
    fp32_bytes = int8_bytes = 0
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        weight = module.weight.detach()
        q, scale = quantize_per_channel(weight)
        error = (dequantize(q, scale) - weight).abs().max().item()
        layers[name] = {"q": q, "scale": scale, "max_error": error}
        bias = 0 if module.bias is None else module.bias.numel()
        fp32_bytes += 4 * weight.numel() + 4 * bias
        int8_bytes += weight.numel() + 4 * bias
    return {"layers": layers, "fp32_bytes": fp32_bytes, "int8_bytes": int8_bytes}
