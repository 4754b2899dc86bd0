"""Known mistake: stop() sets should_exit but returns without joining the server's thread.

Expect: still alive
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServerHandle(ServerHandle):  # noqa: F821 (the reference's class, overridden)
    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True  # ...and the thread is still shutting down
