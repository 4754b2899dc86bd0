"""The sandboxed worker: the only process of ``grade`` that runs learner code.

The judge starts ``python -I -m pytorch_path.worker --control-fd C …`` (inside bubblewrap
where it works): a *zygote* that sets the resource limits, imports torch and the lazy
imports learner code would otherwise pay for, and then forks a fresh worker per exercise
(``--read-fd R --write-fd W`` runs one worker directly). A worker says it is ready, then
answers requests until the judge closes the pipe or has it killed. Each request is one
length-prefixed frame (see :mod:`pytorch_path.scenario`)::

    Request(learner=<path>, shown=<name>, grader=<path>, name=<scenario>,
            payload=<encoded (args, kwargs)>)      # see pytorch_path.scenario.Request

and each answer one frame: the scenario's data, or the learner's error as data. The worker
holds only the learner's files and the graders' scenarios: no reference solution, no
expected value, no judge file, and nothing it writes can become a verdict, because the
judge decides every test from the data alone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any


def _read_exact(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pytorch_path.worker")
    parser.add_argument("--read-fd", type=int, default=None)
    parser.add_argument("--write-fd", type=int, default=None)
    parser.add_argument(
        "--control-fd", type=int, default=None, help="serve as a zygote on this unix socket"
    )
    parser.add_argument("--cpu-s", type=int, required=True)
    parser.add_argument("--memory-mb", type=int, default=None)
    parser.add_argument("--user", type=int, default=None, help="switch to this user id first")
    parser.add_argument("--preload", default="", help="comma-separated modules to import early")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a worker."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    from pytorch_path.sandbox import Limits, apply_limits, switch_user

    apply_limits(Limits(cpu_s=args.cpu_s, memory_mb=args.memory_mb))
    if args.user is not None:
        switch_user(args.user)
    import importlib

    import torch

    torch.set_num_threads(1)
    for name in filter(None, args.preload.split(",")):
        with contextlib.suppress(ImportError):  # paid before learner code runs, off the clock
            importlib.import_module(name)
    if "torch.optim" in args.preload:
        # The first optimizer of a process imports torch._dynamo (1-2 s): pay it now.
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    if args.control_fd is not None:
        return zygote(args.control_fd)
    return serve(args.read_fd, args.write_fd)


def serve(reader: int, writer: int) -> int:
    """Answer framed requests on ``reader`` with frames on ``writer`` until end of input."""
    from pytorch_path import scenario as wire

    _write_all(writer, wire.frame(wire.encode({"ready": True})))
    loaded = Loaded()
    while True:
        try:
            header = _read_exact(reader, wire.HEADER_BYTES)
            request = wire.decode(_read_exact(reader, wire.frame_length(header)))
        except EOFError:
            return 0
        answer = loaded.answer(request)
        _write_all(writer, wire.frame(answer))


def zygote(control: int) -> int:
    """Fork a fresh worker per exercise from this warm process (torch already imported).

    The judge sends JSON commands on the unix socket ``control``: ``fork`` (with the two
    pipe ends of the new worker passed as file descriptors) answers the child's pid;
    ``kill`` and ``wait`` end and reap a child. The zygote itself never runs learner code.
    """
    import json
    import signal
    import socket
    import time

    sock = socket.socket(fileno=control)
    sock.sendall(b'{"ready": true}\n')
    buffer = b""
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 4096, 2)
        except OSError:
            return 0
        if not data:
            return 0
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                command = json.loads(line)
                op = command["op"]
            except (ValueError, KeyError, TypeError):
                continue
            reply: dict[str, Any] = {}
            if op == "fork" and len(fds) == 2:
                pid = os.fork()
                if pid == 0:  # the worker: a fresh copy of this warm process
                    sock.close()
                    try:
                        code = serve(fds[0], fds[1])
                    except BaseException:
                        code = 1
                    os._exit(code)
                for fd in fds:
                    os.close(fd)
                fds = []
                reply = {"pid": pid}
            elif op == "kill":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(command["pid"]), signal.SIGKILL)
                reply = {"code": _reap(int(command["pid"]), block=True)}
            elif op == "wait":  # after the worker's pipe closed: give it two seconds to end
                code = None
                for _ in range(40):
                    code = _reap(int(command["pid"]), block=False)
                    if code is not None:
                        break
                    time.sleep(0.05)
                reply = {"code": code}
            for fd in fds:
                os.close(fd)
            fds = []
            sock.sendall(json.dumps(reply).encode() + b"\n")


def _reap(pid: int, *, block: bool) -> int | None:
    """The return code of child ``pid`` (negative for a signal), reaping it; None if unknown."""
    try:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return None
    if done == 0:
        return None
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else None


class Loaded:
    """The learner modules and grader modules a worker has imported, by path."""

    def __init__(self) -> None:
        """Nothing loaded yet."""
        self._learners: dict[str, ModuleType | Exception] = {}
        self._graders: dict[str, ModuleType] = {}

    def answer(self, data: Any) -> bytes:
        """The encoded answer to one request."""
        from pytorch_path import scenario as wire
        from pytorch_path.loader import LearnerLoadError

        try:
            request = wire.Request.from_data(data)
        except wire.WireError as exc:
            return wire.pack_answer(error=wire.LearnerError("WireError", str(exc), kind="wire"))
        learner_path = Path(request.learner)
        try:
            module = self._learner(learner_path, request.shown)
        except LearnerLoadError as exc:
            return wire.pack_answer(error=wire.LearnerError("LoadError", str(exc), kind="load"))
        except NotImplementedError as exc:  # the stub raising at import time
            return wire.pack_answer(error=wire.learner_error(exc, learner_path))
        if request.name == "call_by_name":
            fn: Any = wire.call_by_name
        else:
            fn = getattr(self._grader(Path(request.grader)), request.name, None)
            if not wire.is_scenario(fn):
                message = f"no scenario {request.name!r}"
                return wire.pack_answer(error=wire.LearnerError("WireError", message, kind="wire"))
        return wire.execute(
            module, fn, request.payload, name=request.name, learner_file=learner_path
        )

    def _learner(self, path: Path, shown: str) -> ModuleType:
        from pytorch_path.loader import load_module

        key = str(path)
        cached = self._learners.get(key)
        if isinstance(cached, Exception):
            raise cached
        if cached is None:
            try:
                cached = load_module(path, display=shown)
            except Exception as exc:
                self._learners[key] = exc
                raise
            self._learners[key] = cached
        return cached

    def _grader(self, path: Path) -> ModuleType:
        import importlib.util

        key = str(path)
        if key not in self._graders:
            spec = importlib.util.spec_from_file_location(f"pytorch_path_grader_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import the grader {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            self._graders[key] = module
        return self._graders[key]


if __name__ == "__main__":
    raise SystemExit(main())
