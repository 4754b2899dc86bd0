"""The rich terminal report of ``pytorch-path check``.

A table (tier, id, title, status, points, time), then for each exercise that
did not pass: the headline of its first failing test, the check's message, the
file to open and the hint command. Tracebacks only with ``verbose``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from pytorch_path.curriculum import TIERS
from pytorch_path.statuses import STATUS_LABELS, Status

if TYPE_CHECKING:
    from pytorch_path.results import ExerciseResult, Results, TestResult

_TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)(?=\n)")


class TrimmedStream:
    """A text stream that drops the spaces rich pads each line with, before each newline.

    The stream written to is looked up on every write (``sys.stdout`` by default), so
    output captured by a test or redirected later still arrives. Spaces at the end of
    one write are held back until the next write shows whether a newline follows.
    """

    def __init__(self, target: Callable[[], IO[str]] = lambda: sys.stdout) -> None:
        """Write to whatever ``target()`` returns at the time of each write."""
        self._target = target
        self._held = ""

    def write(self, text: str) -> int:
        """Write ``text`` without the blanks that end its lines."""
        text = self._held + text
        body = text.rstrip(" \t")
        self._held = text[len(body) :]
        self._target().write(_TRAILING.sub(r"\1", body))
        return len(text)

    def flush(self) -> None:
        """Write what is held back and flush the stream."""
        if self._held:
            self._target().write(self._held)
            self._held = ""
        self._target().flush()

    def isatty(self) -> bool:
        """Whether the stream is a terminal (rich decides colours and live displays by it)."""
        return bool(getattr(self._target(), "isatty", lambda: False)())

    def fileno(self) -> int:
        """The stream's file descriptor (rich asks it for the terminal size)."""
        return int(self._target().fileno())

    @property
    def encoding(self) -> str:
        """The stream's encoding."""
        return str(getattr(self._target(), "encoding", None) or "utf-8")


def make_console(*, stderr: bool = False) -> Console:
    """The CLI's console: no highlighting, and no line padded with trailing spaces."""
    stream = TrimmedStream((lambda: sys.stderr) if stderr else (lambda: sys.stdout))
    return Console(file=stream, highlight=False)  # type: ignore[arg-type]


#: Icon and colour of each status.
STATUS_STYLE: dict[Status, tuple[str, str]] = {
    Status.PASSED: ("✔", "green"),
    Status.FAILED: ("✘", "red"),
    Status.NOT_STARTED: ("○", "dim"),
    Status.ERROR: ("!", "bold red"),
    Status.TIMEOUT: ("⏱", "yellow"),
    Status.SKIPPED: ("–", "dim"),
    Status.TAMPERED: ("⚠", "bold magenta"),
}


def status_text(status: Status) -> Text:
    """The status with its icon, coloured."""
    icon, style = STATUS_STYLE[status]
    return Text(f"{icon} {STATUS_LABELS[status]}", style=style)


def points_text(earned: float, possible: float) -> str:
    """``12.5/85``: earned points to one decimal at most, as every report shows them."""
    return (
        f"{earned:g}/{possible:g}" if earned == round(earned, 1) else f"{earned:.1f}/{possible:g}"
    )


def results_table(results: Results) -> Table:
    """One row per exercise."""
    table = Table(show_edge=False, header_style="bold", pad_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("exercise")
    table.add_column("status", no_wrap=True)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    for ex in results.exercises:
        table.add_row(
            TIERS.get(ex.tier, ""),
            ex.id,
            ex.title,
            status_text(ex.status),
            points_text(ex.points_earned, ex.points_possible),
            f"{ex.duration_s:.2f}s",
        )
    return table


def _detail(ex: ExerciseResult, verbose: bool) -> RenderableType:
    icon, style = STATUS_STYLE[ex.status]
    parts: list[RenderableType] = [
        Text.assemble(
            (f"{icon} {ex.id} {ex.title}", f"bold {style}"),
            (f"  ({STATUS_LABELS[ex.status]})", style),
        )
    ]
    problems = [t for t in ex.tests if t.status not in (Status.PASSED, Status.SKIPPED)]
    # A file that cannot be loaded fails every test the same way: that is one problem of
    # the exercise (file, line, caret), not of its first test, and nothing more is listed.
    same = {t.message for t in problems} == {ex.message}
    whole = same and (
        ex.status is Status.ERROR
        or (ex.status is Status.TIMEOUT and "while importing your file" in ex.message)
    )
    shown = [] if whole else problems if verbose else problems[:1]
    if (whole or not problems) and ex.message:
        parts.append(Padding(Text(ex.message), (0, 0, 0, 2)))
    for test in shown:
        parts.append(Padding(Text(test.headline, style="bold"), (0, 0, 0, 2)))
        parts.append(Padding(Text("→ " + test.message), (0, 0, 0, 4)))
        parts.extend(printed(test, verbose=verbose))
        if verbose and test.traceback:
            parts.append(Padding(Text(test.traceback, style="dim"), (0, 0, 0, 6)))
    if len(problems) > len(shown) and not whole:
        more = len(problems) - len(shown)
        parts.append(
            Padding(
                Text(
                    f"(+{more} more failing test{'s' * (more > 1)}: add -v to see them)",
                    style="dim",
                ),
                (0, 0, 0, 2),
            )
        )
    hint = Text.assemble(
        ("  file ", "dim"),
        (ex.file, "cyan"),
        ("   stuck? ", "dim"),
        (f"pytorch-path hint {ex.id}", "cyan"),
    )
    parts.append(hint)
    return Group(*parts)


#: Lines of a test's printed output shown without ``-v``.
PRINTED_LINES = 20


def printed(test: TestResult, *, verbose: bool) -> list[RenderableType]:
    """What the learner's code printed during ``test``, under a label, capped unless verbose."""
    if not test.output.strip():
        return []
    lines = test.output.rstrip("\n").splitlines()
    kept = lines if verbose else lines[:PRINTED_LINES]
    parts: list[RenderableType] = [
        Padding(Text("your code printed:", style="dim"), (0, 0, 0, 4)),
        Padding(Text("\n".join(kept)), (0, 0, 0, 6)),
    ]
    if len(kept) < len(lines):
        more = len(lines) - len(kept)
        note = Text(f"(… {more} more line{'s' * (more > 1)}; -v shows all)", style="dim")
        parts.append(Padding(note, (0, 0, 0, 6)))
    return parts


def _printed_by_passing_tests(ex: ExerciseResult) -> RenderableType | None:
    tests = [t for t in ex.tests if t.status is Status.PASSED and t.output.strip()]
    if not tests:
        return None
    parts: list[RenderableType] = []
    for test in tests:
        parts.append(Padding(Text(f"✔ {ex.id} {test.name}", style="green"), (0, 0, 0, 2)))
        parts.extend(printed(test, verbose=True))
    return Group(*parts)


def render_terminal(
    results: Results,
    console: Console,
    *,
    verbose: bool = False,
    command: str = "check",
    watching: bool = False,
) -> None:
    """Print the whole report of a ``check`` run (``watching``: worded for ``watch``)."""
    console.print(header_line(results, command))
    console.print(results_table(results))
    troubled = [
        ex for ex in results.exercises if ex.status not in (Status.PASSED, Status.NOT_STARTED)
    ]
    for ex in troubled:
        console.print()
        console.print(_detail(ex, verbose))
    if verbose:  # -v: what the code printed in passing tests, too
        for ex in results.exercises:
            shown_output = _printed_by_passing_tests(ex)
            if shown_output is not None:
                console.print()
                console.print(shown_output)
    waiting = next_up_lines(results, watching=watching)
    if waiting:
        console.print()
        for line in waiting:
            console.print(line)
    console.print()
    console.print(summary_line(results))


def header_line(results: Results, command: str = "check") -> Text:
    """``pytorch-path check 1 · target workspace · seed 4821 · devices cpu``."""
    devices = ", ".join(results.devices)
    return Text.from_markup(
        f"[bold]pytorch-path {command}[/] {escape(results.selection)} · target "
        f"[cyan]{escape(results.target)}[/] · seed {results.seed} · devices {devices}"
    )


def next_up_lines(results: Results, *, watching: bool = False) -> list[Text]:
    """The first exercise not started, and how many are (empty when all have started)."""
    waiting = [ex for ex in results.exercises if ex.status is Status.NOT_STARTED]
    if not waiting:
        return []
    nxt = waiting[0]
    lines = [
        Text.assemble(
            ("○ next up: ", "bold"),
            (f"{nxt.id} {nxt.title}", "bold"),
            (" — open ", ""),
            (nxt.file, "cyan"),
            (", replace each ", ""),
            ("raise NotImplementedError", "italic"),
            (
                ", then save the file: it is checked again."
                if watching
                else ", then run this again.",
                "",
            ),
        )
    ]
    if len(waiting) > 1:
        lines.append(Text(f"  {len(waiting)} exercises not started yet.", style="dim"))
    return lines


def summary_line(results: Results) -> Text:
    """``Points 12.5/85 · 1 passed · 1 failed · 7 not started · replay with --seed 4821``."""
    counts = [
        Text(f"{results.count(s)} {STATUS_LABELS[s]}", style=STATUS_STYLE[s][1])
        for s in Status
        if results.count(s)
    ]
    line = Text.assemble(
        ("Points ", "bold"), (points_text(results.points_earned, results.points_possible), "bold")
    )
    for part in counts:
        line.append(" · ")
        line.append_text(part)
    line.append(f" · replay with --seed {results.seed}", style="dim")
    if results.all_passed:
        line.append("\nAll selected exercises passed. 🎉", style="bold green")
    return line
