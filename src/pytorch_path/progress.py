"""A learner's progress, stored in the target: ``.pytorch_path/progress.json``.

Per exercise: the last status, when it first passed, how many times it was
checked, how many hints were shown, and whether the reference solution was
seen. ``check`` and ``watch`` update it; ``hint`` and ``solution`` read and
update it. A corrupt or hand-edited file is reported, kept aside as
``progress.json.corrupt`` (then ``.corrupt.2``, ``.corrupt.3``: an earlier copy is never
overwritten), and rebuilt: it never stops a command.

This module must not import torch.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytorch_path.results import Results, Status

if TYPE_CHECKING:
    from pytorch_path.curriculum import Stage

FORMAT_VERSION = 1
FOLDER = ".pytorch_path"
FILENAME = "progress.json"


def _free_name(path: Path) -> Path:
    """``path`` if nothing is there, else ``path.2``, ``path.3``, …: an earlier copy is kept."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class ExerciseProgress:
    """What is known of one exercise in one target."""

    status: str = "not_started"
    """The status of the last check."""
    attempts: int = 0
    """How many times it was checked."""
    first_passed_at: str | None = None
    """When it first passed (ISO 8601, UTC), or None."""
    last_checked_at: str | None = None
    """When it was last checked."""
    hints_seen: int = 0
    """How many of its hints were shown (``hint`` shows the next one)."""
    solution_seen: bool = False
    """Whether the reference solution was shown."""

    @property
    def passed(self) -> bool:
        """Whether it has passed at least once."""
        return self.first_passed_at is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "status": self.status,
            "attempts": self.attempts,
            "first_passed_at": self.first_passed_at,
            "last_checked_at": self.last_checked_at,
            "hints_seen": self.hints_seen,
            "solution_seen": self.solution_seen,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ExerciseProgress:
        """Read one entry; raises ValueError for anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("an exercise entry is not an object")
        status = data.get("status", "not_started")
        Status(status)  # raises ValueError for an unknown status
        attempts = data.get("attempts", 0)
        hints = data.get("hints_seen", 0)
        if not isinstance(attempts, int) or attempts < 0 or not isinstance(hints, int) or hints < 0:
            raise ValueError("attempts and hints_seen must be non-negative integers")
        for key in ("first_passed_at", "last_checked_at"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"{key} must be a timestamp")
        return cls(
            status=status,
            attempts=attempts,
            first_passed_at=data.get("first_passed_at"),
            last_checked_at=data.get("last_checked_at"),
            hints_seen=hints,
            solution_seen=bool(data.get("solution_seen", False)),
        )


@dataclass
class Progress:
    """All exercises' progress in one target, and where it is stored."""

    path: Path
    """The progress file."""
    exercises: dict[str, ExerciseProgress] = field(default_factory=dict)
    """Per exercise id."""
    warning: str = ""
    """Set when the stored file was unreadable and has been rebuilt."""

    @classmethod
    def load(cls, target: Path) -> Progress:
        """Read the target's progress; a missing file is empty, a corrupt one is rebuilt."""
        path = Path(target) / FOLDER / FILENAME
        progress = cls(path=path)
        if not path.exists():
            return progress
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
                raise ValueError(f"expected an object with format {FORMAT_VERSION}")
            entries = data.get("exercises", {})
            if not isinstance(entries, dict):
                raise ValueError("'exercises' is not an object")
            progress.exercises = {str(k): ExerciseProgress.from_dict(v) for k, v in entries.items()}
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            aside = _free_name(path.with_name(FILENAME + ".corrupt"))
            try:
                path.replace(aside)
                kept = f"; the old file is kept as {aside}"
            except OSError:
                kept = ""
            progress.warning = f"{path} could not be read ({exc}); starting it afresh{kept}"
            progress.exercises = {}
        return progress

    def of(self, ex_id: str) -> ExerciseProgress:
        """The entry of one exercise (created empty when missing)."""
        return self.exercises.setdefault(ex_id, ExerciseProgress())

    def record(self, results: Results) -> None:
        """Update from a check's results: status, attempts, first pass."""
        now = _now()
        for ex in results.exercises:
            entry = self.of(ex.id)
            entry.status = ex.status.value
            entry.last_checked_at = now
            if ex.status is not Status.NOT_STARTED:
                entry.attempts += 1
            if ex.status is Status.PASSED and entry.first_passed_at is None:
                entry.first_passed_at = now

    def save(self) -> None:
        """Write the file atomically (a crash never leaves half a file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT_VERSION,
            "exercises": {k: v.to_dict() for k, v in sorted(self.exercises.items())},
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".progress-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        Path(tmp).replace(self.path)


@dataclass(frozen=True)
class StageSummary:
    """One stage's progress in numbers: what ``progress`` shows per row."""

    number: int
    """The stage number."""
    title: str
    """The stage title."""
    passed: int
    """Exercises whose last check passed."""
    total: int
    """Exercises in the stage."""
    points: float
    """Points of the exercises that passed."""
    points_possible: float
    """Points of every exercise of the stage."""
    hints_seen: int
    """Hints shown, over the stage's exercises."""
    solutions_seen: int
    """Reference solutions shown, over the stage's exercises."""

    @property
    def percent(self) -> float:
        """Share of the stage's points earned, 0 to 100 (0 for a stage worth nothing)."""
        return 100.0 * self.points / self.points_possible if self.points_possible else 0.0


def summarize(stages: Sequence[Stage], progress: Progress) -> list[StageSummary]:
    """Per stage: exercises passed, points, hints and solutions seen, from the progress file."""
    rows = []
    for stage in stages:
        entries = [(ex, progress.of(ex.id)) for ex in stage.exercises]
        passed = [ex for ex, entry in entries if entry.status == Status.PASSED.value]
        rows.append(
            StageSummary(
                number=stage.number,
                title=stage.title,
                passed=len(passed),
                total=len(entries),
                points=sum(ex.points for ex in passed),
                points_possible=sum(ex.points for ex, _ in entries),
                hints_seen=sum(entry.hints_seen for _, entry in entries),
                solutions_seen=sum(entry.solution_seen for _, entry in entries),
            )
        )
    return rows
