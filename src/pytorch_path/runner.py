"""``check``: running a selection of graders against a target, and assembling :class:`Results`.

``check()`` runs pytest in this process (torch is imported once, so checking one
exercise costs little more than ``import torch``). The pytest configuration is
the trusted ``grader.ini`` shipped with the package; nothing in the target can
add a ``conftest.py``, an ini file or a plugin to the run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytorch_path import devices
from pytorch_path.curriculum import Exercise, Project, learner_path, select
from pytorch_path.results import ExerciseResult, Results, Status, TestResult, exercise_status
from pytorch_path.targets import resolve_target
from pytorch_path.text import shown_path

if TYPE_CHECKING:
    from pytorch_path.plugin import GraderPlugin, RunConfig, TestRecord, TransportFactory

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
    "logging",  # graders use no caplog; its handlers cost a few ms per test phase
    "unraisableexception",  # its gc.collect() calls at exit cost half a second
    "threadexception",
)


def new_seed() -> int:
    """A fresh random base seed, small enough to type back in with ``--seed``."""
    return secrets.randbelow(1_000_000)


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


def run_pytest(plugin: GraderPlugin, *extra: str, capture: bool = True) -> None:
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
    learner_transport: TransportFactory | None = None,
    reference_cache: Path | None = None,
    display_root: Path | None = None,
) -> RunConfig:
    from pytorch_path.plugin import RunConfig

    return RunConfig(
        project=project,
        target=target,
        exercises=tuple(select(project.stages, selection)),
        seed=new_seed() if seed is None else seed,
        devices=(devices.require(device),) if device else devices.TEST_ORDER,
        solutions_dir=solutions_dir,
        graders_dir=graders_dir,
        time_limit_s=time_limit_s,
        display_root=display_root or Path.cwd(),
        learner_transport=learner_transport,
        reference_cache=reference_cache,
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
    learner_transport: TransportFactory | None = None,
    reference_cache: Path | None = None,
    display_root: Path | None = None,
) -> Results:
    """Grade ``selection`` against ``target`` and return the results.

    By default the learner's scenarios run in this process (``check``); ``grade``'s judge
    passes ``learner_transport`` to run them in a sandboxed worker instead, and
    ``reference_cache`` to share the reference's answers across a batch.
    ``on_test`` is called with each test's record as soon as the test finishes;
    ``capture=False`` lets the learner's prints through to this process's output.
    Raises :class:`~pytorch_path.curriculum.SelectionError` for a selection that
    names nothing, :class:`TargetError` for a missing target folder and
    :class:`~pytorch_path.devices.DeviceUnavailableError` for a ``device`` absent here.
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
        learner_transport=learner_transport,
        reference_cache=reference_cache,
        display_root=display_root,
    )
    plugin = GraderPlugin(run, listener=on_test)
    run_pytest(plugin, capture=capture)
    exercises = tuple(
        assemble(ex, run, plugin.records_of(ex), plugin.collect_error_of(ex))
        for ex in run.exercises
    )
    return _results(run, selection, exercises)


def _results(run: RunConfig, selection: str, exercises: Sequence[ExerciseResult]) -> Results:
    import torch

    return Results(
        target=shown_path(run.target),
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
    file = shown_path(learner_path(run.target, ex))
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
                output=r.output,
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
