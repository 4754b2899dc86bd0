"""Every report format, from hand-made Results (no grading, so these run in milliseconds).

JUnit is parsed as XML and checked against the structure CI readers expect (counts that
add up, one outcome element per non-passing case); Gradescope's ``results.json`` against
the keys and values its documentation allows; the CSV gradebook and the Markdown summary
by parsing them back; the file layout of ``write_reports`` and ``BatchReports``.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from pytorch_path import report
from pytorch_path.results import ExerciseResult, Grading, Results, Status, TestResult
from pytorch_path.text import clean

#: What learner code can put in a message, as it arrives cleaned (text.clean) at a renderer.
RAW = "bad \udcff \x00 \x1b end"
NASTY = clean(RAW)


def _test(
    name: str, status: Status, points: float, earned: float | None = None, **kw
) -> TestResult:
    if earned is None:
        earned = points if status is Status.PASSED else 0.0
    return TestResult(
        name=name,
        status=status,
        message=kw.pop("message", "" if status is Status.PASSED else f"{name} went wrong"),
        headline=kw.pop("headline", f"{name} does its job."),
        duration_s=0.0123,
        points_earned=earned,
        points_possible=points,
        **kw,
    )


def _exercise(ex_id: str, status: Status, tests: list[TestResult], points: float = 10.0, **kw):
    earned = 0.0 if status is Status.TAMPERED else sum(t.points_earned for t in tests)
    return ExerciseResult(
        id=ex_id,
        title=kw.pop("title", f"Exercise {ex_id}"),
        tier="🌱",
        status=status,
        points_earned=earned,
        points_possible=points,
        duration_s=sum(t.duration_s for t in tests),
        tests=tuple(tests),
        file=f"stage1_tensors/ex0{ex_id[-1]}.py",
        **kw,
    )


def sample(name: str = "alice", *, status: str = "graded") -> Results:
    """One of each outcome: passed, partial, three-way split, not started, error, tampered."""
    third = 10 / 3
    exercises = (
        _exercise("1.1", Status.PASSED, [_test("test_a", Status.PASSED, 5), _test("test_b", Status.PASSED, 5),
                                         _test("test_a[cuda]", Status.SKIPPED, 0, message="no CUDA", device_skip=True),
                                         _test("test_b[float32-cuda]", Status.SKIPPED, 0, message="no CUDA", device_skip=True),
                                         _test("test_a[mps]", Status.SKIPPED, 0, message="no MPS", device_skip=True)]),
        _exercise("1.2", Status.FAILED, [_test("test_a", Status.PASSED, 2.5, traceback="never kept", output="hi\n"),
                                         _test("test_b", Status.FAILED, 7.5, traceback="Traceback: boom")]),
        _exercise("1.3", Status.FAILED, [_test(f"test_{i}", s, third) for i, s in
                                         enumerate([Status.PASSED, Status.PASSED, Status.FAILED])]),
        _exercise("1.4", Status.NOT_STARTED, [_test("test_a", Status.NOT_STARTED, 10)]),
        _exercise("1.5", Status.ERROR, [], message=f"ex05.py has a syntax error on line 3 {NASTY}"),
        _exercise("1.6", Status.TAMPERED, [_test("test_a", Status.PASSED, 4), _test("test_b", Status.TAMPERED, 6)]),
        _exercise("1.7", Status.TIMEOUT, [_test("test_a", Status.TIMEOUT, 10, message=f"stopped {NASTY}")]),
    )  # fmt: skip
    return Results(
        target="subs/" + name,
        seed=42,
        torch="2.14.1",
        devices=("cpu",),
        exercises=exercises,
        selection="1",
        grading=Grading(
            submission=name, path="subs/" + name, status=status, isolation="bubblewrap"
        ),
    )


# ---------------------------------------------------------------------------- formats


def test_parse_formats_keeps_order_drops_repeats_and_refuses_unknown() -> None:
    assert report.parse_formats("json, csv,json") == ("json", "csv")
    assert report.parse_formats(["md"]) == ("md",)
    for bad in ("", "json,pdf", " , "):
        with pytest.raises(ValueError, match="use some of json, junit, gradescope, csv, md"):
            report.parse_formats(bad)


def test_json_round_trips() -> None:
    results = sample()
    data = json.loads(report.render_json(results))
    assert data["schema"] == 1 and data["seed"] == 42
    assert Results.from_dict(data).to_dict() == results.to_dict()


def test_json_keeps_tracebacks_only_of_problems_and_caps_them() -> None:
    data = json.loads(report.render_json(sample()))
    tests = {(ex["id"], t["name"]): t for ex in data["exercises"] for t in ex["tests"]}
    assert tests[("1.2", "test_a")]["traceback"] == ""  # passed: no traceback
    assert tests[("1.2", "test_a")]["output"] == "hi\n"  # its prints stay (capped)
    assert tests[("1.2", "test_b")]["traceback"] == "Traceback: boom"
    assert all(tests[("1.1", n)]["traceback"] == "" for n in ("test_a[cuda]", "test_a[mps]"))
    huge = _test("test_x", Status.ERROR, 1, traceback="t" * 50_000, output="o" * 9000)
    shown = json.loads(json.dumps(huge.to_dict()))
    assert shown["traceback"] == "t" * 8000 + "… [42000 more characters cut]"
    assert shown["output"] == "o" * 8000 + "… [1000 more characters cut]"


def _junit(results: Results) -> ET.Element:
    text = report.render_junit(results, name=results.name)
    assert text.startswith("<?xml")
    return ET.fromstring(text.encode("utf-8"))  # raises on anything that is not XML


def test_junit_structure_and_counts_add_up() -> None:
    root = _junit(sample())
    assert root.tag == "testsuites" and root.get("name") == "alice"
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"1.{i} Exercise 1.{i}" for i in range(1, 8)]
    for suite in suites:
        assert {"name", "tests", "failures", "errors", "skipped", "time"} <= set(suite.attrib)
        float(suite.get("time", ""))
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases) > 0
        for kind in ("failure", "error", "skipped"):
            found = sum(len(case.findall(kind)) for case in cases)
            assert int(suite.get(kind if kind == "skipped" else kind + "s", "")) == found
        for case in cases:
            assert case.get("classname") and case.get("name")
            float(case.get("time", ""))
            outcomes = [child for child in case if child.tag in ("failure", "error", "skipped")]
            assert len(outcomes) <= 1
            for outcome in outcomes:
                assert outcome.get("message") is not None
        for key in totals:
            totals[key] += int(suite.get(key, ""))
    assert {key: int(root.get(key, "")) for key in totals} == totals
    # 1.2, 1.3, 1.4 (not started) and 1.6 (tampered) fail; the load error and the timeout err.
    # 1.1's three device skips are two cases: one per absent device (cuda, mps).
    assert totals == {"tests": 14, "failures": 4, "errors": 2, "skipped": 2}


def test_junit_names_each_outcome() -> None:
    root = _junit(sample())
    case = root.find("./testsuite[@name='1.2 Exercise 1.2']/testcase[@name='test_b']")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "failed"
    assert "test_b does its job." in (failure.text or "")
    load = root.find("./testsuite[@name='1.5 Exercise 1.5']/testcase[@name='load']/error")
    assert load is not None and "syntax error on line 3" in (load.get("message") or "")
    assert "traceback: boom" in (failure.text or "").lower()
    timeout = root.find("./testsuite[@name='1.7 Exercise 1.7']/testcase/error")
    assert timeout is not None and timeout.get("type") == "timeout"


def test_junit_collapses_absent_device_skips_into_one_case_per_device() -> None:
    root = _junit(sample())
    suite = root.find("./testsuite[@name='1.1 Exercise 1.1']")
    assert suite is not None
    names = [case.get("name") for case in suite.findall("testcase")]
    assert names == ["test_a", "test_b", "cuda tests", "mps tests"]
    assert suite.get("tests") == "4" and suite.get("skipped") == "2"
    cuda = suite.find("./testcase[@name='cuda tests']/skipped")
    assert cuda is not None and cuda.get("message") == "no CUDA"
    assert cuda.text == "2 tests not run here: test_a[cuda], test_b[float32-cuda]"
    mps = suite.find("./testcase[@name='mps tests']/skipped")
    assert mps is not None and mps.get("message") == "no MPS"
    assert mps.text == "1 test not run here: test_a[mps]"
    assert not root.findall(".//testcase[@name='test_a[cuda]']")  # no per-test clutter


def test_junit_exercise_skipped_everywhere_is_one_case_per_device() -> None:
    tests = [_test(f"test_{i}[cuda]", Status.SKIPPED, 0, message="no CUDA device here",
                   device_skip=True) for i in range(5)]  # fmt: skip
    results = Results(target="t", seed=1, torch="2", devices=("cpu",),
                      exercises=(_exercise("4.2", Status.SKIPPED, tests),))  # fmt: skip
    root = _junit(results)
    (case,) = root.findall(".//testcase")
    assert case.get("name") == "cuda tests" and case.get("classname") == "4.2"
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message") == "no CUDA device here"
    assert root.get("tests") == "1" and root.get("skipped") == "1"


#: Keys Gradescope documents for results.json ("Autograder Specifications").
GRADESCOPE_TOP = {"score", "execution_time", "output", "output_format", "test_output_format",
                  "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                  "leaderboard"}  # fmt: skip
GRADESCOPE_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output",
                   "output_format", "tags", "visibility", "extra_data"}  # fmt: skip
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def test_gradescope_uses_only_documented_keys_and_values() -> None:
    data = json.loads(report.render_gradescope(sample()))
    assert set(data) <= GRADESCOPE_TOP
    assert {"score", "tests"} <= set(data)
    assert data["visibility"] in VISIBILITY
    assert isinstance(data["execution_time"], float)
    for test in data["tests"]:
        assert set(test) <= GRADESCOPE_TEST
        assert {"name", "score", "max_score", "status"} <= set(test)
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITY
        assert 0 <= test["score"] <= test["max_score"]
    assert not any("cuda" in t["name"] for t in data["tests"])  # device skips are worth nothing


def test_gradescope_scores_add_up_exactly() -> None:
    results = sample()
    data = report.gradescope_dict(results)
    tests = data["tests"]
    assert sum(t["max_score"] for t in tests) == pytest.approx(results.points_possible, abs=1e-9)
    assert data["score"] == round(results.points_earned, 4)
    assert sum(t["score"] for t in tests) == pytest.approx(data["score"], abs=1e-9)
    split = [t for t in tests if t["name"].startswith("1.3 ")]
    assert round(sum(t["max_score"] for t in split), 10) == 10  # 10/3 three times, exactly
    tampered = [t for t in tests if t["name"].startswith("1.6 ")]
    assert all(t["score"] == 0 for t in tampered)  # a tampered exercise earns nothing


def test_gradescope_says_when_grading_ended_early() -> None:
    data = report.gradescope_dict(sample(status="timeout"))
    assert data["output"].startswith(
        "Grading ended early: timeout (grading was stopped at the submission's time limit)."
    )


def empty_sample(name: str = "nobody") -> Results:
    """An ``empty`` submission as ``grade`` reports it: every test an error, nothing earned."""
    reason = "the submission holds none of the 2 files expected: it is empty; expected a.py, b.py"
    exercises = tuple(
        _exercise(ex_id, Status.ERROR, [_test(f"test_{i}", Status.ERROR, points / 3, message=reason)
                                        for i in range(3)], points=points, message=reason)
        for ex_id, points in (("1.1", 4.0), ("1.2", 6.0))
    )  # fmt: skip
    exercises = tuple(replace(ex, file=f"{name}/stage1/ex0{ex.id[-1]}.py") for ex in exercises)
    grading = Grading(submission=name, path="subs/" + name, status="empty")
    return Results(target=name, seed=3, torch="2.x", devices=("cpu",), exercises=exercises,
                   selection="1", grading=grading)  # fmt: skip


def test_gradescope_empty_submission_is_one_entry_per_exercise() -> None:
    data = report.gradescope_dict(empty_sample())
    assert data["output"].splitlines()[0] == (
        "Nothing was graded: the submission holds none of the 2 files expected: it is empty; "
        "expected a.py, b.py."
    )
    assert [(t["name"], t["score"], t["max_score"]) for t in data["tests"]] == [
        ("1.1 Exercise 1.1", 0.0, 4.0),
        ("1.2 Exercise 1.2", 0.0, 6.0),
    ]
    assert data["tests"][0]["output"] == (
        "not graded: expected stage1/ex01.py in the submission, and it was not there"
    )
    assert data["score"] == 0


def test_empty_shows_in_gradebook_summary_and_junit() -> None:
    rows = list(csv.reader(io.StringIO(report.render_gradebook([empty_sample(), sample()]))))
    assert rows[2][:4] == ["nobody", "0", "10", "empty"]
    text = report.render_summary([empty_sample(), sample()])
    assert "| nobody | 0 / 10 | empty |" in text
    assert "- `empty`: the submission holds none of the selected exercises' files" in text
    root = _junit(empty_sample())
    assert root.get("errors") == "6" and root.get("tests") == "6"


def test_gradebook_csv_parses_back_sorted() -> None:
    text = report.render_gradebook([sample("zed"), sample("alice")])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["submission", "points_earned", "points_possible", "status",
                       "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"]  # fmt: skip
    assert [r[0] for r in rows[1:]] == ["alice", "zed"]
    assert rows[1][1:4] == [f"{sample().points_earned:g}", "70", "graded"]


def test_summary_markdown_tables() -> None:
    text = report.render_summary([sample("b"), sample("a", status="crashed")])
    assert "2 submission(s) · seed 42 · torch 2.14.1" in text
    assert "| a | 19.1667 / 70 | crashed |" in text
    assert "| 1.1 Exercise 1.1 | 2/2 | 10.00 / 10 |" in text


# ----------------------------------------------------------------------------- files


def test_write_reports_layout(tmp_path: Path) -> None:
    written = report.write_reports(
        [sample("alice"), sample("bob")], tmp_path, "json,junit,gradescope,csv,md"
    )
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert names == sorted(["alice/report.json", "alice/junit.xml", "alice/results.json",
                            "bob/report.json", "bob/junit.xml", "bob/results.json",
                            "gradebook.csv", "summary.md"])  # fmt: skip
    for path in written:
        assert path.read_text(encoding="utf-8")
    assert not list(tmp_path.rglob(".*.tmp"))  # atomic writes leave no temporary file


def test_batch_reports_are_current_after_each_submission(tmp_path: Path) -> None:
    reports = report.BatchReports(tmp_path / "out", ["csv", "json"])
    reports.add(sample("bob"))
    assert (tmp_path / "out" / "bob" / "report.json").is_file()
    assert "bob" in (tmp_path / "out" / "gradebook.csv").read_text()
    reports.add(sample("alice"))
    rows = (tmp_path / "out" / "gradebook.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["alice", "bob"]
    assert reports.finish([]) == [tmp_path / "out" / "gradebook.csv"]
    assert (tmp_path / "out" / "gradebook.csv").read_text().count("\n") == 1  # header only
    with pytest.raises(ValueError, match="--format"):
        report.BatchReports(tmp_path / "x", "xml")


def test_cleaned_strings_survive_every_writer(tmp_path: Path) -> None:
    assert "\\x00" in NASTY and "\\udcff" in NASTY  # made visible, not dropped
    for path in report.write_reports([sample()], tmp_path, report.FORMATS):
        path.read_text(encoding="utf-8")
    ET.parse(tmp_path / "alice" / "junit.xml")
    assert "\\x1b" in (tmp_path / "alice" / "junit.xml").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- terminal


def _recorded() -> Console:
    return Console(record=True, width=120, color_system=None, highlight=False)


def test_terminal_report_names_the_problem_and_the_file() -> None:
    console = _recorded()
    report.render_terminal(sample(), console)
    text = console.export_text()
    assert "test_b does its job." in text and "→ test_b went wrong" in text
    assert "pytorch-path hint 1.2" in text
    assert "replay with --seed 42" in text
    assert "Traceback" not in text


def test_grade_table_and_summary() -> None:
    console = _recorded()
    results = [sample("alice"), sample("bob", status="timeout")]
    report.render_grade_summary(results, console, out="grades", formats=("json", "csv"))
    text = console.export_text()
    assert "alice" in text and "19.1667/70" in text
    assert "not graded to the end: bob (timeout)" in text
    assert "reports (json, csv) written to grades" in text
    header = report.grade_header(
        2, selection="1-2", seed=7, isolation="bubblewrap", shard_label="1/3"
    )
    assert header.endswith(
        "2 submission(s) · shard 1/3 · stages 1-2 · seed 7 · isolation bubblewrap"
    )


def test_batch_progress_json_lines() -> None:
    stream = io.StringIO()
    progress = report.BatchProgress(2, json_lines=True, stream=stream)
    with progress:
        progress.started("alice")
        progress.finished(sample("alice"))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["start", "done"]
    assert lines[0] == {"event": "start", "submission": "alice", "done": 0, "running": 1,
                        "left": 1, "total": 2, "eta_s": None}  # fmt: skip
    assert lines[1]["done"] == 1 and lines[1]["left"] == 1 and lines[1]["status"] == "graded"
    assert isinstance(lines[1]["eta_s"], float)
