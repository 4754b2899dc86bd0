"""Known mistake: start_server picks a free port and returns right after thread.start(), before uvicorn listens.

Expect: server.started
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn


def start_server(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
) -> ServerHandle:  # noqa: F821
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()  # no waiting: the first request may come before the socket is listening
    return ServerHandle(server=server, thread=thread, host=host, port=port)  # noqa: F821
