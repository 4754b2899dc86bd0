"""Reports over many submissions: the CSV gradebook and the Markdown summary."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from pytorch_path.results import GRADING_STATUSES, Results, Status


def _name(results: Results) -> str:
    return results.name


def _overall(results: Results) -> str:
    return results.grading_status


def exercise_ids(all_results: Sequence[Results]) -> list[str]:
    """Every exercise id that appears in any report, in curriculum order."""
    ids: dict[str, tuple[int, int]] = {}
    for results in all_results:
        for ex in results.exercises:
            stage, number = ex.id.split(".")
            ids[ex.id] = (int(stage), int(number))
    return sorted(ids, key=lambda i: ids[i])


def render_gradebook(all_results: Sequence[Results]) -> str:
    """One CSV row per submission, sorted by name: name, points, status, points per exercise.

    ``status`` is how grading ended (:data:`~pytorch_path.results.GRADING_STATUSES`):
    ``graded``, ``empty``, ``missing``, ``timeout`` or ``crashed``.

    Sorted, so a batch graded in shards and merged gives the same file as one run.
    """
    ids = exercise_ids(all_results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["submission", "points_earned", "points_possible", "status", *ids])
    for results in sorted(all_results, key=_name):
        by_id = {ex.id: ex for ex in results.exercises}
        writer.writerow(
            [
                _name(results),
                f"{results.points_earned:g}",
                f"{results.points_possible:g}",
                _overall(results),
                *(f"{by_id[i].points_earned:g}" if i in by_id else "" for i in ids),
            ]
        )
    return out.getvalue()


def write_gradebook(all_results: Sequence[Results], path: Path) -> None:
    """Write the CSV gradebook to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_gradebook(all_results), encoding="utf-8")


def render_summary(all_results: Sequence[Results]) -> str:
    """A Markdown summary for a CI step summary: scores, then pass rates per exercise.

    Under the scores, one line explains each grading status other than ``graded`` that
    occurs (``empty``, ``missing``, ``timeout``, ``crashed``).
    """
    ids = exercise_ids(all_results)
    lines = ["## pytorch-path grades", ""]
    if all_results:
        first = all_results[0]
        lines.append(f"{len(all_results)} submission(s) · seed {first.seed} · torch {first.torch}")
        lines.append("")
    lines += ["| submission | points | status |", "|---|---:|---|"]
    for results in sorted(all_results, key=_name):
        lines.append(
            f"| {_name(results)} | {results.points_earned:g} / {results.points_possible:g} "
            f"| {_overall(results)} |"
        )
    ended = sorted({_overall(r) for r in all_results} - {"graded"})
    if ended:
        lines.append("")
        lines += [f"- `{status}`: {GRADING_STATUSES.get(status, status)}" for status in ended]
    if ids:
        lines += ["", "| exercise | passed | mean points |", "|---|---:|---:|"]
        for ex_id in ids:
            found = [ex for r in all_results for ex in r.exercises if ex.id == ex_id]
            passed = sum(ex.status is Status.PASSED for ex in found)
            mean = sum(ex.points_earned for ex in found) / len(found) if found else 0.0
            possible = found[0].points_possible if found else 0.0
            lines.append(
                f"| {ex_id} {found[0].title} | {passed}/{len(found)} | {mean:.2f} / {possible:g} |"
            )
    return "\n".join(lines) + "\n"


def write_summary(all_results: Sequence[Results], path: Path) -> None:
    """Write the Markdown summary to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_summary(all_results), encoding="utf-8")
