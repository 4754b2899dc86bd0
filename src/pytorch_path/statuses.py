"""The statuses of a test or an exercise, and how they read (no other pytorch_path import)."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Outcome of one test or one exercise."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not_started"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    TAMPERED = "tampered"

    def __str__(self) -> str:
        """The plain value, as the JSON report writes it."""
        return self.value


#: Exercise status precedence when tests disagree: the first present wins.
_PRECEDENCE = (Status.TAMPERED, Status.ERROR, Status.TIMEOUT, Status.FAILED)

#: How each status reads to a person.
STATUS_LABELS: dict[Status, str] = {
    Status.PASSED: "passed",
    Status.FAILED: "failed",
    Status.NOT_STARTED: "not started",
    Status.ERROR: "error",
    Status.TIMEOUT: "timed out",
    Status.SKIPPED: "skipped",
    Status.TAMPERED: "tampered",
}

#: How grading one submission of a ``grade`` batch ended (``Grading.status``): what each means.
GRADING_STATUSES: dict[str, str] = {
    "graded": "graded to the end",
    "empty": "the submission holds none of the selected exercises' files, so nothing ran",
    "missing": "the submission folder does not exist",
    "timeout": "grading was stopped at the submission's time limit",
    "crashed": "grading ended early because pytorch-path failed (not the submission)",
    "unreadable": "the submitted notebook could not be read (not valid JSON or nbformat), "
    "so nothing ran",
}

#: Grading statuses in which no learner code ran.
NOTHING_RAN: tuple[str, ...] = ("empty", "missing", "unreadable")
