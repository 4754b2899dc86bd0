"""``grade``: many submissions, each judged by a trusted process with its own workers.

For each submission the batch copies the declared learner files (regular files only,
never through a link) and the graders into a fresh worker folder, starts a judge
(:mod:`pytorch_path.grading.judge`) and reads back the results it wrote. The expected tests
are collected here first, so a judge that dies still leaves a report in which every test
it did not finish scores zero with a plain reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pytorch_path.curriculum import Exercise, learner_path
from pytorch_path.grading.settings import GradeSettings
from pytorch_path.results import ExerciseResult, Grading, Results, Status
from pytorch_path.targets import learner_root
from pytorch_path.text import clean

if TYPE_CHECKING:
    from pytorch_path.grading.judge import JudgeSpec

#: Largest learner file copied into a grading run, in bytes.
MAX_LEARNER_FILE_BYTES = 1_000_000


@dataclass
class Expected:
    """The tests every submission must pass, known before any learner code runs."""

    records: dict[str, list[object]]
    """The test records of each exercise id (``plugin.TestRecord``)."""
    collect_errors: dict[str, str | None]
    """The collection error of each exercise's grader, if any."""


def collect_expected(settings: GradeSettings) -> Expected:
    """Collect the selected graders' tests in this process (no learner code runs)."""
    from pytorch_path.plugin import GraderPlugin, RunConfig
    from pytorch_path.runner import run_pytest

    run = RunConfig(
        project=settings.project,
        target=settings.project.curriculum_dir,
        exercises=tuple(settings.exercises),
        seed=settings.seed,
        graders_dir=settings.graders_dir,
        solutions_dir=settings.solutions_dir,
    )
    plugin = GraderPlugin(run)
    run_pytest(plugin, "--collect-only")
    return Expected(
        records={ex.id: list(plugin.records_of(ex)) for ex in run.exercises},
        collect_errors={ex.id: plugin.collect_error_of(ex) for ex in run.exercises},
    )


def unique_names(submissions: Sequence[Path]) -> list[str]:
    """A report name per submission: its folder (or notebook) name, made safe and unique.

    A notebook ``alice.ipynb`` is named ``alice``.

    Unsafe characters become ``_``; a name already taken (ignoring case, for file systems
    that do) gets ``-2``, ``-3``. The names are also the report folders under ``--out``.
    """
    names: list[str] = []
    taken: set[str] = set()
    for path in submissions:
        base = safe_name(Path(path).absolute().name.removesuffix(".ipynb") or "submission")
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
        taken.add(name.lower())
    return names


def shard_of(name: str, count: int) -> int:
    """The shard (0-based, of ``count``) a submission belongs to: a hash of its name.

    Stable under reordering and across machines, so ``--shard I/N`` runs split a batch
    without coordination.
    """
    digest = hashlib.sha256(name.encode("utf-8", "backslashreplace")).digest()
    return int.from_bytes(digest[:8], "big") % count


def selected(submissions: Sequence[Path], settings: GradeSettings) -> list[tuple[int, str]]:
    """``(index, report name)`` of each submission this run grades (those of its shard)."""
    return [
        (i, name)
        for i, name in enumerate(unique_names(submissions))
        if settings.shard is None or shard_of(name, settings.shard[1]) == settings.shard[0]
    ]


def graders_version(settings: GradeSettings) -> str:
    """A fingerprint of what grades a batch: the selected graders and reference solutions."""
    digest = hashlib.sha256()
    for ex in settings.exercises:
        for path in (settings.project.grader_path(ex, settings.graders_dir),
                     settings.solutions / ex.relpath):  # fmt: skip
            digest.update(str(ex.id).encode())
            with contextlib.suppress(OSError):
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def grade(
    submissions: Sequence[Path],
    *,
    settings: GradeSettings,
    jobs: int | None = None,
    on_result: Callable[[Results], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[Results]:
    """Grade each submission (of this shard) with its own judge; never raises for one of them.

    Results come back in the order of ``submissions`` (only those of ``settings.shard``);
    ``on_start`` is called with a submission's name as its grading starts and ``on_result``
    with its results as it finishes. ``jobs`` overrides ``settings.jobs`` (and is
    validated the same way). Raises ``SandboxUnavailableError`` up front when the
    requested isolation cannot be had.
    """
    from concurrent.futures import ThreadPoolExecutor

    from pytorch_path.sandbox import become_subreaper

    if jobs is not None:
        settings = replace(settings, jobs=jobs)  # validated by GradeSettings
    isolation = settings.isolation()
    expected = collect_expected(settings)
    names = dict(selected(submissions, settings))
    chosen = list(names)
    version = graders_version(settings)
    from pytorch_path.sandbox import children

    with _LIVE_LOCK:
        _SPARED.update(children())  # the caller's own processes are never touched
    become_subreaper()  # a judge's orphaned workers come back to us, to be killed
    batch = Path(tempfile.mkdtemp(prefix="pytorch-path-grade-"))
    batch.chmod(0o700)

    def one(index: int) -> Results:
        if on_start is not None:
            on_start(names[index])
        try:
            results = grade_submission(
                Path(submissions[index]), names[index], settings, expected,
                batch=batch, index=index, isolation=isolation, version=version,
            )  # fmt: skip
        except Exception as exc:  # a bug of ours must not cost the other submissions
            grading = Grading(
                submission=names[index],
                path=str(submissions[index]),
                status="crashed",
                isolation=_isolation_label(isolation, None),
                graders=version,
                shard=settings.shard_label,
            )
            cause = f"pytorch-path could not grade this submission ({exc})"
            results = fail_closed(settings, expected, grading, Status.ERROR, cause)
        if on_result is not None:
            on_result(results)
        return results

    try:
        with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
            return list(pool.map(one, chosen))
    finally:
        shutil.rmtree(batch, ignore_errors=True)


def grade_submission(
    submission: Path,
    name: str,
    settings: GradeSettings,
    expected: Expected,
    *,
    batch: Path,
    index: int,
    isolation: str,
    version: str = "",
) -> Results:
    """Grade one submission folder with a judge process and sandboxed workers."""
    user = _worker_user(isolation, index)
    label = _isolation_label(isolation, user)
    grading = Grading(submission=name, path=str(submission), isolation=label, graders=version,
                      shard=settings.shard_label)  # fmt: skip
    notebook_note, extracted = "", None
    try:
        from pytorch_path.notebooks import notebook_files

        notebooks = notebook_files(submission, settings.exercises)
    except OSError:
        notebooks = None
    if notebooks is not None:  # cells become the exercise files; nothing is executed here
        from pytorch_path.notebooks import NotebookError, extract_notebooks

        extracted_to = batch / f"{index:05d}-notebooks"
        try:
            extracted = extract_notebooks(notebooks, settings.exercises, settings.project,
                                          extracted_to, root=submission)  # fmt: skip
        except NotebookError as exc:
            grading = replace(grading, status="unreadable")
            return fail_closed(settings, expected, grading, Status.ERROR, str(exc))
        if not extracted.anything:
            grading = replace(grading, status="empty")
            return fail_closed(settings, expected, grading, Status.ERROR, extracted.note)
        submission, notebook_note = extracted_to, extracted.note
    try:
        is_dir = submission.is_dir()
    except OSError:
        is_dir = False
    if not is_dir:
        grading = replace(grading, status="missing")
        return fail_closed(settings, expected, grading, Status.ERROR,
                           f"the submission folder {submission} does not exist")  # fmt: skip
    empty = empty_reason(submission, settings.exercises)
    if empty:  # nothing to run: no judge, no worker
        grading = replace(grading, status="empty")
        return fail_closed(settings, expected, grading, Status.ERROR, empty)
    root = batch / f"{index:05d}"
    judge_dir, workdir = root / "judge", root / "worker"
    for folder in (judge_dir, workdir / ".home", workdir / ".tmp"):
        folder.mkdir(parents=True)
    target = workdir / safe_name(name)
    refused = copy_learner_files(submission, target, settings.exercises)
    notes = list(refused.values())
    shutil.copytree(settings.graders, workdir / "graders",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    root.chmod(0o700)
    if user is not None:
        root.chmod(0o711)  # the worker's user may pass through to its own folder, no further
        judge_dir.chmod(0o700)
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, user, user, follow_symlinks=False)
        workdir.chmod(0o700)
    spec = _judge_spec(settings, isolation, target, workdir, judge_dir, batch, user)
    spec_path = judge_dir / "spec.json"
    spec.write(spec_path)
    started = time.monotonic()
    status, cause = _run_judge(spec_path, judge_dir, settings.wall_s())
    if notebook_note:
        notes.insert(0, notebook_note)
    grading = replace(grading, wall_s=round(time.monotonic() - started, 2), notes=tuple(notes))
    results_path = Path(spec.results_path)
    if status == "graded" and results_path.is_file():
        try:
            data = json.loads(results_path.read_text())
            judged = data.pop("judge", {})
            results = Results.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            status, cause = "crashed", f"the judge's report could not be read ({exc})"
        else:
            grading = replace(
                grading,
                output=str(judged.get("output", "")),
                output_truncated=bool(judged.get("output_truncated", False)),
            )
            if extracted is not None:  # messages point at the notebook's cells
                from pytorch_path.notebooks import relabel_results

                results = relabel_results(results, extracted.built, settings.project,
                                          prefix=f"{target.name}/")  # fmt: skip
            return _refuse(replace(results, target=name, grading=grading), refused)
    grading = replace(grading, status=status)
    status_of_tests = Status.TIMEOUT if status == "timeout" else Status.ERROR
    return _refuse(fail_closed(settings, expected, grading, status_of_tests, cause), refused)


def _refuse(results: Results, refused: dict[str, str]) -> Results:
    """Mark each exercise whose file was refused as an ``error`` with that one sentence."""
    if not refused:
        return results
    exercises = []
    for ex in results.exercises:
        reason = refused.get(ex.id)
        if reason is None:
            exercises.append(ex)
            continue
        tests = tuple(
            replace(t, status=Status.ERROR, message=reason, points_earned=0.0) for t in ex.tests
        )
        exercises.append(replace(ex, status=Status.ERROR, message=reason, points_earned=0.0,
                                 tests=tests))  # fmt: skip
    return replace(results, exercises=tuple(exercises))


#: How many expected file paths the ``empty`` sentence names.
EMPTY_LISTED = 3


def empty_reason(submission: Path, exercises: Sequence[Exercise]) -> str:
    """Why ``submission`` is ``empty`` (none of ``exercises``' files is in it), or ``""``.

    A file counts as there as soon as anything is at its path, a link or a folder too
    (that exercise is then an ``error``, as usual); an unreadable folder is not empty
    (each exercise says it could not be read). Nothing is opened or followed.
    """
    try:
        source = learner_root(submission)
    except OSError:
        return ""
    if not exercises or any(
        _unsafe(submission, learner_path(source, ex)) != "absent" for ex in exercises
    ):
        return ""
    try:
        with os.scandir(submission) as entries:
            found = sorted(itertools.islice((entry.name for entry in entries), 200))
    except OSError:
        found = []
    if found:
        shown = ", ".join(clean(name, 60) for name in found[:EMPTY_LISTED])
        came = f"it holds only other files ({shown}{', …' if len(found) > EMPTY_LISTED else ''})"
    else:
        came = "it is empty"
    paths = [PurePosixPath(ex.relpath).as_posix() for ex in exercises]
    listed = ", ".join(paths[:EMPTY_LISTED])
    if len(paths) > EMPTY_LISTED:
        listed += f" and {len(paths) - EMPTY_LISTED} more"
    files = "file" if len(paths) == 1 else f"{len(paths)} files"
    return (
        f"the submission holds none of the {files} expected: {came}; expected "
        f"{listed}, each at that path in the submission folder (or in the curriculum/ "
        "folder of a clone of the repository)"
    )


def safe_name(name: str) -> str:
    """A file-system-safe folder name for a submission."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    return safe[:100] or "submission"


def copy_learner_files(
    submission: Path, target: Path, exercises: Sequence[Exercise]
) -> dict[str, str]:
    """Copy each exercise's declared file from ``submission`` without following any link.

    ``submission`` is a folder shaped like ``curriculum/`` or a clone holding one. Returns,
    per exercise id, the one sentence saying why its file was not copied (a link anywhere
    on its path, not a regular file, unreadable, too large); an exercise whose file is
    simply absent is not listed (the judge reports it missing).
    """
    refused: dict[str, str] = {}
    target.mkdir(parents=True, exist_ok=True)
    try:
        source = learner_root(submission)
    except OSError as exc:
        reason = f"the submission folder could not be read ({exc.strerror})"
        return {ex.id: reason for ex in exercises}
    for ex in exercises:
        src = learner_path(source, ex)
        problem = _unsafe(submission, src)
        if problem == "absent":
            continue
        if problem:
            refused[ex.id] = problem
            continue
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(src, flags)
        except OSError as exc:
            refused[ex.id] = f"{ex.relpath} could not be read ({exc.strerror})"
            continue
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                refused[ex.id] = f"{ex.relpath} is not a regular file; only plain files are graded"
                continue
            data = handle.read(MAX_LEARNER_FILE_BYTES + 1)
        if len(data) > MAX_LEARNER_FILE_BYTES:
            refused[ex.id] = (
                f"{ex.relpath} is larger than {MAX_LEARNER_FILE_BYTES} bytes; it was not graded"
            )
            continue
        dest = learner_path(target, ex)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return refused


def _unsafe(root: Path, path: Path) -> str:
    """Why ``path`` (under ``root``) may not be copied: a link on the way, not a file, …."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return "the file lies outside the submission"
    current = root
    info = None
    for part in rel.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return "absent"
        except OSError as exc:
            shown = current.relative_to(root)
            return f"{shown} could not be read ({exc.strerror})"
        if stat.S_ISLNK(info.st_mode):
            return f"symbolic links are not accepted: {current.relative_to(root)}"
    if info is None or not stat.S_ISREG(info.st_mode):
        return f"{rel} is not a regular file; only plain files are graded"
    return ""


#: First user id given to workers when grading as root (one id per submission).
WORKER_UID_BASE = 200_000


def _worker_user(isolation: str, index: int) -> int | None:
    """The user id a submission's workers run as under ``process`` isolation as root, if any."""
    from pytorch_path.sandbox import python_runs_as

    if isolation != "process" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    uid = WORKER_UID_BASE + index
    return uid if python_runs_as(uid) else None


def _isolation_label(isolation: str, user: int | None) -> str:
    from pytorch_path.sandbox import ISOLATION_LABELS

    label = ISOLATION_LABELS[isolation]
    if isolation == "process" and hasattr(os, "geteuid") and os.geteuid() == 0:
        if user is None:
            return label + "; workers run as root (this Python cannot run as another user)"
        return label + f"; workers run as user {user}"
    return label


def _judge_spec(
    settings: GradeSettings,
    isolation: str,
    target: Path,
    workdir: Path,
    judge_dir: Path,
    batch: Path,
    user: int | None,
) -> JudgeSpec:
    import pytorch_path
    from pytorch_path.data import data_dir
    from pytorch_path.grading.judge import JudgeSpec

    readable, env = [], {}
    with contextlib.suppress(Exception):
        folder = data_dir()
        readable.append(str(folder))
        env["PYTORCH_PATH_DATA"] = str(folder)
    hidden = {
        str(settings.solutions),
        str(settings.project.solutions_dir),
        str(Path(pytorch_path.__file__).resolve().parent / "_bundle" / "solutions"),
    }
    cpu_s = int(max((ex.time_limit_s for ex in settings.exercises), default=60)) + 120
    return JudgeSpec(
        project=str(settings.project.root),
        selection=settings.selection,
        seed=settings.seed,
        target=str(target),
        workdir=str(workdir),
        isolation=isolation,
        cpu_s=cpu_s,
        results_path=str(judge_dir / "results.json"),
        log_dir=str(judge_dir / "logs"),
        memory_mb=settings.memory_mb,
        graders_dir=str(settings.graders_dir) if settings.graders_dir else None,
        solutions_dir=str(settings.solutions_dir) if settings.solutions_dir else None,
        cache_dir=str(batch / "reference-cache"),
        readable=readable,
        hidden=sorted(hidden),
        worker_user=user,
        env=env,
    )


_LIVE_JUDGES: set[int] = set()
"""Judges running now (spared when another judge's orphans are killed)."""
_SPARED: set[int] = set()
"""Children this process had before grading began: never ours to kill."""
_LIVE_LOCK = threading.Lock()


def _run_judge(spec_path: Path, judge_dir: Path, wall_s: float) -> tuple[str, str]:
    """Run the judge; ``("graded", "")`` or a status and the reason tests have no result.

    Once it has ended, whatever it left behind (its workers, if it was killed before it
    could kill them; they are adopted by this subreaper process) is killed too.
    """
    from pytorch_path.sandbox import child_env, kill_descendants, kill_group

    env = child_env(judge_dir)
    log_path = judge_dir / "judge.log"
    # Started and registered under one lock: another judge's clean-up never sees it unlisted.
    with _LIVE_LOCK, log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "pytorch_path.grading.judge", str(spec_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=judge_dir,
            start_new_session=True,
        )
        _LIVE_JUDGES.add(proc.pid)
    try:
        code = proc.wait(timeout=wall_s)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        kill_group(proc)
        with _LIVE_LOCK:
            _LIVE_JUDGES.discard(proc.pid)
            # Orphans of this judge, adopted by us as subreaper: every child we did not start
            # before grading and is not a running judge (nothing else of the caller's).
            kill_descendants(keep=_LIVE_JUDGES | _SPARED)
    if code is None:
        return "timeout", f"killed after {wall_s:g} s, the time limit of the whole submission"
    if code != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        return (
            "crashed",
            f"the judge failed (exit code {code}): {tail[0][:300]}; please report this",
        )
    return "graded", ""


def fail_closed(
    settings: GradeSettings,
    expected: Expected,
    grading: Grading,
    status: Status,
    cause: str,
) -> Results:
    """Results in which every expected test has ``status`` and ``cause``: nothing earned."""
    import torch

    from pytorch_path.plugin import RunConfig, TestRecord
    from pytorch_path.runner import assemble

    run = RunConfig(
        project=settings.project,
        target=Path(grading.submission),
        exercises=tuple(settings.exercises),
        seed=settings.seed,
        graders_dir=settings.graders_dir,
    )
    exercises: list[ExerciseResult] = []
    for ex in settings.exercises:
        records = []
        for template in expected.records.get(ex.id, []):
            assert isinstance(template, TestRecord)
            record = replace(template, status=status, message=cause)
            records.append(record)
        exercises.append(assemble(ex, run, records, expected.collect_errors.get(ex.id)))
    return Results(
        target=grading.submission,
        seed=settings.seed,
        torch=torch.__version__,
        devices=("cpu",),
        exercises=tuple(exercises),
        selection=settings.selection,
        grading=grading,
    )
