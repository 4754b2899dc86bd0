"""Known mistake: torch.compile(model) with its default backend (inductor), which compiles C++ for minutes.

Expect: backend='eager'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def compare_runtimes(
    model: nn.Module,
    example: torch.Tensor,
    *,
    onnx_path: str | os.PathLike[str] | None = None,
    iters: int = 10,
) -> list[dict[str, Any]]:
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    model.eval()
    runtimes: list[tuple[str, Callable[[], torch.Tensor]]] = []

    def torch_runtime(module: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], Any]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return module(example)

        return run

    runtimes.append(("eager", torch_runtime(model)))
    exported = torch.export.export(model, (example,)).module()
    runtimes.append(("export", torch_runtime(exported)))
    compiled = torch.compile(model)
    runtimes.append(("compile", torch_runtime(compiled)))
    if onnx_path is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: example.numpy()}

        def run_onnx() -> torch.Tensor:
            return torch.from_numpy(session.run(None, feed)[0])

        runtimes.append(("onnxruntime", run_onnx))

    rows: list[dict[str, Any]] = []
    reference: torch.Tensor | None = None
    for name, run in runtimes:
        stats = time_calls(run, iters=iters)
        output = run().clone()  # a normal tensor, not an inference-mode one
        if reference is None:
            reference = output
        rows.append(
            {
                "runtime": name,
                "p50_ms": float(stats["p50"]) * 1000.0,
                "p95_ms": float(stats["p95"]) * 1000.0,
                "max_abs_diff": float((output - reference).abs().max()),
                "output": output,
            }
        )
    return rows
