"""Known mistake: load unpickles the file first and checks its sha256 afterwards.

Expect: hash the bytes first
"""

from __future__ import annotations

import hashlib

import torch


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def load(self, version: str | None = None) -> dict[str, torch.Tensor]:
        if version is None:
            version = self.current()
            if version is None:
                raise ValueError("no version is current")
        manifest = self._manifest(version)
        path = self._folder(version) / "model.pt"
        state = torch.load(path, map_location="cpu", weights_only=True)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != manifest["sha256"]:
            raise ValueError(f"version {version!r}: sha256 {digest} != {manifest['sha256']}")
        return state
