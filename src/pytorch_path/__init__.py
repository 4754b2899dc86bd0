"""pytorch-path: a progressive PyTorch curriculum with an auto-grader.

In a notebook or a Python session::

    from pytorch_path import check, hint, plot
    check("2.3")       # runs the graders here and returns Results (a table in Jupyter)
    hint("2.3")        # the next hint you have not seen yet
    plot.show("2.3")   # your loss curve next to the reference's (inline in Jupyter)

``import pytorch_path`` is cheap: torch is imported by the first ``check``, and
later calls reuse it. ``plot`` is the module :mod:`pytorch_path.plot`, imported on
first use (a function of that name would be shadowed by the module once imported).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytorch_path._version import __version__

__all__ = ["Hints", "__version__", "check", "hint", "plot"]

if TYPE_CHECKING:
    from pytorch_path.learn import Hint
    from pytorch_path.results import Results


def __getattr__(name: str) -> Any:
    """``pytorch_path.plot``: the loss-curve module, imported on first use."""
    if name == "plot":
        import importlib

        return importlib.import_module("pytorch_path.plot")
    raise AttributeError(f"module 'pytorch_path' has no attribute {name!r}")


def check(
    selection: str = "all",
    *,
    target: str | Path | None = None,
    seed: int | None = None,
    device: str | None = None,
) -> Results:
    """Grade ``selection`` (``"2"``, ``"2.3"``, ``"1-3"``, ``"all"``) in this process.

    The same graders as ``pytorch-path check``; progress is recorded in the target.
    The returned :class:`~pytorch_path.results.Results` renders as a table.
    """
    from pytorch_path.curriculum import Project
    from pytorch_path.learn import check_and_record

    project = Project.locate()
    folder = Path(target) if target is not None else None
    results, warning = check_and_record(
        selection, project=project, target=folder, seed=seed, device=device
    )
    if warning:
        import warnings

        warnings.warn(warning, stacklevel=2)
    from pytorch_path.report.shown import shown

    return shown(results)


class Hints:
    """Hints returned by :func:`hint`: plain text in a terminal, Markdown in Jupyter."""

    def __init__(self, hints: list[Hint]) -> None:
        """Wrap the hints to show."""
        self.hints = hints

    def __str__(self) -> str:
        """One line per hint: ``1.3 hint 2/4: …``."""
        return "\n".join(f"{h.exercise.id} hint {h.number}/{h.total}: {h.text}" for h in self.hints)

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return "\n\n".join(
            f"**{h.exercise.id} · hint {h.number}/{h.total}** — {h.text}" for h in self.hints
        )


def hint(ex_id: str, *, all: bool = False, target: str | Path | None = None) -> Hints:
    """The next hint of an exercise you have not seen yet (``all=True``: every hint)."""
    from pytorch_path.curriculum import Project
    from pytorch_path.learn import next_hints
    from pytorch_path.targets import resolve_target

    project = Project.locate()
    folder = resolve_target(Path(target) if target is not None else None, project)
    return Hints(next_hints(project.exercise(ex_id), folder, show_all=all))
