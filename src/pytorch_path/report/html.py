"""An HTML table of one :class:`~pytorch_path.results.Results`, for Jupyter."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from pytorch_path.curriculum import TIERS
from pytorch_path.report.terminal import STATUS_STYLE
from pytorch_path.statuses import STATUS_LABELS, Status

if TYPE_CHECKING:
    from pytorch_path.results import Results

_COLOURS = {"green": "#1a7f37", "red": "#cf222e", "dim": "#6e7781", "yellow": "#9a6700"}


def render_html(results: Results) -> str:
    """A compact table: one row per exercise, the first problem's headline and message."""
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
            f"<td style='text-align:right'>{ex.points_earned:g}/{ex.points_possible:g}</td>"
            f"<td style='text-align:left'>{detail}</td></tr>"
        )
    head = "<tr><th></th><th>id</th><th>exercise</th><th>status</th><th>points</th><th></th></tr>"
    summary = (
        f"<p><b>{results.points_earned:g}/{results.points_possible:g} points</b> · "
        f"seed {results.seed} · devices {escape(', '.join(results.devices))}</p>"
    )
    return f"<table>{head}{''.join(rows)}</table>{summary}"
