"""Where learner code is: the default target, ``init`` workspaces, a clone's ``curriculum/``.

A *target* is a folder shaped like ``curriculum/``: stage folders holding ``exNN_slug.py``.

In a clone the learner edits ``workspace/`` (git-ignored; ``make setup`` creates it
from the stubs), so ``curriculum/`` stays the pristine stubs that ``init``, ``reset``,
``make test`` and ``git pull`` rely on. The default target is, in order: the workspace
around the working directory; the clone's own ``workspace/``; else ``curriculum/``
(a clone from before workspaces, where the learner still edits in place).
"""

from __future__ import annotations

from pathlib import Path

from pytorch_path.curriculum import Project
from pytorch_path.progress import FOLDER

#: The file that marks a ``pytorch-path init`` workspace (inside ``.pytorch_path/``).
WORKSPACE_MARKER = "workspace.json"
#: The learner's workspace inside a clone (git-ignored), made by ``make setup``.
CLONE_WORKSPACE = "workspace"


class TargetError(ValueError):
    """The target folder does not exist or is not a folder."""


def find_workspace(start: Path | None = None) -> Path | None:
    """The ``pytorch-path init`` workspace that holds ``start`` (default: cwd), if any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_workspace(folder):
            return folder
    return None


def is_workspace(folder: Path) -> bool:
    """Whether ``folder`` is a workspace made by ``pytorch-path init`` (or ``make setup``)."""
    return (folder / FOLDER / WORKSPACE_MARKER).is_file()


def clone_workspace(project: Project) -> Path:
    """Where a clone keeps the learner's workspace: ``<clone>/workspace``."""
    return project.root / CLONE_WORKSPACE


def default_target(project: Project) -> Path:
    """Where the learner's files are: the workspace around cwd, the clone's, else curriculum/."""
    around = find_workspace()
    if around is not None:
        return around
    own = clone_workspace(project)
    return own if is_workspace(own) else project.curriculum_dir


def learner_root(folder: Path) -> Path:
    """The folder holding ``stage*/`` in ``folder``: itself, or a clone's workspace/curriculum.

    A clone with a workspace (``workspace/`` marked by ``init``, or holding stage
    folders) is read there, where the learner edits; an older clone through its
    ``curriculum/``.
    """
    if any(folder.glob("stage*_*")):
        return folder
    # A pushed workspace has no .pytorch_path/ marker (git ignores it): its stages suffice.
    if is_workspace(folder / CLONE_WORKSPACE) or any((folder / CLONE_WORKSPACE).glob("stage*_*")):
        return folder / CLONE_WORKSPACE
    if (folder / "curriculum").is_dir():
        return folder / "curriculum"
    return folder


def resolve_target(target: Path | str | None, project: Project) -> Path:
    """The target folder, checked.

    By default: the ``pytorch-path init`` workspace around the working directory,
    else the clone's ``workspace/``, else the project's ``curriculum/``. A clone of a
    learner's repository is graded through its ``workspace/`` (when it has one) or
    its ``curriculum/`` folder.
    """
    if target is None:
        return default_target(project)
    path = Path(target).expanduser()
    if not path.exists():
        raise TargetError(f"the target folder {target} does not exist")
    if not path.is_dir():
        raise TargetError(f"the target {target} is a file; give the folder that holds stage*/")
    return learner_root(path).resolve()
