"""The packaged course: an sdist, the wheel built from it, and that wheel installed without a clone.

``python -m build`` builds the sdist from the checkout and then the wheel from the
sdist, so that is the path tested here (a wheel built straight from the checkout
could not notice an sdist that lost a folder). Both builds use the backend from the
project's own environment (``--no-isolation``: the ``dev`` extras carry hatchling and
build), and the wheel is installed into a fresh virtual environment that borrows
torch and the other dependencies from the project's environment through a ``.pth``
file, so nothing is downloaded.

The fast tests read the build configuration and run the bundling hook directly.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_PREFIX = "pytorch_path/_bundle/"
COURSE = {"curriculum", "graders", "solutions", "data"}


def run(cmd: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600, **kwargs
    )


def pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def hook_config() -> dict[str, Any]:
    return pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["custom"]


def course_files(root: Path, exclude: list[str]) -> set[str]:
    """The checkout's files under the bundled folders, as ``<folder>/<path>``, minus ``exclude``."""
    found: set[str] = set()
    for name in sorted(COURSE):
        for path in (root / name).rglob("*"):
            rel = path.relative_to(root)
            if path.is_file() and not any(
                fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in exclude
            ):
                found.add(rel.as_posix())
    return found


def load_hook() -> ModuleType:
    pytest.importorskip("hatchling")
    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- configuration (fast)


def test_the_build_configuration_bundles_the_course() -> None:
    config = pyproject()
    assert config["build-system"]["build-backend"] == "hatchling.build"
    assert not (ROOT / "setup.py").exists()
    hook = hook_config()
    assert (ROOT / hook["path"]).is_file()
    assert set(hook["bundle"]) == COURSE
    for name in hook["bundle"]:
        assert any(p.is_file() for p in (ROOT / name).rglob("*")), f"{name}/ has no files"
    assert {"__pycache__", "*.pyc", ".pytorch_path"} <= set(hook["bundle-exclude"])
    # The sdist carries what the wheel build reads (pyproject.toml and README.md are
    # always added by hatchling).
    sdist = config["tool"]["hatch"]["build"]["targets"]["sdist"]
    assert {"src", "hatch_build.py", *COURSE} <= set(sdist["only-include"])
    assert {"__pycache__", "*.pyc", ".pytorch_path"} <= set(sdist["exclude"])
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/pytorch_path"]


def test_the_version_is_written_once() -> None:
    config = pyproject()
    assert "version" not in config["project"]
    assert "version" in config["project"]["dynamic"]
    path = ROOT / config["tool"]["hatch"]["version"]["path"]
    assert path == ROOT / "src" / "pytorch_path" / "_version.py"
    from pytorch_path import __version__

    assert f'__version__ = "{__version__}"' in path.read_text(encoding="utf-8")


def _course_tree(tmp_path: Path, missing: str | None = None) -> Path:
    root = tmp_path / "tree"
    for name in sorted(COURSE - {missing}):
        (root / name / "stage1_x").mkdir(parents=True)
        (root / name / "stage1_x" / "file.txt").write_text("x")
        (root / name / "__pycache__").mkdir()
        (root / name / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"")
        (root / name / ".pytorch_path").mkdir()
        (root / name / ".pytorch_path" / "progress.json").write_text("{}")
    return root


def _run_hook(root: Path, version: str = "standard") -> dict[str, Any]:
    module = load_hook()
    hook = module.BundleCourseHook(str(root), hook_config(), None, None, str(root), "wheel")
    build_data: dict[str, Any] = {"force_include": {}}
    hook.initialize(version, build_data)
    return build_data


def test_the_hook_bundles_the_folders_without_caches_or_progress(tmp_path: Path) -> None:
    root = _course_tree(tmp_path)
    forced = _run_hook(root)["force_include"]
    assert sorted(forced.values()) == sorted(
        f"{BUNDLE_PREFIX}{name}/stage1_x/file.txt" for name in COURSE
    )
    assert all(Path(source).is_file() for source in forced)


def test_the_hook_refuses_a_missing_folder(tmp_path: Path) -> None:
    root = _course_tree(tmp_path, missing="data")
    with pytest.raises(RuntimeError, match=r"the folder data/ is missing"):
        _run_hook(root)


def test_the_hook_refuses_an_empty_folder(tmp_path: Path) -> None:
    root = _course_tree(tmp_path)
    shutil.rmtree(root / "solutions" / "stage1_x")
    with pytest.raises(RuntimeError, match=r"the folder solutions/ .* is empty"):
        _run_hook(root)


def test_an_editable_install_bundles_nothing(tmp_path: Path) -> None:
    """Editable installs read the checkout: no copy in site-packages to go stale."""
    root = _course_tree(tmp_path, missing="data")
    assert _run_hook(root, version="editable") == {"force_include": {}}


# --------------------------------------------------------------------------- real builds (slow)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``python -m build``: the sdist from this checkout, then the wheel from that sdist."""
    pytest.importorskip("build")
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("dist")
    built = run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        cwd=out,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Building wheel from sdist" in built.stdout + built.stderr, built.stderr
    return next(out.glob("pytorch_path-*.tar.gz")), next(out.glob("pytorch_path-*.whl"))


@pytest.mark.slow
def test_the_sdist_holds_what_the_wheel_build_needs(dists: tuple[Path, Path]) -> None:
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        names = [m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()]
    top = {name.split("/")[0] for name in names}
    assert {"pyproject.toml", "README.md", "hatch_build.py", "src", "PKG-INFO", *COURSE} <= top
    assert top <= {
        "pyproject.toml",
        "README.md",
        "hatch_build.py",
        "src",
        "tests",
        "notebooks",  # the generated notebooks, which the tests compare with the stubs
        "PKG-INFO",
        ".gitignore",
        *COURSE,
    }, top
    for name in names:
        parts = name.split("/")
        assert not {"__pycache__", ".pytorch_path", ".venv", "build", "dist"} & set(parts), name
        assert not name.endswith(".pyc"), name
    assert "src/pytorch_path/py.typed" in names and "src/pytorch_path/grader.ini" in names


@pytest.mark.slow
def test_the_wheel_carries_every_course_file(dists: tuple[Path, Path]) -> None:
    """Every stub, lesson, grader, solution and data file of the checkout is in ``_bundle/``."""
    _, wheel = dists
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    bundled = {n.removeprefix(BUNDLE_PREFIX) for n in names if n.startswith(BUNDLE_PREFIX)}
    expected = course_files(ROOT, hook_config()["bundle-exclude"])
    assert expected, "the checkout has no course files?"
    assert bundled == expected, (
        f"missing from the wheel: {sorted(expected - bundled)[:10]}; "
        f"unexpected: {sorted(bundled - expected)[:10]}"
    )
    assert "pytorch_path/py.typed" in names and "pytorch_path/grader.ini" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.slow
def test_a_build_without_a_course_folder_fails_loudly(tmp_path: Path) -> None:
    """A source tree that lost data/ makes no sdist-built wheel; the error names the folder."""
    pytest.importorskip("build")
    pytest.importorskip("hatchling")
    tree = tmp_path / "src_tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "hatch_build.py"):
        shutil.copy2(ROOT / name, tree / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytorch_path")
    for name in ("src", "curriculum", "graders", "solutions"):
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    built = run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path / "out"), "."],
        cwd=tree,
    )
    assert built.returncode != 0, built.stdout
    assert "the folder data/ is missing" in built.stdout + built.stderr
    assert not list((tmp_path / "out").glob("*.whl"))


@pytest.fixture(scope="module")
def installed(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, wheel = dists
    tmp = tmp_path_factory.mktemp("wheel")
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


@pytest.mark.slow
def test_wheel_carries_the_curriculum(installed: Path, tmp_path: Path) -> None:
    python = installed / "bin" / "python"
    probe = run(
        [
            str(python),
            "-c",
            "import pytorch_path.curriculum as c, pytorch_path.data as d; p = c.Project.locate(); "
            "print(p.root); print(len(p.exercises)); print(d.data_dir())",
        ],
        cwd=tmp_path,
    )
    root, count, data = probe.stdout.split()
    assert "_bundle" in root and "site-packages" in root
    assert int(count) >= 9
    assert Path(data) == Path(root) / "data"


@pytest.mark.slow
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
