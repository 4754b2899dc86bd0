"""Known mistake: the version name is checked with re.match, which only looks at a prefix ('a/b' passes), and '.'/'..' are not refused.

Expect: stays one folder
"""

from __future__ import annotations

import re
from pathlib import Path


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def _folder(self, version: str) -> Path:
        if not isinstance(version, str):
            raise TypeError(f"a version is a str, got {type(version).__name__}")
        if not re.match(r"[A-Za-z0-9._-]+", version):
            raise ValueError(f"unsafe version name {version!r}")
        return self.root / "versions" / version
