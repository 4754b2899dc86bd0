"""`make bench`: time checks against the `import torch` floor, and `grade` per submission.

Each command runs several times in a fresh process; the median wall time is
reported, and each check as a ratio to the floor. Targets (issue 2): one
exercise within 1.5x the floor, a whole stage within 3x. Then `grade` runs N copies of
the reference solutions with `--jobs 2` for stage 1 and the report gives seconds per
submission next to one `check` of the same selection (`--grade-copies 0` skips it).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pytorch_path"]


def median_time(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--grade-copies", type=int, default=4)
    parser.add_argument("--grade-stages", default="1")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from pytorch_path.curriculum import Project

    project = Project.locate(ROOT)
    cases = [("import torch (floor)", [sys.executable, "-c", "import torch"], None)]
    first = project.stages[0].exercises[0].id
    cases.append(
        (
            f"check {first} (solutions)",
            [*CLI, "check", first, "--target", "solutions", "--seed", "0"],
            1.5,
        )
    )
    targets = {1: 3.0, 2: 4.0, 3: 6.0, 4: 6.0, 5: 8.0}
    for stage in project.stages:
        limit = targets.get(stage.number)
        cmd = [*CLI, "check", str(stage.number), "--target", "solutions", "--seed", "0"]
        cases.append((f"check {stage.number} (solutions)", cmd, limit))
    console = Console()
    table = Table(title=f"make bench (median of {args.repeat} runs)")
    for col in ("command", "seconds", "× floor", "target"):
        table.add_column(col, justify="left" if col == "command" else "right")
    floor = 0.0
    for label, cmd, limit in cases:
        seconds = median_time(cmd, args.repeat)
        floor = floor or seconds
        ratio = seconds / floor
        verdict = (
            "" if limit is None else (f"≤{limit:g}× ✔" if ratio <= limit else f"≤{limit:g}× ✘")
        )
        table.add_row(label, f"{seconds:.2f}", f"{ratio:.2f}", verdict)
    console.print(table)
    if args.grade_copies > 0:
        console.print(grade_table(args.grade_copies, args.grade_stages))


def grade_table(copies: int, stages: str) -> Table:
    """Seconds per submission of `grade` (N copies of the solutions, --jobs 2) vs one check."""
    from pytorch_path.sandbox import bwrap_available

    sandbox = "bwrap" if bwrap_available() else "process"
    check_s = median_time([*CLI, "check", stages, "--target", "solutions", "--seed", "0"], 3)
    with tempfile.TemporaryDirectory(prefix="pytorch-path-bench-") as tmp:
        folders = []
        for i in range(copies):
            dest = Path(tmp) / f"copy{i}"
            shutil.copytree(ROOT / "solutions", dest)
            folders.append(str(dest))
        out = str(Path(tmp) / "out")
        cmd = [*CLI, "grade", *folders, "--stages", stages, "--seed", "0", "--jobs", "2",
               "--out", out, "--format", "json", "--sandbox", sandbox]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"grade failed:\n{done.stdout}\n{done.stderr}")
    table = Table(title=f"grade {stages}: {copies} copies of the solutions, --jobs 2, {sandbox}")
    for col in ("command", "seconds"):
        table.add_column(col, justify="left" if col == "command" else "right")
    table.add_row(f"check {stages} (one process)", f"{check_s:.2f}")
    table.add_row(f"grade {stages}, whole batch", f"{took:.2f}")
    table.add_row(f"grade {stages}, per submission", f"{took / copies:.2f}")
    return table


if __name__ == "__main__":
    main()
