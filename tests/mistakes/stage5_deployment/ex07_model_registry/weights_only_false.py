"""Known mistake: load uses torch.load(weights_only=False), which runs whatever the pickle says.

Expect: weights_only=True
"""

from __future__ import annotations

import hashlib
import io

import torch


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def load(self, version: str | None = None) -> dict[str, torch.Tensor]:
        if version is None:
            version = self.current()
            if version is None:
                raise ValueError("no version is current")
        manifest = self._manifest(version)
        data = (self._folder(version) / "model.pt").read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != manifest["sha256"]:
            raise ValueError(
                f"version {version!r}: model.pt has sha256 {digest}, manifest {manifest['sha256']}"
            )
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
