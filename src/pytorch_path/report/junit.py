"""JUnit XML: one ``<testsuite>`` per exercise, one ``<testcase>`` per grader test.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) read this format.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pytorch_path.results import Results, Status


def render_junit(results: Results, *, name: str = "") -> str:
    """The report as JUnit XML text."""
    suites = ET.Element("testsuites", name=name or results.target)
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for ex in results.exercises:
        suite = ET.SubElement(suites, "testsuite", name=f"{ex.id} {ex.title}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if not ex.tests:
            case = ET.SubElement(suite, "testcase", classname=ex.id, name="load", time="0")
            ET.SubElement(case, "error", message=ex.message).text = ex.message
            counts["tests"] += 1
            counts["errors"] += 1
        for test in ex.tests:
            counts["tests"] += 1
            case = ET.SubElement(
                suite, "testcase", classname=ex.id, name=test.name, time=f"{test.duration_s:.3f}"
            )
            if test.status is Status.PASSED:
                continue
            if test.status is Status.SKIPPED and test.device_skip:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=test.message)
                continue
            kind = "error" if test.status in (Status.ERROR, Status.TIMEOUT) else "failure"
            counts["errors" if kind == "error" else "failures"] += 1
            text = f"{test.headline}\n{test.message}\n\n{test.traceback}".strip()
            element = ET.SubElement(
                case, kind, message=f"[{test.status.value}] {test.message}", type=test.status.value
            )
            element.text = text
        for key, value in counts.items():
            suite.set(key, str(value))
            total[key] += value
        suite.set("time", f"{ex.duration_s:.3f}")
    for key, value in total.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: Results, path: Path, *, name: str = "") -> None:
    """Write the JUnit XML report to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(results, name=name), encoding="utf-8")
