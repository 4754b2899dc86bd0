"""Build hook: the wheel carries the course, or the build fails.

``pip install pytorch-path`` without a clone must still have everything that
``pytorch-path init`` and ``check`` read, so a wheel gets each folder that
``[tool.hatch.build.targets.wheel.hooks.custom] bundle`` lists in ``pyproject.toml``
(``curriculum``, ``graders``, ``solutions``, ``data``) as ``pytorch_path/_bundle/<name>``,
leaving out what ``bundle-exclude`` matches (caches, a learner's ``.pytorch_path/``).

A listed folder that is missing, or holds no file, fails the build with a message
naming it: no wheel is ever made without its course (an sdist that lost a folder
fails here too, when the wheel is built from it).

Editable installs (``make setup``) read the checkout directly and get no copy: one in
site-packages would go stale, and it would be a copy of the solutions that the
grading sandbox does not know to hide.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: Where the bundled folders go inside the wheel.
BUNDLE_PREFIX = "pytorch_path/_bundle"


class BundleError(RuntimeError):
    """A folder the wheel must carry is missing or empty, or the hook is misconfigured."""


def bundled_files(folder: Path, exclude: list[str]) -> list[Path]:
    """Every file under ``folder``, sorted, except those with a path part matching ``exclude``."""

    def excluded(name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in exclude)

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not excluded(d))
        found.extend(Path(dirpath) / f for f in filenames if not excluded(f))
    return sorted(found)


class BundleCourseHook(BuildHookInterface[BuilderConfig]):
    """Force-include the course folders into the (non-editable) wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Add every bundled file to ``force_include``; raise if a folder is missing or empty."""
        if self.target_name != "wheel" or version == "editable":
            return
        names = self.config.get("bundle")
        exclude = self.config.get("bundle-exclude", [])
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise BundleError(
                "pyproject.toml: [tool.hatch.build.targets.wheel.hooks.custom] bundle must list "
                "the folders the wheel carries"
            )
        root = Path(self.root)
        for name in names:
            folder = root / name
            if not folder.is_dir():
                raise BundleError(
                    f"cannot build the wheel: the folder {name}/ is missing from {root}; "
                    "a wheel without it would install a course that cannot run "
                    "(an sdist must carry it: see [tool.hatch.build.targets.sdist] only-include)"
                )
            files = bundled_files(folder, exclude)
            if not files:
                raise BundleError(f"cannot build the wheel: the folder {name}/ in {root} is empty")
            for path in files:
                target = f"{BUNDLE_PREFIX}/{path.relative_to(root).as_posix()}"
                build_data["force_include"][str(path)] = target
