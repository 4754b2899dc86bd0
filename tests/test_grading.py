"""`pytorch-path grade`: isolation, fail-closed scoring and reports, on hostile submissions.

Each submission gets its own judge and workers (torch is imported there), so these tests
group many submissions into a few `grade()` calls. Attacks on the verdict itself are in
`test_hostile.py`.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from pytorch_path.cli import main
from pytorch_path.curriculum import Project
from pytorch_path.grading import GradeSettings, grade, unique_names
from pytorch_path.results import Results, Status
from pytorch_path.sandbox import bwrap_available

SANDBOX = "bwrap" if bwrap_available() else "process"

pytestmark = pytest.mark.slow

HONEST = """\
import torch


def double(x: torch.Tensor) -> torch.Tensor:
    return 2 * x
"""

HOSTILE = {
    # name: (body of ex01_passes.py, files to add next to it)
    "honest": (HONEST, {}),
    "exits_at_import": ("import sys\nsys.exit(0)\n", {}),
    "dies_in_test": ("import os\nimport torch\n\n\ndef double(x):\n    os._exit(0)\n", {}),
    "forges_results": (
        textwrap.dedent("""\
        import json, os
        fake = {"token": "guess", "event": "test", "status": "passed",
                "nodeid": "stage1_mini/test_ex01_passes.py::test_double[cpu]"}
        for fd in range(3, 64):
            for event in ("start", "test", "done"):
                try:
                    os.write(fd, (json.dumps({**fake, "event": event}) + "\\n").encode())
                except OSError:
                    pass
        os._exit(0)
        """),
        {},
    ),
    "ships_fake_torch_and_conftest": (
        HONEST,
        {
            "torch.py": "raise SystemExit('fake torch imported')\n",
            "conftest.py": "import pytest\n\n@pytest.hookimpl\ndef pytest_runtest_call(item):\n"
            "    raise SystemExit(0)\n",
            "pytest.ini": "[pytest]\naddopts = -x --collect-only\n",
        },
    ),
    "allocates_too_much": (
        "import torch\n\n\ndef double(x):\n    big = torch.empty(2**40, dtype=torch.uint8)\n"
        "    return 2 * x + big[:1]\n",
        {},
    ),
    "floods_output": (
        "import torch\n\n\ndef double(x):\n    print('spam ' * 400_000)\n    return 2 * x\n",
        {},
    ),
    "patches_comparisons": (
        "import torch\n\ntorch.Tensor.__le__ = lambda a, b: torch.ones_like(a, dtype=torch.bool)\n\n\n"
        "def double(x):\n    return x\n",
        {},
    ),
}


def make_submission(root: Path, name: str, body: str, extra: dict[str, str]) -> Path:
    folder = root / name / "stage1_mini"
    folder.mkdir(parents=True)
    (folder / "ex01_passes.py").write_text(body)
    for filename, text in extra.items():
        (folder / filename).write_text(text)
        (root / name / filename).write_text(text)
    return root / name


@pytest.fixture(scope="module")
def hostile_results(mini: Project, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Results]:
    root = tmp_path_factory.mktemp("submissions")
    paths = [make_submission(root, name, body, extra) for name, (body, extra) in HOSTILE.items()]
    paths.append(root / "does_not_exist")
    settings = GradeSettings(project=mini, selection="1.1", seed=4, timeout_s=120, sandbox=SANDBOX)
    results = grade(paths, settings=settings, jobs=2)
    return dict(zip([*HOSTILE, "does_not_exist"], results, strict=True))


def ex11(results: Results):
    return results.exercises[0]


def test_honest_submission_passes(hostile_results) -> None:
    results = hostile_results["honest"]
    assert results.grading_status == "graded"
    assert ex11(results).status is Status.PASSED
    assert results.points_earned == 4


def test_exit_at_import_scores_nothing(hostile_results) -> None:
    result = ex11(hostile_results["exits_at_import"])
    assert result.status is Status.ERROR
    assert "called exit() at import time" in result.message
    assert result.points_earned == 0


def test_process_death_mid_test_scores_nothing(hostile_results) -> None:
    results = hostile_results["dies_in_test"]
    assert results.grading_status == "graded"  # the judge lived on; only the worker died
    assert ex11(results).status is Status.ERROR
    assert (
        "the worker running your code exited with code 0 while this test ran"
        in ex11(results).message
    )
    assert results.points_earned == 0


def test_forged_results_are_ignored(hostile_results) -> None:
    results = hostile_results["forges_results"]
    assert results.points_earned == 0
    assert ex11(results).status in (Status.ERROR, Status.FAILED)


def test_only_declared_files_reach_the_run(hostile_results) -> None:
    results = hostile_results["ships_fake_torch_and_conftest"]
    assert results.grading_status == "graded"
    assert ex11(results).status is Status.PASSED
    assert "fake torch" not in results.grading.output


def test_huge_allocation_fails_without_taking_the_grader_down(hostile_results) -> None:
    results = hostile_results["allocates_too_much"]
    assert ex11(results).status in (Status.FAILED, Status.ERROR)
    assert results.points_earned == 0
    assert hostile_results["honest"].points_earned == 4  # graded alongside, unharmed


def test_output_is_capped_with_a_note(hostile_results) -> None:
    results = hostile_results["floods_output"]
    assert results.grading.output_truncated is True
    assert "[output cut:" in results.grading.output
    assert len(results.grading.output) < 1_100_000
    assert ex11(results).status is Status.PASSED


def test_patched_comparisons_change_nothing(hostile_results) -> None:
    # The patch lives in the worker; the judge compares with its own, unpatched torch.
    result = ex11(hostile_results["patches_comparisons"])
    assert result.status is Status.FAILED
    assert result.points_earned == 0


def test_missing_submission_gets_its_own_error_row(hostile_results) -> None:
    results = hostile_results["does_not_exist"]
    assert results.grading_status == "missing"
    assert ex11(results).status is Status.ERROR
    assert "does not exist" in ex11(results).message


def test_every_report_records_seed_and_isolation(hostile_results) -> None:
    for results in hostile_results.values():
        assert results.seed == 4
        assert results.grading.isolation.startswith(
            "bubblewrap" if SANDBOX == "bwrap" else "process"
        )


def test_wall_clock_kill_when_the_alarm_is_disabled(mini: Project, tmp_path: Path) -> None:
    body = (
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n\n\n"
        "def double(x):\n    while True:\n        pass\n"
    )
    path = make_submission(tmp_path, "stubborn", body, {})
    settings = GradeSettings(project=mini, selection="1.1", seed=1, sandbox=SANDBOX)
    (results,) = grade([path], settings=settings)
    assert results.grading_status == "graded"
    assert ex11(results).status is Status.TIMEOUT
    assert "stopped after 10 s, the time limit of exercise 1.1" in ex11(results).message
    assert results.points_earned == 0


def test_wall_clock_kill_of_the_whole_submission(mini: Project, tmp_path: Path) -> None:
    body = "def double(x):\n    while True:\n        pass\n"
    path = make_submission(tmp_path, "slow", body, {})
    settings = GradeSettings(project=mini, selection="1.1", seed=1, timeout_s=4, sandbox=SANDBOX)
    (results,) = grade([path], settings=settings)
    assert results.grading_status == "timeout"
    assert ex11(results).status is Status.TIMEOUT
    assert "killed after 4 s" in ex11(results).message
    assert results.points_earned == 0


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed here")
def test_bubblewrap_blocks_network_writes_and_the_parent(mini: Project, tmp_path: Path) -> None:
    body = textwrap.dedent("""\
        import os, signal, socket
        import torch

        def double(x):
            problems = []
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=2)
                problems.append("network")
            except OSError:
                pass
            for path in ("/etc/pytorch_path_probe", "/usr/pytorch_path_probe"):
                try:
                    open(path, "w").write("x")
                    problems.append("wrote " + path)
                except OSError:
                    pass
            # Outside its folder the worker sees only an empty private /tmp: a write there
            # lands in the sandbox, never on the machine.
            open(os.path.expanduser("~/../../../probe_outside"), "w").write("x")
            for pid in os.listdir("/proc"):  # no process outside the sandbox is visible
                if pid.isdigit():
                    try:
                        if b"grading.judge" in open(f"/proc/{pid}/cmdline", "rb").read():
                            problems.append("sees the judge")
                    except OSError:
                        pass
            return 2 * x if not problems else x
        """)
    path = make_submission(tmp_path, "escaper", body, {})
    settings = GradeSettings(project=mini, selection="1.1", seed=1, sandbox="bwrap")
    (results,) = grade([path], settings=settings)
    assert results.grading.isolation == "bubblewrap"
    assert ex11(results).status is Status.PASSED, ex11(results).tests[0].message
    assert not Path("/etc/pytorch_path_probe").exists()
    assert not list(Path("/tmp").glob("pytorch-path-grade-*/*/probe_outside"))


def test_killing_its_own_worker_costs_only_that_exercise(mini: Project, tmp_path: Path) -> None:
    killer = (
        "import os, signal\n\n\ndef double(x):\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    path = make_submission(tmp_path, "killer", killer, {})
    (path / "stage1_mini" / "ex02_fails.py").write_text(HONEST)
    settings = GradeSettings(project=mini, selection="1.1,1.2", seed=1, sandbox=SANDBOX)
    (results,) = grade([path], settings=settings)
    assert results.grading_status == "graded"
    first, second = results.exercises
    assert first.status is Status.ERROR and first.points_earned == 0
    assert "the worker running your code" in first.tests[0].message
    assert second.status is Status.PASSED  # a fresh worker, whatever happened before


def test_same_seed_same_score(mini: Project) -> None:
    settings = GradeSettings(project=mini, selection="1.2,1.6", seed=9, sandbox=SANDBOX)
    learner = mini.root / "learner"
    first, second = grade([learner, learner], settings=settings, jobs=2)
    assert first.points_earned == second.points_earned == 2.5
    msgs = [[t.message for e in r.exercises for t in e.tests] for r in (first, second)]
    assert msgs[0] == msgs[1]


def test_unique_names() -> None:
    assert unique_names([Path("a/alice"), Path("b/alice"), Path("bob")]) == [
        "alice",
        "alice-2",
        "bob",
    ]


def test_grade_cli_writes_every_format(mini: Project, tmp_path: Path, monkeypatch, capsys) -> None:
    work = tmp_path / "course"
    shutil.copytree(mini.root, work)
    monkeypatch.chdir(work)
    clone = work / "alice"
    shutil.copytree(work / "learner", clone / "curriculum")  # a clone of a learner's repo
    out = tmp_path / "out"
    code = main(["grade", "alice", "ghost", "--stages", "1.1,1.2", "--out", str(out),
                 "--format", "json,junit,gradescope,csv,md", "--seed", "5", "--jobs", "2",
                 "--sandbox", SANDBOX])  # fmt: skip
    assert code == 0, capsys.readouterr().out
    report = json.loads((out / "alice" / "report.json").read_text())
    assert report["schema"] == 1
    assert report["grading"]["submission"] == "alice" and report["grading"]["status"] == "graded"
    assert report["points_earned"] == 4 and report["seed"] == 5
    assert json.loads((out / "ghost" / "report.json").read_text())["grading"]["status"] == "missing"
    gradescope = json.loads((out / "alice" / "results.json").read_text())
    assert gradescope["score"] == 4
    assert {t["status"] for t in gradescope["tests"]} == {"passed", "failed"}
    assert all(
        {"name", "score", "max_score", "output", "visibility"} <= set(t)
        for t in gradescope["tests"]
    )
    assert "<testsuites" in (out / "alice" / "junit.xml").read_text()
    rows = (out / "gradebook.csv").read_text().splitlines()
    assert rows[0] == "submission,points_earned,points_possible,status,1.1,1.2"
    assert rows[1] == "alice,4,10,graded,4,0"
    assert rows[2] == "ghost,0,10,missing,0,0"
    assert "| alice | 4 / 10 | graded |" in (out / "summary.md").read_text()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["grade", "x", "--format", "pdf"], "--format pdf"),
        (["grade", "x", "--stages", "9"], "there is no stage 9"),
        (["grade", "x", "--graders", "/no/such/dir"], "--graders /no/such/dir: no such folder"),
        (["grade", "x", "--jobs", "0"], "--jobs must be at least 1"),
        (["grade", "x", "--shard", "3/2"], "--shard 3/2: use I/N with 1 <= I <= N"),
        (["grade", "x", "--shard", "half"], "--shard half: use I/N"),
        (["grade", "x", "--timeout", "0"], "--timeout must be a positive number of seconds"),
    ],
)
def test_grade_usage_errors(mini: Project, monkeypatch, capsys, argv, fragment) -> None:
    monkeypatch.chdir(mini.root)
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_process_isolation_without_bubblewrap(mini: Project, tmp_path: Path) -> None:
    paths = [
        make_submission(tmp_path, "honest", HONEST, {}),
        make_submission(tmp_path, "forges", HOSTILE["forges_results"][0], {}),
    ]
    (tmp_path / "linked" / "stage1_mini").mkdir(parents=True)
    (tmp_path / "linked" / "stage1_mini" / "ex01_passes.py").symlink_to(
        paths[0] / "stage1_mini" / "ex01_passes.py"
    )  # fmt: skip
    paths.append(tmp_path / "linked")
    settings = GradeSettings(project=mini, selection="1.1", seed=2, sandbox="process")
    honest, forged, linked = grade(paths, settings=settings, jobs=2)
    assert honest.grading.isolation.startswith("process")
    assert "the reference is readable" in honest.grading.isolation
    assert honest.points_earned == 4
    assert forged.points_earned == 0
    assert linked.points_earned == 0
    assert "symbolic links are not accepted" in " ".join(linked.grading.notes)


def test_the_api_refuses_what_the_cli_refuses(mini: Project) -> None:
    with pytest.raises(ValueError, match="--timeout must be a positive"):
        GradeSettings(project=mini, selection="1.1", seed=1, timeout_s=-1)
    with pytest.raises(ValueError, match="--shard 3/2"):
        GradeSettings(project=mini, selection="1.1", seed=1, shard=(2, 2))
    settings = GradeSettings(project=mini, selection="1.1", seed=1, sandbox=SANDBOX)
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        grade([mini.root / "learner"], settings=settings, jobs=0)


# ------------------------------------------------------------------ empty submissions


def _no_judge(*args: object, **kwargs: object) -> tuple[str, str]:
    raise AssertionError("a judge was started for a submission with nothing to grade")


def test_empty_submissions_are_empty_not_errors_and_start_no_judge(
    mini: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytorch_path.grading.batch as batch

    monkeypatch.setattr(batch, "_run_judge", _no_judge)
    (tmp_path / "nothing").mkdir()
    (tmp_path / "readme_only").mkdir()
    (tmp_path / "readme_only" / "README.md").write_text("my work is elsewhere\n")
    (tmp_path / "wrong_folder" / "stage1_other").mkdir(parents=True)
    (tmp_path / "wrong_folder" / "stage1_other" / "ex01_passes.py").write_text(HONEST)
    (tmp_path / "clone" / "curriculum").mkdir(parents=True)  # a clone without the files
    (tmp_path / "clone" / "README.md").write_text("")
    names = ["nothing", "readme_only", "wrong_folder", "clone"]
    settings = GradeSettings(project=mini, selection="1", seed=3, sandbox=SANDBOX)
    results = dict(zip(names, grade([tmp_path / n for n in names], settings=settings), strict=True))
    for name, result in results.items():
        assert result.grading_status == "empty", name
        assert result.points_earned == 0 and result.points_possible == 40
        assert len(result.exercises) == 7
        for ex in result.exercises:
            assert ex.status is Status.ERROR and ex.points_earned == 0
            assert ex.message.startswith("the submission holds none of the 7 files expected: ")
            assert (
                "expected stage1_mini/ex01_passes.py, stage1_mini/ex02_fails.py, "
                "stage1_mini/ex03_untouched.py and 4 more, each at that path" in ex.message
            )
    assert "it is empty;" in results["nothing"].exercises[0].message
    assert "it holds only other files (README.md);" in results["readme_only"].exercises[0].message
    assert "(stage1_other)" in results["wrong_folder"].exercises[0].message
    assert "(README.md, curriculum)" in results["clone"].exercises[0].message


def test_one_expected_file_makes_a_submission_not_empty(mini: Project, tmp_path: Path) -> None:
    from pytorch_path.grading.batch import empty_reason

    exercises = GradeSettings(project=mini, selection="1.1,1.2", seed=1).exercises
    sub = tmp_path / "sub" / "stage1_mini"
    sub.mkdir(parents=True)
    assert empty_reason(sub.parent, exercises).startswith("the submission holds none of the 2 ")
    assert empty_reason(sub.parent, exercises[:1]).startswith(
        "the submission holds none of the file expected: it holds only other files (stage1_mini)"
    )
    (sub / "ex02_fails.py").symlink_to("/etc/hostname")  # a link is there (and refused later)
    assert empty_reason(sub.parent, exercises) == ""
    (sub / "ex02_fails.py").unlink()
    (sub / "ex02_fails.py").mkdir()  # so is a folder in its place
    assert empty_reason(sub.parent, exercises) == ""
    (sub / "ex02_fails.py").rmdir()
    (sub / "ex01_passes.py").write_text(HONEST)
    assert empty_reason(sub.parent, exercises) == ""


def test_a_partial_submission_is_graded_and_the_absent_file_is_its_error(
    mini: Project, tmp_path: Path
) -> None:
    path = make_submission(tmp_path, "partial", HONEST, {})  # ex01 only
    settings = GradeSettings(project=mini, selection="1.1,1.2", seed=1, sandbox=SANDBOX)
    (results,) = grade([path], settings=settings)
    assert results.grading_status == "graded"
    first, second = results.exercises
    assert first.status is Status.PASSED and first.points_earned == 4
    assert second.status is Status.ERROR and second.points_earned == 0
    assert "none of the" not in second.message


def test_grade_cli_reports_empty_everywhere(
    mini: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import pytorch_path.grading.batch as batch

    monkeypatch.setattr(batch, "_run_judge", _no_judge)
    monkeypatch.chdir(mini.root)
    (tmp_path / "bob").mkdir()
    out = tmp_path / "out"
    code = main(["grade", str(tmp_path / "bob"), "--stages", "1.1,1.2", "--out", str(out),
                 "--format", "json,junit,gradescope,csv,md", "--seed", "5",
                 "--sandbox", SANDBOX])  # fmt: skip
    assert code == 0, capsys.readouterr().out
    report = json.loads((out / "bob" / "report.json").read_text())
    assert report["grading"]["status"] == "empty" and report["points_earned"] == 0
    rows = (out / "gradebook.csv").read_text().splitlines()
    assert rows[1] == "bob,0,10,empty,0,0"
    summary = (out / "summary.md").read_text()
    assert "| bob | 0 / 10 | empty |" in summary and "- `empty`: " in summary
    gradescope = json.loads((out / "bob" / "results.json").read_text())
    assert gradescope["score"] == 0
    assert gradescope["output"].startswith("Nothing was graded: the submission holds none of")
    assert [t["max_score"] for t in gradescope["tests"]] == [4, 6]
