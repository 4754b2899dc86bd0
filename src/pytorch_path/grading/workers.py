"""The judge's side of the wire: starting workers, sending scenarios, reading answers.

One worker per exercise: the judge has it killed when the next exercise starts (or when its
time budget runs out) and takes a fresh one, forked from a warm *zygote* that imported
torch once, so an exercise never sees another's state and never pays for a start-up.
Everything read from a worker is bounded while it is read: a frame over
:data:`~pytorch_path.scenario.MAX_FRAME_BYTES`, or more than
:data:`~pytorch_path.scenario.MAX_TOTAL_BYTES` in all, ends the worker.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytorch_path import scenario as wire
from pytorch_path.curriculum import Exercise
from pytorch_path.sandbox import Limits, bwrap_command, child_env, kill_group, signal_sentence

#: Modules a worker imports before it is given learner code (outside every time budget).
PRELOAD = ("torch.optim", "torch.func", "torch.utils.data", "numpy")
#: Seconds a worker may take to start (import torch) before the judge gives up on it.
START_TIMEOUT_S = 180.0


class WorkerGone(Exception):
    """The worker ended or broke the protocol; ``str()`` is the learner-facing sentence."""


@dataclass
class WorkerSpec:
    """How the judge starts workers for one submission."""

    workdir: Path
    """The worker's folder: the learner's target and the graders' copy; writable."""
    isolation: str
    """``bwrap``, ``process`` or ``none``."""
    limits: Limits
    """Resource limits of each worker."""
    log_dir: Path
    """Where each worker's output goes (outside the worker's view)."""
    readable: Sequence[Path] = ()
    """Extra read-only folders (the shipped data) under bubblewrap."""
    hidden: Sequence[Path] = ()
    """Folders covered with an empty tmpfs under bubblewrap (every copy of the solutions)."""
    user: int | None = None
    """The user id the worker switches to before any learner code (process isolation as root)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables."""


class Zygote:
    """The warm sandboxed process that forks a fresh worker for each exercise.

    It imports torch and the usual lazy imports once, off every clock, so starting a
    worker costs a ``fork`` rather than a second of imports. It runs no learner code.
    """

    def __init__(self, spec: WorkerSpec, index: int) -> None:
        """Start the zygote; it imports torch while the judge does other work."""
        import socket

        ours, theirs = socket.socketpair()
        cmd = [
            sys.executable,
            "-I",
            "-m",
            "pytorch_path.worker",
            "--control-fd",
            str(theirs.fileno()),
            "--cpu-s",
            str(spec.limits.cpu_s),
            "--preload",
            ",".join(PRELOAD),
        ]
        if spec.limits.memory_mb is not None:
            cmd += ["--memory-mb", str(spec.limits.memory_mb)]
        if spec.user is not None:
            cmd += ["--user", str(spec.user)]
        if spec.isolation == "bwrap":
            cmd = [*bwrap_command(spec.workdir, readable=spec.readable, hidden=spec.hidden), *cmd]
        env = child_env(spec.workdir)
        env.update(spec.env)
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = spec.log_dir / f"zygote-{index:03d}.log"
        self.limits = spec.limits
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.workdir,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        theirs.close()
        self._sock = ours
        self._buffer = b""
        self._ready = False

    def _reply(self, timeout_s: float) -> dict[str, Any]:
        import json
        import select

        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerGone("the worker process did not answer in time")
            try:
                ready, _, _ = select.select([self._sock], [], [], left)
            except (OSError, ValueError):
                raise WorkerGone("the worker process ended") from None
            if not ready:
                continue
            try:
                chunk = self._sock.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise WorkerGone("the worker process ended")
            self._buffer += chunk
            if len(self._buffer) > 65536:
                raise WorkerGone("the worker process sent too much on its control channel")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            data = json.loads(line)
        except ValueError:
            raise WorkerGone("the worker process sent a malformed reply") from None
        if not isinstance(data, dict):
            raise WorkerGone("the worker process sent a malformed reply")
        return data

    def _send(self, command: dict[str, Any], fds: Sequence[int] = ()) -> dict[str, Any]:
        import json
        import socket

        self.wait_ready()
        payload = json.dumps(command).encode() + b"\n"
        try:
            if fds:
                socket.send_fds(self._sock, [payload], list(fds))
            else:
                self._sock.sendall(payload)
        except OSError:
            raise WorkerGone("the worker process ended") from None
        return self._reply(30.0)

    def wait_ready(self) -> None:
        """Wait until the zygote has imported torch (off the clock)."""
        if not self._ready:
            if self._reply(START_TIMEOUT_S).get("ready") is not True:
                raise WorkerGone("the worker process did not start properly")
            self._ready = True

    def alive(self) -> bool:
        """Whether the zygote still runs."""
        return self.proc.poll() is None

    def fork(self) -> Worker:
        """A fresh worker, forked from the warm zygote."""
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        try:
            reply = self._send({"op": "fork"}, fds=(to_r, from_w))
        finally:
            os.close(to_r)
            os.close(from_w)
        pid = reply.get("pid")
        if not isinstance(pid, int):
            for fd in (to_w, from_r):
                os.close(fd)
            raise WorkerGone("the worker process could not start a worker")
        return Worker(self, pid, to_w, from_r)

    def kill(self, pid: int) -> None:
        """Have the zygote kill and reap its worker ``pid``."""
        with contextlib.suppress(WorkerGone):
            self._send({"op": "kill", "pid": pid})

    def exit_code(self, pid: int) -> int | None:
        """The worker's return code once its pipe closed (None: still running or unknown)."""
        try:
            code = self._send({"op": "wait", "pid": pid}).get("code")
        except WorkerGone:
            return None
        return code if isinstance(code, int) else None

    def close(self) -> None:
        """Kill the zygote (and, under bubblewrap, everything in its sandbox)."""
        kill_group(self.proc)
        with contextlib.suppress(OSError):
            self._sock.close()


class Worker:
    """One worker (forked by the zygote) and its two pipes."""

    def __init__(self, zygote: Zygote, pid: int, out_fd: int, in_fd: int) -> None:
        """A worker with pid ``pid`` (as the zygote sees it) on these pipe ends."""
        self.zygote = zygote
        self.pid = pid
        self.limits = zygote.limits
        self._out = out_fd
        self._in = in_fd
        self._received = 0
        self._ready = False

    def wait_ready(self) -> None:
        """Wait until the worker has said it is ready."""
        if self._ready:
            return
        deadline = time.monotonic() + START_TIMEOUT_S
        answer = self._read_frame(deadline)
        data = wire.decode(answer)
        if not (isinstance(data, dict) and data.get("ready") is True):
            raise WorkerGone("the worker did not start properly")
        self._ready = True

    def call(self, request: wire.Request) -> bytes:
        """Send one request and return the answer's bytes."""
        self.wait_ready()
        data = wire.frame(wire.encode(request.to_data()))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._out, view) :]
        except OSError:
            raise WorkerGone(self._ended()) from None
        return self._read_frame(None)

    def _read_frame(self, deadline: float | None) -> bytes:
        header = self._read_exact(wire.HEADER_BYTES, deadline)
        try:
            length = wire.frame_length(header)
        except wire.WireError as exc:
            raise WorkerGone(f"the worker sent a message over the size limit ({exc})") from None
        if self._received + length > wire.MAX_TOTAL_BYTES:
            raise WorkerGone(
                f"the worker sent more than {wire.MAX_TOTAL_BYTES // 2**20} MiB in all; "
                "return smaller values"
            )
        return self._read_exact(length, deadline)

    def _read_exact(self, n: int, deadline: float | None) -> bytes:
        import select

        chunks: list[bytes] = []
        while n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerGone("the worker did not start in time")
                ready, _, _ = select.select([self._in], [], [], left)
                if not ready:
                    continue
            chunk = os.read(self._in, min(n, 1 << 20))
            if not chunk:
                raise WorkerGone(self._ended())
            self._received += len(chunk)
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _ended(self) -> str:
        code = self.zygote.exit_code(self.pid)
        if code is None:
            return "the worker running your code stopped answering"
        return f"the worker running your code {signal_sentence(code, self.limits)}"

    def close(self) -> None:
        """Kill the worker (through its zygote) and close the pipes."""
        self.zygote.kill(self.pid)
        for fd in (self._out, self._in):
            with contextlib.suppress(OSError):
                os.close(fd)


class WorkerPool:
    """The workers of one judge: a zygote, and a fresh worker forked from it per exercise."""

    def __init__(self, spec: WorkerSpec, pause: Callable[[], Any] | None = None) -> None:
        """Workers start lazily; ``pause()`` is a context manager that stops the time budget."""
        self.spec = spec
        self._pause = pause
        self._count = 0
        self._zygote: Zygote | None = None
        self._current: tuple[str, Worker] | None = None
        self._dead: dict[str, str] = {}
        self._start_failed: set[str] = set()
        self.logs: list[Path] = []

    def start(self) -> None:
        """Start the zygote now, so it imports torch while the judge collects tests."""
        if self._zygote is None or not self._zygote.alive():
            if self._zygote is not None:
                self._zygote.close()
            self._count += 1
            self._zygote = Zygote(self.spec, self._count)
            self.logs.append(self._zygote.log_path)

    def _worker_for(self, ex: Exercise) -> Worker:
        if self._current is not None and self._current[0] == ex.id:
            return self._current[1]
        if self._current is not None:
            self._current[1].close()
            self._current = None
            self._reap()
        self.start()  # a fresh zygote if a learner killed the last one
        assert self._zygote is not None
        self._zygote.wait_ready()
        worker = self._zygote.fork()
        worker.wait_ready()
        self._current = (ex.id, worker)
        return worker

    def transport(self, ex: Exercise, learner_file: Path, shown: str) -> WorkerTransport:
        """The learner transport of exercise ``ex``."""
        return WorkerTransport(self, ex, learner_file, shown)

    def call(self, ex: Exercise, request: wire.Request) -> bytes:
        """Run one request on ``ex``'s worker; a worker that breaks is killed, once and for all."""
        if ex.id in self._dead:
            return _crash_answer(self._dead[ex.id], start=ex.id in self._start_failed)
        if self._pause is not None:
            with self._pause():
                worker = self._start(ex)
        else:
            worker = self._start(ex)
        if isinstance(worker, str):
            return _crash_answer(worker, start=True)
        try:
            answer = worker.call(request)
            wire.unpack_answer(answer)  # an answer that is not data: the stream is forged
        except WorkerGone as exc:
            self._kill(ex, str(exc))
            return _crash_answer(str(exc))
        except wire.WireError as exc:
            reason = f"the worker sent an answer that is not plain data ({exc})"
            self._kill(ex, reason)
            return _crash_answer(reason)
        except wire.LearnerError:
            pass  # a well-formed error answer
        except BaseException:  # the exercise's time budget ran out while we waited
            self._kill(ex, "the worker was stopped when the exercise's time ran out")
            raise
        return answer

    def _start(self, ex: Exercise) -> Worker | str:
        try:
            return self._worker_for(ex)
        except WorkerGone as exc:
            message = f"the grading worker could not start ({exc})"
            self._kill(ex, message)
            self._start_failed.add(ex.id)
            return message

    def _kill(self, ex: Exercise, reason: str) -> None:
        self._dead[ex.id] = reason
        if self._current is not None and self._current[0] == ex.id:
            self._current[1].close()
            self._current = None
            self._reap()

    def _reap(self) -> None:
        """Kill whatever a closed worker left behind (adopted by this subreaper judge)."""
        from pytorch_path.sandbox import kill_descendants

        keep = [self._zygote.proc.pid] if self._zygote is not None and self._zygote.alive() else []
        kill_descendants(keep)

    def close(self) -> list[int]:
        """Kill every worker and everything they started; return pids that would not die."""
        from pytorch_path.sandbox import kill_descendants

        if self._current is not None:
            self._current[1].close()
            self._current = None
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        return kill_descendants()


def _crash_answer(reason: str, *, start: bool = False) -> bytes:
    extra = {"phase": "start"} if start else {}
    return wire.pack_answer(
        error=wire.LearnerError("WorkerExit", reason, kind="crash", extra=extra)
    )


class WorkerTransport:
    """Runs one exercise's learner scenarios in the pool's worker."""

    def __init__(self, pool: WorkerPool, ex: Exercise, learner_file: Path, shown: str) -> None:
        """Scenarios of ``ex`` on ``learner_file`` (the worker's path), named ``shown``."""
        self._pool = pool
        self._ex = ex
        self._learner = learner_file
        self._shown = shown

    def run(self, grader: Path, name: str, fn: Callable[..., Any], payload: bytes) -> bytes:
        """Send the scenario call to the worker and return its answer."""
        request = wire.Request(
            learner=str(self._learner),
            shown=self._shown,
            grader=str(self._pool.spec.workdir / "graders" / grader.parent.name / grader.name),
            name=name,
            payload=payload,
        )
        return self._pool.call(self._ex, request)
