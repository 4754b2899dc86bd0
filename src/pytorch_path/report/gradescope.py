"""Gradescope's autograder ``results.json``.

Top level: ``score``, ``output``, ``visibility``, ``execution_time`` and
``tests``; each test has ``name``, ``score``, ``max_score``, ``status``
(``passed``/``failed``), ``output`` and ``visibility``. Tests skipped because a
device is absent are left out: they are worth nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytorch_path.results import STATUS_LABELS, Results, Status


def gradescope_dict(results: Results, *, visibility: str = "visible") -> dict[str, Any]:
    """The results as Gradescope's ``results.json`` structure."""
    tests: list[dict[str, Any]] = []
    for ex in results.exercises:
        if not ex.tests:
            tests.append(
                {
                    "name": f"{ex.id} {ex.title}",
                    "score": 0.0,
                    "max_score": round(ex.points_possible, 4),
                    "status": "failed",
                    "output": ex.message,
                    "visibility": visibility,
                }
            )
        for test in ex.tests:
            if test.device_skip:
                continue
            output = test.headline
            if test.status is not Status.PASSED:
                output = f"{test.headline}\n[{STATUS_LABELS[test.status]}] {test.message}"
            tests.append(
                {
                    "name": f"{ex.id} {ex.title} · {test.name}",
                    "score": round(test.points_earned, 4),
                    "max_score": round(test.points_possible, 4),
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
    if results.grading_status != "graded":
        lines.insert(0, f"Grading ended early: {results.grading_status}.")
    lines.append(f"seed {results.seed}; torch {results.torch}")
    return {
        "score": round(results.points_earned, 4),
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
