"""5.5 A FastAPI app factory with typed requests and health checks.

Write PredictRequest, PredictResponse and create_app below, then run ``make check ex=5.5``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from torch import nn


class PredictRequest(BaseModel):
    """The body of ``POST /predict``: ``{"inputs": [[float, ...], ...]}``.

    One field, ``inputs``: a list of at least one row (``Field(min_length=1)``), each row a
    list of floats. Pydantic turns a missing field, a value that is not a list of lists, or a
    row holding something that is not a number (``"abc"``, ``null``) into a 422 response
    before your endpoint runs. The row *width* depends on the model, so ``create_app``
    checks it (see there).

    Define the models at module level, as here: with ``from __future__ import annotations``
    FastAPI resolves an endpoint's annotations in the module's globals, and a class defined
    inside ``create_app`` would not be found there.
    """

    inputs: list[list[float]] = Field(min_length=1)


class PredictResponse(BaseModel):
    """The answer of ``POST /predict``: ``{"probabilities": [[...], ...], "classes": [...]}``.

    - ``probabilities``: one row per input row, the softmax over the model's outputs (each
      row sums to 1);
    - ``classes``: one entry per input row, the argmax class: its name from ``class_names``
      when the app was given names, else the class index as an int.
    """

    probabilities: list[list[float]]
    classes: list[str | int]


def _input_width(model: nn.Module) -> int:
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
    raise ValueError("the model has no nn.Linear layer to tell its input width")


def create_app(
    model: nn.Module, version: str, *, class_names: Sequence[str] | None = None
) -> FastAPI:
    """Build a new FastAPI app serving ``model`` (an app factory: no module-level app).

    Every call returns a new ``FastAPI()`` with its own routes and state, so two apps built
    with different models, versions or class names answer independently. ``model`` is put
    in eval mode (``model.eval()``), and every forward pass runs under
    ``torch.inference_mode()`` (``torch.no_grad()`` is accepted too): Dropout is off,
    BatchNorm uses its running statistics, and no autograd graph is built.

    The input width is the ``in_features`` of the first ``nn.Linear`` in
    ``model.modules()``; a model without one raises ``ValueError``. ``class_names`` (a
    sequence of str, ``class_names[i]`` naming class ``i``) defaults to None: classes are
    then reported as their int index.

    Routes:

    - ``POST /predict``: the body is a :class:`PredictRequest`, the answer a
      :class:`PredictResponse` (declare it, with the return annotation or
      ``response_model=``, so that the OpenAPI schema names both models). A row whose length
      is not the input width answers 422 (raise ``HTTPException(status_code=422, ...)``)
      without calling the model; so do the requests pydantic refuses (see PredictRequest).
      Otherwise the rows become a float32 tensor of shape ``(N, width)``; the answer holds
      ``softmax(model(x), dim=1)`` as lists of Python floats and the argmax of each row.
    - ``GET /healthz``: a probe forward on ``torch.zeros(1, width)``. If it returns a
      tensor whose values are all finite, answer 200 ``{"status": "ok"}``; if the forward
      raises (any ``Exception``) or returns NaN or ±infinity, answer 503
      ``{"status": "error", "reason": "..."}`` where ``reason`` is a non-empty str (for a
      forward that raised, it contains the exception's class name, e.g.
      ``"RuntimeError: ..."``). Return the 503 with
      ``JSONResponse(status_code=503, content={...})``.
    - ``GET /version``: 200 ``{"version": version}``.

    FastAPI also serves ``/openapi.json``: it must list ``/predict`` (post), ``/healthz``
    and ``/version`` (get), with ``PredictRequest`` as the request body of ``/predict`` and
    ``PredictResponse`` as its 200 response, both under ``components.schemas``.
    """
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
        except Exception as exc:
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
