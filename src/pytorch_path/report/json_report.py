"""The schema-1 JSON report (``check --json FILE``)."""

from __future__ import annotations

import json
from pathlib import Path

from pytorch_path.results import Results


def render_json(results: Results) -> str:
    """The report as indented JSON text."""
    return json.dumps(results.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_json(results: Results, path: Path) -> None:
    """Write the report to ``path``, creating its folder; the write is atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_json(results), encoding="utf-8")
    tmp.replace(path)
