"""Known mistake: HISTORY is kept newest first (insert at 0, pop from the front).

The registry rolls back correctly on its own, but the file says the opposite of the documented
layout, which any other tool reading root/HISTORY relies on.

Expect: oldest first
"""

from __future__ import annotations

import json


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def promote(self, version: str) -> None:
        self._manifest(version)
        previous = self.current()
        if previous == version:
            return
        if previous is not None:
            self._write_atomic("HISTORY", json.dumps([previous, *self._history()]))
        self._write_atomic("CURRENT", version + "\n")

    def rollback(self) -> str:
        history = self._history()
        if not history:
            raise ValueError("there is no previous version to roll back to")
        previous = history.pop(0)
        self._write_atomic("CURRENT", previous + "\n")
        self._write_atomic("HISTORY", json.dumps(history))
        return previous
