"""Known mistake: the corruption error says only 'checksum mismatch', without the version and the two digests.

Expect: 64 hex digits
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
        if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
            raise ValueError("checksum mismatch")
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
