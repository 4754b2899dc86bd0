"""Known mistake: versions() sorts the names alphabetically instead of by creation time.

Expect: alphabetical order
"""

from __future__ import annotations


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def versions(self) -> list[str]:
        return sorted(p.name for p in (self.root / "versions").iterdir())
