"""Known mistake: quantize_linear_layers writes the dequantized weights back into the model.

Expect: must not modify it
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def quantize_linear_layers(model: nn.Module) -> dict[str, Any]:
    layers: dict[str, dict[str, Any]] = {}
    fp32_bytes = int8_bytes = 0
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        weight = module.weight.detach().clone()
        q, scale = quantize_per_channel(weight)
        with torch.no_grad():
            module.weight.copy_(dequantize(q, scale))  # "fake quantization" in place
        error = (module.weight.detach() - weight).abs().max().item()
        layers[name] = {"q": q, "scale": scale, "max_error": error}
        bias = 0 if module.bias is None else module.bias.numel()
        fp32_bytes += 4 * weight.numel() + 4 * bias
        int8_bytes += weight.numel() + 4 * scale.numel() + 4 * bias
    return {"layers": layers, "fp32_bytes": fp32_bytes, "int8_bytes": int8_bytes}
