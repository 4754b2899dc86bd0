"""Where learner code is: the default target, ``init`` workspaces, a clone's ``curriculum/``.

A *target* is a folder shaped like ``curriculum/``: stage folders holding ``exNN_slug.py``.
"""

from __future__ import annotations

from pathlib import Path

from pytorch_path.curriculum import Project
from pytorch_path.progress import FOLDER

#: The file that marks a ``pytorch-path init`` workspace (inside ``.pytorch_path/``).
WORKSPACE_MARKER = "workspace.json"


class TargetError(ValueError):
    """The target folder does not exist or is not a folder."""


def find_workspace(start: Path | None = None) -> Path | None:
    """The ``pytorch-path init`` workspace that holds ``start`` (default: cwd), if any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / FOLDER / WORKSPACE_MARKER).is_file():
            return folder
    return None


def default_target(project: Project) -> Path:
    """Where the learner's files are: the workspace around cwd, else ``curriculum/``."""
    return find_workspace() or project.curriculum_dir


def learner_root(folder: Path) -> Path:
    """The folder holding ``stage*/`` in ``folder``: itself, or a clone's ``curriculum/``."""
    if not any(folder.glob("stage*_*")) and (folder / "curriculum").is_dir():
        return folder / "curriculum"
    return folder


def resolve_target(target: Path | str | None, project: Project) -> Path:
    """The target folder, checked.

    By default: the ``pytorch-path init`` workspace around the working directory,
    else the project's ``curriculum/``. A clone of a learner's repository is graded
    through its ``curriculum/`` folder.
    """
    if target is None:
        return default_target(project)
    path = Path(target).expanduser()
    if not path.exists():
        raise TargetError(f"the target folder {target} does not exist")
    if not path.is_dir():
        raise TargetError(f"the target {target} is a file; give the folder that holds stage*/")
    return learner_root(path).resolve()
