"""Where the course is looked for: one search order, for ``Project`` and ``data_dir`` alike.

:func:`candidate_roots` yields the folders that may hold ``curriculum/``,
``graders/``, ``solutions/`` and ``data/``, in this order (each folder once):

1. the working directory and every folder above it: the checkout you work in;
2. every folder above this package's own files: the checkout an editable install
   (``make setup``) reads;
3. :data:`BUNDLE_DIR`: the copy an installed wheel carries.

``Project.locate`` takes the first that holds a curriculum and graders;
``data.data_dir`` the first whose ``data/`` holds ``checksums.json``, after
``$PYTORCH_PATH_DATA``, which wins over all of them.

Learner code imports :mod:`pytorch_path.data`, which imports this module, inside the
grading sandbox: it must stay tiny (the standard library only, no other package module).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["BUNDLE_DIR", "PACKAGE_DIR", "candidate_roots"]

#: The installed package's own folder (``src/pytorch_path`` in a checkout).
PACKAGE_DIR = Path(__file__).resolve().parent

#: Where an installed wheel keeps its copy of curriculum/, graders/, solutions/ and data/.
BUNDLE_DIR = PACKAGE_DIR / "_bundle"


def candidate_roots(start: Path | None = None) -> Iterator[Path]:
    """Yield the folders that may hold the course, in the one search order, each once.

    Args:
        start: where the upward search of rule 1 begins; the working directory when
            ``None`` (skipped if the working directory no longer exists).

    """
    seen: set[Path] = set()

    def fresh(folders: Iterable[Path]) -> Iterator[Path]:
        for folder in folders:
            if folder not in seen:
                seen.add(folder)
                yield folder

    try:
        here = (start if start is not None else Path.cwd()).resolve()
    except OSError:  # the working directory was removed
        pass
    else:
        yield from fresh((here, *here.parents))
    yield from fresh(PACKAGE_DIR.parents)
    yield from fresh((BUNDLE_DIR,))
