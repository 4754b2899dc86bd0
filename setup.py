"""Build hook: put the curriculum inside the wheel.

``pip install pytorch-path`` without a clone must still have the stubs, lessons,
graders, solutions and data (for ``pytorch-path init`` and ``check``), so the
build copies ``curriculum/``, ``graders/``, ``solutions/`` and ``data/`` into the
package as ``pytorch_path/_bundle/``. Editable installs (``make setup``) read the
checkout directly and need no copy. Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("curriculum", "graders", "solutions", "data")


class BuildWithCurriculum(build_py):
    """build_py that also copies the curriculum folders into pytorch_path/_bundle."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        bundle = Path(self.build_lib) / "pytorch_path" / "_bundle"
        shutil.rmtree(bundle, ignore_errors=True)  # nothing stale from an earlier build
        for name in BUNDLED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source,
                    bundle / name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytorch_path"),
                )


setup(cmdclass={"build_py": BuildWithCurriculum})
