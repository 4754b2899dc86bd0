"""Known mistake: on a startup timeout, start_server raises TimeoutError but leaves the server thread running.

Expect: ask the server to exit and join its thread
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
            raise TimeoutError("the server did not start in time")  # the thread lives on
        time.sleep(0.005)
    real_port = server.servers[0].sockets[0].getsockname()[1]
    return ServerHandle(server=server, thread=thread, host=host, port=real_port)  # noqa: F821
