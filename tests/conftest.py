"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytorch_path.curriculum import Project

ROOT = Path(__file__).resolve().parents[1]
MINI = Path(__file__).resolve().parent / "fixtures" / "mini_curriculum"


@pytest.fixture(scope="session")
def project() -> Project:
    """The real pytorch-path checkout."""
    return Project(ROOT)


@pytest.fixture(scope="session")
def mini() -> Project:
    """The tiny fixture curriculum: pass, fail, not started, syntax error, hang, partial, crash."""
    return Project(MINI)


@pytest.fixture
def mini_copy(tmp_path: Path) -> Project:
    """A writable copy of the fixture curriculum."""
    dest = tmp_path / "mini"
    shutil.copytree(MINI, dest)
    return Project(dest)
