"""Renderers of one :class:`~pytorch_path.results.Results`.

Each renderer reads a ``Results`` and nothing else: the rich terminal table
(:mod:`.terminal`) and the schema-1 JSON report (:mod:`.json_report`).
"""

from __future__ import annotations

from pytorch_path.report.json_report import render_json, write_json
from pytorch_path.report.terminal import render_terminal

__all__ = ["render_json", "render_terminal", "write_json"]
