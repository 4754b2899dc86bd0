"""The learner's progress file and the ``progress`` view, without running a grader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from pytorch_path.curriculum import Project
from pytorch_path.progress import FILENAME, FOLDER, ExerciseProgress, Progress, summarize
from pytorch_path.report import render_progress
from pytorch_path.results import ExerciseResult, Results, Status


def _results(**statuses: Status) -> Results:
    exercises = tuple(
        ExerciseResult(
            id=ex_id.replace("_", "."),
            title="t",
            tier="seedling",
            status=status,
            points_earned=0.0,
            points_possible=1.0,
            duration_s=0.0,
        )
        for ex_id, status in statuses.items()
    )
    return Results(target="t", seed=1, torch="x", devices=("cpu",), exercises=exercises)


def test_a_missing_file_is_empty_progress(tmp_path: Path) -> None:
    progress = Progress.load(tmp_path)
    assert progress.path == tmp_path / FOLDER / FILENAME
    assert progress.exercises == {} and progress.warning == ""
    assert progress.of("1.1") == ExerciseProgress()


def test_record_counts_attempts_and_keeps_the_first_pass(tmp_path: Path) -> None:
    progress = Progress.load(tmp_path)
    progress.record(_results(**{"1_1": Status.FAILED, "1_2": Status.NOT_STARTED}))
    progress.record(_results(**{"1_1": Status.PASSED}))
    first = progress.of("1.1").first_passed_at
    progress.record(_results(**{"1_1": Status.FAILED}))
    entry = progress.of("1.1")
    assert entry.attempts == 3 and entry.status == "failed"
    assert entry.first_passed_at == first is not None and entry.passed
    assert progress.of("1.2").attempts == 0  # not started is not an attempt


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    progress = Progress.load(tmp_path)
    progress.record(_results(**{"2_3": Status.PASSED}))
    progress.of("2.3").hints_seen = 2
    progress.save()
    data = json.loads(progress.path.read_text())
    assert data["format"] == 1 and data["exercises"]["2.3"]["hints_seen"] == 2
    assert Progress.load(tmp_path).exercises == progress.exercises
    assert [p.name for p in progress.path.parent.iterdir()] == [FILENAME]  # no temporary left


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": 99}',
        '{"format": 1, "exercises": []}',
        '{"format": 1, "exercises": {"1.1": {"status": "great"}}}',
        '{"format": 1, "exercises": {"1.1": {"attempts": -3}}}',
        '{"format": 1, "exercises": {"1.1": {"first_passed_at": 5}}}',
        "[]",
    ],
)
def test_a_corrupt_file_is_kept_aside_and_rebuilt(tmp_path: Path, content: str) -> None:
    path = tmp_path / FOLDER / FILENAME
    path.parent.mkdir()
    path.write_text(content)
    progress = Progress.load(tmp_path)
    assert progress.exercises == {}
    assert "could not be read" in progress.warning and str(path) in progress.warning
    assert (path.parent / (FILENAME + ".corrupt")).read_text() == content


def test_summary_per_stage(mini: Project, tmp_path: Path) -> None:
    progress = Progress.load(tmp_path)
    progress.of("1.1").status = "passed"  # 4 points
    progress.of("1.2").status = "failed"
    progress.of("1.2").hints_seen = 3
    progress.of("1.6").status = "passed"  # 10 points
    progress.of("1.6").solution_seen = True
    (row,) = summarize(mini.stages, progress)
    stage = mini.stages[0]
    assert (row.number, row.title) == (1, stage.title)
    assert (row.passed, row.total) == (2, len(stage.exercises))
    assert row.points == 14 and row.points_possible == sum(ex.points for ex in stage.exercises)
    assert (row.hints_seen, row.solutions_seen) == (3, 1)
    assert row.percent == pytest.approx(100 * 14 / row.points_possible)


def test_the_view_shows_percentages_and_what_is_next(mini: Project, tmp_path: Path) -> None:
    progress = Progress.load(tmp_path)
    progress.of("1.1").status = "passed"
    console = Console(record=True, width=120, color_system=None)
    nxt = mini.exercise("1.2")
    render_progress(console, summarize(mini.stages, progress), target="ws",
                    next_exercise=nxt, next_file="ws/x.py")  # fmt: skip
    text = console.export_text()
    total = sum(ex.points for ex in mini.exercises)
    assert f"4/{total:g}" in text and f"{100 * 4 / total:.0f}%" in text
    assert f"course 4/{total:g} points" in text
    assert "next:" in text and "1.2" in text and "ws/x.py" in text
    console = Console(record=True, width=120, color_system=None)
    render_progress(console, [], target="ws", next_exercise=None)
    assert "Every exercise has passed" in console.export_text()


def test_a_second_corruption_keeps_the_first_copy(tmp_path: Path) -> None:
    path = tmp_path / FOLDER / FILENAME
    path.parent.mkdir()
    for content in ("first {", "second {", "third {"):
        path.write_text(content)
        assert Progress.load(tmp_path).warning
    kept = {p.name: p.read_text() for p in path.parent.iterdir()}
    assert kept == {
        "progress.json.corrupt": "first {",
        "progress.json.corrupt.2": "second {",
        "progress.json.corrupt.3": "third {",
    }
