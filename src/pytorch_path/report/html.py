"""An HTML table of one :class:`~pytorch_path.results.Results`, for Jupyter.

Its header, next-up and summary lines are the terminal report's own
(:mod:`pytorch_path.report.terminal`), word for word.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from pytorch_path.curriculum import TIERS
from pytorch_path.report.terminal import (
    STATUS_STYLE,
    header_line,
    next_up_lines,
    points_text,
    summary_line,
)
from pytorch_path.statuses import STATUS_LABELS, Status

if TYPE_CHECKING:
    from pytorch_path.results import Results

_COLOURS = {"green": "#1a7f37", "red": "#cf222e", "dim": "#6e7781", "yellow": "#9a6700"}


def render_html(results: Results, *, notes: tuple[str, ...] = ()) -> str:
    """A compact table: one row per exercise, the first problem's headline and message.

    Above it, ``notes`` and the terminal's header line; below it, the terminal's next-up
    and summary lines.
    """
    rows = []
    for ex in results.exercises:
        icon, style = STATUS_STYLE[ex.status]
        colour = next((c for name, c in _COLOURS.items() if name in style), "#cf222e")
        problem = ex.first_problem
        detail = ""
        if ex.status not in (Status.PASSED, Status.NOT_STARTED) and problem is not None:
            detail = f"<b>{escape(problem.headline)}</b><br>{escape(problem.message)}"
        elif ex.message and ex.status is not Status.NOT_STARTED:
            detail = escape(ex.message)
        rows.append(
            f"<tr><td>{TIERS.get(ex.tier, '')}</td><td>{escape(ex.id)}</td>"
            f"<td>{escape(ex.title)}</td>"
            f"<td style='color:{colour}'>{icon} {STATUS_LABELS[ex.status]}</td>"
            f"<td style='text-align:right'>{points_text(ex.points_earned, ex.points_possible)}</td>"
            f"<td style='text-align:left'>{detail}</td></tr>"
        )
    head = "<tr><th></th><th>id</th><th>exercise</th><th>status</th><th>points</th><th></th></tr>"
    top = "".join(f"<p style='color:#9a6700'>note: {escape(note)}</p>" for note in notes)
    top += f"<p><b>{escape(header_line(results).plain)}</b></p>"
    after = "".join(f"<p>{escape(line.plain)}</p>" for line in next_up_lines(results))
    summary = "<br>".join(escape(part) for part in summary_line(results).plain.split("\n"))
    return f"{top}<table>{head}{''.join(rows)}</table>{after}<p><b>{summary}</b></p>"
