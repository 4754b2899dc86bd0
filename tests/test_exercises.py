"""Every exercise of the real curriculum, through its grader.

- every reference solution passes, under three different seeds;
- every untouched stub is ``not_started``, never ``passed``;
- every known-wrong variant (an override, composed with its reference solution) is ``failed``,
  with a message containing its ``Expect:`` phrases;
- dev-check's static checks are clean.

Parametrised from the manifests: no second list of exercises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytorch_path.curriculum import Project
from pytorch_path.devcheck import mistake_problems, read_mistake, run_variant, static_problems
from pytorch_path.results import Results, Status
from pytorch_path.runner import check

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Project(ROOT)
EXERCISES = PROJECT.exercises
SEEDS = (11, 2024, 777777)
MISTAKES = [(ex, path) for ex in EXERCISES for path in PROJECT.mistake_paths(ex)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def solution_runs() -> dict[int, Results]:
    return {s: check("all", project=PROJECT, target=PROJECT.solutions_dir, seed=s) for s in SEEDS}


@pytest.fixture(scope="module")
def stub_run() -> Results:
    return check("all", project=PROJECT, target=PROJECT.curriculum_dir, seed=5)


def _explain(result) -> str:
    problem = result.first_problem
    return f"{result.status.value}: {result.message or (problem and problem.message)}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex_id", [ex.id for ex in EXERCISES])
def test_solution_passes(solution_runs: dict[int, Results], ex_id: str, seed: int) -> None:
    result = next(e for e in solution_runs[seed].exercises if e.id == ex_id)
    assert result.status is Status.PASSED, _explain(result)
    assert result.points_earned == pytest.approx(result.points_possible)


@pytest.mark.parametrize("ex_id", [ex.id for ex in EXERCISES])
def test_stub_is_not_started(stub_run: Results, ex_id: str) -> None:
    result = next(e for e in stub_run.exercises if e.id == ex_id)
    assert result.status is Status.NOT_STARTED, _explain(result)
    assert result.points_earned == 0


@pytest.mark.parametrize(
    ("ex", "path"), MISTAKES, ids=[f"{ex.id}-{path.stem}" for ex, path in MISTAKES]
)
def test_known_mistake_fails_with_a_pointed_message(ex, path: Path) -> None:
    mistake = read_mistake(path)
    result = run_variant(PROJECT, ex, path, seed=3)
    problems = mistake_problems(mistake, result)
    assert not problems, "\n".join(problems)
    assert result.points_earned < result.points_possible


def test_every_exercise_has_its_pieces() -> None:
    problems = static_problems(PROJECT)
    assert not problems, "\n".join(f"{p.where}: {p.message}" for p in problems)
