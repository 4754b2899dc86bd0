"""5.5 A FastAPI app factory with typed requests and health checks.

Write PredictRequest, PredictResponse and create_app below, then run ``make check ex=5.5``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch  # noqa: F401
from fastapi import FastAPI, HTTPException  # noqa: F401
from fastapi.responses import JSONResponse  # noqa: F401
from pydantic import BaseModel, Field  # noqa: F401
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

    # TODO(5.5): Declare the field inputs (a list of rows of floats, at least one row).


class PredictResponse(BaseModel):
    """The answer of ``POST /predict``: ``{"probabilities": [[...], ...], "classes": [...]}``.

    - ``probabilities``: one row per input row, the softmax over the model's outputs (each
      row sums to 1);
    - ``classes``: one entry per input row, the argmax class: its name from ``class_names``
      when the app was given names, else the class index as an int.
    """

    # TODO(5.5): Declare the fields probabilities and classes.


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
    # TODO(5.5): A new FastAPI(), model.eval(), then the three routes as closures.
    raise NotImplementedError("5.5: create_app")
