"""Writing reports to disk: atomically, one folder per submission, batch files beside them.

Layout under ``--out``::

    alice/report.json     the schema-1 JSON report            (format ``json``)
    alice/results.json    Gradescope's autograder results     (format ``gradescope``)
    alice/junit.xml       JUnit XML                           (format ``junit``)
    gradebook.csv         one row per submission              (format ``csv``)
    summary.md            scores and pass rates               (format ``md``)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pytorch_path.report.gradebook import render_gradebook, render_summary
from pytorch_path.report.gradescope import render_gradescope
from pytorch_path.report.json_report import render_json
from pytorch_path.report.junit import render_junit
from pytorch_path.results import Results

#: Every format ``grade`` can write, in the order of the table above.
FORMATS = ("json", "junit", "gradescope", "csv", "md")
#: The file each per-submission format writes inside the submission's folder.
SUBMISSION_FILES = {"json": "report.json", "gradescope": "results.json", "junit": "junit.xml"}
#: The file each batch-wide format writes directly under ``--out``.
BATCH_FILES = {"csv": "gradebook.csv", "md": "summary.md"}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def parse_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """The report formats named in ``formats`` (``"json,csv"`` or a list), in order, once each.

    Raises ``ValueError`` with the sentence the CLI prints for an unknown or empty list.
    """
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    chosen = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in chosen if name not in FORMATS]
    if unknown or not chosen:
        shown = formats if isinstance(formats, str) else ",".join(formats)
        raise ValueError(f"--format {shown}: use some of {', '.join(FORMATS)}, comma-separated")
    return chosen


def write_submission_reports(
    results: Results, out: Path, formats: str | Sequence[str]
) -> list[Path]:
    """Write one submission's reports into ``out/<its name>/``; return the files written."""
    folder = out / results.name
    written = []
    renderers = {
        "json": lambda: render_json(results),
        "gradescope": lambda: render_gradescope(results),
        "junit": lambda: render_junit(results, name=results.name),
    }
    for fmt in parse_formats(formats):
        if fmt in SUBMISSION_FILES:
            path = folder / SUBMISSION_FILES[fmt]
            write_atomic(path, renderers[fmt]())
            written.append(path)
    return written


def write_batch_reports(
    all_results: Sequence[Results], out: Path, formats: str | Sequence[str]
) -> list[Path]:
    """Write the batch-wide reports (gradebook, summary) under ``out``; return the files."""
    chosen = parse_formats(formats)
    written = []
    if "csv" in chosen:
        write_atomic(out / BATCH_FILES["csv"], render_gradebook(all_results))
        written.append(out / BATCH_FILES["csv"])
    if "md" in chosen:
        write_atomic(out / BATCH_FILES["md"], render_summary(all_results))
        written.append(out / BATCH_FILES["md"])
    return written


def write_reports(
    all_results: Sequence[Results], out: Path, formats: str | Sequence[str]
) -> list[Path]:
    """Write every report of a batch under ``out``: each submission's folder, then the batch's."""
    chosen = parse_formats(formats)
    written = []
    for results in all_results:
        written += write_submission_reports(results, out, chosen)
    return written + write_batch_reports(all_results, out, chosen)


class BatchReports:
    """A batch's reports, kept current as submissions finish (an interrupted batch keeps them).

    ``add`` is safe to call from several threads; ``finish`` rewrites the batch files for
    the final list, in its order, also when the list is empty.
    """

    def __init__(self, out: Path, formats: str | Sequence[str]) -> None:
        """Write into ``out`` (created) in ``formats``; refuses unknown formats at once."""
        import threading

        self.out = out
        self.formats = parse_formats(formats)
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._finished: list[Results] = []

    def add(self, results: Results) -> None:
        """A submission finished: write its reports and refresh the batch files."""
        with self._lock:
            write_submission_reports(results, self.out, self.formats)
            self._finished.append(results)
            write_batch_reports(self._finished, self.out, self.formats)

    def finish(self, all_results: Sequence[Results]) -> list[Path]:
        """Write the batch files for ``all_results``; return them."""
        with self._lock:
            return write_batch_reports(all_results, self.out, self.formats)
