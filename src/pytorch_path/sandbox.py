"""The isolated child process that ``pytorch-path grade`` runs for each submission.

The parent (:func:`pytorch_path.runner.grade`) starts ``python -I -m pytorch_path.sandbox``
in a fresh session with a clean environment, optionally inside bubblewrap, and
writes one line to its standard input: a random token. Before any learner code
runs, the child

1. reads the token and its settings,
2. sets resource limits (CPU time, address space, file size, open files, no core dumps),
3. drops root privileges to ``nobody`` when it has them,

then grades the submission in-process with the trusted graders and streams one
JSON line per finished test, tagged with the token, to the file descriptor the
parent gave it. The parent trusts nothing else the child says or leaves behind:
a test without such a line has not passed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Environment variables a grading child gets; nothing else is inherited.
SAFE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "SYSTEMROOT")
NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading child (the parent enforces its wall clock)."""

    cpu_s: int
    """CPU seconds (RLIMIT_CPU) before the kernel stops the child."""
    memory_mb: int | None
    """Address-space cap (RLIMIT_AS) in MiB; None for no cap (CUDA needs a large one)."""
    file_mb: int = 64
    """Largest file the child may write (RLIMIT_FSIZE), in MiB."""
    open_files: int = 256
    """Open file descriptors (RLIMIT_NOFILE)."""


def apply_limits(limits: Limits) -> None:
    """Set the resource limits of this process (called in the child, before learner code)."""

    def cap(kind: int, value: int) -> None:
        _soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_CPU, int(limits.cpu_s))
    cap(resource.RLIMIT_FSIZE, limits.file_mb * 2**20)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    if limits.memory_mb is not None:
        cap(resource.RLIMIT_AS, limits.memory_mb * 2**20)


def drop_privileges() -> bool:
    """Become ``nobody`` when running as root; return whether it happened."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return True


@functools.cache
def nobody_can_run_python() -> bool:
    """Whether this Python still works after switching to ``nobody``.

    Some installs live under a private home (``/root/.pyenv``) that ``nobody``
    cannot read; there the child keeps its user and the report says so.
    """
    probe = (
        "import os; os.setgroups([]); os.setgid(65534); os.setuid(65534); "
        "import ctypes, json, pytorch_path.curriculum"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", probe], capture_output=True, timeout=60, cwd="/"
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def bwrap_available() -> bool:
    """Whether bubblewrap can be used here (it is on PATH and can start a sandbox)."""
    return shutil.which("bwrap") is not None


def bwrap_prefix(workdir: Path) -> list[str]:
    """The bubblewrap command that wraps a child: no network, read-only root, own PIDs."""
    return [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--bind",
        str(workdir),
        str(workdir),
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--chdir",
        str(workdir),
        "--",
    ]


def child_env(workdir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no PYTHONPATH or PYTEST_ADDOPTS, a private HOME, one BLAS thread."""
    source = os.environ if base is None else base
    env = {k: source[k] for k in SAFE_ENV_KEYS if k in source}
    env.update(
        HOME=str(workdir / ".home"),
        TMPDIR=str(workdir / ".tmp"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        TORCHINDUCTOR_CACHE_DIR=str(workdir / ".tmp" / "inductor"),
    )
    return env


# --------------------------------------------------------------------------- child side


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pytorch_path.sandbox")
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--target", type=Path, required=True)
    parser.add_argument("--selection", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--graders", type=Path, default=None)
    parser.add_argument("--solutions", type=Path, default=None)
    parser.add_argument("--cpu-s", type=int, required=True)
    parser.add_argument("--memory-mb", type=int, default=None)
    parser.add_argument("--drop-privileges", action="store_true")
    return parser.parse_args(argv)


def child_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the grading child (``python -I -m pytorch_path.sandbox``)."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    token = sys.stdin.readline().strip()
    channel = os.fdopen(args.channel_fd, "w", buffering=1, encoding="utf-8")
    apply_limits(Limits(cpu_s=args.cpu_s, memory_mb=args.memory_mb))
    if args.drop_privileges:
        drop_privileges()

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps({"token": token, **message}) + "\n")

    import torch

    torch.set_num_threads(1)
    from pytorch_path.curriculum import Project
    from pytorch_path.plugin import TestRecord
    from pytorch_path.runner import check

    def on_test(record: TestRecord) -> None:
        send(
            {
                "event": "test",
                "nodeid": record.nodeid,
                "status": record.status.value if record.status else None,
                "message": record.message[:4000],
                "traceback": record.traceback[-8000:],
                "duration_s": record.duration_s,
                "device_skip": record.device_skip,
            }
        )

    send({"event": "start"})
    os.chdir(args.target.parent)  # messages then name files "<submission>/stage…/ex….py"
    check(
        args.selection,
        project=Project(args.project),
        target=args.target,
        seed=args.seed,
        graders_dir=args.graders,
        solutions_dir=args.solutions,
        on_test=on_test,
        capture=False,
    )
    send({"event": "done"})
    channel.close()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main())
