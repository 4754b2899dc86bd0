"""The instructors' templates in ``docs/classroom/``: the GitHub Actions workflow and the
Gradescope scripts.

The workflow is parsed as YAML and held to what makes it safe and cheap to run; the
Gradescope scripts are parsed by bash, then ``run_autograder`` is run for real with its
root paths moved to temporary folders and the fixture curriculum as the project.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytorch_path.curriculum import Project

ROOT = Path(__file__).resolve().parents[1]
CLASSROOM = ROOT / "docs" / "classroom"
GRADESCOPE = CLASSROOM / "gradescope"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HONEST = "import torch\n\n\ndef double(x: torch.Tensor) -> torch.Tensor:\n    return 2 * x\n"


# ------------------------------------------------------------------ GitHub Actions


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load((CLASSROOM / "grade.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, spec in workflow["jobs"].items() for step in spec["steps"]]


def _runs(workflow: dict[str, Any], job: str | None = None) -> str:
    return "\n".join(str(s.get("run", "")) for j, s in _steps(workflow) if job in (None, j))


def _named(workflow: dict[str, Any], pattern: str) -> list[dict[str, Any]]:
    found = [s for _, s in _steps(workflow) if re.search(pattern, str(s.get("name", "")))]
    assert found, f"no step named like {pattern!r}"
    return found


def test_inputs_reach_run_scripts_only_through_env(workflow: dict[str, Any]) -> None:
    for job, step in _steps(workflow):
        script = str(step.get("run", ""))
        for unsafe in (
            "${{ inputs.",
            "${{ github.event.inputs.",
            "${{inputs.",
            "${{ github.head_ref",
        ):
            assert unsafe not in script, f"{job}: {step.get('name')}: {unsafe} inside run:"
    assert "inputs.stages" in workflow["env"]["STAGES"]  # passed in through env: ...
    assert '--stages "$STAGES"' in _runs(workflow, "grade")  # ... and quoted in the shell


def test_summary_and_uploads_run_always(workflow: dict[str, Any]) -> None:
    summaries = [s for _, s in _steps(workflow) if "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
    uploads = [s for _, s in _steps(workflow) if "upload-artifact" in str(s.get("uses", ""))]
    assert summaries and len(uploads) == 2
    for step in summaries + uploads:
        assert str(step.get("if", "")).replace("${{", "").replace("}}", "").strip() == "always()"
    assert workflow["jobs"]["merge"]["if"] == "always()"


def test_pip_is_cached_and_torch_is_the_cpu_build(workflow: dict[str, Any]) -> None:
    setups = [s for _, s in _steps(workflow) if "setup-python" in str(s.get("uses", ""))]
    assert len(setups) == len(workflow["jobs"])
    for step in setups:
        assert step["with"]["cache"] == "pip"
    for job in workflow["jobs"]:
        runs = _runs(workflow, job)
        torch_line = next(line for line in runs.splitlines() if "install torch" in line)
        assert f"--index-url {CPU_INDEX}" in torch_line
        assert runs.index("install torch") < runs.index("install -e .")  # torch first


def test_bubblewrap_is_probed_with_a_visible_fallback(workflow: dict[str, Any]) -> None:
    (step,) = _named(workflow, "bubblewrap")
    script = step["run"]
    assert re.search(
        r"^\s*probe\(\) \{ bwrap --ro-bind / / .*--unshare-all.* true; \}", script, re.M
    )
    assert "if probe; then" in script  # run, not merely found on PATH
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in script
    assert "::warning" in script and "SANDBOX=process" in script and "SANDBOX=bwrap" in script
    assert '--sandbox "$SANDBOX"' in _runs(workflow, "grade")
    bash = shutil.which("bash")
    if bash:
        for _, s in _steps(workflow):
            if "run" in s:
                done = subprocess.run([bash, "-n"], input=s["run"], text=True, capture_output=True)
                assert done.returncode == 0, (s.get("name"), done.stderr)


def test_private_graders_come_from_their_own_repository_outside_the_course(
    workflow: dict[str, Any],
) -> None:
    checkouts = [
        s for _, s in _steps(workflow) if str(s.get("uses", "")).startswith("actions/checkout")
    ]
    private = [s for s in checkouts if "repository" in s.get("with", {})]
    assert private, "no checkout of the private graders repository"
    course_paths = {s.get("with", {}).get("path", ".") for s in checkouts if s not in private}
    assert (
        course_paths == {"course"} and workflow["defaults"]["run"]["working-directory"] == "course"
    )
    for step in private:
        spec = step["with"]
        assert spec["repository"] == "${{ vars.GRADERS_REPO }}"
        assert spec["token"].startswith("${{ secrets.")
        where = Path(spec["path"])
        assert not where.is_absolute() and ".." not in where.parts
        for course in course_paths:
            assert Path(course) not in (where, *where.parents), f"{where} is inside {course}"
    runs = _runs(workflow, "grade")
    assert '--graders "$private/graders"' in runs and '--solutions "$private/solutions"' in runs
    assert 'private="$GITHUB_WORKSPACE/private"' in runs


# --------------------------------------------------------------------------- Gradescope


def _bash() -> str:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed here")
    return bash


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_gradescope_scripts_parse_and_are_executable(script: str) -> None:
    path = GRADESCOPE / script
    done = subprocess.run([_bash(), "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(path, os.X_OK)


def test_gradescope_scripts_use_gradescopes_paths() -> None:
    setup = (GRADESCOPE / "setup.sh").read_text()
    run = (GRADESCOPE / "run_autograder").read_text()
    for text in (setup, run):
        assert 'AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"' in text
        assert "$AUTOGRADER_ROOT/source}" in text
    assert f"install torch torchvision --index-url {CPU_INDEX}" in setup
    assert setup.index("--index-url") < setup.index('install "$PROJECT"')
    assert "$AUTOGRADER_ROOT/submission}" in run and "$AUTOGRADER_ROOT/results}" in run
    assert 'RESULTS_JSON="$RESULTS/results.json"' in run
    assert "--format gradescope" in run
    assert '--graders "$PRIVATE/graders"' in run and '--solutions "$PRIVATE/solutions"' in run
    assert 'PRIVATE="${PYTORCH_PATH_PRIVATE:-$SOURCE/private}"' in run
    assert "bwrap --ro-bind / /" in run and "--sandbox process" in run


def _autograder(
    tmp_path: Path, project: Path, files: dict[str, str], **env: str
) -> tuple[dict[str, Any], str]:
    """Run run_autograder with its paths under ``tmp_path``; its results.json and output."""
    root = tmp_path / "autograder"
    submission = root / "submission"
    submission.mkdir(parents=True)
    for relpath, text in files.items():
        (submission / relpath).parent.mkdir(parents=True, exist_ok=True)
        (submission / relpath).write_text(text)
    environ = {
        **os.environ,
        "AUTOGRADER_ROOT": str(root),
        "PYTORCH_PATH_PROJECT": str(project),
        "PYTORCH_PATH_PYTHON": sys.executable,
        "PYTORCH_PATH_STAGES": "1.1,1.2",
        "TMPDIR": str(tmp_path),
        **env,
    }
    done = subprocess.run(
        [_bash(), str(GRADESCOPE / "run_autograder")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = root / "results" / "results.json"
    assert results.is_file(), done.stdout + done.stderr
    assert not list(tmp_path.glob("pytorch-path-autograder.*")), "its work folder was left behind"
    return json.loads(results.read_text(encoding="utf-8")), done.stdout + done.stderr


@pytest.fixture
def course(mini_copy: Project, tmp_path: Path) -> Path:
    """The fixture curriculum as the autograder's project, private graders where Gradescope
    keeps them: their reference for 1.2 is ``x``, unlike the project's own (``2 * x``)."""
    private = tmp_path / "autograder" / "source" / "private"
    shutil.copytree(mini_copy.graders_dir, private / "graders")
    shutil.copytree(mini_copy.solutions_dir, private / "solutions")
    reference = private / "solutions" / "stage1_mini" / "ex02_fails.py"
    reference.write_text(reference.read_text().replace("return 2 * x", "return x"))
    return mini_copy.root


@pytest.mark.slow
def test_run_autograder_grades_with_the_private_graders(course: Path, tmp_path: Path) -> None:
    files = {"stage1_mini/ex01_passes.py": HONEST,
             "stage1_mini/ex02_fails.py": HONEST.replace("2 * x", "x")}  # fmt: skip
    results, log = _autograder(tmp_path, course, files)
    assert results["score"] == 10  # 1.2 passes against the private reference only
    assert sum(t["max_score"] for t in results["tests"]) == 10
    assert {t["status"] for t in results["tests"]} == {"passed"}
    assert "pytorch-path grade" in log  # grade's own output is in the autograder's log
    assert "seed 20240901" in results["output"]


def test_run_autograder_on_an_empty_submission_without_bubblewrap(
    course: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "bwrap"  # installed, but cannot start a sandbox
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    path = f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    results, log = _autograder(tmp_path, course, {"notes.txt": "I forgot my files\n"}, PATH=path)
    assert "WARNING: bubblewrap cannot start a sandbox here; grading with --sandbox process" in log
    assert "isolation process" in " ".join(log.split())
    if os.geteuid() == 0:  # workers get a user of their own: the reference is root's alone
        private = tmp_path / "autograder" / "source" / "private" / "solutions"
        assert (private.stat().st_mode & 0o077) == 0
        assert ((course / "solutions").stat().st_mode & 0o077) == 0
    assert results["score"] == 0
    assert results["output"].startswith(
        "Nothing was graded: the submission holds none of the 2 files expected: it holds only "
        "other files (notes.txt); expected stage1_mini/ex01_passes.py, stage1_mini/ex02_fails.py"
    )
    assert [(t["score"], t["max_score"]) for t in results["tests"]] == [(0, 4), (0, 6)]


def test_run_autograder_writes_a_failing_result_when_grading_fails(
    course: Path, tmp_path: Path
) -> None:
    results, log = _autograder(tmp_path, course, {}, PYTORCH_PATH_STAGES="9")
    assert results["score"] == 0 and results["tests"] == []
    assert "\n" not in results["output"]
    assert results["output"].startswith("The autograder could not grade this submission (")
    assert "pytorch-path grade exited with code 2" in results["output"]
    assert "there is no stage 9" in results["output"]
    assert "please tell your instructor" in results["output"]
    assert "there is no stage 9" in log
