"""Gradescope's autograder ``results.json``.

Top level: ``score``, ``output``, ``visibility``, ``execution_time`` and
``tests``; each test has ``name``, ``score``, ``max_score``, ``status``
(``passed``/``failed``), ``output`` and ``visibility``. Tests skipped because a
device is absent are left out: they are worth nothing. Per exercise, the tests'
``max_score`` values add up exactly to its points and their ``score`` values to what
it earned (rounding goes to the last test), so the top-level ``score`` is their sum.
Where no learner code ran (an ``empty`` or ``missing`` submission), each exercise is one
entry worth its points, scored 0, naming the file that was expected; the top-level
``output`` says why nothing was graded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytorch_path.results import (
    GRADING_STATUSES,
    STATUS_LABELS,
    ExerciseResult,
    Results,
    Status,
)
from pytorch_path.statuses import NOTHING_RAN as NOTHING_RAN_STATUSES


def _shares(values: list[float], total: float) -> list[float]:
    """``values`` rounded to 4 places, the last one taking the rounding so they sum to ``total``."""
    rounded = [round(v, 4) for v in values]
    if rounded:
        rounded[-1] = round(round(total, 4) - sum(rounded[:-1]), 4)
    return rounded


#: Grading statuses in which no learner code ran: one entry per exercise, not per test.
NOTHING_RAN = NOTHING_RAN_STATUSES


def _expected_file(results: Results, ex: ExerciseResult) -> str:
    """The exercise's file as it should sit in the submission (without the report's name)."""
    return ex.file.removeprefix(f"{results.name}/")


def gradescope_dict(results: Results, *, visibility: str = "visible") -> dict[str, Any]:
    """The results as Gradescope's ``results.json`` structure."""
    tests: list[dict[str, Any]] = []
    nothing_ran = results.grading_status in NOTHING_RAN
    for ex in results.exercises:
        if nothing_ran:
            tests.append(
                {
                    "name": f"{ex.id} {ex.title}",
                    "score": 0.0,
                    "max_score": round(ex.points_possible, 4),
                    "status": "failed",
                    "output": f"not graded: expected {_expected_file(results, ex)} in the "
                    "submission, and it was not there",
                    "visibility": visibility,
                }
            )
            continue
        counted = [test for test in ex.tests if not test.device_skip]
        max_scores = _shares([test.points_possible for test in counted], ex.points_possible)
        earned = [0.0 if ex.points_earned == 0 else test.points_earned for test in counted]
        scores = _shares(earned, ex.points_earned)
        if not counted:  # it did not load, or every test was skipped for an absent device
            tests.append(
                {
                    "name": f"{ex.id} {ex.title}",
                    "score": 0.0,
                    "max_score": round(ex.points_possible, 4),
                    "status": "failed",
                    "output": ex.message or f"{ex.id}: no test could run here",
                    "visibility": visibility,
                }
            )
        for test, score, max_score in zip(counted, scores, max_scores, strict=True):
            output = test.headline
            if test.status is not Status.PASSED:
                output = f"{test.headline}\n[{STATUS_LABELS[test.status]}] {test.message}"
            tests.append(
                {
                    "name": f"{ex.id} {ex.title} · {test.name}",
                    "score": score,
                    "max_score": max_score,
                    "status": "passed" if test.status is Status.PASSED else "failed",
                    "output": output,
                    "visibility": visibility,
                }
            )
    lines = [
        f"{ex.id} {ex.title}: {STATUS_LABELS[ex.status]} "
        f"({ex.points_earned:g}/{ex.points_possible:g})"
        for ex in results.exercises
    ]
    if nothing_ran:
        reason = next((ex.message for ex in results.exercises if ex.message), "")
        lines = [f"Nothing was graded: {reason or GRADING_STATUSES[results.grading_status]}."]
    elif results.grading_status != "graded":
        meaning = GRADING_STATUSES.get(results.grading_status, "")
        lines.insert(0, f"Grading ended early: {results.grading_status}"
                     + (f" ({meaning})." if meaning else "."))  # fmt: skip
    lines.append(f"seed {results.seed}; torch {results.torch}")
    return {
        "score": round(sum(test["score"] for test in tests), 4),
        "output": "\n".join(lines),
        "visibility": visibility,
        "execution_time": round(sum(ex.duration_s for ex in results.exercises), 3),
        "tests": tests,
    }


def render_gradescope(results: Results) -> str:
    """Gradescope's ``results.json`` as text."""
    return json.dumps(gradescope_dict(results), indent=2, ensure_ascii=False) + "\n"


def write_gradescope(results: Results, path: Path) -> None:
    """Write Gradescope's ``results.json`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_gradescope(results), encoding="utf-8")
