"""Known mistake: the history is a list on the object, so a new ModelRegistry(root) cannot roll back.

Expect: new ModelRegistry(root)
"""

from __future__ import annotations

from pathlib import Path


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self._previous: list[str] = []

    def promote(self, version: str) -> None:
        self._manifest(version)
        previous = self.current()
        if previous == version:
            return
        if previous is not None:
            self._previous.append(previous)
        self._write_atomic("CURRENT", version + "\n")

    def rollback(self) -> str:
        if not self._previous:
            raise ValueError("there is no previous version to roll back to")
        previous = self._previous.pop()
        self._write_atomic("CURRENT", previous + "\n")
        return previous
