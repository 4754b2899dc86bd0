from __future__ import annotations

import json

import pytest

from pytorch_path.results import (
    SCHEMA_VERSION,
    ExerciseResult,
    Grading,
    Results,
    Status,
    TestResult,
    exercise_status,
)


def t(status: Status, *, device_skip: bool = False) -> TestResult:
    return TestResult(name="t", status=status, device_skip=device_skip)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([Status.PASSED, Status.PASSED], Status.PASSED),
        ([Status.PASSED, Status.FAILED], Status.FAILED),
        ([Status.NOT_STARTED, Status.NOT_STARTED], Status.NOT_STARTED),
        ([Status.NOT_STARTED, Status.PASSED], Status.FAILED),
        ([Status.NOT_STARTED, Status.FAILED], Status.FAILED),
        ([Status.FAILED, Status.TIMEOUT], Status.TIMEOUT),
        ([Status.TIMEOUT, Status.ERROR], Status.ERROR),
        ([Status.ERROR, Status.TAMPERED], Status.TAMPERED),
        ([Status.PASSED, Status.SKIPPED], Status.FAILED),  # a skip that is not a device skip
        ([], Status.ERROR),
    ],
)
def test_exercise_status(statuses: list[Status], expected: Status) -> None:
    assert exercise_status([t(s) for s in statuses]) is expected


def test_device_skips_do_not_count() -> None:
    tests = [t(Status.PASSED), t(Status.SKIPPED, device_skip=True)]
    assert exercise_status(tests) is Status.PASSED
    assert exercise_status([t(Status.SKIPPED, device_skip=True)]) is Status.SKIPPED
    tests = [t(Status.NOT_STARTED), t(Status.SKIPPED, device_skip=True)]
    assert exercise_status(tests) is Status.NOT_STARTED


def make_results() -> Results:
    test = TestResult(
        name="test_x[cpu]", status=Status.FAILED, message="got 1, expected 2", headline="x works",
        duration_s=0.25, points_earned=0.0, points_possible=2.5, traceback="tb",
    )  # fmt: skip
    ex = ExerciseResult(
        id="1.3", title="Seeds", tier="sprout", status=Status.FAILED, points_earned=2.5,
        points_possible=5.0, duration_s=0.4, tests=(test,), file="curriculum/x.py",
    )  # fmt: skip
    return Results(target="curriculum", seed=123, torch="2.x", devices=("cpu",), exercises=(ex,),
                   selection="1", grading=Grading(submission="alice", isolation="bubblewrap"))  # fmt: skip


def test_schema_one_keys() -> None:
    data = make_results().to_dict()
    assert data["schema"] == SCHEMA_VERSION == 1
    for key in (
        "target",
        "seed",
        "torch",
        "devices",
        "points_earned",
        "points_possible",
        "exercises",
    ):
        assert key in data
    ex = data["exercises"][0]
    for key in (
        "id",
        "title",
        "tier",
        "status",
        "points_earned",
        "points_possible",
        "duration_s",
        "tests",
    ):
        assert key in ex
    assert ex["tests"][0]["status"] == "failed"
    assert ex["tests"][0]["message"] == "got 1, expected 2"
    assert data["grading"]["submission"] == "alice"
    json.dumps(data)  # serialisable


def test_round_trip() -> None:
    results = make_results()
    again = Results.from_dict(json.loads(json.dumps(results.to_dict())))
    assert again == results


def test_other_schema_is_refused() -> None:
    data = make_results().to_dict()
    data["schema"] = 2
    with pytest.raises(ValueError, match="schema"):
        Results.from_dict(data)


def test_totals_and_all_passed() -> None:
    results = make_results()
    assert results.points_earned == 2.5
    assert results.points_possible == 5.0
    assert not results.all_passed
    assert not Results(target="x", seed=1, torch="t", devices=()).all_passed


def test_grading_record_round_trips_and_cannot_overwrite_schema_keys() -> None:
    results = make_results()
    data = results.to_dict()
    assert data["grading"]["submission"] == "alice" and data["target"] == "curriculum"
    back = Results.from_dict(data)
    assert back.grading == results.grading
    assert back.name == "alice" and back.grading_status == "graded"
    assert Results.from_dict({**data, "grading": None}).grading is None
