"""Running a selection of graders against a target and assembling :class:`Results`.

``check()`` runs pytest in this process (torch is imported once, so checking one
exercise costs little more than ``import torch``). The pytest configuration is
the trusted ``grader.ini`` shipped with the package; nothing in the target can
add a ``conftest.py``, an ini file or a plugin to the run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytorch_path.curriculum import Exercise, Project, learner_path, select
from pytorch_path.results import ExerciseResult, Results, Status, TestResult, exercise_status

if TYPE_CHECKING:
    from pytorch_path.plugin import GraderPlugin, RunConfig, TestRecord
    from pytorch_path.sandbox import Limits

GRADER_INI = Path(__file__).with_name("grader.ini")

#: Plugins a grading run never needs; leaving them out saves start-up time.
_DISABLED_PLUGINS = (
    "cacheprovider",
    "terminal",
    "doctest",
    "pastebin",
    "junitxml",
    "nose",
    "legacypath",
    "stepwise",
    "lsp",
    "debugging",
    "unraisableexception",  # its gc.collect() calls at exit cost half a second
    "threadexception",
)


class TargetError(ValueError):
    """The target folder does not exist or is not a folder."""


def new_seed() -> int:
    """A fresh random base seed, small enough to type back in with ``--seed``."""
    return secrets.randbelow(1_000_000)


def resolve_target(target: Path | str | None, project: Project) -> Path:
    """The target folder, checked.

    By default: the ``pytorch-path init`` workspace around the working directory,
    else the project's ``curriculum/``.
    """
    if target is None:
        from pytorch_path.learn import default_target

        return default_target(project)
    path = Path(target).expanduser()
    if not path.exists():
        raise TargetError(f"the target folder {target} does not exist")
    if not path.is_dir():
        raise TargetError(f"the target {target} is a file; give the folder that holds stage*/")
    # A clone of a learner's repository: grade its curriculum/ folder.
    if not any(path.glob("stage*_*")) and (path / "curriculum").is_dir():
        path = path / "curriculum"
    return path.resolve()


@contextlib.contextmanager
def _clean_pytest_env() -> Iterator[None]:
    """Keep the caller's PYTEST_ADDOPTS and auto-loaded plugins out of a grading run."""
    saved = {k: os.environ.get(k) for k in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run graders with one intra-op thread, restoring the caller's setting afterwards.

    Grader tensors are tiny; starting threads on a busy 2-core machine costs more
    than the work itself.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _forget_graders(graders_dir: Path) -> Iterator[None]:
    """Drop the grader modules a run imported, so the next run imports its own graders.

    pytest's importlib mode names a grader after its path under the root folder
    (``stage1_tensors.test_ex01_…``) and reuses a module of that name if one is
    loaded: without this, a run with private ``--graders`` would reuse the
    shipped graders loaded by an earlier run in the same process.
    """
    before = set(sys.modules)
    top_names = {p.name for p in graders_dir.iterdir()} if graders_dir.is_dir() else set()
    root = str(graders_dir.resolve())
    try:
        yield
    finally:
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            file = getattr(module, "__file__", None)
            inside = isinstance(file, str) and str(Path(file).resolve()).startswith(root)
            if inside or (not file and name.split(".")[0] in top_names):
                sys.modules.pop(name, None)


def pytest_args(graders: Sequence[Path], graders_dir: Path, *, capture: bool = True) -> list[str]:
    """The command line of one grading session over ``graders``."""
    args = [str(p) for p in graders]
    args += ["-c", str(GRADER_INI), "--rootdir", str(graders_dir), "--confcutdir", str(graders_dir)]
    args += ["--import-mode=importlib", "-W", "ignore::DeprecationWarning"]
    # One broken grader must not stop the others from running.
    args.append("--continue-on-collection-errors")
    if not capture:
        args.append("-s")
    for name in _DISABLED_PLUGINS:
        args += ["-p", f"no:{name}"]
    return args


def _run_pytest(plugin: GraderPlugin, *extra: str, capture: bool = True) -> None:
    """Run the plugin's selected graders in this process."""
    run = plugin.config
    graders = [run.grader_for(ex) for ex in run.exercises if run.grader_for(ex).is_file()]
    if not graders:
        return
    graders_dir = run.graders_dir or run.project.graders_dir
    with _clean_pytest_env(), _forget_graders(graders_dir), _one_thread():
        args = [*pytest_args(graders, graders_dir, capture=capture), *extra]
        code = pytest.main(args, plugins=[plugin])
    if plugin.interrupted:
        raise KeyboardInterrupt
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RuntimeError(f"pytest could not run the graders (exit code {int(code)})")


def _run_config(
    selection: str,
    project: Project,
    target: Path,
    *,
    seed: int | None,
    device: str | None = None,
    solutions_dir: Path | None = None,
    graders_dir: Path | None = None,
    time_limit_s: float | None = None,
) -> RunConfig:
    from pytorch_path.plugin import RunConfig

    return RunConfig(
        project=project,
        target=target,
        exercises=tuple(select(project.stages, selection)),
        seed=new_seed() if seed is None else seed,
        devices=(device,) if device else ("cpu", "cuda", "mps"),
        solutions_dir=solutions_dir,
        graders_dir=graders_dir,
        time_limit_s=time_limit_s,
        display_root=Path.cwd(),
    )


def check(
    selection: str = "all",
    *,
    project: Project | None = None,
    target: Path | str | None = None,
    seed: int | None = None,
    device: str | None = None,
    solutions_dir: Path | None = None,
    graders_dir: Path | None = None,
    time_limit_s: float | None = None,
    on_test: Callable[[TestRecord], None] | None = None,
    capture: bool = True,
) -> Results:
    """Grade ``selection`` against ``target`` in this process and return the results.

    ``on_test`` is called with each test's record as soon as the test finishes;
    ``capture=False`` lets the learner's prints through to this process's output.
    Raises :class:`~pytorch_path.curriculum.SelectionError` for a selection that
    names nothing and :class:`TargetError` for a missing target folder.
    """
    from pytorch_path.plugin import GraderPlugin

    project = project or Project.locate()
    run = _run_config(
        selection,
        project,
        resolve_target(target, project),
        seed=seed,
        device=device,
        solutions_dir=solutions_dir,
        graders_dir=graders_dir,
        time_limit_s=time_limit_s,
    )
    plugin = GraderPlugin(run, listener=on_test)
    _run_pytest(plugin, capture=capture)
    exercises = tuple(
        assemble(ex, run, plugin.records_of(ex), plugin.collect_error_of(ex))
        for ex in run.exercises
    )
    return _results(run, selection, exercises)


def _results(run: RunConfig, selection: str, exercises: Sequence[ExerciseResult]) -> Results:
    import torch

    from pytorch_path import devices

    return Results(
        target=_display(run.target),
        seed=run.seed,
        torch=torch.__version__,
        devices=tuple(d for d in run.devices if devices.is_available(d)),
        exercises=tuple(exercises),
        selection=selection,
    )


def assemble(
    ex: Exercise,
    run: RunConfig,
    records: Sequence[TestRecord],
    collect_error: str | None = None,
) -> ExerciseResult:
    """Fold one exercise's test records into an :class:`ExerciseResult`.

    Points are shared among the tests by weight; a test skipped only because its
    device is absent is worth nothing either way. A record without a status (the
    test never finished) counts as failed.
    """
    file = _display(learner_path(run.target, ex))
    grader = run.grader_for(ex)

    def broken(message: str) -> ExerciseResult:
        return ExerciseResult(
            id=ex.id,
            title=ex.title,
            tier=ex.tier,
            status=Status.ERROR,
            points_earned=0.0,
            points_possible=ex.points,
            duration_s=0.0,
            tests=(),
            file=file,
            message=message,
        )

    if not grader.is_file():
        return broken(f"there is no grader for exercise {ex.id} at {grader}")
    if collect_error:
        last = collect_error.strip().splitlines()[-1] if collect_error.strip() else ""
        return broken(f"the grader of {ex.id} could not be loaded ({last}); please report this bug")
    if not records:
        return broken(f"the grader of {ex.id} collected no tests; please report this bug")
    counted_weight = sum(r.weight for r in records if not r.device_skip)
    tests: list[TestResult] = []
    for r in records:
        status = r.status or Status.FAILED
        message = r.message if r.status else "this test did not run to the end"
        possible = (
            0.0 if r.device_skip or not counted_weight else ex.points * r.weight / counted_weight
        )
        tests.append(
            TestResult(
                name=r.name,
                status=status,
                message=message,
                headline=r.headline,
                duration_s=r.duration_s,
                points_earned=possible if status is Status.PASSED else 0.0,
                points_possible=possible,
                traceback=r.traceback,
                device_skip=r.device_skip,
            )
        )
    status = exercise_status(tests)
    earned = 0.0 if status is Status.TAMPERED else round(sum(t.points_earned for t in tests), 6)
    message = ""
    if status in (Status.ERROR, Status.TIMEOUT, Status.TAMPERED, Status.NOT_STARTED):
        message = next((t.message for t in tests if t.status is status), "")
    return ExerciseResult(
        id=ex.id,
        title=ex.title,
        tier=ex.tier,
        status=status,
        points_earned=earned,
        points_possible=ex.points,
        duration_s=sum(t.duration_s for t in tests),
        tests=tuple(tests),
        file=file,
        message=message,
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- grading


#: Default address-space cap of a grading child, in MiB (torch alone maps about 3.5 GiB).
DEFAULT_MEMORY_MB = 8192
#: Wall-clock seconds a grading child gets on top of its exercises' time limits.
STARTUP_ALLOWANCE_S = 60.0
#: Largest learner file copied into a grading run, in bytes.
MAX_LEARNER_FILE_BYTES = 1_000_000
#: Captured output kept per submission, in bytes.
OUTPUT_CAP_BYTES = 1_000_000


@dataclass(frozen=True)
class GradeSettings:
    """What every submission of one ``grade`` run shares."""

    project: Project
    """Where the manifests (and, by default, graders and solutions) live."""
    selection: str
    """The exercises to grade, e.g. ``"1-2"``."""
    seed: int
    """The base seed, the same for every submission of the run."""
    graders_dir: Path | None = None
    """Private graders instead of the shipped ones."""
    solutions_dir: Path | None = None
    """Private reference solutions instead of the shipped ones."""
    timeout_s: float | None = None
    """Wall-clock limit per submission (default: the exercises' limits plus a minute)."""
    memory_mb: int | None = DEFAULT_MEMORY_MB
    """Address-space cap per submission in MiB; None for none."""
    sandbox: str = "auto"
    """``auto`` (bubblewrap when available), ``bwrap`` (required) or ``none``."""

    @property
    def exercises(self) -> list[Exercise]:
        """The selected exercises."""
        return select(self.project.stages, self.selection)

    def wall_s(self) -> float:
        """The wall-clock limit of one submission."""
        if self.timeout_s is not None:
            return self.timeout_s
        return sum(ex.time_limit_s for ex in self.exercises) + STARTUP_ALLOWANCE_S

    def use_bwrap(self) -> bool:
        """Whether children run inside bubblewrap."""
        from pytorch_path.sandbox import bwrap_available

        if self.sandbox == "bwrap":
            return True
        return self.sandbox == "auto" and bwrap_available()


@dataclass
class _Expected:
    records: dict[str, list[TestRecord]]
    collect_errors: dict[str, str | None]


def collect_expected(settings: GradeSettings) -> _Expected:
    """The tests every submission must pass, known before any learner code runs."""
    from pytorch_path.plugin import GraderPlugin

    run = _run_config(
        settings.selection,
        settings.project,
        settings.project.curriculum_dir,
        seed=settings.seed,
        graders_dir=settings.graders_dir,
        solutions_dir=settings.solutions_dir,
    )
    plugin = GraderPlugin(run)
    _run_pytest(plugin, "--collect-only")
    return _Expected(
        records={ex.id: plugin.records_of(ex) for ex in run.exercises},
        collect_errors={ex.id: plugin.collect_error_of(ex) for ex in run.exercises},
    )


def grade(
    submissions: Sequence[Path],
    *,
    settings: GradeSettings,
    jobs: int = 1,
    on_result: Callable[[Results], None] | None = None,
) -> list[Results]:
    """Grade each submission in its own isolated child process; never raises for one of them.

    Results come back in the order of ``submissions``; ``on_result`` is called as
    each one finishes (for a progress bar).
    """
    from concurrent.futures import ThreadPoolExecutor

    expected = collect_expected(settings)
    names = unique_names(submissions)

    def one(index: int) -> Results:
        results = grade_submission(submissions[index], names[index], settings, expected)
        if on_result is not None:
            on_result(results)
        return results

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(len(submissions))))


def unique_names(submissions: Sequence[Path]) -> list[str]:
    """A report name per submission: its folder name, made unique with ``-2``, ``-3``."""
    names: list[str] = []
    for path in submissions:
        base = Path(path).resolve().name or "submission"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def _learner_source(submission: Path) -> Path:
    if not any(submission.glob("stage*_*")) and (submission / "curriculum").is_dir():
        return submission / "curriculum"
    return submission


def grade_submission(
    submission: Path, name: str, settings: GradeSettings, expected: _Expected
) -> Results:
    """Grade one submission folder in an isolated child process."""
    import tempfile

    from pytorch_path.plugin import RunConfig

    submission = Path(submission)
    exercises = settings.exercises
    source = _learner_source(submission)
    run = RunConfig(
        project=settings.project,
        target=source,
        exercises=tuple(exercises),
        seed=settings.seed,
        graders_dir=settings.graders_dir,
        solutions_dir=settings.solutions_dir,
    )
    extra: dict[str, Any] = {"submission": name, "path": str(submission)}
    if not submission.is_dir():
        message = f"the submission folder {submission} does not exist"
        outcome = _Outcome(status="missing", cause=message, cause_status=Status.ERROR)
        return _graded(run, settings, expected, {}, outcome, extra)
    root = Path(tempfile.mkdtemp(prefix="pytorch-path-grade-"))
    try:
        notes = _prepare(root, name, source, exercises, settings)
        outcome, messages = _spawn(root, _target_name(name), settings)
        extra.update(outcome.extra)
        if notes:
            extra["notes"] = notes
        return _graded(run, settings, expected, messages, outcome, extra)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class _Outcome:
    status: str
    """``graded``, ``timeout``, ``crashed`` or ``missing``."""
    cause: str = ""
    """Why tests without a result have none, in one sentence."""
    cause_status: Status = Status.FAILED
    extra: dict[str, Any] = field(default_factory=dict)


def _prepare(
    root: Path, name: str, source: Path, exercises: Sequence[Exercise], settings: GradeSettings
) -> list[str]:
    """Lay out the trusted files and a fresh target holding only the declared learner files."""
    from pytorch_path.sandbox import NOBODY

    project = settings.project
    trusted = root / "trusted"
    for stage in project.stages:
        dest = trusted / "curriculum" / stage.folder
        dest.mkdir(parents=True)
        shutil.copyfile(stage.manifest, dest / "stage.yaml")
    shutil.copytree(
        settings.graders_dir or project.graders_dir,
        trusted / "graders",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(
        settings.solutions_dir or project.solutions_dir,
        trusted / "solutions",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    work = root / "work"
    for sub in (".home", ".tmp"):
        (work / sub).mkdir(parents=True)
    target = work / _target_name(name)
    target.mkdir()
    notes = []
    for ex in exercises:
        src = learner_path(source, ex)
        if src.is_symlink():
            notes.append(f"{ex.relpath} is a symbolic link; it was not graded")
            continue
        if not src.is_file():
            continue
        if src.stat().st_size > MAX_LEARNER_FILE_BYTES:
            notes.append(f"{ex.relpath} is larger than {MAX_LEARNER_FILE_BYTES} bytes; not graded")
            continue
        dest = learner_path(target, ex)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    root.chmod(0o755)
    if _drops_privileges(settings):
        for path in [work, *work.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
    return notes


def _drops_privileges(settings: GradeSettings) -> bool:
    from pytorch_path.sandbox import nobody_can_run_python

    if settings.use_bwrap() or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    return nobody_can_run_python()


def _target_name(name: str) -> str:
    """The folder the learner's files get inside the run, shown in messages."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    return safe or "submission"


def _spawn(
    root: Path, target_name: str, settings: GradeSettings
) -> tuple[_Outcome, dict[str, dict[str, Any]]]:
    """Run the child, collect its token-tagged messages, and say how it ended."""
    import json
    import signal
    import subprocess
    import threading

    from pytorch_path.sandbox import Limits, bwrap_prefix, child_env

    wall = settings.wall_s()
    limits = Limits(cpu_s=int(wall) + 30, memory_mb=settings.memory_mb)
    token = secrets.token_hex(16)
    work = root / "work"
    read_fd, write_fd = os.pipe()
    cmd = [
        sys.executable,
        "-I",
        "-m",
        "pytorch_path.sandbox",
        "--project",
        str(root / "trusted"),
        "--target",
        str(work / target_name),
        "--selection",
        settings.selection,
        "--seed",
        str(settings.seed),
        "--graders",
        str(root / "trusted" / "graders"),
        "--solutions",
        str(root / "trusted" / "solutions"),
        "--channel-fd",
        str(write_fd),
        "--cpu-s",
        str(limits.cpu_s),
    ]
    if limits.memory_mb is not None:
        cmd += ["--memory-mb", str(limits.memory_mb)]
    isolation = "bubblewrap" if settings.use_bwrap() else "process"
    if _drops_privileges(settings):
        cmd.append("--drop-privileges")
        isolation = "process, as nobody"
    if settings.use_bwrap():
        cmd = [*bwrap_prefix(work), *cmd]
    lines: list[str] = []

    def read_channel() -> None:
        total = 0
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as channel:
            for line in channel:
                total += len(line)
                if total <= 16 * OUTPUT_CAP_BYTES:
                    lines.append(line)

    log_path = root / "output.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(work),
            cwd=work,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    os.close(write_fd)
    reader = threading.Thread(target=read_channel, daemon=True)
    reader.start()
    try:
        assert proc.stdin is not None
        proc.stdin.write((token + "\n").encode())
        proc.stdin.close()
    except OSError:
        pass
    timed_out = False
    try:
        proc.wait(timeout=wall)
    except subprocess.TimeoutExpired:
        timed_out = True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
    proc.wait()
    reader.join(timeout=10)
    elapsed = time.monotonic() - started

    messages: dict[str, dict[str, Any]] = {}
    events: set[str] = set()
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("token") != token:
            continue  # not from the trusted side of the child
        event = str(data.get("event"))
        events.add(event)
        if event == "test" and isinstance(data.get("nodeid"), str):
            messages[data["nodeid"]] = data
    output, truncated = _read_capped(log_path)
    extra: dict[str, Any] = {
        "isolation": isolation,
        "wall_s": round(elapsed, 2),
        "output": output,
        "output_truncated": truncated,
    }
    code = proc.returncode
    if timed_out:
        outcome = _Outcome(
            "timeout",
            f"killed after {wall:g} s, the time limit of the whole submission",
            Status.TIMEOUT,
        )
    elif code < 0:
        outcome = _Outcome("crashed", _signal_sentence(-code, limits), Status.ERROR)
    elif "start" not in events:
        outcome = _Outcome(
            "crashed",
            f"the grading process exited before the tests ran (exit code {code})",
            Status.ERROR,
        )
    elif "done" not in events:
        outcome = _Outcome(
            "crashed",
            f"the grading process exited during this test (exit code {code})",
            Status.ERROR,
        )
    else:
        outcome = _Outcome("graded", "no result was reported for this test")
    outcome.extra = extra
    return outcome, messages


def _signal_sentence(signum: int, limits: Limits) -> str:
    import signal

    name = (
        signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
    )
    if name == "SIGXCPU":
        return f"stopped after {limits.cpu_s} s of CPU time"
    if name == "SIGXFSZ":
        return f"stopped for writing a file or output larger than {limits.file_mb} MiB"
    if name == "SIGKILL":
        return "killed (SIGKILL), most often because it ran out of memory"
    if name == "SIGSEGV":
        return "crashed with a segmentation fault"
    return f"killed by signal {name}"


def _read_capped(path: Path) -> tuple[str, bool]:
    size = path.stat().st_size if path.exists() else 0
    if not size:
        return "", False
    with path.open("rb") as handle:
        data = handle.read(OUTPUT_CAP_BYTES)
    text = data.decode("utf-8", errors="replace")
    if size > OUTPUT_CAP_BYTES:
        text += (
            f"\n[output cut: {size} bytes were written, the first {OUTPUT_CAP_BYTES} are kept]\n"
        )
        return text, True
    return text, False


def _graded(
    run: RunConfig,
    settings: GradeSettings,
    expected: _Expected,
    messages: dict[str, dict[str, Any]],
    outcome: _Outcome,
    extra: dict[str, Any],
) -> Results:
    """Results from the expected tests, filled in by the child's messages; fail closed."""
    from pytorch_path import devices
    from pytorch_path.plugin import device_in_nodeid

    exercise_results = []
    for ex in run.exercises:
        records = []
        for template in expected.records.get(ex.id, []):
            record = replace(template)
            data = messages.get(record.nodeid)
            if data is None:
                record.status = outcome.cause_status
                record.message = outcome.cause
            else:
                try:
                    record.status = Status(data.get("status"))
                except ValueError:
                    record.status = Status.FAILED
                record.message = str(data.get("message", ""))[:4000]
                record.traceback = str(data.get("traceback", ""))[-8000:]
                record.duration_s = float(data.get("duration_s", 0.0) or 0.0)
                claimed_skip = bool(data.get("device_skip")) and record.status is Status.SKIPPED
                # Only a skip for a device this machine really lacks is free of charge.
                device = device_in_nodeid(record.nodeid)
                record.device_skip = (
                    claimed_skip and device is not None and not devices.is_available(device)
                )
            records.append(record)
        collect_error = expected.collect_errors.get(ex.id)
        exercise_results.append(assemble(ex, run, records, collect_error))
    results = _results(run, settings.selection, exercise_results)
    return replace(results, extra={**extra, "status": outcome.status})
