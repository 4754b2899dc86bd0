"""Known mistake: load never checks the sha256, so a corrupted model.pt loads silently.

Expect: compare the sha256
"""

from __future__ import annotations

import torch


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def load(self, version: str | None = None) -> dict[str, torch.Tensor]:
        if version is None:
            version = self.current()
            if version is None:
                raise ValueError("no version is current")
        self._manifest(version)
        path = self._folder(version) / "model.pt"
        return torch.load(path, map_location="cpu", weights_only=True)
