"""Results that show themselves: the table at a Python prompt, HTML in Jupyter."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from pytorch_path.report.html import render_html
from pytorch_path.report.terminal import render_terminal
from pytorch_path.results import Results


@dataclasses.dataclass(frozen=True, repr=False)
class ShownResults(Results):
    """:class:`~pytorch_path.results.Results` that print as the report's table.

    ``print(results)`` (and the prompt's ``repr``) gives the terminal table as plain text;
    Jupyter renders the HTML table. Returned by :func:`pytorch_path.check`.
    """

    notes: tuple[str, ...] = ()
    """Sentences shown above the report (a notebook's names that no cell defines)."""

    def __str__(self) -> str:
        """The terminal report, as plain text."""
        # force_jupyter=False: in a kernel, rich would otherwise display what it renders here.
        console = Console(
            record=True, width=100, file=io.StringIO(), color_system=None, force_jupyter=False
        )
        for note in self.notes:
            console.print(f"note: {note}", markup=False)
        render_terminal(self, console)
        return console.export_text()

    def __repr__(self) -> str:
        """The terminal report, so a Python prompt shows the table (data: :meth:`to_dict`)."""
        return str(self)

    def _repr_html_(self) -> str:
        return render_html(self, notes=self.notes)


def shown(results: Results, *, notes: tuple[str, ...] = ()) -> ShownResults:
    """``results`` as :class:`ShownResults` (the same data), with ``notes`` shown above it."""
    fields = {f.name: getattr(results, f.name) for f in dataclasses.fields(Results)}
    return ShownResults(**fields, notes=notes)
