"""JUnit XML: one ``<testsuite>`` per exercise, one ``<testcase>`` per grader test.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) read this format. Tests
skipped only because their device is absent here (``test_x[cuda]`` on a machine without
CUDA) are not listed one by one: each exercise gets one skipped ``<testcase>`` per absent
device, named ``"<device> tests"``, whose ``<skipped>`` gives the reason and whose text
names the tests it stands for. Every count (``tests``, ``skipped``, …) counts cases as
written, so the totals add up.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pytorch_path.devices import KNOWN_DEVICES
from pytorch_path.results import ExerciseResult, Results, Status, TestResult


def absent_device(test: TestResult) -> str:
    """The device a device-skipped test was parametrised on, from its name (``test_x[cuda]``).

    ``"absent device"`` when its parameters name no known device.
    """
    params = test.name.rpartition("[")[2].rstrip("]") if test.name.endswith("]") else ""
    for part in params.split("-"):
        if part in KNOWN_DEVICES:
            return part
    return "absent device"


def _device_skips(ex: ExerciseResult) -> dict[str, list[TestResult]]:
    """An exercise's device-skipped tests, per absent device, in run order."""
    groups: dict[str, list[TestResult]] = {}
    for test in ex.tests:
        if test.status is Status.SKIPPED and test.device_skip:
            groups.setdefault(absent_device(test), []).append(test)
    return groups


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
            if test.status is Status.SKIPPED and test.device_skip:
                continue  # one case per absent device, below
            counts["tests"] += 1
            case = ET.SubElement(
                suite, "testcase", classname=ex.id, name=test.name, time=f"{test.duration_s:.3f}"
            )
            if test.status is Status.PASSED:
                continue
            kind = "error" if test.status in (Status.ERROR, Status.TIMEOUT) else "failure"
            counts["errors" if kind == "error" else "failures"] += 1
            text = f"{test.headline}\n{test.message}\n\n{test.traceback}".strip()
            element = ET.SubElement(
                case, kind, message=f"[{test.status.value}] {test.message}", type=test.status.value
            )
            element.text = text
        for device, skipped in _device_skips(ex).items():
            counts["tests"] += 1
            counts["skipped"] += 1
            seconds = sum(test.duration_s for test in skipped)
            case = ET.SubElement(
                suite, "testcase", classname=ex.id, name=f"{device} tests", time=f"{seconds:.3f}"
            )
            reason = skipped[0].message or f"no {device} device on this machine"
            names = ", ".join(test.name for test in skipped)
            tests = "1 test" if len(skipped) == 1 else f"{len(skipped)} tests"
            ET.SubElement(case, "skipped", message=reason).text = f"{tests} not run here: {names}"
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
