"""Known mistake: promote pushes the current version onto HISTORY before it checks the new one.

A refused promote('nope') then leaves HISTORY one entry longer, and a later rollback goes to
a version that was never replaced.

Expect: a refused promote changes nothing
"""

from __future__ import annotations

import json


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def promote(self, version: str) -> None:
        previous = self.current()
        if previous == version:
            return
        if previous is not None:
            self._write_atomic("HISTORY", json.dumps([*self._history(), previous]))
        self._manifest(version)  # ValueError if unknown... after HISTORY was written
        self._write_atomic("CURRENT", version + "\n")
