"""Known mistake: promote writes CURRENT (and HISTORY) in place with write_text, which a crash can leave half-written.

Expect: os.replace(tmp, root / 'CURRENT')
"""

from __future__ import annotations


class ModelRegistry(ModelRegistry):  # noqa: F821 (the reference's class, overridden)
    def _write_atomic(self, name: str, text: str) -> None:
        (self.root / name).write_text(text, encoding="utf-8")
