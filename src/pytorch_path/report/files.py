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


def write_reports(results: Results, folder: Path, formats: Sequence[str]) -> list[Path]:
    """Write one submission's reports into ``folder``; return the files written."""
    written = []
    renderers = {
        "json": lambda: render_json(results),
        "gradescope": lambda: render_gradescope(results),
        "junit": lambda: render_junit(results, name=results.name),
    }
    for fmt in formats:
        if fmt in SUBMISSION_FILES:
            path = folder / SUBMISSION_FILES[fmt]
            write_atomic(path, renderers[fmt]())
            written.append(path)
    return written


def write_batch_reports(
    all_results: Sequence[Results], out: Path, formats: Sequence[str]
) -> list[Path]:
    """Write the batch-wide reports (gradebook, summary) under ``out``."""
    written = []
    if "csv" in formats:
        write_atomic(out / BATCH_FILES["csv"], render_gradebook(all_results))
        written.append(out / BATCH_FILES["csv"])
    if "md" in formats:
        write_atomic(out / BATCH_FILES["md"], render_summary(all_results))
        written.append(out / BATCH_FILES["md"])
    return written
