"""The learner's tools: progress, hints, solutions, reset, init, lessons, watch, notebooks."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pytorch_path.cli import main
from pytorch_path.curriculum import Project
from pytorch_path.learn import (
    LearnError,
    check_and_record,
    init_workspace,
    lesson_text,
    next_hints,
    reset_exercise,
    solution_source,
    watch,
)
from pytorch_path.progress import Progress
from pytorch_path.results import Status


def learner_dir(mini: Project) -> Path:
    return mini.root / "learner"


def test_check_records_progress(mini_copy: Project) -> None:
    target = learner_dir(mini_copy)
    check_and_record("1.1,1.2,1.3", project=mini_copy, target=target, seed=1)
    check_and_record("1.1", project=mini_copy, target=target, seed=2)
    progress = Progress.load(target)
    assert progress.of("1.1").status == "passed"
    assert progress.of("1.1").attempts == 2
    assert progress.of("1.1").first_passed_at is not None
    assert progress.of("1.2").status == "failed" and progress.of("1.2").first_passed_at is None
    assert progress.of("1.3").attempts == 0  # not started does not count as an attempt


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": 99}',
        '{"format": 1, "exercises": {"1.1": {"status": "great"}}}',
        '{"format": 1, "exercises": {"1.1": {"attempts": -3}}}',
        "[]",
    ],
)
def test_corrupt_progress_is_rebuilt(mini_copy: Project, content: str) -> None:
    target = learner_dir(mini_copy)
    path = target / ".pytorch_path" / "progress.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    results, warning = check_and_record("1.1", project=mini_copy, target=target, seed=1)
    assert results.all_passed
    assert "could not be read" in warning and "starting it afresh" in warning
    assert (path.parent / "progress.json.corrupt").read_text() == content
    assert json.loads(path.read_text())["exercises"]["1.1"]["status"] == "passed"


def test_hints_come_one_at_a_time(mini_copy: Project) -> None:
    target = learner_dir(mini_copy)
    ex = mini_copy.exercise("1.1")
    ex2 = Project(mini_copy.root).exercise("1.1")
    assert [h.number for h in next_hints(ex, target)] == [1]
    assert [h.number for h in next_hints(ex, target)] == [1]  # only one hint: stays on the last
    assert [h.number for h in next_hints(ex2, target, show_all=True)] == [1]
    assert Progress.load(target).of("1.1").hints_seen == 1


def test_hint_cli_shows_the_next_hint(
    tmp_path: Path, project: Project, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    init_workspace(project, tmp_path / "ws")
    monkeypatch.chdir(tmp_path / "ws")
    ex = project.exercise("1.1")
    assert main(["hint", "1.1"]) == 0
    first = capsys.readouterr().out
    assert "1/4." in first and "run it again for hint 2" in first
    assert main(["hint", "1.1"]) == 0
    assert "2/4." in capsys.readouterr().out
    assert main(["hint", "1.1", "--all"]) == 0
    out = capsys.readouterr().out
    assert all(f"{i}/{len(ex.hints)}." in out for i in range(1, len(ex.hints) + 1))


def test_solution_only_after_a_pass(mini_copy: Project) -> None:
    target = learner_dir(mini_copy)
    failing = mini_copy.exercise("1.2")
    with pytest.raises(LearnError, match="opens once your version passes"):
        solution_source(mini_copy, failing, target)
    assert "def double" in solution_source(mini_copy, failing, target, force=True)
    assert Progress.load(target).of("1.2").solution_seen
    passing = mini_copy.exercise("1.1")
    check_and_record("1.1", project=mini_copy, target=target, seed=1)
    assert "def double" in solution_source(mini_copy, passing, target)


def test_solution_cli_exit_codes(mini_copy: Project, monkeypatch, capsys) -> None:
    monkeypatch.chdir(mini_copy.root)
    assert main(["solution", "1.2", "--target", "learner"]) == 1
    assert "opens once your version passes" in " ".join(capsys.readouterr().err.split())
    assert main(["solution", "1.2", "--target", "learner", "--force"]) == 0
    captured = capsys.readouterr()
    assert "recorded" in captured.err
    # A diff from the learner's file to the reference: the wrong line out, the right one in.
    assert "- yours, + reference" in " ".join(captured.out.split())
    assert "-    return x + x + 1" in captured.out and "+    return 2 * x" in captured.out
    assert main(["solution", "1.2", "--target", "learner", "--full", "--force"]) == 0
    full = capsys.readouterr().out
    assert "def double" in full and "return x + x + 1" not in full


def test_reset_in_a_workspace_keeps_a_backup(tmp_path: Path, project: Project) -> None:
    ws = tmp_path / "ws"
    init_workspace(project, ws)
    ex = project.exercise("1.1")
    mine = ws / ex.relpath
    mine.write_text("# my attempt\n")
    backup = reset_exercise(project, ex, ws)
    assert backup is not None and backup.read_text() == "# my attempt\n"
    assert mine.read_text() == project.stub_path(ex).read_text()
    with pytest.raises(LearnError, match="already the untouched stub"):
        reset_exercise(project, ex, ws)


def test_reset_in_a_clone_uses_git_history(tmp_path: Path, mini: Project) -> None:
    import shutil

    clone = tmp_path / "clone"
    shutil.copytree(mini.root, clone)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    subprocess.run(["git", "add", "."], cwd=clone, check=True)
    subprocess.run([*git, "commit", "-qm", "stubs"], cwd=clone, check=True)
    project = Project(clone)
    ex = project.exercise("1.1")
    stub = project.stub_path(ex)
    original = stub.read_text()
    stub.write_text(original.replace('raise NotImplementedError("1.1: double")', "return 2 * x"))
    subprocess.run([*git, "commit", "-qam", "my work"], cwd=clone, check=True)
    backup = reset_exercise(project, ex, project.curriculum_dir)
    assert stub.read_text() == original
    assert backup is not None and "return 2 * x" in backup.read_text()


def test_init_refuses_a_non_empty_folder(tmp_path: Path, project: Project) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(LearnError, match="not empty"):
        init_workspace(project, tmp_path / "full")


def test_workspace_is_the_default_target(
    tmp_path: Path, project: Project, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "ws"]) == 0
    ws = tmp_path / "ws"
    assert (ws / "stage1_tensors" / "ex01_tensor_basics.py").is_file()
    assert (ws / "stage1_tensors" / "README.zh.md").is_file()
    (ws / "stage1_tensors" / "deeper").mkdir()
    monkeypatch.chdir(ws / "stage1_tensors" / "deeper")
    capsys.readouterr()
    assert main(["check", "1.1", "--seed", "1"]) == 1
    assert "not started" in capsys.readouterr().out
    assert Progress.load(ws).of("1.1").status == "not_started"


def test_lessons(project: Project, capsys) -> None:
    assert lesson_text(project, 1).startswith("# Stage 1")
    assert "张量" in lesson_text(project, 1, "zh")
    with pytest.raises(LearnError):
        lesson_text(project, 1, "fr")
    assert main(["lesson", "1"]) == 0
    assert "Stage 1" in capsys.readouterr().out
    assert main(["lesson", "42"]) == 2


def test_watch_moves_on_after_a_pass(mini_copy: Project) -> None:
    target = learner_dir(mini_copy)
    # 1.2 fails until the learner fixes it; 1.1 passes already.
    seen: list[tuple[str, Status]] = []
    fixed = target / "stage1_mini" / "ex02_fails.py"

    failed_once = threading.Event()

    def learner_saves() -> None:
        failed_once.wait(30)  # the learner reads the failure, then fixes the file
        time.sleep(0.1)
        fixed.write_text(fixed.read_text().replace("return x + x + 1", "return x + x"))

    def on_result(results, ex) -> None:
        seen.append((ex.id, results.exercises[0].status))
        if results.exercises[0].status is Status.FAILED:
            failed_once.set()

    thread = threading.Thread(target=learner_saves)
    thread.start()
    started = time.monotonic()
    last = watch(
        "1.1,1.2",
        project=mini_copy,
        target=target,
        seed=1,
        poll_s=0.05,
        stop_after_s=30,
        on_result=on_result,
    )
    thread.join()
    assert seen == [("1.1", Status.PASSED), ("1.2", Status.FAILED), ("1.2", Status.PASSED)]
    assert last is not None and last.all_passed
    assert time.monotonic() - started < 20
    assert Progress.load(target).of("1.2").status == "passed"


def test_watch_recheck_is_fast(project: Project, tmp_path: Path) -> None:
    """A warm re-check of a stage 1 exercise takes well under a second."""
    ws = tmp_path / "ws"
    init_workspace(project, ws)
    times: list[float] = []
    stamp = [time.perf_counter()]

    def record(results, ex) -> None:
        now = time.perf_counter()
        times.append(now - stamp[0])
        stamp[0] = now

    watch("1.1", project=project, target=ws, seed=1, on_result=record, max_checks=1)
    stamp[0] = time.perf_counter()
    watch("1.1", project=project, target=ws, seed=1, on_result=record, max_checks=1)
    assert times[-1] < 1.0, times


def test_notebook_api(mini_copy: Project, monkeypatch) -> None:
    import pytorch_path

    monkeypatch.chdir(mini_copy.root)
    results = pytorch_path.check("1.1,1.2", target="learner", seed=3)
    assert [e.status for e in results.exercises] == [Status.PASSED, Status.FAILED]
    assert "<table>" in results._repr_html_() and "1.2" in results._repr_html_()
    text = str(results)
    assert "1.1" in text and "Points 4/10" in text
    assert repr(results) == text
    assert results.summary().startswith("<Results 1.1,1.2: 4/10 points")
    hints = pytorch_path.hint("1.6", target="learner")
    assert str(hints) == "1.6 hint 1/1: Multiply by two, then by three."
    assert "**1.6 · hint 1/1**" in hints._repr_markdown_()


def test_one_save_in_several_writes_is_one_recheck(mini_copy: Project) -> None:
    target = learner_dir(mini_copy)
    seen: list[Status] = []
    fixed = target / "stage1_mini" / "ex02_fails.py"
    good = fixed.read_text().replace("return x + x + 1", "return x + x")

    checked = threading.Event()

    def editor_saves() -> None:
        checked.wait(30)
        time.sleep(0.1)
        fixed.write_text("")  # truncate, then write in two steps, as some editors do
        time.sleep(0.05)
        fixed.write_text(good[: len(good) // 2])
        time.sleep(0.05)
        fixed.write_text(good)

    thread = threading.Thread(target=editor_saves)
    thread.start()
    watch("1.2", project=mini_copy, target=target, seed=1, poll_s=0.02, settle_s=0.3,
          stop_after_s=30, on_result=lambda r, ex: (seen.append(r.exercises[0].status),
                                                     checked.set()))  # fmt: skip
    thread.join()
    assert seen == [Status.FAILED, Status.PASSED]


def test_watch_cli_keeps_the_pass_line_and_names_what_is_next(
    mini_copy: Project, monkeypatch, capsys
) -> None:
    from pytorch_path.cli import main

    target = learner_dir(mini_copy)
    stub = target / "stage1_mini" / "ex03_untouched.py"
    solved = (target / "stage1_mini" / "ex01_passes.py").read_text()

    def learner_solves() -> None:
        for _ in range(600):  # until watch has checked the untouched 1.3 once
            if "1.3" in (Progress.load(target).exercises):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        stub.write_text(solved)

    monkeypatch.chdir(mini_copy.root)
    thread = threading.Thread(target=learner_solves)
    thread.start()
    code = main(["watch", "1.1,1.3", "--target", str(target), "--seed", "1"])
    thread.join()
    out = capsys.readouterr().out
    assert code == 0
    assert "✔ 1.1 passed — next: 1.3 An exercise not started" in " ".join(out.split())
    assert "then save the file: it is checked again." in " ".join(out.split())
    assert "run this again" not in out
    assert "✔ 1.3 passed — that was the last exercise" in " ".join(out.split())
    assert out.count("pytorch-path watch 1.3") == 2  # one check before the save, one after


def _git_clone_of(mini: Project, dest: Path) -> Project:
    import shutil

    shutil.copytree(mini.root, dest)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "."], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "stubs"], cwd=dest, check=True)
    return Project(dest)


def test_init_in_a_clone_edited_in_place_still_gives_the_stubs(tmp_path: Path, mini: Project):
    project = _git_clone_of(mini, tmp_path / "clone")
    ex = project.exercise("1.3")
    stub = project.stub_path(ex)
    original = stub.read_text()
    stub.write_text(original.replace('raise NotImplementedError("1.3: double")', "return 2 * x"))
    ws = project.root / "workspace"
    init_workspace(project, ws)
    assert (ws / ex.relpath).read_text() == original  # from git, not the learner's edit
    assert stub.read_text() != original  # and their work in curriculum/ is untouched


def test_init_from_curriculum_moves_the_work_and_progress(tmp_path: Path, mini: Project, capsys):
    project = _git_clone_of(mini, tmp_path / "clone")
    ex = project.exercise("1.3")
    stub = project.stub_path(ex)
    stub.write_text(
        stub.read_text().replace('raise NotImplementedError("1.3: double")', "return 2 * x")
    )
    results, warning = check_and_record(
        "1.3", project=project, target=project.curriculum_dir, seed=1
    )
    assert results.all_passed
    assert "init workspace --from curriculum" in warning  # told once …
    _, again = check_and_record("1.3", project=project, target=project.curriculum_dir, seed=1)
    assert again == ""  # … and only once
    ws = project.root / "workspace"
    init_workspace(project, ws, source=project.curriculum_dir)
    assert "return 2 * x" in (ws / ex.relpath).read_text()
    assert Progress.load(ws).of("1.3").status == "passed"
    with pytest.raises(LearnError, match=r"--from .*: no such folder"):
        init_workspace(project, tmp_path / "other", source=tmp_path / "nope")


def test_planned_stages_are_named_as_planned(project: Project, monkeypatch, capsys) -> None:
    from pytorch_path import curriculum

    monkeypatch.setitem(curriculum.PLANNED_STAGES, 6, "Research code")
    assert main(["lesson", "6"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "stage 6 (Research code) is planned but not written yet" in err
    assert main(["lesson", "7"]) == 2
    assert "there is no stage 7" in " ".join(capsys.readouterr().err.split())
