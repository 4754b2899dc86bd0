"""5.6 Serve it for real: uvicorn in a thread, an httpx client with timeouts.

Write ServerHandle's methods, start_server and predict_many below, then run
``make check ex=5.6``.
The lesson is in README.md next to this file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import torch
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from torch import nn


class DemoRequest(BaseModel):
    """The body of the demo app's ``POST /predict`` (at module level, where FastAPI finds it)."""

    inputs: list[list[float]]


def make_demo_app(model: nn.Module) -> FastAPI:
    """A tiny prediction app to serve while you try your code (already written).

    ``POST /predict`` takes ``{"inputs": [[float, ...], ...]}`` (rows as wide as the first
    ``nn.Linear`` of ``model``; another width is a 422) and answers
    ``{"probabilities": [[...], ...], "classes": [int, ...]}`` (softmax over the model's
    eval-mode outputs, and their argmax); ``GET /healthz`` answers ``{"status": "ok"}``::

        app = make_demo_app(nn.Sequential(nn.Linear(4, 3)))
        with start_server(app) as server:
            print(predict_many(server.url, [[[0.0, 1.0, 2.0, 3.0]]]))
    """
    width = next(m.in_features for m in model.modules() if isinstance(m, nn.Linear))
    model.eval()
    app = FastAPI(title="demo")

    @app.post("/predict")
    def predict(request: DemoRequest) -> dict[str, Any]:
        if not request.inputs or any(len(row) != width for row in request.inputs):
            raise HTTPException(422, f"inputs must be a non-empty list of rows of {width} floats")
        with torch.inference_mode():
            probs = torch.softmax(model(torch.tensor(request.inputs)), dim=1)
        return {"probabilities": probs.tolist(), "classes": probs.argmax(dim=1).tolist()}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@dataclass
class ServerHandle:
    """A uvicorn server running in a thread of this process.

    Attributes (set by ``start_server``):

    - ``server``: the ``uvicorn.Server``;
    - ``thread``: the ``threading.Thread`` running ``server.run()`` (a daemon thread);
    - ``host``: the address it listens on (``"127.0.0.1"``);
    - ``port``: the port it really listens on (an int > 0, also when asked for port 0).

    ``url`` is ``f"http://{host}:{port}"`` (no trailing slash). ``stop()`` shuts the
    server down; ``with start_server(app) as handle:`` stops it when the block ends, even
    when the block raises (the exception is not swallowed). A dataclass here; any class
    with these attributes and methods will do.
    """

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the base URL of the server."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to exit (``server.should_exit = True``) and join its thread.

        Waits at most ``timeout`` seconds for the thread. Idempotent: calling it again, or
        on a server whose thread has already ended, does nothing and raises nothing. Once it
        returns, the thread has ended and the port refuses connections.
        """
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        """The handle itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server; an exception raised in the ``with`` block propagates."""
        self.stop()


def start_server(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
) -> ServerHandle:
    """Run ``app`` with uvicorn in a daemon thread and return once it accepts connections.

    Build ``uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
    lifespan="on"))`` and call its ``run()`` in a ``threading.Thread(daemon=True)``:
    uvicorn runs its own asyncio event loop in that thread (and installs no signal
    handlers outside the main thread), so the caller keeps control.

    - ``port=0`` (the default) asks the operating system for a free port. Let uvicorn bind
      port 0 and read the real one once it has started, from
      ``server.servers[0].sockets[0].getsockname()[1]``: nobody else can take the port in
      between (binding a socket yourself to find a free port, closing it and passing the
      number leaves a small race, but is also accepted). Any other ``port`` is used as given.
    - Wait until ``server.started`` is True, polling every few milliseconds, at most
      ``timeout`` seconds. ``lifespan="on"`` runs the app's startup code (loading a model,
      say) before ``started`` turns True, so a slow startup counts against ``timeout``.
    - If the thread ends before the server has started (the port is already in use:
      uvicorn logs the error and exits its thread), raise ``RuntimeError`` (an ``OSError``
      from binding a socket yourself is also accepted).
    - If it has not started within ``timeout`` seconds, stop it (``should_exit``, then join
      the thread, up to 5 s) and raise ``TimeoutError``: no thread is left behind.

    Returns a :class:`ServerHandle` whose ``port`` is the port in use.
    """
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the server on {host}:{port} did not start (is the port in use?)")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5.0)
            raise TimeoutError(f"the server on {host}:{port} did not start within {timeout} s")
        time.sleep(0.005)
    real_port = server.servers[0].sockets[0].getsockname()[1]
    return ServerHandle(server=server, thread=thread, host=host, port=int(real_port))


def predict_many(
    url: str,
    batches: Sequence[torch.Tensor | Sequence[Sequence[float]]],
    *,
    timeout: float = 5.0,
    workers: int = 4,
) -> list[dict[str, Any]]:
    """POST every batch to ``{url}/predict`` concurrently; the JSON answers in batch order.

    - ``batches``: each a 2-D float tensor (sent as ``tensor.tolist()``) or a list of rows
      (lists of floats); each request's body is ``{"inputs": rows}``.
    - ``workers``: requests run in a ``concurrent.futures.ThreadPoolExecutor(workers)``,
      so at most ``workers`` are in flight at once; ``workers < 1`` raises ``ValueError``.
      The pool is shut down before returning (``with ThreadPoolExecutor(...)``), so no
      thread outlives the call.
    - Every request goes through ONE ``httpx.Client(timeout=httpx.Timeout(timeout))``
      shared by the threads (a client is thread-safe and keeps a pool of connections, so
      the server sees at most ``workers`` connections, not one per batch), closed before
      returning (``with httpx.Client(...)``).
    - ``timeout`` (seconds) bounds connecting, sending, and each wait for the server's
      answer: a server slower than that raises ``httpx.ReadTimeout`` (an
      ``httpx.TimeoutException``) from this function.
    - A response that is not 2xx raises ``httpx.HTTPStatusError``
      (``response.raise_for_status()``), e.g. a 422 for rows of the wrong width.

    Returns ``[response.json() for each batch]``, in the order of ``batches`` (not the order
    in which the answers arrive), e.g. ``[{"probabilities": [[...]], "classes": [2]}, ...]``.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    bodies = [
        {"inputs": b.tolist() if isinstance(b, torch.Tensor) else [list(r) for r in b]}
        for b in batches
    ]
    endpoint = f"{url.rstrip('/')}/predict"
    with httpx.Client(timeout=httpx.Timeout(timeout)) as client:

        def post(body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(endpoint, json=body)
            response.raise_for_status()
            return response.json()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(post, bodies))
