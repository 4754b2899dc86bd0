"""Known mistake: __exit__ returns True, which silently swallows any exception raised in the with block.

Expect: propagate
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServerHandle(ServerHandle):  # noqa: F821 (the reference's class, overridden)
    def __exit__(self, *exc_info: object) -> bool:
        self.stop()
        return True
