from __future__ import annotations

import shutil
from pathlib import Path

from pytorch_path.cli import main
from pytorch_path.curriculum import Project
from pytorch_path.devcheck import behaviour_problems, read_mistake, static_problems


def test_static_problems_of_the_fixture(mini: Project) -> None:
    problems = static_problems(mini)
    messages = [p.message for p in problems]
    # The fixture curriculum ships no known-wrong variants.
    assert sum("known-wrong variants" in m for m in messages) == 7
    assert all(p.where.startswith("1.") for p in problems)


def test_stub_without_marker_and_missing_lesson(mini_copy: Project) -> None:
    stub = mini_copy.curriculum_dir / "stage1_mini" / "ex01_passes.py"
    stub.write_text(stub.read_text().replace("TODO(1.1)", "TODO"))
    (mini_copy.curriculum_dir / "stage1_mini" / "README.zh.md").unlink()
    messages = [p.message for p in static_problems(mini_copy)]
    assert "the stub has no 'TODO(1.1)' marker" in messages
    assert any("README.zh.md is missing or empty" in m for m in messages)


def test_variants_must_be_minimal_overrides(mini_copy: Project) -> None:
    folder = mini_copy.mistakes_dir / "stage1_mini" / "ex01_passes"
    folder.mkdir(parents=True)
    (folder / "empty.py").write_text('"""Known mistake: none.\n\nExpect: x\n"""\n')
    (folder / "broken.py").write_text('"""Known mistake: a typo."""\n\ndef f(:\n')
    messages = [p.message for p in static_problems(mini_copy, "1.1")]
    assert any(m.startswith("empty.py: it defines nothing") for m in messages), messages
    assert any(m.startswith("broken.py: ") and "broken.py:3:" in m for m in messages), messages


def test_behaviour_problems(mini_copy: Project, tmp_path: Path) -> None:
    # Make the reference of 1.2 wrong and give 1.1 one mistake that passes.
    solution = mini_copy.solutions_dir / "stage1_mini" / "ex02_fails.py"
    solution.write_text(solution.read_text().replace("def double(", "def _gone("))
    folder = mini_copy.mistakes_dir / "stage1_mini" / "ex01_passes"
    folder.mkdir(parents=True)
    shutil.copy(mini_copy.solutions_dir / "stage1_mini" / "ex01_passes.py", folder / "fine.py")
    problems = behaviour_problems(mini_copy, [mini_copy.exercise("1.1"), mini_copy.exercise("1.2")])
    text = "\n".join(f"{p.where}: {p.message}" for p in problems)
    assert "1.2: the reference solution is 'failed'" in text
    assert "1.1: fine.py should be 'failed' but was 'passed'" in text


def test_read_mistake(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text('"""Known mistake: forgot zero_grad.\n\nExpect: gradient\nExpect: step\n"""\n')
    mistake = read_mistake(path)
    assert mistake.summary == "Known mistake: forgot zero_grad."
    assert mistake.expect == ("gradient", "step")


def test_dev_check_quick_on_the_real_project(capsys) -> None:
    code = main(["dev-check", "--quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "dev-check clean" in out


def test_a_stale_roadmap_is_a_problem(mini_copy: Project) -> None:
    from pytorch_path.devcheck import roadmap_problems
    from pytorch_path.roadmap import END, START, write_roadmap

    mini_copy.readme.write_text(f"# mini\n{START}\nstale\n{END}\n", encoding="utf-8")
    (problem,) = roadmap_problems(mini_copy)
    assert problem.where == "README.md" and "roadmap --write" in problem.message
    write_roadmap(mini_copy)
    assert roadmap_problems(mini_copy) == []


def test_dev_check_stops_at_static_problems(mini_copy: Project) -> None:
    from pytorch_path.devcheck import dev_check

    # The fixture ships no variants: static problems, so no grader runs and no roadmap check.
    problems = dev_check(mini_copy, "1.1")
    assert problems and all("known-wrong variants" in p.message for p in problems)
