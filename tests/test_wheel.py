"""An installed wheel works without a clone: `pytorch-path init DIR`, then `check` there.

The wheel is built from this checkout and installed into a fresh virtual
environment that borrows torch and the other dependencies from the project's own
environment (so nothing is downloaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600, **kwargs
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp / "dist"),
        ],
        cwd=tmp,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((tmp / "dist").glob("pytorch_path-*.whl"))
    venv = tmp / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], cwd=tmp).returncode == 0
    site = Path(
        run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            cwd=tmp,
        ).stdout.strip()
    )
    # Borrow torch, numpy, pytest, rich, … from the project's environment.
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=tmp,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_wheel_carries_the_curriculum(installed: Path, tmp_path: Path) -> None:
    python = installed / "bin" / "python"
    probe = run(
        [
            str(python),
            "-c",
            "import pytorch_path.curriculum as c; p = c.Project.locate(); "
            "print(p.root); print(len(p.exercises))",
        ],
        cwd=tmp_path,
    )
    root, count = probe.stdout.split()
    assert "_bundle" in root and "site-packages" in root
    assert int(count) >= 9


def test_init_then_check_in_the_workspace(installed: Path, tmp_path: Path) -> None:
    cli = str(installed / "bin" / "pytorch-path")
    done = run([cli, "init", "course"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    ws = tmp_path / "course"
    assert (ws / "stage1_tensors" / "ex01_tensor_basics.py").is_file()
    assert (ws / "stage1_tensors" / "README.zh.md").is_file()
    inside = run([cli, "check", "1", "--seed", "1", "--json", "r.json"], cwd=ws)
    assert inside.returncode == 1, inside.stdout + inside.stderr
    report = json.loads((ws / "r.json").read_text())
    assert {e["status"] for e in report["exercises"]} == {"not_started"}
    solution = ws / "stage1_tensors" / "ex01_tensor_basics.py"
    bundle = Path(
        run(
            [
                str(installed / "bin" / "python"),
                "-c",
                "import pytorch_path.curriculum as c; print(c.BUNDLE_DIR)",
            ],
            cwd=tmp_path,
        ).stdout.strip()
    )
    solution.write_text(
        (bundle / "solutions" / "stage1_tensors" / "ex01_tensor_basics.py").read_text()
    )
    outside = run([cli, "check", "1.1", "--target", str(ws), "--seed", "2"], cwd=tmp_path)
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert "passed" in outside.stdout
