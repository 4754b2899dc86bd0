"""Targets: where learner code is (a folder, a clone's curriculum/, an init workspace)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytorch_path.curriculum import Project
from pytorch_path.targets import TargetError, find_workspace, resolve_target


def test_target_clone_with_curriculum_folder(tmp_path: Path, mini: Project) -> None:
    clone = tmp_path / "alice"
    shutil.copytree(mini.root / "learner", clone / "curriculum")
    assert resolve_target(clone, mini) == (clone / "curriculum").resolve()


def test_bad_targets(tmp_path: Path, mini: Project) -> None:
    with pytest.raises(TargetError, match="does not exist"):
        resolve_target(tmp_path / "missing", mini)
    file = tmp_path / "file.py"
    file.write_text("")
    with pytest.raises(TargetError, match="is a file"):
        resolve_target(file, mini)


def test_no_workspace_outside_one(tmp_path: Path) -> None:
    assert find_workspace(tmp_path) is None


def test_a_clones_workspace_is_the_default_target(mini_copy: Project, monkeypatch) -> None:
    from pytorch_path.learn import init_workspace
    from pytorch_path.targets import default_target

    monkeypatch.chdir(mini_copy.root)
    assert default_target(mini_copy) == mini_copy.curriculum_dir  # no workspace yet
    init_workspace(mini_copy, mini_copy.root / "workspace")
    assert default_target(mini_copy) == mini_copy.root / "workspace"
    assert resolve_target(None, mini_copy) == mini_copy.root / "workspace"


def test_a_submitted_clone_is_read_from_its_workspace(tmp_path: Path, mini: Project) -> None:
    from pytorch_path.learn import init_workspace

    clone = tmp_path / "alice"
    shutil.copytree(mini.root / "learner", clone / "curriculum")
    init_workspace(mini, clone / "workspace")
    assert resolve_target(clone, mini) == (clone / "workspace").resolve()


def test_a_pushed_workspace_without_its_marker_is_still_read(tmp_path: Path, mini: Project) -> None:
    clone = tmp_path / "bob"
    shutil.copytree(mini.root / "learner", clone / "curriculum")
    shutil.copytree(mini.root / "learner", clone / "workspace")  # no .pytorch_path/ (git-ignored)
    assert resolve_target(clone, mini) == (clone / "workspace").resolve()
