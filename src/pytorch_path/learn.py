"""The learner's tools around ``check``: hints, solutions, reset, workspaces, lessons, watch.

These functions return values or raise :class:`LearnError` with a sentence for
the learner; the CLI and the notebook API render them. Only :func:`watch`
imports torch (through the runner).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pytorch_path._version import __version__
from pytorch_path.curriculum import Exercise, Project, learner_path, select
from pytorch_path.progress import FOLDER, Progress
from pytorch_path.results import Results, Status
from pytorch_path.targets import WORKSPACE_MARKER, resolve_target


class LearnError(Exception):
    """A learner-facing problem (no solution yet, nothing to reset, …): one sentence."""


# --------------------------------------------------------------------------- checking


def check_and_record(
    selection: str,
    *,
    project: Project,
    target: Path | None = None,
    seed: int | None = None,
    device: str | None = None,
) -> tuple[Results, str]:
    """Run ``check`` in this process and update the target's progress file.

    Returns the results and a warning: empty unless the progress file was corrupt or
    the learner is told (once) about work left in a clone's ``curriculum/``.
    Checking the project's reference solutions records nothing.
    """
    from pytorch_path.runner import check

    folder = resolve_target(target, project)
    results = check(selection, project=project, target=folder, seed=seed, device=device)
    if folder.resolve() == project.solutions_dir.resolve():
        return results, ""  # the reference solutions are not a learner's workspace
    progress = Progress.load(folder)
    progress.record(results)
    progress.save()
    notes = [progress.warning, in_place_notice(project, folder)]
    return results, "\n".join(note for note in notes if note)


#: Marks, in a target's ``.pytorch_path/``, that the in-place notice was given.
IN_PLACE_NOTICE = "in-place-notice"


def in_place_notice(project: Project, target: Path) -> str:
    """Once per target: a sentence for a learner whose work sits in a clone's ``curriculum/``.

    ``curriculum/`` holds the pristine stubs; a learner who edited it in place (before
    workspaces) is told how to move the work into ``workspace/``. Empty when there is
    nothing to say, or when it was said before.
    """
    mark = target / FOLDER / IN_PLACE_NOTICE
    if mark.exists() or not (project.root / ".git").exists():
        return ""
    edited = edited_stubs(project)
    if not edited:
        return ""
    ids = ", ".join(ex.id for ex in edited[:5]) + (", …" if len(edited) > 5 else "")
    if target.resolve() == project.curriculum_dir.resolve():
        text = (
            f"you have edited exercise files in curriculum/ ({ids}); learners now work in "
            "workspace/, so curriculum/ stays the pristine stubs. Move your work there with "
            "`pytorch-path init workspace --from curriculum`, then `git checkout -- "
            "curriculum` restores the stubs (your files stay in workspace/)"
        )
    else:
        text = (
            f"curriculum/ holds your earlier edits of {ids}; this workspace started from the "
            "pristine stubs. To carry that work over, move this folder aside and run "
            "`pytorch-path init workspace --from curriculum`"
        )
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(text + "\n", encoding="utf-8")
    return text


# --------------------------------------------------------------------------- hints


@dataclass(frozen=True)
class Hint:
    """One hint, as shown to the learner."""

    exercise: Exercise
    """The exercise it belongs to."""
    number: int
    """1-based position among the exercise's hints."""
    text: str
    """The hint itself."""

    @property
    def total(self) -> int:
        """How many hints the exercise has."""
        return len(self.exercise.hints)


def next_hints(ex: Exercise, target: Path, *, show_all: bool = False) -> list[Hint]:
    """The next hint not yet seen (or all hints), recording what was shown."""
    progress = Progress.load(target)
    entry = progress.of(ex.id)
    if show_all:
        shown = range(len(ex.hints))
    else:
        index = min(entry.hints_seen, len(ex.hints) - 1)
        shown = range(index, index + 1)
    hints = [Hint(ex, i + 1, ex.hints[i]) for i in shown]
    entry.hints_seen = max(entry.hints_seen, max(h.number for h in hints))
    progress.save()
    return hints


# --------------------------------------------------------------------------- solutions


def solution_source(project: Project, ex: Exercise, target: Path, *, force: bool = False) -> str:
    """The reference solution's text, once the exercise has passed in this target.

    With ``force`` it is shown anyway and the progress file records that it was seen.
    """
    progress = Progress.load(target)
    entry = progress.of(ex.id)
    if not entry.passed and not force:
        raise LearnError(
            f"the solution of {ex.id} opens once your version passes "
            f"(check it with `pytorch-path check {ex.id}`); `--force` shows it now, "
            "and your progress will note that you looked"
        )
    entry.solution_seen = True
    progress.save()
    return project.solution_path(ex).read_text(encoding="utf-8")


def solution_diff(project: Project, ex: Exercise, target: Path, reference: str) -> str:
    """A unified diff from the learner's file to the reference solution (empty: identical)."""
    import difflib

    mine_path = learner_path(target, ex)
    mine = mine_path.read_text(encoding="utf-8") if mine_path.is_file() else ""
    return "".join(
        difflib.unified_diff(
            mine.splitlines(keepends=True),
            reference.splitlines(keepends=True),
            fromfile=f"yours: {ex.relpath}",
            tofile=f"reference: {ex.relpath}",
        )
    )


# --------------------------------------------------------------------------- reset


def _git(project: Project, *args: str) -> str:
    """The output of ``git ARGS`` in the project's root; raises on failure or after 30 s."""
    return subprocess.run(
        ["git", *args], cwd=project.root, capture_output=True, text=True, check=True, timeout=30
    ).stdout


def pristine_stub(project: Project, ex: Exercise, target: Path) -> str:
    """The untouched stub of ``ex``.

    From the project's own curriculum when the learner works elsewhere (a
    workspace); when the learner edits the checkout's ``curriculum/`` in place,
    from git: the newest committed version with all its ``raise NotImplementedError``
    lines still in place.
    """
    shipped = project.stub_path(ex)
    if learner_path(target, ex).resolve() != shipped.resolve():
        return shipped.read_text(encoding="utf-8")
    marker = f'NotImplementedError("{ex.id}: '
    rel = shipped.resolve().relative_to(project.root.resolve()).as_posix()
    try:
        commits = _git(project, "log", "--format=%H", "--", rel).split()
        versions = [_git(project, "show", f"{commit}:{rel}") for commit in commits]
        # The newest version with every `raise NotImplementedError` still in place.
        most = max((text.count(marker) for text in versions), default=0)
        for text in versions:
            if most and text.count(marker) == most:
                return text
    except (OSError, subprocess.SubprocessError):
        pass
    raise LearnError(
        f"could not find the original stub of {ex.id} in git history; "
        f"`git checkout -- {rel}` restores the committed version"
    )


def reset_exercise(project: Project, ex: Exercise, target: Path) -> Path | None:
    """Restore the stub; the learner's version is kept next to it. Returns the backup's path."""
    stub = pristine_stub(project, ex, target)
    path = learner_path(target, ex)
    backup = None
    if path.exists():
        if path.read_text(encoding="utf-8") == stub:
            raise LearnError(f"{path} is already the untouched stub; nothing to reset")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.{stamp}.bak")
        shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stub, encoding="utf-8")
    progress = Progress.load(target)
    progress.of(ex.id).status = Status.NOT_STARTED.value
    progress.save()
    return backup


# --------------------------------------------------------------------------- workspaces


def edited_stubs(project: Project) -> list[Exercise]:
    """Exercises whose shipped stub in a clone's ``curriculum/`` differs from git's copy.

    These are a learner's edits made in place (before workspaces existed). Outside a
    git clone (an installed wheel) nothing can be edited in place: the list is empty.
    """
    try:
        status = _git(project, "status", "--porcelain", "--no-renames", "--", "curriculum")
        changed = status.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []
    paths = {(project.root / line[3:].strip()).resolve() for line in changed if len(line) > 3}
    return [ex for ex in project.exercises if project.stub_path(ex).resolve() in paths]


def init_workspace(project: Project, dest: Path, *, source: Path | None = None) -> list[Path]:
    """Write a fresh workspace: every stage's stubs, lessons and notebook, and a marker file.

    The notebooks (``notebooks/stageN_….ipynb``, see :mod:`pytorch_path.notebooks`) are
    generated from the untouched stubs.

    The stubs are the untouched ones even where a clone's ``curriculum/`` was edited
    in place (those come from git). With ``source`` (``init --from curriculum``), the
    learner's own files and progress are copied from that folder instead: nothing of
    their work is lost, and ``curriculum/`` can then be restored with git.
    """
    if dest.exists() and any(dest.iterdir()):
        raise LearnError(f"{dest} already exists and is not empty; choose a new folder")
    missing = [
        project.stub_path(ex) for ex in project.exercises if not project.stub_path(ex).is_file()
    ]
    if missing:
        raise LearnError(f"the stub {missing[0]} is missing from this install")
    if source is not None and not source.is_dir():
        raise LearnError(f"--from {source}: no such folder")
    edited = set() if source is not None else {ex.id for ex in edited_stubs(project)}
    written: list[Path] = []
    for stage in project.stages:
        folder = dest / stage.folder
        folder.mkdir(parents=True, exist_ok=True)
        for lang in ("en", "zh"):
            lesson = project.lesson_path(stage, lang)
            if lesson.is_file():
                shutil.copyfile(lesson, folder / lesson.name)
                written.append(folder / lesson.name)
        for ex in stage.exercises:
            theirs = learner_path(source, ex) if source is not None else None
            if theirs is not None and theirs.is_file():
                shutil.copyfile(theirs, folder / ex.filename)
            elif ex.id in edited:
                pristine = pristine_stub(project, ex, project.curriculum_dir)
                (folder / ex.filename).write_text(pristine, encoding="utf-8")
            else:
                shutil.copyfile(project.stub_path(ex), folder / ex.filename)
            written.append(folder / ex.filename)
    from pytorch_path.notebooks import FOLDER as NOTEBOOKS
    from pytorch_path.notebooks import write_notebooks

    written += write_notebooks(project, dest / NOTEBOOKS)
    if source is not None and (source / FOLDER / "progress.json").is_file():
        (dest / FOLDER).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / FOLDER / "progress.json", dest / FOLDER / "progress.json")
    marker = dest / FOLDER / WORKSPACE_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {
                "format": 1,
                "pytorch_path": __version__,
                "created": datetime.now().isoformat(timespec="seconds"),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return written


# --------------------------------------------------------------------------- lessons


def lesson_text(project: Project, stage_number: int, lang: str = "en") -> str:
    """The Markdown lesson of a stage, in English (``en``) or Chinese (``zh``)."""
    if lang not in ("en", "zh"):
        raise LearnError(f"there is no lesson language {lang!r}; use en or zh")
    path = project.lesson_path(project.stage(stage_number), lang)
    if not path.is_file():
        raise LearnError(f"the lesson {path} is missing")
    return path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- watch


def _snapshot(paths: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    state = {}
    for path in paths:
        try:
            stat = path.stat()
            state[path] = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            state[path] = (0, -1)
    return state


def first_unfinished(exercises: list[Exercise], progress: Progress) -> int:
    """Index of the first exercise that has not passed yet (len(exercises) when all have)."""
    for index, ex in enumerate(exercises):
        if progress.of(ex.id).status != Status.PASSED.value:
            return index
    return len(exercises)


def watch(
    selection: str,
    *,
    project: Project,
    target: Path,
    seed: int | None = None,
    on_result: Callable[[Results, Exercise], None],
    on_waiting: Callable[[Exercise], None] | None = None,
    poll_s: float = 0.25,
    settle_s: float = 0.3,
    max_checks: int | None = None,
    stop_after_s: float | None = None,
) -> Results | None:
    """Re-check the current exercise whenever a learner file is saved; move on when it passes.

    torch is imported once; each check imports the learner's module afresh. A save
    is one re-check however many writes it takes: after a change, the files must stay
    the same for ``settle_s`` seconds. Stops when every selected exercise has passed,
    after ``max_checks`` checks, after ``stop_after_s`` seconds, or on Ctrl-C
    (KeyboardInterrupt propagates to the caller). Returns the last results.
    """
    exercises = select(project.stages, selection)
    files = [learner_path(target, ex) for ex in exercises]
    started = time.monotonic()
    progress = Progress.load(target)
    index = first_unfinished(exercises, progress)
    last: Results | None = None
    checks = 0
    while index < len(exercises):
        ex = exercises[index]
        before = _snapshot(files)
        last, _warning = check_and_record(ex.id, project=project, target=target, seed=seed)
        checks += 1
        progress = Progress.load(target)
        on_result(last, ex)
        if max_checks is not None and checks >= max_checks:
            return last
        if last.all_passed:
            index = first_unfinished(exercises, progress)
            continue
        if on_waiting is not None:
            on_waiting(ex)
        if not _wait_for_save(files, before, poll_s, settle_s, started, stop_after_s):
            return last
    return last


def _wait_for_save(
    files: list[Path],
    before: dict[Path, tuple[int, int]],
    poll_s: float,
    settle_s: float,
    started: float,
    stop_after_s: float | None,
) -> bool:
    """Wait until a file changed and then stayed unchanged for ``settle_s``: one save.

    Editors often write a file in several steps (truncate then write, or a temporary
    file renamed over it); waiting for the files to settle makes that one re-check.
    False when ``stop_after_s`` ran out first.
    """

    def out_of_time() -> bool:
        return stop_after_s is not None and time.monotonic() - started > stop_after_s

    now = _snapshot(files)
    while now == before:
        if out_of_time():
            return False
        time.sleep(poll_s)
        now = _snapshot(files)
    while True:
        time.sleep(settle_s)
        settled = _snapshot(files)
        if settled == now or out_of_time():
            return True
        now = settled


def next_exercise(project: Project, target: Path, selection: str = "all") -> Exercise | None:
    """The first exercise of ``selection`` that has not passed in ``target``, or None."""
    exercises = select(project.stages, selection)
    index = first_unfinished(exercises, Progress.load(target))
    return exercises[index] if index < len(exercises) else None
