"""Renderers of :class:`~pytorch_path.results.Results`.

Each renderer reads ``Results`` and nothing else: the rich terminal table
(:mod:`.terminal`), the schema-1 JSON report (:mod:`.json_report`), JUnit XML
(:mod:`.junit`), Gradescope's ``results.json`` (:mod:`.gradescope`), and over many
submissions the CSV gradebook and the Markdown summary (:mod:`.gradebook`). Which
file each format writes is decided in :mod:`.files`; what ``grade`` shows while it
runs in :mod:`.batch`; the ``progress`` view in :mod:`.progress`.
"""

from __future__ import annotations

from pytorch_path.report.batch import (
    BatchProgress,
    grade_header,
    grade_table,
    render_grade_summary,
)
from pytorch_path.report.files import (
    FORMATS,
    BatchReports,
    parse_formats,
    write_atomic,
    write_batch_reports,
    write_reports,
    write_submission_reports,
)
from pytorch_path.report.gradebook import (
    render_gradebook,
    render_summary,
    write_gradebook,
    write_summary,
)
from pytorch_path.report.gradescope import gradescope_dict, render_gradescope, write_gradescope
from pytorch_path.report.json_report import render_json, write_json
from pytorch_path.report.junit import render_junit, write_junit
from pytorch_path.report.progress import progress_table, render_progress
from pytorch_path.report.shown import ShownResults, shown
from pytorch_path.report.terminal import render_terminal

__all__ = [
    "FORMATS",
    "BatchProgress",
    "BatchReports",
    "ShownResults",
    "grade_header",
    "grade_table",
    "gradescope_dict",
    "parse_formats",
    "progress_table",
    "render_grade_summary",
    "render_gradebook",
    "render_gradescope",
    "render_json",
    "render_junit",
    "render_progress",
    "render_summary",
    "render_terminal",
    "shown",
    "write_atomic",
    "write_batch_reports",
    "write_gradebook",
    "write_gradescope",
    "write_json",
    "write_junit",
    "write_reports",
    "write_submission_reports",
    "write_summary",
]
