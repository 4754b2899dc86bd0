from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pytorch_path.results import (
    GRADING_STATUSES,
    SCHEMA_VERSION,
    TEXT_LIMIT,
    ExerciseResult,
    Grading,
    Results,
    Status,
    TestResult,
    capped,
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


@pytest.mark.parametrize("status", [Status.PASSED, Status.SKIPPED, Status.NOT_STARTED])
def test_only_problems_keep_a_traceback(status: Status) -> None:
    test = TestResult(name="t", status=status, traceback="Traceback (most recent call last)")
    assert test.traceback == ""
    assert test.to_dict()["traceback"] == ""


@pytest.mark.parametrize("status", [Status.FAILED, Status.ERROR, Status.TIMEOUT, Status.TAMPERED])
def test_problems_keep_their_traceback(status: Status) -> None:
    assert TestResult(name="t", status=status, traceback="tb").traceback == "tb"


def test_traceback_and_output_are_capped_with_an_exact_count() -> None:
    from pytorch_path.text import clean

    already_cut = clean("x" * 30_000, 20_000)  # as the plugin keeps a traceback
    test = TestResult(name="t", status=Status.FAILED, traceback=already_cut, output="\x00" * 10)
    assert test.traceback == "x" * TEXT_LIMIT + "… [22000 more characters cut]"
    assert test.output == "\\x00" * 10  # made safe for every writer
    again = TestResult.from_dict(json.loads(json.dumps(test.to_dict())))
    assert again == test  # capping twice changes nothing
    assert replace(test, status=Status.PASSED).traceback == ""
    assert capped("short") == "short"
    assert capped("y" * 10, 4) == "yyyy… [6 more characters cut]"
    assert capped(capped("y" * 10, 4), 4) == capped("y" * 10, 4)


def test_every_grading_status_is_explained() -> None:
    assert set(GRADING_STATUSES) == {
        "graded",
        "empty",
        "missing",
        "timeout",
        "crashed",
        "unreadable",
    }
    empty = Grading(submission="bob", status="empty")
    assert Grading.from_dict(empty.to_dict()).status == "empty"
