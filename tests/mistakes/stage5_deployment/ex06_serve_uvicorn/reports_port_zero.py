"""Known mistake: the handle reports the port that was asked for (0), not the one uvicorn bound.

Expect: getsockname
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


def start_server(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
) -> ServerHandle:  # noqa: F821
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5.0)
            raise TimeoutError("the server did not start in time")
        time.sleep(0.005)
    return ServerHandle(server=server, thread=thread, host=host, port=port)  # noqa: F821
