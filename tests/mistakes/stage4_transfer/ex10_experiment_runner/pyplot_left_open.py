"""Known mistake: the plot is drawn with pyplot and the figure is never closed.

Expect: pyplot holds
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _plot(curves: list[tuple[str, list[float]]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for label, losses in curves:
        ax.plot(range(1, len(losses) + 1), losses, marker="o", label=label)
    ax.legend()
    fig.savefig(path)
