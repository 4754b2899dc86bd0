from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytorch_path.cli import main
from pytorch_path.curriculum import Project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def in_mini(mini_copy: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A private copy of the fixture curriculum as the working directory (check writes progress)."""
    monkeypatch.chdir(mini_copy.root)
    return mini_copy


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_passes_exit_zero(in_mini: Project, capsys) -> None:
    code, out, _ = run(capsys, "check", "1.1", "--target", "learner", "--seed", "3")
    assert code == 0
    assert "passed" in out and "Points 4/4" in out and "replay with --seed 3" in out
    assert "next: 🌿 1.2 An exercise the learner got wrong — `pytorch-path check 1.2`" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "1.2", "--target", "learner", "--seed", "3"],
        ["check", "1.4", "--target", "learner", "--seed", "3", "-v"],
        ["list"],
        ["hint", "1.2", "--all"],
        ["progress", "--target", "learner"],
        ["lesson", "1"],
        ["doctor"],
    ],
)
def test_no_line_ends_in_spaces(in_mini: Project, capsys, argv) -> None:
    _, out, err = run(capsys, *argv)
    assert out.strip()
    for line in (out + err).splitlines():
        assert line == line.rstrip(), f"{argv}: trailing blanks in {line!r}"


def test_check_failures_exit_one_and_explain(in_mini: Project, capsys) -> None:
    code, out, _ = run(capsys, "check", "1.2", "--target", "learner", "--seed", "3")
    assert code == 1
    assert "double(x) is 2 * x." in out  # the test's docstring is the headline
    assert "wrong values" in out
    assert "pytorch-path hint 1.2" in out
    assert "Traceback" not in out


def test_verbose_adds_tracebacks(in_mini: Project, capsys) -> None:
    code, out, _ = run(capsys, "check", "1.2", "--target", "learner", "--seed", "3", "-v")
    assert code == 1
    assert "CheckFailure" in out or "assert_close" in out


def test_not_started_points_to_the_file(in_mini: Project, capsys) -> None:
    code, out, _ = run(capsys, "check", "1.3", "--target", "learner", "--seed", "3")
    assert code == 1
    assert "not started" in out
    assert "next up: 1.3" in out and "ex03_untouched.py" in " ".join(out.split())


def test_json_report(in_mini: Project, capsys, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.json"
    code, _, _ = run(
        capsys, "check", "1", "--target", "learner", "--seed", "7", "--json", str(report)
    )
    assert code == 1
    data = json.loads(report.read_text())
    assert data["schema"] == 1
    assert data["seed"] == 7
    assert data["devices"][0] == "cpu"
    assert [e["status"] for e in data["exercises"]] == [
        "passed",
        "failed",
        "not_started",
        "error",
        "timeout",
        "failed",
        "error",
    ]
    assert data["points_earned"] == 6.5 and data["points_possible"] == 40


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["check", "9"], "there is no stage 9; the stages are 1"),
        (["check", "1.99"], "there is no exercise 1.99"),
        (
            ["check", "1", "--target", "/definitely/missing"],
            "the target folder /definitely/missing does not exist",
        ),
        (["hint", "1.42"], "there is no exercise 1.42"),
        (["list", "7"], "there is no stage 7"),
    ],
)
def test_usage_errors_exit_two_with_one_sentence(in_mini: Project, capsys, argv, fragment) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert fragment in " ".join(err.split())
    assert "Traceback" not in err + out


def test_absent_device_is_a_usage_error(in_mini: Project, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "check", "1.1", "--device", "cuda")
    assert code == 2
    assert "--device cuda" in err


def test_hint_and_list(in_mini: Project, capsys) -> None:
    code, out, _ = run(capsys, "hint", "1.6")
    assert code == 0 and "Multiply by two, then by three." in out
    code, out, _ = run(capsys, "list")
    assert code == 0 and "1.7" in out and "Half right" in out


def test_bad_manifest_is_a_usage_error(mini_copy: Project, monkeypatch, capsys) -> None:
    manifest = mini_copy.curriculum_dir / "stage1_mini" / "stage.yaml"
    manifest.write_text(manifest.read_text().replace("tier: mastery", "tier: legendary"))
    monkeypatch.chdir(mini_copy.root)
    code, _, err = run(capsys, "list")
    assert code == 2
    assert "exercises[3].tier: 'legendary' is not a tier" in " ".join(err.split())


def test_doctor(capsys) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    for word in ("python", "torch", "torchvision", "device cpu"):
        assert word in out


def test_roadmap_prints_markdown(capsys) -> None:
    code, out, _ = run(capsys, "roadmap")
    assert code == 0
    assert out.startswith("### Stage 1 · ")
    assert "| 🌱 | 1.1 |" in out


def test_python_dash_m_is_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytorch_path", "check", "42"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "there is no stage 42" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_actions_template_shards_then_merges() -> None:
    import yaml

    workflow = yaml.safe_load((ROOT / "docs" / "classroom" / "grade.yml").read_text())
    jobs = workflow["jobs"]
    shards = jobs["grade"]["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, int(workflow["env"]["SHARDS"]) + 1))
    grade_steps = " ".join(str(s.get("run", "")) for s in jobs["grade"]["steps"])
    assert "--shard" in grade_steps and "--seed" in grade_steps and "bubblewrap" in grade_steps
    merge_steps = " ".join(str(s.get("run", "")) for s in jobs["merge"]["steps"])
    assert jobs["merge"]["needs"] == "grade"
    assert "pytorch-path merge" in merge_steps and "GITHUB_STEP_SUMMARY" in merge_steps


def test_the_learners_prints_are_shown_under_the_failing_test(in_mini: Project, capsys) -> None:
    failing = in_mini.root / "learner" / "stage1_mini" / "ex02_fails.py"
    failing.write_text(
        failing.read_text().replace(
            "    return x + x + 1",
            "    for i in range(30):\n        print('debug line', i)\n    return x + x + 1",
        )
    )
    code, out, _ = run(capsys, "check", "1.2", "--target", "learner", "--seed", "3")
    assert code == 1
    assert "your code printed:" in out and "debug line 0" in out
    assert "debug line 19" in out and "debug line 20" not in out  # capped at 20 lines
    assert "more lines; -v shows all" in out
    code, out, _ = run(capsys, "check", "1.2", "--target", "learner", "--seed", "3", "-v")
    assert "debug line 29" in out


def test_verbose_shows_prints_of_passing_tests(in_mini: Project, capsys) -> None:
    passing = in_mini.root / "learner" / "stage1_mini" / "ex01_passes.py"
    passing.write_text(
        passing.read_text().replace(
            '"""Return 2 * x."""', '"""Return 2 * x."""\n    print("hello from double")'
        )
    )
    _, out, _ = run(capsys, "check", "1.1", "--target", "learner", "--seed", "3")
    assert "hello from double" not in out
    _, out, _ = run(capsys, "check", "1.1", "--target", "learner", "--seed", "3", "-v")
    assert "hello from double" in out and "your code printed:" in out


def _broken_copy(tmp_path: Path, project_root: Path, body: str) -> Path:
    target = tmp_path / "ws"
    path = target / "stage1_tensors" / "ex01_tensor_basics.py"
    path.parent.mkdir(parents=True)
    path.write_text(body)
    return target


def test_a_syntax_error_is_one_headline_with_a_caret(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    stub = (ROOT / "curriculum" / "stage1_tensors" / "ex01_tensor_basics.py").read_text()
    lines = [*stub.splitlines(), "oops = [1, 2"]  # an unclosed bracket on the last line
    where = len(lines)
    target = _broken_copy(tmp_path, ROOT, "\n".join(lines) + "\n")
    for verbose in ([], ["-v"]):
        code, out, _ = run(capsys, "check", "1.1", "--target", str(target), "--seed", "1", *verbose)
        assert code == 1
        assert f"has a syntax error on line {where}" in " ".join(out.split())
        assert f"{where} | oops = [1, 2" in out and "^" in out
        assert "more failing test" not in out
        assert "plugin.py" not in out and "loader.py" not in out and "_pytest" not in out


def test_a_hang_at_import_says_so(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    target = _broken_copy(tmp_path, ROOT, "import time\n\nwhile True:\n    time.sleep(0.01)\n")
    from pytorch_path.runner import check

    results = check("1.1", project=Project(ROOT), target=target, seed=1, time_limit_s=1)
    (ex,) = results.exercises
    assert ex.status.value == "timeout"
    assert "while importing your file" in ex.message and "top level" in ex.message


def test_verbose_tracebacks_hold_the_graders_line_and_the_learners_frames_only(
    in_mini: Project, capsys
) -> None:
    failing = in_mini.root / "learner" / "stage1_mini" / "ex02_fails.py"
    failing.write_text(
        "def helper(x):\n    return x.nope()\n\n\ndef double(x):\n    return helper(x)\n"
    )
    _, out, _ = run(capsys, "check", "1.2", "--target", "learner", "--seed", "3", "-v")
    assert "grader graders/stage1_mini/test_ex02_fails.py:" in out
    assert "yours  learner/stage1_mini/ex02_fails.py:6 in double" in out
    assert "yours  learner/stage1_mini/ex02_fails.py:2 in helper" in out
    assert "AttributeError: 'Tensor' object has no attribute 'nope'" in out
    for engine in ("plugin.py", "scenario.py", "runner.py", "_pytest", "pluggy"):
        assert engine not in out


def test_hints_render_markdown_not_backticks(in_mini: Project, capsys) -> None:
    manifest = in_mini.curriculum_dir / "stage1_mini" / "stage.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "hints: [Multiply by two.]", "hints: ['Use `torch.mul`, **not** a loop.']", 1
        )
    )
    code, out, _ = run(capsys, "hint", "1.1")
    assert code == 0
    assert "Use torch.mul, not a loop." in out and "`" not in out and "**" not in out


def test_list_shows_whole_file_names(capsys) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    project = Project(ROOT)
    for stage in project.stages:
        assert f"curriculum/{stage.folder}/" in out
    for ex in project.exercises:
        assert ex.filename in out  # never cut with "…"


def test_lessons_page_in_a_terminal_and_print_elsewhere(monkeypatch, capsys) -> None:
    from pytorch_path import cli

    paged: list[bool] = []

    class Pager:
        def __enter__(self):
            paged.append(True)

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(cli.console, "pager", lambda **_: Pager())
    assert main(["lesson", "1"]) == 0
    assert not paged and "Stage 1" in capsys.readouterr().out  # not a terminal: printed
    monkeypatch.setattr(type(cli.console), "is_terminal", property(lambda self: True))
    assert main(["lesson", "1"]) == 0
    assert paged == [True]
    assert main(["lesson", "1", "--no-pager"]) == 0
    assert paged == [True]


def test_doctor_does_not_import_torchvision() -> None:
    code = "import sys; from pytorch_path.cli import main; main(['doctor']); print('torchvision' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert "torchvision" in done.stdout  # its version is still reported, from metadata


def test_roadmap_write_says_when_nothing_changed(capsys) -> None:
    assert main(["roadmap", "--write"]) == 0  # the README is in sync (test_roadmap)
    assert "is up to date" in capsys.readouterr().out


def test_make_check_ends_without_makes_error_line(tmp_path: Path) -> None:
    import shutil

    stub = ROOT / "curriculum" / "stage1_tensors" / "ex01_tensor_basics.py"
    (tmp_path / "stage1_tensors").mkdir()
    shutil.copyfile(stub, tmp_path / "stage1_tensors" / stub.name)
    done = subprocess.run(
        ["make", "--no-print-directory", "check", "ex=1.1", f"target={tmp_path}", "seed=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not started" in done.stdout
    assert "Error" not in done.stderr
    bad = subprocess.run(["make", "check", "ex=9.9"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "there is no stage 9" in bad.stderr
