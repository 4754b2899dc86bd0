"""Known mistake: the health probe catches only RuntimeError, so a ValueError from the model gives a 500.

Expect: whatever its class (except Exception)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from torch import nn


def create_app(
    model: nn.Module, version: str, *, class_names: Sequence[str] | None = None
) -> FastAPI:
    width = _input_width(model)
    names = list(class_names) if class_names is not None else None
    model.eval()
    app = FastAPI(title="model service", version=version)

    @app.post("/predict")
    def predict(request: PredictRequest) -> PredictResponse:
        bad = [i for i, row in enumerate(request.inputs) if len(row) != width]
        if bad:
            raise HTTPException(
                status_code=422, detail=f"rows {bad[:5]} do not have {width} values"
            )
        x = torch.tensor(request.inputs, dtype=torch.float32)
        with torch.inference_mode():
            probs = torch.softmax(model(x), dim=1)
        index = probs.argmax(dim=1).tolist()
        classes: list[str | int] = [names[i] for i in index] if names is not None else index
        return PredictResponse(probabilities=probs.tolist(), classes=classes)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with torch.inference_mode():
                out = model(torch.zeros(1, width))
        except RuntimeError as exc:  # torch's errors are RuntimeErrors... but not every error
            reason = f"{type(exc).__name__}: {exc}"
            return JSONResponse(status_code=503, content={"status": "error", "reason": reason})
        if not bool(torch.isfinite(out).all()):
            bad = out[~torch.isfinite(out)].flatten()[0].item()
            reason = f"the probe forward returned a non-finite value ({bad})"
            return JSONResponse(status_code=503, content={"status": "error", "reason": reason})
        return JSONResponse(content={"status": "ok"})

    @app.get("/version")
    def get_version() -> dict[str, str]:
        return {"version": version}

    return app
