"""The ``progress`` view: a row per stage with a bar, counts, points and percentages."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from pytorch_path.curriculum import Exercise
from pytorch_path.progress import StageSummary


def progress_table(summaries: Sequence[StageSummary]) -> Table:
    """One row per stage: bar, exercises passed, points with their share, hints, solutions."""
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column in ("stage", "", "passed", "points", "", "hints", "solutions seen"):
        table.add_column(column, justify="right" if column in ("points", "") else "left")
    for row in summaries:
        table.add_row(
            f"{row.number} {row.title}",
            ProgressBar(total=max(row.total, 1), completed=row.passed, width=20),
            f"{row.passed}/{row.total}",
            f"{row.points:g}/{row.points_possible:g}",
            f"{row.percent:.0f}%",
            str(row.hints_seen),
            str(row.solutions_seen),
        )
    return table


def render_progress(
    console: Console,
    summaries: Sequence[StageSummary],
    *,
    target: str,
    next_exercise: Exercise | None,
    next_file: str = "",
) -> None:
    """Print where the progress is kept, the table, the course total and what comes next."""
    console.print(f"[bold]progress[/] in [cyan]{escape(target)}[/]")
    console.print(progress_table(summaries))
    earned = sum(row.points for row in summaries)
    possible = sum(row.points_possible for row in summaries)
    share = 100.0 * earned / possible if possible else 0.0
    console.print(f"[bold]course[/] {earned:g}/{possible:g} points ({share:.0f}%)")
    if next_exercise is None:
        console.print("[bold green]Every exercise has passed. 🎉[/]")
        return
    console.print(
        f"next: [bold]{next_exercise.emoji} {next_exercise.id} {escape(next_exercise.title)}[/] — "
        f"[cyan]{escape(next_file)}[/] (`pytorch-path check {next_exercise.id}`)"
    )
