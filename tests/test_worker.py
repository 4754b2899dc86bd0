"""The worker and the judge's side of the wire: requests, answers, floods, deaths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from pytorch_path import scenario as wire
from pytorch_path.curriculum import Project
from pytorch_path.grading.workers import WorkerPool, WorkerSpec
from pytorch_path.sandbox import Limits

pytestmark = pytest.mark.slow


def _pool(tmp_path: Path, body: str) -> tuple[WorkerPool, Path]:
    work = tmp_path / "work"
    (work / ".home").mkdir(parents=True)
    (work / ".tmp").mkdir()
    learner = work / "ex01.py"
    learner.write_text(textwrap.dedent(body))
    spec = WorkerSpec(workdir=work, isolation="none", limits=Limits(cpu_s=60, memory_mb=None),
                      log_dir=tmp_path / "logs")  # fmt: skip
    return WorkerPool(spec), learner


def _call(pool: WorkerPool, ex, learner: Path, name: str, *args):
    request = wire.Request(learner=str(learner), shown="ex01.py", grader="", name="call_by_name",
                           payload=wire.encode(([name, *args], {})))  # fmt: skip
    return pool.call(ex, request)


def test_a_worker_answers_with_data_and_errors(mini: Project, tmp_path: Path) -> None:
    pool, learner = _pool(
        tmp_path,
        """
        def double(x):
            return 2 * x

        def bad(x):
            raise ValueError("no")
        """,
    )
    ex = mini.exercises[0]
    try:
        got = wire.unpack_answer(_call(pool, ex, learner, "double", torch.ones(2)))
        assert torch.equal(got, torch.full((2,), 2.0))
        with pytest.raises(wire.LearnerError) as caught:
            wire.unpack_answer(_call(pool, ex, learner, "bad", 1))
        assert caught.value.type_name == "ValueError"
        assert caught.value.last_frame is not None and caught.value.last_frame.name == "bad"
        with pytest.raises(wire.LearnerError) as missing:
            wire.unpack_answer(_call(pool, ex, learner, "nothing", 1))
        assert missing.value.kind == "missing"
    finally:
        pool.close()


def test_a_flood_ends_the_worker_not_the_judge(mini: Project, tmp_path: Path) -> None:
    pool, learner = _pool(
        tmp_path,
        """
        import os, struct

        def double(x):
            for fd in range(3, 64):  # whichever descriptor is the answer pipe
                try:
                    os.write(fd, struct.pack(">Q", 2**40))  # announces a terabyte
                    os.write(fd, b"x" * 1000)
                except OSError:
                    pass
            return 2 * x
        """,
    )
    ex = mini.exercises[0]
    try:
        with pytest.raises(wire.LearnerError) as caught:
            wire.unpack_answer(_call(pool, ex, learner, "double", torch.ones(2)))
        assert caught.value.kind == "crash"
        assert "over the size limit" in caught.value.message
        # The exercise's later calls get the same answer; nothing restarts it.
        with pytest.raises(wire.LearnerError, match="over the size limit"):
            wire.unpack_answer(_call(pool, ex, learner, "double", torch.ones(2)))
    finally:
        pool.close()


def test_a_dead_worker_costs_only_its_exercise(mini: Project, tmp_path: Path) -> None:
    pool, learner = _pool(
        tmp_path,
        """
        import os

        def die(x):
            os._exit(7)

        def double(x):
            return 2 * x
        """,
    )
    first, second = mini.exercises[0], mini.exercises[1]
    try:
        with pytest.raises(wire.LearnerError, match="exited with code 7"):
            wire.unpack_answer(_call(pool, first, learner, "die", 1))
        got = wire.unpack_answer(_call(pool, second, learner, "double", torch.ones(1)))
        assert torch.equal(got, torch.full((1,), 2.0))
    finally:
        pool.close()
