"""Isolation helpers for ``grade``'s workers: bubblewrap, user ids, resource limits, killing.

A worker (see :mod:`pytorch_path.worker`) is the only process that runs learner code. It is
started by the judge (:mod:`pytorch_path.grading.judge`) in one of three ways:

- ``bubblewrap``: a new mount, PID, network (loopback only), IPC and UTS namespace; a
  read-only view of just the system folders and the Python installation (every copy of the
  reference solutions hidden under an empty tmpfs), the worker's own folder writable, a
  private ``/tmp``; the whole namespace dies with its first process;
- ``process``: a separate process in its own session, with resource limits and, as root
  when this Python allows it, a user id of its own per submission; the file system is
  shared, so the
  reference solutions are readable;
- ``none``: a separate process with resource limits only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Environment variables a worker gets; nothing else is inherited.
SAFE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "SYSTEMROOT")

#: What each isolation mode is called in reports.
ISOLATION_LABELS = {
    "bwrap": "bubblewrap",
    "process": "process — the reference is readable, scores are not tamper-proof",
    "none": "none — the reference is readable, scores are not tamper-proof",
}


class SandboxUnavailableError(RuntimeError):
    """The isolation asked for cannot be had on this machine. ``str()`` says what to do."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker (the judge enforces its wall clock)."""

    cpu_s: int
    """CPU seconds (RLIMIT_CPU) before the kernel stops the worker."""
    memory_mb: int | None
    """Address-space cap (RLIMIT_AS) in MiB; None for no cap (CUDA needs a large one)."""
    file_mb: int = 64
    """Largest file the worker may write (RLIMIT_FSIZE), in MiB."""
    open_files: int = 256
    """Open file descriptors (RLIMIT_NOFILE)."""


def apply_limits(limits: Limits) -> None:
    """Set the resource limits of this process (called in the worker, before learner code)."""

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


def switch_user(uid: int) -> bool:
    """Become user (and group) ``uid`` when running as root; return whether it happened."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    return True


@functools.cache
def python_runs_as(uid: int) -> bool:
    """Whether this Python, torch and pytorch_path still import after switching to ``uid``.

    Some installs live under a private home (``/root/.pyenv``) that other users cannot
    read; there workers keep the grader's user and the report says so.
    """
    probe = (
        f"import os; os.setgroups([]); os.setgid({uid}); os.setuid({uid}); "
        "import ctypes, json, torch, pytorch_path.curriculum"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", probe], capture_output=True, timeout=60, cwd="/"
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def bwrap_available() -> bool:
    """Whether bubblewrap is installed and can start a sandbox here (probed once)."""
    return shutil.which("bwrap") is not None and _bwrap_works()


@functools.cache
def _bwrap_works() -> bool:
    """Start a real sandbox once: user namespaces can be disabled even where bwrap exists."""
    probe = ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def choose_isolation(requested: str) -> str:
    """The isolation mode for ``--sandbox requested`` (``auto``, ``bwrap``, ``process``, ``none``).

    ``auto`` is bubblewrap where it works, and otherwise refuses: without a mount namespace
    the worker can read the reference solutions, so that must be asked for by name.
    """
    if requested in ("process", "none"):
        return requested
    if bwrap_available():
        return "bwrap"
    if requested == "bwrap":
        raise SandboxUnavailableError(
            "--sandbox bwrap: bubblewrap is not installed here or cannot start a sandbox "
            "(user namespaces may be disabled)"
        )
    raise SandboxUnavailableError(
        "bubblewrap is not available here, and without it a submission can read the reference "
        "solutions; install bubblewrap (apt-get install bubblewrap), or grade anyway with "
        "--sandbox process (separate processes, resource limits) or --sandbox none"
    )


def _existing(paths: Iterable[str | Path]) -> list[Path]:
    seen: list[Path] = []
    for raw in paths:
        try:
            path = Path(raw).resolve()
        except (OSError, RuntimeError):
            continue
        if path.is_dir() and path != Path("/") and path not in seen:
            seen.append(path)
    return seen


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def python_folders() -> list[Path]:
    """The folders this Python needs to start and import torch and pytorch_path.

    Its prefixes, the standard library and site-packages folders, and pytorch_path's own
    package folder: never the arbitrary entries of ``sys.path`` (a checkout's root would
    bring its ``solutions/`` with it).
    """
    import site
    import sysconfig

    import pytorch_path

    candidates: list[str | Path] = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    candidates += [sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    candidates += site.getsitepackages()
    candidates.append(Path(sys.executable).resolve().parent.parent)
    candidates.append(Path(pytorch_path.__file__).resolve().parent)
    return _existing(candidates)


def bwrap_command(
    workdir: Path,
    *,
    readable: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
) -> list[str]:
    """The bubblewrap prefix of a worker command.

    Only the system folders, this Python's folders and ``readable`` are visible (read-only);
    each of ``hidden`` that lies inside one of them is covered with an empty tmpfs; only
    ``workdir`` is writable. New namespaces for everything (the network has only loopback).
    """
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    # The private /tmp first: a bind below it (a checkout or venv under /tmp) must come after.
    cmd += ["--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"]
    for top in ("/usr", "/etc", "/opt"):
        if Path(top).is_dir():
            cmd += ["--ro-bind", top, top]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():
            cmd += ["--symlink", str(path.readlink()), top]
        elif path.is_dir():
            cmd += ["--ro-bind", top, top]
    visible = [p for p in (*python_folders(), *_existing(readable)) if not _under_system(p)]
    for folder in _outermost(visible):
        cmd += ["--ro-bind", str(folder), str(folder)]
    for folder in _existing(hidden):
        if _inside(folder, [*visible, Path("/usr"), Path("/opt")]):
            cmd += ["--tmpfs", str(folder)]
    for device in sorted(Path("/dev").glob("nvidia*")):
        cmd += ["--dev-bind-try", str(device), str(device)]
    cmd += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd += ["--cap-drop", "ALL"]
    return [*cmd, "--"]


def _under_system(path: Path) -> bool:
    return any(path == Path(t) or Path(t) in path.parents for t in ("/usr", "/etc", "/opt"))


def _outermost(folders: Sequence[Path]) -> list[Path]:
    """Drop folders that lie inside another one of ``folders``."""
    return [f for f in folders if not any(o != f and o in f.parents for o in folders)]


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
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in source:
            env[key] = source[key]
    return env


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a process started with ``start_new_session=True`` and everything in its group."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, OSError):
        proc.kill()
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        proc.wait(timeout=10)


def signal_sentence(returncode: int, limits: Limits | None = None) -> str:
    """A sentence for how a worker ended, from its return code."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    signum = -returncode
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = str(signum)
    if name == "SIGXCPU" and limits is not None:
        return f"was stopped after {limits.cpu_s} s of CPU time"
    if name == "SIGXFSZ" and limits is not None:
        return f"was stopped for writing a file larger than {limits.file_mb} MiB"
    if name == "SIGKILL":
        return "was killed (SIGKILL), most often because it ran out of memory"
    if name == "SIGSEGV":
        return "crashed with a segmentation fault"
    return f"was killed by signal {name}"


# --------------------------------------------------------------------------- descendants

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux), so none escapes.

    A worker's double-forked daemon (``fork``, ``setsid``, ``fork``) survives a kill of the
    worker's process group; as a subreaper this process adopts it and can kill it.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """``pid -> ppid`` of every process this one can see."""
    table: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = int(fields[1])
    return table


def descendants(root: int | None = None, parents: dict[int, int] | None = None) -> list[int]:
    """Every living descendant of ``root`` (default: this process), by ``/proc``.

    ``parents`` is a ``pid -> ppid`` snapshot to read instead of ``/proc`` (so several
    questions can be asked of one consistent picture).
    """
    root = os.getpid() if root is None else root
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def children(pid: int | None = None) -> set[int]:
    """The direct children of ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    return {child for child, parent in _parents().items() if parent == pid}


def kill_descendants(keep: Iterable[int] = (), *, timeout_s: float = 10.0) -> list[int]:
    """Kill every descendant of this process except ``keep`` (and theirs); verify they are gone.

    Returns the pids still alive after ``timeout_s`` (an empty list when all are gone).
    """
    import time

    kept = set(keep)
    deadline = time.monotonic() + timeout_s
    while True:
        table = _parents()  # one snapshot per round: a kept process may have started another
        spared = set(kept)
        for pid in kept:
            spared.update(descendants(pid, table))
        left = [pid for pid in descendants(None, table) if pid not in spared]
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in left:  # reap the ones that are our own children
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        alive = [pid for pid in left if _alive(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2 :].split()[0] != "Z"
