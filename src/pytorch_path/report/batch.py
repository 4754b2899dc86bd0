"""What ``grade`` shows while it runs and when it ends.

:class:`BatchProgress` shows submissions done, running and left with an ETA: a rich
bar in a terminal, one JSON object per line where the output is not a terminal (CI
logs) or when asked. :func:`grade_header`, :func:`grade_table` and
:func:`render_grade_summary` are the lines before and after.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pytorch_path.report.terminal import STATUS_STYLE
from pytorch_path.results import Results
from pytorch_path.statuses import NOTHING_RAN


def grade_header(
    count: int, *, selection: str, seed: int, isolation: str, shard_label: str = ""
) -> str:
    """The first line of a ``grade`` run (rich markup): how many, what, which seed, how isolated."""
    shard = f" · shard {shard_label}" if shard_label else ""
    return (
        f"[bold]pytorch-path grade[/] {count} submission(s){shard} · stages "
        f"{escape(selection)} · seed {seed} · isolation {escape(isolation)}"
    )


def grade_table(results: Sequence[Results]) -> Table:
    """One row per submission: name, points, grading status, an icon per exercise."""
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("submission")
    table.add_column("points", justify="right")
    table.add_column("status")
    table.add_column("exercises")
    for result in results:
        icons = Text()
        for ex in result.exercises:
            icon, style = STATUS_STYLE[ex.status]
            icons.append(icon, style=style)
        table.add_row(
            result.name,
            f"{result.points_earned:g}/{result.points_possible:g}",
            result.grading_status,
            icons,
        )
    return table


def render_grade_summary(
    results: Sequence[Results], console: Console, *, out: str, formats: Sequence[str]
) -> None:
    """Print the table, a line per submission not graded to the end, and where reports are."""
    console.print(grade_table(results))
    for result in results:
        if result.grading_status == "graded":
            continue
        reason = next((ex.message for ex in result.exercises if ex.message), "")
        ended = "not graded" if result.grading_status in NOTHING_RAN else ("not graded to the end")
        console.print(
            f"[yellow]{ended}: {escape(result.name)} ({result.grading_status})[/]"
            + (f": {escape(reason)}" if reason else "")
        )
    console.print(f"[dim]reports ({', '.join(formats)}) written to {escape(out)}[/]")


class BatchProgress:
    """Submissions done, running and left with an ETA: a bar in a terminal, JSON lines in CI.

    Each JSON line has ``event`` (``start`` or ``done``), ``submission``, ``done``,
    ``running``, ``left``, ``total`` and ``eta_s`` (None until one has finished);
    ``done`` events add ``points`` and ``status``.
    """

    def __init__(
        self,
        total: int,
        *,
        json_lines: bool,
        console: Console | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        """Track ``total`` submissions; JSON lines go to ``stream`` (default: stdout)."""
        self.total, self.done, self.running = total, 0, 0
        self.json_lines = json_lines
        self.console = console or Console(highlight=False)
        self.stream = stream
        self._started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> BatchProgress:
        """Start showing progress."""
        if not self.json_lines:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[running]} running"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("grading", total=self.total, running=0)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop showing progress."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def eta_s(self) -> float | None:
        """Seconds left at the mean pace so far; None before the first submission is done."""
        if not self.done:
            return None
        per = (time.monotonic() - self._started) / self.done
        return round(per * (self.total - self.done), 1)

    def _emit(self, event: str, name: str, **extra: Any) -> None:
        if self.json_lines:
            line = {
                "event": event,
                "submission": name,
                "done": self.done,
                "running": self.running,
                "left": self.total - self.done - self.running,
                "total": self.total,
                "eta_s": self.eta_s(),
                **extra,
            }
            print(json.dumps(line, ensure_ascii=True), file=self.stream, flush=True)
        elif self._bar is not None:
            self._bar.update(self._task, completed=self.done, running=self.running)

    def started(self, name: str) -> None:
        """A submission's grading began."""
        self.running += 1
        self._emit("start", name)

    def finished(self, result: Results) -> None:
        """A submission's grading ended."""
        self.running -= 1
        self.done += 1
        self._emit(
            "done", result.name, points=round(result.points_earned, 4), status=result.grading_status
        )
