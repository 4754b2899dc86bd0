"""Known mistake: when os.replace fails, the temporary file is left behind in root.

Expect: remove the temporary file
"""

from __future__ import annotations

import os
import tempfile


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def _write_atomic(self, name: str, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.root / name)
