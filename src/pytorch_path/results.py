"""The results data model: ``Results`` → ``ExerciseResult`` → ``TestResult``.

Frozen dataclasses with ``to_dict()`` / ``from_dict()`` for the versioned JSON
schema (``SCHEMA_VERSION``). Renderers in :mod:`pytorch_path.report` read these
and nothing else. This module must not import torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytorch_path.statuses import _PRECEDENCE, GRADING_STATUSES, STATUS_LABELS, Status
from pytorch_path.text import clean

SCHEMA_VERSION = 1

#: The most characters of a test's traceback and of its printed output a result keeps.
TEXT_LIMIT = 8000
#: Statuses whose tests keep their traceback (every other test carries an empty one).
TRACEBACK_STATUSES = frozenset({Status.FAILED, Status.ERROR, Status.TIMEOUT, Status.TAMPERED})
#: The note :func:`pytorch_path.text.clean` appends to a string it cut.
_CUT_NOTE = re.compile(r"… \[(\d+) more characters cut\]\Z")

__all__ = [
    "GRADING_STATUSES",
    "SCHEMA_VERSION",
    "STATUS_LABELS",
    "TEXT_LIMIT",
    "TRACEBACK_STATUSES",
    "ExerciseResult",
    "Grading",
    "Results",
    "Status",
    "TestResult",
    "capped",
    "exercise_status",
]


def capped(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` made safe (:func:`~pytorch_path.text.clean`) and cut to ``limit`` characters.

    A cut string ends with ``… [N more characters cut]``. Capping again is a no-op, and
    a string that was already cut (with a larger limit) keeps an exact count of what is
    missing, so a report read back and written again does not change.
    """
    found = _CUT_NOTE.search(text)
    base, missing = (text[: found.start()], int(found.group(1))) if found else (text, 0)
    base = clean(base, None)
    if len(base) > limit:
        base, missing = base[:limit], missing + len(base) - limit
    return base + f"… [{missing} more characters cut]" if missing else base


@dataclass(frozen=True)
class TestResult:
    """The outcome of one grader test."""

    __test__ = False  # not a pytest test class

    name: str
    """Test name, with its parameters (e.g. ``test_moves_model[cpu]``)."""
    status: Status
    """Outcome of the test."""
    message: str = ""
    """What the learner reads: what was expected, what came, where to look."""
    headline: str = ""
    """First line of the test's docstring: what the test checks, in plain words."""
    duration_s: float = 0.0
    """Wall time of setup, call and teardown."""
    points_earned: float = 0.0
    """Points this test earned."""
    points_possible: float = 0.0
    """Points this test is worth; 0 for a test skipped because its device is absent."""
    traceback: str = ""
    """Traceback, shown with ``-v``: only for a test that failed, erred, timed out or was
    tampered with (empty otherwise), capped at :data:`TEXT_LIMIT` characters."""
    device_skip: bool = False
    """True when the test was skipped only because its device is absent here."""
    output: str = ""
    """What the learner's code printed during this test, capped at :data:`TEXT_LIMIT`."""

    def __post_init__(self) -> None:
        """Keep a traceback only where it explains a problem; cap it and the output.

        Done here, where every result is made (by the runner, a judge's report read back,
        ``dataclasses.replace``), so every renderer and the JSON report see the same text.
        """
        traceback = capped(self.traceback) if self.status in TRACEBACK_STATUSES else ""
        object.__setattr__(self, "traceback", traceback)
        object.__setattr__(self, "output", capped(self.output))

    def to_dict(self) -> dict[str, Any]:
        """The schema-1 JSON form."""
        return {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "headline": self.headline,
            "duration_s": round(self.duration_s, 4),
            "points_earned": round(self.points_earned, 4),
            "points_possible": round(self.points_possible, 4),
            "traceback": self.traceback,
            "device_skip": self.device_skip,
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestResult:
        """Read back what :meth:`to_dict` wrote."""
        return cls(
            name=str(data["name"]),
            status=Status(data["status"]),
            message=str(data.get("message", "")),
            headline=str(data.get("headline", "")),
            duration_s=float(data.get("duration_s", 0.0)),
            points_earned=float(data.get("points_earned", 0.0)),
            points_possible=float(data.get("points_possible", 0.0)),
            traceback=str(data.get("traceback", "")),
            device_skip=bool(data.get("device_skip", False)),
            output=str(data.get("output", "")),
        )


@dataclass(frozen=True)
class ExerciseResult:
    """The outcome of one exercise: its tests and the status and points they add up to."""

    id: str
    """Exercise id, e.g. ``"1.3"``."""
    title: str
    """Exercise title."""
    tier: str
    """Difficulty tier."""
    status: Status
    """Overall outcome (see :func:`exercise_status`)."""
    points_earned: float
    """Points earned: the sum over passed tests."""
    points_possible: float
    """Points the exercise is worth."""
    duration_s: float
    """Wall time of all its tests."""
    tests: tuple[TestResult, ...] = ()
    """Each test's outcome, in run order."""
    file: str = ""
    """The learner's file that was graded, as the learner would open it."""
    message: str = ""
    """Exercise-level message, e.g. why the learner file could not be imported."""

    @property
    def first_problem(self) -> TestResult | None:
        """The first test that did not pass and was not a device skip."""
        for test in self.tests:
            if test.status not in (Status.PASSED, Status.SKIPPED):
                return test
        return None

    def to_dict(self) -> dict[str, Any]:
        """The schema-1 JSON form."""
        return {
            "id": self.id,
            "title": self.title,
            "tier": self.tier,
            "status": self.status.value,
            "points_earned": round(self.points_earned, 4),
            "points_possible": round(self.points_possible, 4),
            "duration_s": round(self.duration_s, 4),
            "file": self.file,
            "message": self.message,
            "tests": [t.to_dict() for t in self.tests],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExerciseResult:
        """Read back what :meth:`to_dict` wrote."""
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            tier=str(data["tier"]),
            status=Status(data["status"]),
            points_earned=float(data["points_earned"]),
            points_possible=float(data["points_possible"]),
            duration_s=float(data.get("duration_s", 0.0)),
            tests=tuple(TestResult.from_dict(t) for t in data.get("tests", [])),
            file=str(data.get("file", "")),
            message=str(data.get("message", "")),
        )


@dataclass(frozen=True)
class Grading:
    """How one submission of a ``grade`` batch was graded (absent from ``check`` results)."""

    submission: str
    """The submission's report name (unique in the batch)."""
    path: str = ""
    """The submission folder as given."""
    status: str = "graded"
    """``graded``; ``timeout``, ``crashed`` (grading ended early), ``missing`` (no folder),
    ``empty`` (the folder holds none of the selected exercises' files; nothing ran) or
    ``unreadable`` (a submitted notebook is not valid JSON or nbformat; nothing ran)."""
    isolation: str = ""
    """How the learner's code was isolated: ``bubblewrap``, ``process …`` or ``none``."""
    wall_s: float = 0.0
    """Seconds the submission took to grade."""
    output: str = ""
    """What the learner's code printed (capped)."""
    output_truncated: bool = False
    """Whether ``output`` was cut."""
    notes: tuple[str, ...] = ()
    """Sentences about files that were not graded (links, oversized files, …)."""
    graders: str = ""
    """A fingerprint of the graders and reference solutions used (``merge`` compares them)."""
    shard: str = ""
    """``I/N`` when the batch was split with ``--shard``; empty otherwise."""

    def to_dict(self) -> dict[str, Any]:
        """The ``"grading"`` object of the JSON report."""
        return {
            "submission": self.submission,
            "path": self.path,
            "status": self.status,
            "isolation": self.isolation,
            "wall_s": self.wall_s,
            "output": self.output,
            "output_truncated": self.output_truncated,
            "notes": list(self.notes),
            "graders": self.graders,
            "shard": self.shard,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grading:
        """Read back what :meth:`to_dict` wrote."""
        return cls(
            submission=str(data["submission"]),
            path=str(data.get("path", "")),
            status=str(data.get("status", "graded")),
            isolation=str(data.get("isolation", "")),
            wall_s=float(data.get("wall_s", 0.0)),
            output=str(data.get("output", "")),
            output_truncated=bool(data.get("output_truncated", False)),
            notes=tuple(str(n) for n in data.get("notes", ())),
            graders=str(data.get("graders", "")),
            shard=str(data.get("shard", "")),
        )


@dataclass(frozen=True, repr=False)
class Results:
    """The outcome of one run of a selection against one target.

    Data only (renderers live in :mod:`pytorch_path.report`, so data flows one way);
    ``repr()`` is the one-line :meth:`summary`. The notebook API returns
    :class:`~pytorch_path.report.shown.ShownResults`, which prints as the table.
    """

    target: str
    """The folder that was graded."""
    seed: int
    """The base seed every test's inputs derive from; replay with ``--seed``."""
    torch: str
    """``torch.__version__`` of the run."""
    devices: tuple[str, ...]
    """Devices tests ran on (``cpu`` always; ``cuda``, ``mps`` where present)."""
    exercises: tuple[ExerciseResult, ...] = ()
    """Per-exercise outcomes, in curriculum order."""
    selection: str = ""
    """The selection that was run, e.g. ``"1"`` or ``"2.3"``."""
    grading: Grading | None = None
    """How the submission was graded, in ``grade`` results; None in ``check``."""

    @property
    def name(self) -> str:
        """The submission's name in ``grade`` results, else the target."""
        return self.grading.submission if self.grading else self.target

    @property
    def grading_status(self) -> str:
        """``graded`` for a ``check``, else how grading of the submission ended."""
        return self.grading.status if self.grading else "graded"

    @property
    def points_earned(self) -> float:
        """Sum of the exercises' earned points."""
        return sum(e.points_earned for e in self.exercises)

    @property
    def points_possible(self) -> float:
        """Sum of the exercises' possible points."""
        return sum(e.points_possible for e in self.exercises)

    @property
    def all_passed(self) -> bool:
        """True when there was something to run and every exercise passed."""
        return bool(self.exercises) and all(e.status is Status.PASSED for e in self.exercises)

    def summary(self) -> str:
        """A one-line summary: points, statuses and seed."""
        counts = ", ".join(f"{self.count(s)} {STATUS_LABELS[s]}" for s in Status if self.count(s))
        return (
            f"<Results {self.selection or 'all'}: {self.points_earned:g}/"
            f"{self.points_possible:g} points; {counts or 'nothing run'}; seed {self.seed}>"
        )

    def __repr__(self) -> str:
        """The one-line summary (the table: :func:`pytorch_path.report.shown`)."""
        return self.summary()

    def count(self, status: Status) -> int:
        """How many exercises ended with ``status``."""
        return sum(1 for e in self.exercises if e.status is status)

    def to_dict(self) -> dict[str, Any]:
        """The schema-1 JSON report."""
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "target": self.target,
            "selection": self.selection,
            "seed": self.seed,
            "torch": self.torch,
            "devices": list(self.devices),
            "points_earned": round(self.points_earned, 4),
            "points_possible": round(self.points_possible, 4),
            "exercises": [e.to_dict() for e in self.exercises],
        }
        if self.grading is not None:
            data["grading"] = self.grading.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Results:
        """Read back a schema-1 report; :class:`ValueError` for another schema."""
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"report schema {data.get('schema')!r} is not {SCHEMA_VERSION}")
        grading = data.get("grading")
        return cls(
            target=str(data["target"]),
            seed=int(data["seed"]),
            torch=str(data["torch"]),
            devices=tuple(data.get("devices", ())),
            exercises=tuple(ExerciseResult.from_dict(e) for e in data["exercises"]),
            selection=str(data.get("selection", "")),
            grading=Grading.from_dict(grading) if isinstance(grading, Mapping) else None,
        )


def exercise_status(tests: Iterable[TestResult]) -> Status:
    """Fold test outcomes into an exercise status.

    ``tampered``, ``error``, ``timeout`` win in that order; then an exercise whose
    every counted test stopped at the stub's ``NotImplementedError`` is
    ``not_started``; one with any other non-passing test is ``failed`` (partial
    work keeps partial points); one whose every test was skipped is ``skipped``;
    otherwise ``passed``.
    """
    tests = list(tests)
    statuses = {t.status for t in tests}
    for status in _PRECEDENCE:
        if status in statuses:
            return status
    counted = [t for t in tests if not t.device_skip]
    if not counted:
        return Status.SKIPPED if tests else Status.ERROR
    counted_statuses = {t.status for t in counted}
    if counted_statuses == {Status.NOT_STARTED}:
        return Status.NOT_STARTED
    if counted_statuses - {Status.PASSED}:
        return Status.FAILED
    return Status.PASSED
