"""Known mistake: promoting the version that is already current pushes it onto the history again.

Expect: must not add it to HISTORY
"""

from __future__ import annotations

import json


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def promote(self, version: str) -> None:
        self._manifest(version)
        previous = self.current()
        if previous is not None:
            self._write_atomic("HISTORY", json.dumps([*self._history(), previous]))
        self._write_atomic("CURRENT", version + "\n")
