"""Known mistake: the plot is saved with bbox_inches="tight", which crops it away from 800 x 500 pixels.

Expect: expected 800 x 500
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _plot(curves: list[tuple[str, list[float]]], path: Path) -> None:
    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, losses in curves:
        ax.plot(range(1, len(losses) + 1), losses, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.savefig(path, bbox_inches="tight")
