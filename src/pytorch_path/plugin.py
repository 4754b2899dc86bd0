"""The pytest plugin that runs graders against a learner's code.

Fixtures:

- ``learner``: the learner's side of the exercise this grader belongs to
  (:class:`~pytorch_path.scenario.Side`): ``learner.run(scenario, *data)`` and
  ``learner.fn(*data)``. In ``check`` the scenarios run in this process; in ``grade``'s
  judge, in a sandboxed worker. Either way only data crosses, and a name the module does
  not define is a clear failure, not an AttributeError;
- ``reference``: the reference solution's side, always run in this process (and cached
  across a batch in ``grade``);
- ``device``: each device type (``cpu`` always; ``cuda``, ``mps`` skipped with a
  reason where absent);
- ``seed``: a :class:`Seed` whose value derives from the run's base seed and the
  test, so inputs change from run to run but replay exactly with ``--seed``;
- ``exercise``: the :class:`~pytorch_path.curriculum.Exercise` being graded.

Every test also gets the global RNGs seeded, torch's global state (default
dtype, grad mode, deterministic algorithms) restored afterwards, and a
wall-clock budget: the exercise's ``time_limit_s`` shared by all its tests (the engine's
own work, such as starting a worker or the first optimizer's import of ``torch._dynamo``,
is not charged).

The runner registers a :class:`GraderPlugin` instance. The plugin also works on
its own: ``pytest -p pytorch_path.plugin graders/stage1_tensors --pp-target solutions``.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import random
import signal
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest
import torch

from pytorch_path import checks, devices
from pytorch_path.curriculum import Exercise, Project, learner_path
from pytorch_path.loader import LearnerLoadError, load_module, unload
from pytorch_path.results import Status
from pytorch_path.scenario import (
    LearnerError,
    Side,
    Transport,
    WireError,
    execute,
    execute_direct,
    seed_all,
)
from pytorch_path.text import clean, shown_path

#: Seconds a test's teardown may take even when the exercise's budget is spent.
_TEARDOWN_GRACE_S = 5.0


_ACTIVE: list[GraderPlugin] = []
"""The plugin of the grading session running in this process, if any."""


@contextlib.contextmanager
def unbudgeted() -> Generator[None, None, None]:
    """Stop the current exercise's clock while the engine itself works (starting a worker)."""
    plugin = _ACTIVE[-1] if _ACTIVE else None
    if plugin is None or not plugin._use_alarm:
        yield
        return
    remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    started = time.perf_counter()
    try:
        yield
    finally:
        plugin._credit += time.perf_counter() - started
        if remaining > 0:
            signal.setitimer(signal.ITIMER_REAL, remaining)


#: Modules whose first import is slow and not the learner's doing: ``torch._dynamo`` is
#: imported by the first ``torch.optim`` optimizer and the first ``torch.func`` transform of
#: a process (1-2.5 s of CPU, 10 s of wall time on a loaded 2-core machine).
OFF_THE_CLOCK = ("torch._dynamo",)


class _OffTheClockLoader(importlib.abc.Loader):
    """Runs a module's import with the exercise's clock stopped."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        with unbudgeted():
            self._inner.exec_module(module)


class OffTheClockFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`OFF_THE_CLOCK` and imports them off the time budget."""

    def find_spec(
        self, fullname: str, path: Any, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The real spec of an off-the-clock module, with a loader that stops the clock."""
        if fullname not in OFF_THE_CLOCK:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _OffTheClockLoader(spec.loader)
                return spec
        return None


class LearnerTimeoutError(BaseException):
    """Raised inside a test when its exercise's time budget runs out.

    A ``BaseException``, so a learner's ``except Exception`` cannot swallow it.
    """


@dataclass(frozen=True)
class Seed:
    """The seed of one test: an int, and helpers that draw the same numbers on every device."""

    value: int
    """The test's seed, derived from the run's base seed and the test's name."""

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded with ``value + offset``."""
        return torch.Generator().manual_seed(self.value + offset)

    def randn(
        self,
        *shape: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        offset: int = 0,
    ) -> torch.Tensor:
        """Standard-normal values drawn on the CPU (the same everywhere), moved to ``device``."""
        return torch.randn(*shape, generator=self.generator(offset), dtype=dtype).to(device)

    def rand(
        self,
        *shape: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        offset: int = 0,
    ) -> torch.Tensor:
        """Uniform [0, 1) values drawn on the CPU, then moved to ``device``."""
        return torch.rand(*shape, generator=self.generator(offset), dtype=dtype).to(device)

    def randint(
        self,
        low: int,
        high: int,
        shape: tuple[int, ...],
        *,
        device: str | torch.device = "cpu",
        offset: int = 0,
    ) -> torch.Tensor:
        """Integers in ``[low, high)`` drawn on the CPU, then moved to ``device``."""
        return torch.randint(low, high, shape, generator=self.generator(offset)).to(device)

    def python_random(self, offset: int = 0) -> random.Random:
        """A ``random.Random`` for choosing sizes and configurations."""
        return random.Random(self.value + offset)


def derive_seed(base: int, *parts: str) -> int:
    """A 31-bit seed from the run's base seed and names (stable across processes)."""
    return zlib.crc32("/".join([str(base), *parts]).encode()) & 0x7FFFFFFF


class LocalTransport:
    """Runs scenarios in this process on a module loaded on first use (``check``, the reference).

    A scenario sees the same values in ``check`` as in ``grade``, and the caller's tensors
    are never the module's: the judge's inputs are copied with
    :func:`~pytorch_path.scenario.copy_data` (exactly what decoding them from the wire
    gives, and tested to be), and the learner's answers take the real wire, ``torch.save``
    then a weights-only load, as in ``grade``. The reference's answers, being the judge's
    own, are copied the same way as its inputs.
    """

    def __init__(
        self, load: Callable[[], ModuleType], learner_file: Path | None, *, trusted: bool = False
    ) -> None:
        """``load()`` imports the module; ``learner_file`` marks its frames in tracebacks.

        A ``trusted`` module (the reference) is run through :meth:`run_direct`, which copies
        values the way the wire would without serialising them a second time.
        """
        self._load = load
        self._module: ModuleType | LearnerLoadError | None = None
        self._learner_file = learner_file
        if trusted:
            self.run_direct = self._run_direct
        else:
            self.run_local = self._run_local

    @property
    def module(self) -> ModuleType | None:
        """The module, once loaded."""
        return self._module if isinstance(self._module, ModuleType) else None

    def _loaded(self) -> ModuleType:
        if self._module is None:
            try:
                self._module = self._load()
            except LearnerLoadError as exc:
                self._module = exc
        if isinstance(self._module, LearnerLoadError):
            raise self._module
        return self._module

    def _run_direct(
        self,
        name: str,
        fn: Callable[..., Any],
        payload: bytes,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        return execute_direct(
            self._loaded(), fn, payload, args, kwargs, name=name,
            learner_file=self._learner_file, passthrough=(LearnerTimeoutError,),
        )  # fmt: skip

    def _run_local(
        self,
        name: str,
        fn: Callable[..., Any],
        payload: bytes,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> bytes:
        return execute(
            self._loaded(), fn, payload, name=name, learner_file=self._learner_file,
            passthrough=(LearnerTimeoutError,), inputs=(args, kwargs),
        )  # fmt: skip

    def run(self, grader: Path, name: str, fn: Callable[..., Any], payload: bytes) -> bytes:
        """Run ``fn`` on the module with the decoded payload; return the encoded answer."""
        self._loaded()
        return execute(
            self._module,
            fn,
            payload,
            name=name,
            learner_file=self._learner_file,
            passthrough=(LearnerTimeoutError,),
        )


TransportFactory = Callable[[Exercise, Path, str], Transport]
"""Builds the learner's transport for an exercise (its learner file, shown name)."""


@dataclass
class TestRecord:
    """What the plugin observed of one test, before results are assembled."""

    __test__ = False

    nodeid: str
    exercise: Exercise
    name: str
    headline: str
    weight: float
    status: Status | None = None
    message: str = ""
    traceback: str = ""
    duration_s: float = 0.0
    device_skip: bool = False
    output: str = ""


#: The most characters of a test's captured output kept for its report.
OUTPUT_LIMIT = 4000


@dataclass
class RunConfig:
    """What one grading run needs to know."""

    project: Project
    """Where graders and solutions live."""
    target: Path
    """The folder holding the learner's files."""
    exercises: tuple[Exercise, ...]
    """The exercises to grade."""
    seed: int
    """The run's base seed."""
    devices: tuple[str, ...] = devices.TEST_ORDER
    """Device types the ``device`` fixture offers (absent ones are skipped)."""
    solutions_dir: Path | None = None
    """Reference solutions (default: the project's)."""
    graders_dir: Path | None = None
    """Graders (default: the project's)."""
    time_limit_s: float | None = None
    """Overrides each exercise's ``time_limit_s`` when given."""
    display_root: Path | None = None
    """Learner paths in messages are shown relative to this folder when possible."""
    learner_transport: TransportFactory | None = None
    """Where learner scenarios run (default: in this process); ``grade``'s judge sets a worker."""
    reference_cache: Path | None = None
    """A folder caching the reference side's answers across the submissions of a batch."""

    def grader_for(self, ex: Exercise) -> Path:
        """The grader file of ``ex`` under this run's graders folder."""
        return self.project.grader_path(ex, self.graders_dir)


class GraderPlugin:
    """Fixtures, budgets and outcome classification for one grading session."""

    def __init__(
        self, config: RunConfig, listener: Callable[[TestRecord], None] | None = None
    ) -> None:
        """Prepare to grade ``config.exercises`` against ``config.target``.

        ``listener`` is called with each test's record once the test has finished.
        """
        self.config = config
        self.listener = listener
        self.interrupted = False
        self.records: dict[str, TestRecord] = {}
        self.collect_errors: dict[str, str] = {}
        self._by_grader = {str(config.grader_for(ex).resolve()): ex for ex in config.exercises}
        self._modules: dict[tuple[str, str], ModuleType | LearnerLoadError] = {}
        self._sides: dict[tuple[str, str], Side] = {}
        self._available = {d: devices.is_available(d) for d in config.devices}
        self._spent: dict[str, float] = {}
        self._armed = False
        self._old_handler: Any = None
        self._use_alarm = False
        self._credit = 0.0
        self._rootpath = Path.cwd()

    # ------------------------------------------------------------------ helpers

    def exercise_of(self, node: pytest.Item | pytest.Collector) -> Exercise | None:
        """The exercise whose grader holds ``node``."""
        path = getattr(node, "path", None)
        if path is None:
            return None
        return self._by_grader.get(str(Path(path).resolve()))

    def records_of(self, ex: Exercise) -> list[TestRecord]:
        """The records of ``ex``'s tests, in collection order."""
        return [r for r in self.records.values() if r.exercise.id == ex.id]

    def collect_error_of(self, ex: Exercise) -> str | None:
        """The collection error of ``ex``'s grader, if it failed to import."""
        return self.collect_errors.get(str(self.config.grader_for(ex).resolve()))

    def learner_file(self, ex: Exercise) -> Path:
        """The learner's file for ``ex`` in the target."""
        return learner_path(self.config.target, ex)

    def budget_s(self, ex: Exercise) -> float:
        """The wall-clock budget of ``ex``'s tests together."""
        return self.config.time_limit_s or ex.time_limit_s

    def _load_reference(self, ex: Exercise) -> ModuleType:
        """The reference solution's module of ``ex`` (imported once per run, in this process)."""
        key = ("reference", ex.id)
        if key not in self._modules:
            path = self.reference_file(ex)
            try:
                self._modules[key] = load_module(
                    path, display=shown_path(path, self.config.display_root)
                )
            except LearnerLoadError as exc:
                self._modules[key] = LearnerLoadError(
                    f"the reference solution failed to load: {exc}", path=path
                )
        loaded = self._modules[key]
        if isinstance(loaded, LearnerLoadError):
            raise loaded
        return loaded

    # ------------------------------------------------------------------ fixtures

    def _exercise(self, request: pytest.FixtureRequest) -> Exercise:
        ex = self.exercise_of(request.node)
        if ex is None:
            raise RuntimeError(f"{request.node.nodeid} is not the grader of a selected exercise")
        return ex

    @pytest.fixture(name="exercise")
    def exercise_fixture(self, request: pytest.FixtureRequest) -> Exercise:
        """The exercise this grader belongs to."""
        return self._exercise(request)

    @pytest.fixture(name="learner")
    def learner_fixture(self, request: pytest.FixtureRequest) -> Any:
        """The learner's side: ``learner.run(scenario, *data)`` and ``learner.fn(*data)``."""
        return self._side("learner", self._exercise(request), Path(request.node.path))

    @pytest.fixture(name="reference")
    def reference_fixture(self, request: pytest.FixtureRequest) -> Any:
        """The reference solution's side, always run in this (trusted) process."""
        return self._side("reference", self._exercise(request), Path(request.node.path))

    def _side(self, kind: str, ex: Exercise, grader: Path) -> Side:
        key = (kind, ex.id)
        side = self._sides.get(key)
        if side is not None:
            return side
        if kind == "learner":
            path = self.learner_file(ex)
            shown = shown_path(path, self.config.display_root)
            factory = self.config.learner_transport
            transport: Transport = (
                factory(ex, path, shown)
                if factory is not None
                else LocalTransport(lambda: load_module(path, display=shown), path)
            )
        else:
            path = self.reference_file(ex)
            shown = shown_path(path, self.config.display_root)
            if self.config.reference_cache is not None:  # grade: answers kept for the batch
                local = LocalTransport(lambda: self._load_reference(ex), None)
                transport = CachedTransport(local, self.config.reference_cache, path)
            else:
                transport = LocalTransport(lambda: self._load_reference(ex), None, trusted=True)
        side = Side(kind, transport, grader, shown)
        self._sides[key] = side
        return side

    def reference_file(self, ex: Exercise) -> Path:
        """The reference solution of ``ex``."""
        return (self.config.solutions_dir or self.config.project.solutions_dir) / ex.relpath

    @pytest.fixture(name="seed")
    def seed_fixture(self, request: pytest.FixtureRequest) -> Seed:
        """This test's seed."""
        return Seed(self._test_seed(request.node))

    @pytest.fixture(name="device")
    def device_fixture(self, request: pytest.FixtureRequest) -> torch.device:
        """One device type per parametrised run; skipped with a reason where absent."""
        name = str(request.param)
        if not devices.is_available(name):
            pytest.skip(devices.unavailable_reason(name))
        return torch.device(name)

    @pytest.fixture(autouse=True)
    def _pp_isolation(self, request: pytest.FixtureRequest) -> Generator[None, None, None]:
        """Seed every RNG for the test, and restore torch's global switches afterwards."""
        seed_all(self._test_seed(request.node))
        dtype = torch.get_default_dtype()
        grad = torch.is_grad_enabled()
        deterministic = torch.are_deterministic_algorithms_enabled()
        try:
            yield
        finally:
            # Only touch what changed: use_deterministic_algorithms() imports torch._dynamo.
            if torch.get_default_dtype() != dtype:
                torch.set_default_dtype(dtype)
            if torch.is_grad_enabled() != grad:
                torch.set_grad_enabled(grad)
            if torch.are_deterministic_algorithms_enabled() != deterministic:
                torch.use_deterministic_algorithms(deterministic)

    def _test_seed(self, node: pytest.Item) -> int:
        ex = self.exercise_of(node)
        func = getattr(node, "originalname", node.name)
        return derive_seed(self.config.seed, ex.id if ex else "", func)

    # ------------------------------------------------------------------ hooks

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise ``device`` over the configured device types."""
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", list(self.config.devices), indirect=True)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Install the timeout signal handler (main thread on POSIX only)."""
        self._rootpath = Path(session.config.rootpath)
        self._use_alarm = hasattr(signal, "setitimer") and (
            threading.current_thread() is threading.main_thread()
        )
        if self._use_alarm:
            self._old_handler = signal.signal(signal.SIGALRM, self._on_alarm)
        _ACTIVE.append(self)
        self._finder = OffTheClockFinder()
        sys.meta_path.insert(0, self._finder)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Restore the signal handler and drop the learner modules."""
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        finder = getattr(self, "_finder", None)
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        if self._use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old_handler or signal.SIG_DFL)
        for side in self._sides.values():
            closer = getattr(side._transport, "close", None)
            if callable(closer):
                closer()
            module = getattr(side._transport, "module", None)
            if isinstance(module, ModuleType):
                unload(module)
        for loaded in self._modules.values():
            if isinstance(loaded, ModuleType):
                unload(loaded)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Remember that the run was interrupted (Ctrl-C), so the caller can stop too."""
        self.interrupted = True

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Remember a grader that failed to import (a pytorch-path bug, not the learner's)."""
        if report.failed:
            path = (self._rootpath / report.fspath).resolve()
            self.collect_errors[str(path)] = report.longreprtext

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Register each expected test before any learner code runs."""
        ex = self.exercise_of(item)
        if ex is None:
            return
        func = getattr(item, "function", None)
        doc = (getattr(func, "__doc__", None) or "").strip()
        marker = item.get_closest_marker("points")
        weight = float(marker.args[0]) if marker and marker.args else 1.0
        self.records[item.nodeid] = TestRecord(
            nodeid=item.nodeid,
            exercise=ex,
            name=item.name,
            headline=doc.splitlines()[0] if doc else item.name,
            weight=weight,
        )

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            self._armed = False
            raise LearnerTimeoutError()

    def _guard(self, item: pytest.Item, phase: str) -> Generator[None, Any, Any]:
        ex = self.exercise_of(item)
        if ex is None:
            return (yield)
        if phase == "setup":
            absent = _absent_device(item)
            if absent:
                # Skip before any fixture (the learner's import included) runs.
                pytest.skip(devices.unavailable_reason(absent))
        remaining = self.budget_s(ex) - self._spent.get(ex.id, 0.0)
        if phase == "teardown":
            # Teardown must always run, or pytest's setup stack is left inconsistent.
            remaining = max(remaining, _TEARDOWN_GRACE_S)
        elif remaining <= 0:
            raise LearnerTimeoutError()
        started = time.perf_counter()
        self._credit = 0.0
        if self._use_alarm:
            self._armed = True
            signal.setitimer(signal.ITIMER_REAL, remaining)
        try:
            return (yield)
        finally:
            self._armed = False
            if self._use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - started - self._credit
            self._credit = 0.0
            self._spent[ex.id] = self._spent.get(ex.id, 0.0) + max(0.0, took)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        """Run setup under the exercise's time budget."""
        return (yield from self._guard(item, "setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        """Run the test under the exercise's time budget."""
        return (yield from self._guard(item, "call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, Any]:
        """Run teardown under the exercise's time budget."""
        return (yield from self._guard(item, "teardown"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Turn each phase's outcome into a status and a learner-facing message."""
        report = yield
        record = self.records.get(item.nodeid)
        if record is None:
            return report
        self._record_phase(record, item, call, report)
        if call.when == "teardown" and self.listener is not None:
            self.listener(record)
        return report

    def _record_phase(
        self,
        record: TestRecord,
        item: pytest.Item,
        call: pytest.CallInfo[None],
        report: pytest.TestReport,
    ) -> None:
        record.duration_s += report.duration
        printed = report.capstdout + report.capstderr
        if printed:
            record.output = clean(record.output + printed, OUTPUT_LIMIT)
        if call.when == "call":
            tampered = checks.integrity_problems()
            if tampered:
                _restore_originals()
                record.status = Status.TAMPERED
                record.message = (
                    "the grader's comparison functions were replaced while your code ran "
                    f"({', '.join(tampered)}); graders must see the real torch"
                )
                return
        if record.status is not None and record.status is not Status.PASSED:
            return  # keep the first problem (e.g. the call's failure over teardown's)
        if report.skipped:
            record.status = Status.SKIPPED
            # Only a test parametrised on a device this machine lacks (known before any
            # learner code ran) is a free skip; any other skip is reported as such.
            absent = _param_device(item)
            record.device_skip = absent is not None and not self._available.get(absent, False)
            longrepr = report.longrepr
            message = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
            record.message = clean(message.removeprefix("Skipped: "))
        elif report.failed:
            assert call.excinfo is not None
            status, message = self.classify(record.exercise, call.excinfo.value)
            record.status, record.message = status, clean(message)
            record.traceback = clean(self.short_traceback(record.exercise, call.excinfo.value))
        elif call.when == "call":
            record.status = Status.PASSED

    def short_traceback(self, ex: Exercise, exc: BaseException) -> str:
        """The traceback a learner reads under ``-v``: the grader's line, then their frames.

        Only frames in the grader's file and in the learner's file are kept (never the
        engine's: pytest, the plugin, the loader, the wire), each as ``file:line in name``
        with its source line; a :class:`LearnerError` adds the frames it carried back.
        """
        grader = self.config.grader_for(ex).resolve()
        mine = self.learner_file(ex).resolve()
        root = self.config.display_root
        lines: list[str] = []
        for frame in traceback.extract_tb(exc.__traceback__):
            if _same_file(frame.filename, grader):
                who = "grader"
            elif _same_file(frame.filename, mine):
                who = "yours "
            else:
                continue
            lines.append(f"{who} {shown_path(Path(frame.filename), root)}:{frame.lineno} "
                         f"in {frame.name}")  # fmt: skip
            if frame.line:
                lines.append(f"           {frame.line.strip()}")
        if isinstance(exc, LearnerError):
            shown = shown_path(mine, root)
            for learner_frame in exc.frames:
                lines.append(f"yours  {shown}:{learner_frame.lineno} in {learner_frame.name}")
                if learner_frame.line:
                    lines.append(f"           {learner_frame.line.strip()}")
            lines.append(f"{exc.type_name}: {exc.message}".rstrip(": "))
        elif not isinstance(exc, (checks.CheckFailure, AssertionError)):
            lines.append(f"{type(exc).__name__}: {exc}".rstrip(": "))
        return "\n".join(lines)

    # ------------------------------------------------------------------ classification

    def classify(self, ex: Exercise, exc: BaseException) -> tuple[Status, str]:
        """The status and the learner-facing sentence for an exception raised in a test."""
        shown = shown_path(self.learner_file(ex), self.config.display_root)
        if isinstance(exc, LearnerLoadError):
            return Status.ERROR, str(exc)
        if isinstance(exc, LearnerError):
            return self._classify_learner_error(ex, exc, shown)
        if isinstance(exc, WireError):
            return Status.FAILED, (
                f"what your code returned could not be read back: {exc}; return tensors, "
                f"numbers, strings and lists/tuples/dicts of them (see {shown})"
            )
        if isinstance(exc, LearnerTimeoutError):
            limit = self.budget_s(ex)
            if _while_importing(exc):
                return Status.TIMEOUT, (
                    f"stopped after {limit:g} s while importing your file {shown}: code at its "
                    "top level (outside any function) never finished; put work inside the "
                    "functions, or under `if __name__ == '__main__':`"
                )
            return Status.TIMEOUT, (
                f"stopped after {limit:g} s, the time limit of exercise {ex.id}; look in {shown} "
                "for a loop that never ends or far more work than the task needs"
            )
        frames = traceback.extract_tb(exc.__traceback__)
        learner_file = self.learner_file(ex).resolve()
        in_learner = [f for f in frames if _same_file(f.filename, learner_file)]
        if (
            isinstance(exc, NotImplementedError)
            and frames
            and _same_file(frames[-1].filename, learner_file)
        ):
            text = str(exc)
            if not text or text.startswith(f"{ex.id}:"):
                last = frames[-1]
                name = text.split(":", 1)[1].strip() if text else ""
                return Status.NOT_STARTED, (
                    f"{name or last.name} is not implemented yet: replace the "
                    f"`raise NotImplementedError` in {shown}, line {last.lineno}"
                )
        if isinstance(exc, checks.CheckFailure):
            return Status.FAILED, str(exc)
        if isinstance(exc, AssertionError):
            text = str(exc).strip().split("\nassert ")[0].strip()
            return Status.FAILED, text or "a check of your result failed (run with -v for details)"
        summary = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        summary = summary.splitlines()[0] if summary else type(exc).__name__
        if in_learner:
            last = in_learner[-1]
            return Status.FAILED, (
                f"your code raised {summary} (in {last.name}, {shown}, line {last.lineno})"
            )
        return Status.FAILED, (
            f"the grader could not check your result: {summary}. Compare what your function "
            f"returns with the docstring in {shown}"
        )

    def _classify_learner_error(
        self, ex: Exercise, exc: LearnerError, shown: str
    ) -> tuple[Status, str]:
        if exc.kind == "load":
            return Status.ERROR, exc.message
        if exc.kind == "missing":
            name = exc.extra.get("name", exc.message)
            asked = ", ".join(ex.implement)
            return Status.FAILED, (
                f"{shown} does not define {name!r}; exercise {ex.id} asks for {asked} "
                "(did you rename or delete it?)"
            )
        if exc.kind == "wire":
            return Status.FAILED, f"{exc.message} (see {shown})"
        if exc.kind == "crash" and exc.extra.get("phase") == "start":
            return Status.ERROR, (
                f"{exc.message}, before any of your code ran; this is a problem of the grading "
                "machine, not of your work: please tell your instructor"
            )
        if exc.kind == "crash":
            return Status.ERROR, (
                f"{exc.message} while this test ran; look in {shown} for os._exit, sys.exit, "
                "signals, or far more memory or output than the task needs"
            )
        last = exc.last_frame
        if exc.type_name == "NotImplementedError" and exc.innermost_in_learner and last:
            text = exc.message
            if not text or text.startswith(f"{ex.id}:"):
                name = text.split(":", 1)[1].strip() if text else ""
                return Status.NOT_STARTED, (
                    f"{name or last.name} is not implemented yet: replace the "
                    f"`raise NotImplementedError` in {shown}, line {last.lineno}"
                )
        if exc.type_name == "CheckFailure" and not last:
            return Status.FAILED, exc.message  # a check inside the grader's scenario
        summary = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.type_name
        if last:
            return Status.FAILED, (
                f"your code raised {summary} (in {last.name}, {shown}, line {last.lineno})"
            )
        return Status.FAILED, f"your code raised {summary} (while {shown} was being used)"


class CachedTransport:
    """A reference transport whose answers are kept on disk for the rest of a batch."""

    def __init__(self, inner: Transport, folder: Path, solution: Path) -> None:
        """Cache ``inner``'s answers in ``folder``; the key includes ``solution``'s bytes."""
        import hashlib

        self._inner = inner
        self._folder = folder
        try:
            self._salt = hashlib.sha256(solution.read_bytes()).hexdigest()
        except OSError:
            self._salt = "missing"

    def run(self, grader: Path, name: str, fn: Callable[..., Any], payload: bytes) -> bytes:
        """The cached answer for this call, or the inner transport's (then cached)."""
        import hashlib
        import os

        try:
            grader_bytes = grader.read_bytes()
        except OSError:
            grader_bytes = b""
        key = hashlib.sha256()
        for part in (self._salt.encode(), grader_bytes, name.encode(), payload):
            key.update(hashlib.sha256(part).digest())
        path = self._folder / f"{key.hexdigest()}.bin"
        try:
            return path.read_bytes()
        except OSError:
            pass
        answer = self._inner.run(grader, name, fn, payload)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(answer)
            tmp.replace(path)
        except OSError:
            pass
        return answer


def device_in_nodeid(nodeid: str) -> str | None:
    """The device a parametrised test id names (``test_x[cuda]`` → ``cuda``), if any."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    params = nodeid[nodeid.rindex("[") + 1 : -1].split("-")
    return next((p for p in params if p in devices.KNOWN_DEVICES), None)


def _param_device(item: pytest.Item) -> str | None:
    """The device type a test is parametrised on, if any."""
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("device") if callspec is not None else None
    return name if isinstance(name, str) else None


def _absent_device(item: pytest.Item) -> str | None:
    """The device type of a test parametrised on a device this machine lacks, if any."""
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("device") if callspec is not None else None
    if isinstance(name, str) and not devices.is_available(name):
        return name
    return None


def _while_importing(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while a learner's module was being imported."""
    loader_file = Path(load_module.__code__.co_filename)
    return any(
        frame.name == "load_module" and _same_file(frame.filename, loader_file.resolve())
        for frame in traceback.extract_tb(exc.__traceback__)
    )


def _same_file(filename: str, path: Path) -> bool:
    try:
        return Path(filename).resolve() == path
    except OSError:
        return False


def _restore_originals() -> None:
    """Put back every comparison function that learner code replaced."""
    for owner, name, original in checks._ORIGINALS.values():
        if getattr(owner, name, None) is not original:
            setattr(owner, name, original)
    for name, original in checks._OWN.items():
        setattr(checks, name, original)


# ---------------------------------------------------------------------- standalone use


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options for running graders with plain pytest (``-p pytorch_path.plugin``)."""
    group = parser.getgroup("pytorch-path")
    group.addoption("--pp-target", default=None, help="folder holding the learner's files")
    group.addoption("--pp-seed", type=int, default=0, help="base seed")
    group.addoption("--pp-device", default=None, help="only this device type")


def pytest_configure(config: pytest.Config) -> None:
    """Register a GraderPlugin when pytest is run directly with this module as a plugin."""
    if config.pluginmanager.has_plugin("pytorch-path-grader"):
        return
    project = Project.locate(Path(str(config.rootpath)))
    target = config.getoption("--pp-target")
    device = config.getoption("--pp-device")
    run = RunConfig(
        project=project,
        target=Path(target).resolve() if target else project.curriculum_dir,
        exercises=project.exercises,
        seed=config.getoption("--pp-seed"),
        devices=(device,) if device else devices.TEST_ORDER,
    )
    config.pluginmanager.register(GraderPlugin(run), "pytorch-path-grader")
