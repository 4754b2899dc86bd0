"""The judge: the trusted process that grades one submission without running its code.

``grade`` starts ``python -I -m pytorch_path.grading.judge SPEC.json`` per submission. The
judge runs pytest with the trusted graders, the reference solutions and the checks in its
own process; every ``learner.run(...)`` goes to a sandboxed worker
(:mod:`pytorch_path.grading.workers`), which answers with data. The judge never imports,
calls or unpickles learner code, so nothing a submission does can write a verdict. It
writes the submission's :class:`~pytorch_path.results.Results` as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytorch_path.text import clean

#: What the judge keeps of the learner's printed output, in bytes.
OUTPUT_CAP_BYTES = 1_000_000


@dataclass
class JudgeSpec:
    """Everything one judge needs, written by the batch as JSON."""

    project: str
    """The project root (manifests)."""
    selection: str
    """The exercises to grade."""
    seed: int
    """The batch's base seed."""
    target: str
    """The learner's files as the worker sees them (``<workdir>/<name>``)."""
    workdir: str
    """The worker's folder."""
    isolation: str
    """``bwrap``, ``process`` or ``none``."""
    cpu_s: int
    """CPU seconds per worker."""
    results_path: str
    """Where the judge writes the results JSON."""
    log_dir: str
    """Where worker output goes."""
    memory_mb: int | None = None
    """Address-space cap per worker (MiB)."""
    graders_dir: str | None = None
    """Private graders."""
    solutions_dir: str | None = None
    """Private reference solutions."""
    cache_dir: str | None = None
    """The batch's cache of reference answers."""
    readable: list[str] = field(default_factory=list)
    """Extra read-only folders for the worker."""
    hidden: list[str] = field(default_factory=list)
    """Folders hidden from the worker."""
    worker_user: int | None = None
    """The user id workers switch to (``process`` isolation as root), if any."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra worker environment."""

    def write(self, path: Path) -> None:
        """Save as JSON."""
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> JudgeSpec:
        """Load what :meth:`write` saved."""
        return cls(**json.loads(path.read_text()))


def run_judge(spec: JudgeSpec) -> int:
    """Grade one submission as ``spec`` says and write its results; 0 when written."""
    import torch

    from pytorch_path.curriculum import Project
    from pytorch_path.grading.workers import WorkerPool, WorkerSpec
    from pytorch_path.plugin import unbudgeted
    from pytorch_path.runner import check
    from pytorch_path.sandbox import Limits, become_subreaper

    torch.set_num_threads(1)
    become_subreaper()
    workdir = Path(spec.workdir)
    project = Project(Path(spec.project))
    pool = WorkerPool(
        WorkerSpec(
            workdir=workdir,
            isolation=spec.isolation,
            limits=Limits(cpu_s=spec.cpu_s, memory_mb=spec.memory_mb),
            log_dir=Path(spec.log_dir),
            readable=[Path(p) for p in spec.readable],
            hidden=[Path(p) for p in spec.hidden],
            user=spec.worker_user,
            env=dict(spec.env),
        ),
        pause=unbudgeted,
    )
    pool.start()  # the zygote imports torch while pytest collects the graders
    try:
        results = check(
            spec.selection,
            project=project,
            target=Path(spec.target),
            seed=spec.seed,
            graders_dir=Path(spec.graders_dir) if spec.graders_dir else None,
            solutions_dir=Path(spec.solutions_dir) if spec.solutions_dir else None,
            learner_transport=pool.transport,
            reference_cache=Path(spec.cache_dir) if spec.cache_dir else None,
            display_root=workdir,
        )
    finally:
        survivors = pool.close()
    if survivors:  # verified, not assumed: no report while learner code may still run
        print(f"processes of the workers would not die: {survivors}", file=sys.stderr)
        return 3
    output, truncated = collect_output(pool.logs)
    data = results.to_dict()
    data["judge"] = {"output": output, "output_truncated": truncated}
    out = Path(spec.results_path)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=True))
    tmp.replace(out)
    return 0


def collect_output(logs: Sequence[Path]) -> tuple[str, bool]:
    """The workers' output, concatenated and capped at :data:`OUTPUT_CAP_BYTES`."""
    parts: list[bytes] = []
    total = 0
    written = 0
    for log in logs:
        try:
            size = log.stat().st_size
        except OSError:
            continue
        written += size
        if total < OUTPUT_CAP_BYTES and size:
            with log.open("rb") as handle:
                data = handle.read(OUTPUT_CAP_BYTES - total)
            parts.append(data)
            total += len(data)
    text = clean(b"".join(parts).decode("utf-8", errors="backslashreplace"), None)
    if written > OUTPUT_CAP_BYTES:
        return text + (
            f"\n[output cut: {written} bytes were written, the first {OUTPUT_CAP_BYTES} are kept]\n"
        ), True
    return text, False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -I -m pytorch_path.grading.judge SPEC.json``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m pytorch_path.grading.judge SPEC.json", file=sys.stderr)
        return 2
    return run_judge(JudgeSpec.read(Path(args[0])))


if __name__ == "__main__":
    raise SystemExit(main())
