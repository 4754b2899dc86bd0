"""Isolation helpers: choosing a mode, the bubblewrap command, clean environments."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytorch_path import sandbox
from pytorch_path.sandbox import SandboxUnavailableError, bwrap_command, child_env, choose_isolation


def test_auto_refuses_without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bwrap_available", lambda: False)
    with pytest.raises(SandboxUnavailableError) as caught:
        choose_isolation("auto")
    assert "--sandbox process" in str(caught.value) and "--sandbox none" in str(caught.value)
    with pytest.raises(SandboxUnavailableError, match="--sandbox bwrap"):
        choose_isolation("bwrap")
    assert choose_isolation("process") == "process"
    assert choose_isolation("none") == "none"


def test_auto_is_bubblewrap_where_it_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bwrap_available", lambda: True)
    assert choose_isolation("auto") == "bwrap"


def test_the_bubblewrap_command_hides_the_solutions(tmp_path: Path) -> None:
    import pytorch_path

    package = Path(pytorch_path.__file__).resolve().parent
    bundle = package / "_bundle" / "solutions"
    hidden_outside = tmp_path / "private_solutions"
    hidden_outside.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    cmd = bwrap_command(work, readable=[], hidden=[hidden_outside])
    assert cmd[-1] == "--"
    assert "--unshare-all" in cmd and "--die-with-parent" in cmd
    binds = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--ro-bind"]
    assert str(package) in binds or any(package.is_relative_to(b) for b in binds)
    # Nothing that holds the solutions is bound; the project root is not visible.
    root = package.parents[1]
    assert str(root) not in binds
    assert not any(Path(b).is_relative_to(root / "solutions") for b in binds)
    assert not any(Path(b) == hidden_outside for b in binds)
    writable = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--bind"]
    assert writable == [str(work)]
    if bundle.is_dir():
        assert str(bundle) in [cmd[i + 1] for i, a in enumerate(cmd) if a == "--tmpfs"]


def test_child_env_is_clean(tmp_path: Path) -> None:
    env = child_env(tmp_path, {"PATH": "/bin", "PYTHONPATH": "/evil", "PYTEST_ADDOPTS": "-x"})
    assert env["PATH"] == "/bin" and "PYTHONPATH" not in env and "PYTEST_ADDOPTS" not in env
    assert env["HOME"] == str(tmp_path / ".home")


def test_folders_under_tmp_stay_visible(tmp_path: Path) -> None:
    """A checkout or venv under /tmp is bound after the private /tmp, so it is not hidden."""
    under_tmp = tmp_path / "venv"
    under_tmp.mkdir()
    cmd = bwrap_command(tmp_path / "work", readable=[under_tmp])
    tmpfs = next(i for i, a in enumerate(cmd) if a == "--tmpfs" and cmd[i + 1] == "/tmp")
    bind = next(i for i, a in enumerate(cmd) if a == "--ro-bind" and cmd[i + 1] == str(under_tmp))
    assert tmpfs < bind
