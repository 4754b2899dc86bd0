"""Known mistake: the temporary file is created in the system's temp folder, not next to CURRENT.

Expect: same folder
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def _write_atomic(self, name: str, text: str) -> None:
        fd, tmp = tempfile.mkstemp(suffix=".tmp")  # in /tmp: maybe another file system
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.root / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
