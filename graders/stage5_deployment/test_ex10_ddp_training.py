"""Grader for 5.10: data-parallel training with torch.distributed on two CPU processes.

The judge's reference is single-process, full-batch gradient descent: with equal shards and
a mean loss, DDP's averaged gradient is the gradient of the mean over all samples, so every
rank's first-step gradients and final weights must equal those of one process training on
the whole data set (``atol=1e-6``). The judge computes that run itself, from its own copies
of the stub's ``make_model`` and ``make_data`` (below: they must stay identical), and its
own ``DistributedSampler`` for the shards.

How the ranks are started:

- most tests fork two processes from the scenario (``torch.multiprocessing`` with the
  ``fork`` start method, after the lazy imports, so no process re-imports torch) that call
  ``train_ddp`` with a ``file://`` or a ``tcp://127.0.0.1:PORT`` init method, or ``main``
  with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set
  as ``torchrun`` sets them. Each child saves what it saw (its result, the batches its
  forward passes received, whether a process group is still initialised) with
  ``torch.save``; the parent loads it with ``weights_only=True``. A forked child cannot
  run autograd once its parent has run a backward through a compiled or exported graph
  (an earlier exercise of the same ``check`` may have); a probe detects that, and the
  ranks are then forked from a helper interpreter instead, started once (a few seconds)
  and reused by the later jobs;
- exactly one test launches ``sys.executable -m torch.distributed.run --standalone
  --nproc-per-node 2 <learner file> ...`` as a subprocess, the way users launch it. It
  costs three Python processes importing torch: about 6 s on an idle 2-core machine, 10-20
  s on a loaded one; the test allows 90 s.

Nothing outlives a test: children are joined with a timeout and killed in ``finally``; the
torchrun subprocess runs in its own session, its descendants (torchrun starts each worker
in a new session) are collected from ``/proc`` while it runs and killed if any remains; the
``tcp://`` and ``env://`` ports must refuse connections afterwards. Every test checks that
both ranks exited with status 0 and that no child is left.

A stub's ``NotImplementedError`` happens in a child process; the scenario then calls the
same function in-process with harmless arguments, so that the stub reports "not started".

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import math
import multiprocessing
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler

from pytorch_path.checks import assert_close, describe, fail, name_the_mistake
from pytorch_path.scenario import learner_attr, scenario

N_SAMPLES = 32
FORK_TIMEOUT_S = 40.0
TORCHRUN_TIMEOUT_S = 90.0
PARAMS = ("0.weight", "0.bias", "2.weight", "2.bias")

# ----------------------------------------------------------------------------- shard_indices


def test_shard_indices_match_the_distributed_sampler(learner, seed):
    """Every rank's indices equal DistributedSampler's after set_epoch(epoch), both shuffles."""
    rng = seed.python_random()
    for index in range(6):
        n, world_size = rng.randint(1, 40), rng.randint(1, 5)
        options = {"seed": rng.randrange(1000), "epoch": rng.randrange(5) + index % 2,
                   "shuffle": index % 3 != 2}  # fmt: skip
        for rank in range(world_size):
            got = learner.shard_indices(n, world_size, rank, **options)
            want = _sampler(n, world_size, rank, **options)
            _check_shard(got, want, n, world_size, rank, options)


def test_shards_are_disjoint_and_cover_the_data(learner, seed):
    """Together the shards cover range(n); disjoint when world_size divides n, else padded."""
    rng = seed.python_random(1)
    for n, world_size in ((rng.randint(2, 12) * 4, 4), (rng.randint(5, 30), 3), (7, 2)):
        options = {"seed": rng.randrange(1000), "epoch": rng.randrange(4), "shuffle": True}
        shards = [learner.shard_indices(n, world_size, r, **options) for r in range(world_size)]
        for rank, got in enumerate(shards):
            _check_shard(
                got, _sampler(n, world_size, rank, **options), n, world_size, rank, options
            )
        flat = [i for shard in shards for i in shard]
        per_rank = math.ceil(n / world_size)
        if sorted(set(flat)) != list(range(n)) or len(flat) != per_rank * world_size:
            raise fail(
                f"shard_indices({n}, {world_size}, rank, ...) for every rank: together the shards "
                f"hold {len(flat)} indices covering {len(set(flat))} of the {n} samples; expected "
                f"{per_rank * world_size} indices covering all {n}"
            )


def test_shard_indices_defaults(learner, seed):
    """Without options: seed=0, epoch=0, shuffle=True."""
    rng = seed.python_random(2)
    n, world_size = rng.randint(10, 40), rng.randint(2, 4)
    for rank in range(world_size):
        got = learner.shard_indices(n, world_size, rank)
        want = _sampler(n, world_size, rank, seed=0, epoch=0, shuffle=True)
        _check_shard(got, want, n, world_size, rank, {})


def test_shard_indices_validates_its_arguments(learner, seed):
    """rank -1 or world_size, world_size 0 and n -1 raise ValueError; the edges just inside work."""
    rng = seed.python_random(3)
    world_size = rng.randint(2, 5)
    for args in ((10, world_size, -1), (10, world_size, world_size), (10, 0, 0), (-1, 2, 0)):
        got = learner.run(rejected_shard, *args)
        call = f"called shard_indices{args}"
        if got != "ValueError":
            raise fail(f"{call}; expected ValueError, got {got}")
    for args in ((10, world_size, world_size - 1), (10, world_size, 0), (9, 1, 0), (0, 2, 1)):
        got = learner.shard_indices(*args)
        _check_shard(got, _sampler(*args, seed=0, epoch=0, shuffle=True), *args, {})


# ----------------------------------------------------------------------------- train_ddp


def test_averaged_gradients_equal_the_big_batch_gradients(learner, seed):
    """Two forked ranks (file:// init): each rank's first-step grads are the full-batch grads."""
    rng = seed.python_random(10)
    run_seed, lr, steps = rng.randrange(10**4), round(rng.uniform(0.05, 0.3), 3), 1
    got = learner.run(ddp_ranks, run_seed, lr, steps, "file")
    call = _ddp_call(steps, lr, run_seed, "'file://...'")
    results = _finished(got, call)
    grads, _ = _reference_run(run_seed, lr, steps)
    for rank, result in enumerate(results):
        _check_grads(result, grads, run_seed, rank, call)


def test_state_equals_single_process_training(learner, seed):
    """Two forked ranks (tcp:// init): after `steps` steps both hold the full-batch GD weights."""
    rng = seed.python_random(11)
    run_seed, lr, steps = rng.randrange(10**4), round(rng.uniform(0.05, 0.3), 3), rng.randint(3, 5)
    got = learner.run(ddp_ranks, run_seed, lr, steps, "tcp")
    call = _ddp_call(steps, lr, run_seed, "'tcp://127.0.0.1:PORT'")
    results = _finished(got, call)
    _port_closed(got, call)
    grads, state = _reference_run(run_seed, lr, steps)
    for rank, result in enumerate(results):
        _check_grads(result, grads, run_seed, rank, call)
        _check_state(result["state"], state, rank, call)


def test_each_rank_trains_on_its_shard_of_every_step(learner, seed):
    """Each rank runs one forward per step, on X[shard_indices(32, 2, rank, epoch=step, ...)]."""
    rng = seed.python_random(12)
    run_seed, lr, steps = rng.randrange(10**4), 0.1, 3
    got = learner.run(ddp_ranks, run_seed, lr, steps, "file")
    call = _ddp_call(steps, lr, run_seed, "...")
    results = _finished(got, call)
    X, _ = _make_data(run_seed)
    for rank, report in enumerate(got["reports"]):
        _check_batches(report["batches"], X, run_seed, rank, steps, call)
    _, state = _reference_run(run_seed, lr, steps)
    for rank, result in enumerate(results):
        _check_state(result["state"], state, rank, call)


def test_train_ddp_validates_before_creating_a_process_group(learner):
    """steps=0, lr=0 and world_size=3 (does not divide 32) raise ValueError before init."""
    cases = (
        {"world_size": 2, "steps": 0, "lr": 0.1},
        {"world_size": 2, "steps": 1, "lr": 0.0},
        {"world_size": 3, "steps": 1, "lr": 0.1},
    )
    reports = learner.run(ddp_rejected, list(cases))
    for case, got in zip(cases, reports, strict=True):
        call = (
            f"called train_ddp(0, {case['world_size']}, steps={case['steps']}, lr={case['lr']}, "
            "seed=0, init_method=...)"
        )
        if got["init_calls"]:
            raise fail(
                f"{call}; it called torch.distributed.init_process_group before raising: check "
                "the arguments first, so that a bad call fails at once instead of waiting for "
                "ranks that will never join"
            )
        if got["error"] != "ValueError":
            raise fail(f"{call}; expected ValueError, got {got['error']}")


def test_process_group_is_destroyed_even_when_training_fails(learner, seed):
    """When training raises, destroy_process_group still runs (finally) and the error propagates.

    Then the same two processes call train_ddp again, correctly: that needs the first call to
    have destroyed its group, and the second must clean up after success too.
    """
    run_seed = seed.python_random(13).randrange(10**4)
    got = learner.run(ddp_ranks, run_seed, 0.1, 1, "file", "raise_then_record")
    call = (
        "forked 2 processes calling train_ddp(rank, 2, ...) where make_model raises "
        "RuntimeError('grader: make_model failed on purpose')"
    )
    _exited(got, call)
    for rank, report in enumerate(got["reports"]):
        first = (report or {}).get("failing")
        if first is None:
            raise fail(f"{call}; rank {rank} reported nothing (it did not return or raise)")
        if first.get("error") != "RuntimeError":
            shown = first.get("error") or "no exception (it returned normally)"
            raise fail(
                f"{call}; rank {rank} raised {shown}, expected the RuntimeError from make_model "
                "to propagate: do not catch it"
            )
        if first["initialized_after"]:
            raise fail(
                f"{call}; after the error, rank {rank}'s default process group was still "
                "initialised: call torch.distributed.destroy_process_group() in a finally block, "
                "so it runs whether training succeeds or raises"
            )
    ok_call = (
        f"then, in the same 2 processes, called train_ddp(rank, 2, steps=1, lr=0.1, "
        f"seed={run_seed}, ...) without the failure"
    )
    ok = {**got, "reports": [report.get("ok") for report in got["reports"]]}
    results = _finished(ok, ok_call)
    grads, _ = _reference_run(run_seed, 0.1, 1)
    for rank, result in enumerate(results):
        _check_grads(result, grads, run_seed, rank, ok_call)


# ----------------------------------------------------------------------------- main


def test_main_writes_rank_zero_result_with_the_defaults(learner, seed):
    """main(argv) in 2 processes with torchrun's env vars: rank 0 alone writes OUT/result.pt."""
    steps = seed.python_random(20).randint(2, 4)
    got = learner.run(main_ranks, steps)
    call = (
        f"forked 2 processes with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and "
        f"MASTER_PORT set, calling main(['--steps', '{steps}', '--out', OUT]) (default lr and seed)"
    )
    _exited(got, call)
    for rank, report in enumerate(got["reports"]):
        if report and "error" in report:
            hint = (
                ": argparse stopped the process; parse the list given to main, "
                "parser.parse_args(argv) (None means sys.argv[1:])"
                if report["error"] == "SystemExit"
                else ""
            )
            raise fail(f"{call}; rank {rank} raised {report['error']} {report['message']}{hint}")
    _port_closed(got, call)
    _main_result(got, call, seed=0, lr=0.1, steps=steps)


def test_torchrun_launches_the_file(learner, seed):
    """python -m torch.distributed.run --standalone --nproc-per-node 2 your_file.py ... works."""
    rng = seed.python_random(21)
    steps, run_seed, lr = rng.randint(2, 4), rng.randrange(10**4), round(rng.uniform(0.05, 0.3), 3)
    got = learner.run(launched_by_torchrun, steps, run_seed, lr, TORCHRUN_TIMEOUT_S)
    call = (
        "ran python -m torch.distributed.run --standalone --nproc-per-node 2 <your file> "
        f"--steps {steps} --out OUT/runs/ddp --seed {run_seed} --lr {lr}"
    )
    if got["timed_out"]:
        raise fail(
            f"{call}; it was still running after {TORCHRUN_TIMEOUT_S:g} s and was stopped. Last "
            f"output:\n{got['log']}"
        )
    if got["left"]:
        raise fail(f"{call}; {got['left']} process(es) were still alive after torchrun ended")
    if got["returncode"] != 0:
        raise fail(f"{call}; it exited with status {got['returncode']}. Last output:\n{got['log']}")
    _main_result(got, call, seed=run_seed, lr=lr, steps=steps)


# ----------------------------------------------------------------------------- scenarios


@scenario
def rejected_shard(mod: Any, n: int, world_size: int, rank: int) -> str:
    """shard_indices with invalid arguments: the exception's class name."""
    shard_indices = learner_attr(mod, "shard_indices")
    try:
        shard_indices(n, world_size, rank)
    except Exception as exc:  # the learner's: reported as data
        if isinstance(exc, NotImplementedError):
            raise
        return type(exc).__name__
    return "nothing (the call returned normally)"


@scenario
def ddp_ranks(
    mod: Any, seed: int, lr: float, steps: int, init: str, mode: str = "record"
) -> dict[str, Any]:
    """Fork 2 ranks calling train_ddp; each records its forward inputs (or make_model raises)."""
    learner_attr(mod, "train_ddp")
    learner_attr(mod, "make_model")
    job = {"kind": "train", "seed": seed, "lr": lr, "steps": steps, "init": init, "mode": mode}
    got = _run_job(mod, job)
    _reraise_stub(mod, got)
    return got


@scenario
def ddp_rejected(mod: Any, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """In one forked child: train_ddp with each case's invalid arguments, init stubbed out."""
    learner_attr(mod, "train_ddp")
    got = _run_job(mod, {"kind": "rejected", "cases": cases})
    child = got["reports"][0] or {}
    reports = child.get("result")
    if not isinstance(reports, list) or len(reports) != len(cases):
        reports = [{"error": _exit_text(got, 0), "init_calls": []}] * len(cases)
    _reraise_stub(mod, {"reports": reports})
    return [{"error": r["error"], "init_calls": r.get("init_calls", [])} for r in reports]


@scenario
def main_ranks(mod: Any, steps: int) -> dict[str, Any]:
    """Fork 2 ranks with torchrun's environment variables, each calling main(argv)."""
    learner_attr(mod, "main")
    got = _run_job(mod, {"kind": "main", "steps": steps})
    _reraise_stub(mod, got)
    return got


@scenario
def launched_by_torchrun(
    mod: Any, steps: int, seed: int, lr: float, timeout_s: float
) -> dict[str, Any]:
    """Run the learner's file under torchrun in a subprocess; read OUT/result.pt."""
    learner_attr(mod, "main")
    tmp = Path(tempfile.mkdtemp(prefix="pp510-"))
    out = tmp / "runs" / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        str(Path(mod.__file__).resolve()), "--steps", str(steps), "--out", str(out),
        "--seed", str(seed), "--lr", repr(lr),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    log_path = tmp / "log.txt"
    try:
        # A rank killed by a signal (a gloo connection dropped on a loaded machine) gets one
        # more launch; a second death, or any other failure, is the result.
        for attempt in range(2):
            with log_path.open("wb") as log:
                code, timed_out, left = _supervise(command, tmp, env, log, timeout_s)
            # torchrun reports a rank that died by a signal with a negative exit code.
            killed = re.search(r"exitcode\s*:\s*-\d+", log_path.read_text(errors="replace"))
            if code == 0 or timed_out or not killed or attempt == 1:
                break
            shutil.rmtree(out, ignore_errors=True)
        got: dict[str, Any] = {
            "returncode": code,
            "timed_out": timed_out,
            "left": left,
            "log": log_path.read_text(errors="replace"),
            **_read_out(out),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stub = re.search(r"NotImplementedError: 5\.10: (\w+)", got["log"])
    if stub:
        _probe_stub(mod, stub.group(1))
    got["log"] = _excerpt(got["log"])
    return got


# ----------------------------------------------------------------------------- helpers: the data


def _make_model(seed: int) -> nn.Module:
    """The judge's copy of the stub's make_model (they must stay identical)."""
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.5 * torch.randn(param.shape, generator=gen))
    return model


def _make_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's copy of the stub's make_data (they must stay identical)."""
    gen = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(N_SAMPLES, 6, generator=gen)
    y = torch.randint(0, 3, (N_SAMPLES,), generator=gen)
    return X, y


def _reference_run(
    seed: int, lr: float, steps: int
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Single-process full-batch SGD: the first step's gradients and the final state."""
    model = _make_model(seed)
    X, y = _make_data(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    grads: list[torch.Tensor] = []
    for step in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        if step == 0:
            grads = [p.grad.detach().clone() for p in model.parameters()]
        optimizer.step()
    return grads, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _shard_grads(seed: int, rank: int, reduce: str) -> list[torch.Tensor]:
    """A known mistake's first-step gradients: one rank's shard only, or summed over ranks."""
    X, y = _make_data(seed)
    per_rank = []
    for r in range(2):
        model = _make_model(seed)
        idx = _sampler(N_SAMPLES, 2, r, seed=seed, epoch=0, shuffle=True)
        F.cross_entropy(model(X[idx]), y[idx]).backward()
        per_rank.append([p.grad.detach().clone() for p in model.parameters()])
    if reduce == "local":
        return per_rank[rank]
    return [a + b for a, b in zip(*per_rank, strict=True)]


def _sampler(
    n: int, world_size: int, rank: int, *, seed: int, epoch: int, shuffle: bool
) -> list[int]:
    sampler = DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
    )
    sampler.set_epoch(epoch)
    return [int(i) for i in sampler]


# ----------------------------------------------------------------------------- helpers: verdicts


def _ddp_call(steps: int, lr: float, seed: int, init: str) -> str:
    return (
        f"forked 2 processes calling train_ddp(rank, 2, steps={steps}, lr={lr}, seed={seed}, "
        f"init_method={init})"
    )


def _check_shard(
    got: Any, want: list[int], n: int, world_size: int, rank: int, options: dict[str, Any]
) -> None:
    shown = ", ".join(
        [str(n), str(world_size), str(rank)] + [f"{k}={v!r}" for k, v in options.items()]
    )
    call = f"called shard_indices({shown})"
    if not isinstance(got, list) or not all(type(i) is int for i in got):
        raise fail(
            f"{call}; returned {describe(got)}, expected a list of Python ints: list(sampler)"
        )
    if got == want:
        return
    seed = options.get("seed", 0)
    epoch = options.get("epoch", 0)
    shuffle = options.get("shuffle", True)
    per_rank = math.ceil(n / world_size) if world_size else 0
    order = _sampler(n, 1, 0, seed=seed, epoch=epoch, shuffle=shuffle)
    padded = (order * (world_size + 1))[: per_rank * world_size]
    mistakes = [
        (_sampler(n, world_size, rank, seed=seed, epoch=0, shuffle=shuffle),
         "that is the order of epoch 0: call sampler.set_epoch(epoch) before iterating, or "
         "every epoch repeats the same shuffle"),
        (padded[rank * per_rank : (rank + 1) * per_rank],
         "that is a contiguous block of the permutation; DistributedSampler interleaves: rank r "
         "takes every world_size-th index, starting at r"),
        (order[rank : (n // world_size) * world_size : world_size],
         "that drops the tail (drop_last=True); with drop_last=False the sampler pads by "
         "repeating the first indices, so every shard has ceil(n / world_size) of them"),
        (_sampler(n, world_size, rank, seed=seed, epoch=epoch, shuffle=not shuffle),
         f"that is the order with shuffle={not shuffle}: pass shuffle on"),
    ]  # fmt: skip
    advice = name_the_mistake(got, mistakes, lambda a, b: a == b)
    why = advice or (
        "build DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, "
        "seed=seed, drop_last=False), call set_epoch(epoch) and return list(sampler)"
    )
    raise fail(f"{call}; returned {_short_list(got)}, expected {_short_list(want)}: {why}")


def _short_list(values: Any) -> str:
    if isinstance(values, list) and len(values) > 12:
        return f"[{', '.join(map(str, values[:12]))}, ...] ({len(values)} items)"
    return str(values)


def _exit_text(got: dict[str, Any], rank: int) -> str:
    code = got["exitcodes"][rank]
    if code is None:
        return "a process that never ended"
    if code < 0:
        return f"a process killed by signal {-code}"
    return f"a process that exited with status {code} without reporting"


def _exited(got: dict[str, Any], call: str) -> None:
    """Both ranks ended on their own, with status 0, and no child process is left."""
    if got["timed_out"]:
        raise fail(
            f"{call}; the ranks were still running after {FORK_TIMEOUT_S:g} s and were killed: "
            "both must call the same collectives (DDP's forward/backward) the same number of "
            "times, or one waits forever for the other"
        )
    for rank, code in enumerate(got["exitcodes"]):
        if code != 0:
            raise fail(f"{call}; rank {rank} ended as {_exit_text(got, rank)}")
    if got["left"]:
        raise fail(f"{call}; {got['left']} child process(es) were still alive afterwards")


def _finished(got: dict[str, Any], call: str) -> list[dict[str, Any]]:
    """The learner's result on each rank, once both ranks ran to the end without an error."""
    _exited(got, call)
    results = []
    for rank, report in enumerate(got["reports"]):
        if report is None:
            raise fail(f"{call}; rank {rank} reported nothing")
        if "error" in report:
            raise fail(f"{call}; rank {rank} raised {report['error']}: {report['message']}")
        if report["initialized_after"]:
            raise fail(
                f"{call}; after train_ddp returned, rank {rank}'s default process group was still "
                "initialised: call torch.distributed.destroy_process_group() in a finally block"
            )
        result = report["result"]
        if not isinstance(result, dict) or set(result) != {"rank", "grads", "state"}:
            shown = sorted(result) if isinstance(result, dict) else describe(result)
            raise fail(
                f"{call}; rank {rank} returned {shown}, expected a dict with the keys 'rank', "
                "'grads' and 'state'"
            )
        if result["rank"] != rank or type(result["rank"]) is not int:
            raise fail(f"{call}; rank {rank} returned rank={result['rank']!r}, expected {rank}")
        results.append(result)
    return results


def _check_grads(
    result: dict[str, Any], grads: list[torch.Tensor], seed: int, rank: int, call: str
) -> None:
    got = result["grads"]
    if not isinstance(got, list) or len(got) != len(grads):
        raise fail(
            f"{call}; rank {rank}'s grads is {describe(got)}, expected a list of {len(grads)} "
            "tensors (one per parameter, in model.parameters() order)"
        )
    for index, (g, want) in enumerate(zip(got, grads, strict=True)):
        what = f"rank {rank}'s grads[{index}] (the gradient of {PARAMS[index]} at the first step)"
        if not isinstance(g, torch.Tensor) or g.shape != want.shape:
            assert_close(g, want, what=what, call=call)
        if bool(((g.double() - want.double()).abs() <= 1e-6 + 1e-5 * want.double().abs()).all()):
            continue
        mistakes = [
            (_shard_grads(seed, rank, "local")[index],
             "that is the gradient of this rank's shard alone: wrap the model in "
             "DistributedDataParallel, whose backward averages the gradients over the ranks"),
            (_shard_grads(seed, rank, "sum")[index],
             "that is the SUM of the ranks' gradients: average them (divide by world_size), as "
             "DistributedDataParallel does"),
        ]  # fmt: skip
        advice = name_the_mistake(
            g, mistakes, lambda a, b: bool(((a.double() - b.double()).abs() <= 1e-6).all())
        )
        if advice:
            raise fail(f"{call}; {what} is not the gradient of the mean loss over all 32 "
                       f"samples: {advice}")  # fmt: skip
        assert_close(g, want, what=what, rtol=1e-5, atol=1e-6, call=call)


def _check_state(state: Any, want: dict[str, torch.Tensor], rank: int, call: str) -> None:
    if isinstance(state, dict) and state and all(str(k).startswith("module.") for k in state):
        raise fail(
            f"{call}; rank {rank}'s state has the keys {sorted(state)}: that is the DDP wrapper's "
            "state_dict; return ddp_model.module.state_dict() (the inner model's, without the "
            "'module.' prefix)"
        )
    if not isinstance(state, dict) or set(state) != set(want):
        shown = sorted(state) if isinstance(state, dict) else describe(state)
        raise fail(f"{call}; rank {rank}'s state has the keys {shown}, expected {sorted(want)}")
    for key, value in want.items():
        assert_close(
            state[key], value, what=f"rank {rank}'s state[{key!r}] after training "
            "(full-batch gradient descent gives these weights)", rtol=1e-5, atol=1e-6, call=call,
        )  # fmt: skip


def _check_batches(
    batches: list[torch.Tensor], X: torch.Tensor, seed: int, rank: int, steps: int, call: str
) -> None:
    if len(batches) != steps:
        raise fail(
            f"{call}; rank {rank}'s model ran {len(batches)} forward passes for {steps} steps, "
            "expected one per step, on the rank's whole shard"
        )
    for step, batch in enumerate(batches):
        want = sorted(_sampler(N_SAMPLES, 2, rank, seed=seed, epoch=step, shuffle=True))
        rows = [_row_index(X, row) for row in batch]
        rows = [-1 if r is None else r for r in rows]
        if sorted(rows) == want:
            continue
        where = f"{call}; at step {step} rank {rank}'s forward got {len(rows)} samples"
        if len(rows) == N_SAMPLES:
            raise fail(
                f"{where}, the whole data set: each rank trains on its shard only, "
                "X[idx] with idx = list(sampler); DDP's averaging makes up the full batch"
            )
        if step and sorted(rows) == sorted(_sampler(N_SAMPLES, 2, rank, seed=seed, epoch=0,
                                                     shuffle=True)):  # fmt: skip
            raise fail(
                f"{where}, the shard of epoch 0 again: call sampler.set_epoch(step) before "
                "reading the indices of each step"
            )
        raise fail(
            f"{where} (rows {sorted(rows)[:8]}...), expected the rows "
            f"{want[:8]}... of shard_indices(32, 2, {rank}, seed={seed}, epoch={step})"
        )


def _row_index(X: torch.Tensor, row: torch.Tensor) -> int | None:
    if row.shape != X.shape[1:]:
        return None
    hits = (row == X).all(dim=1).nonzero().flatten().tolist()
    return int(hits[0]) if hits else None


def _port_closed(got: dict[str, Any], call: str) -> None:
    if got["port_open"]:
        raise fail(
            f"{call}; the rendezvous port still accepts connections after both ranks ended: "
            "destroy the process group and let every process exit"
        )


def _main_result(got: dict[str, Any], call: str, *, seed: int, lr: float, steps: int) -> None:
    if got["files"] is None:
        raise fail(f"{call}; the folder OUT was not created: on rank 0, create it (mkdir)")
    if "result.pt" not in got["files"]:
        raise fail(f"{call}; OUT holds {got['files']}, expected result.pt written by rank 0")
    extra = [name for name in got["files"] if name != "result.pt"]
    if extra:
        raise fail(f"{call}; OUT also holds {extra}: only rank 0 writes, and only result.pt")
    if got["load_error"]:
        raise fail(
            f"{call}; OUT/result.pt does not load with torch.load(path, weights_only=True) "
            f"({got['load_error']}): save only tensors, ints and plain dicts/lists"
        )
    result = got["result"]
    if not isinstance(result, dict) or not {"grads", "state"} <= set(result):
        shown = sorted(result) if isinstance(result, dict) else describe(result)
        raise fail(
            f"{call}; result.pt holds {shown}, expected train_ddp's dict (rank, grads, state)"
        )
    if result.get("rank") != 0:
        raise fail(f"{call}; result.pt holds rank={result.get('rank')!r}: rank 0 writes it")
    grads, state = _reference_run(seed, lr, steps)
    _check_grads(result, grads, seed, 0, call)
    _check_state(result["state"], state, 0, call)


# ----------------------------------------------------------------------------- helpers: jobs


def _run_job(mod: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Run a DDP job on the learner's module: ranks forked from here, or from a fresh Python.

    Forked children cannot run backward once this process has run a backward through a
    compiled or exported graph ("Unable to handle autograd's threading in combination with
    fork-based multiprocessing"): an earlier exercise in the same ``check`` may have done
    it. Then the job runs in a helper interpreter that imports this file and the learner's
    and forks the ranks itself: started once (a few seconds for its import of torch), it
    serves the later jobs too.
    """
    if not _FORK["dirty"] and _fork_is_clean():
        return _job(mod, job)
    _FORK["dirty"] = True  # it stays so for the life of this process
    return _job_in_fresh_python(mod, job)


_FORK = {"dirty": False}


def _job(mod: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Fork the ranks of ``job`` and collect what they report (see the scenarios)."""
    tmp = Path(tempfile.mkdtemp(prefix="pp510-"))
    port: int | None = None
    kind = job["kind"]
    try:
        if kind == "train":
            port = _free_port() if job["init"] == "tcp" else None
            init_method = f"tcp://127.0.0.1:{port}" if port else f"file://{tmp / 'store'}"
            if job["mode"] == "raise_then_record":
                again = f"file://{tmp / 'store-again'}"
                rank_fn = functools.partial(_raise_then_train_rank, mod, job, init_method, again)
            else:
                rank_fn = functools.partial(_train_rank, mod, job, init_method)
            got = _fork_ranks(rank_fn, 2, tmp)
        elif kind == "rejected":
            init_method = f"file://{tmp / 'store'}"
            got = _fork_ranks(functools.partial(_rejected_rank, mod, job, init_method), 1, tmp)
        else:
            port = _free_port()
            out = tmp / "out"
            got = _fork_ranks(functools.partial(_main_rank, mod, job, port, out), 2, tmp)
            got.update(_read_out(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    got["port_open"] = _port_open(port)
    return got


def _train_rank(mod: Any, job: dict[str, Any], init_method: str, rank: int) -> dict[str, Any]:
    """One rank of a train job: train_ddp, with the forward inputs recorded by a hook."""
    batches: list[torch.Tensor] = []
    original = mod.make_model

    def make_model(model_seed: int) -> nn.Module:
        if job["mode"] == "raise":
            raise RuntimeError("grader: make_model failed on purpose")
        model = original(model_seed)
        model.register_forward_pre_hook(
            lambda _module, args: batches.append(args[0].detach().clone())
        )
        return model

    mod.make_model = make_model
    try:
        result = mod.train_ddp(rank, 2, steps=job["steps"], lr=job["lr"], seed=job["seed"],
                               init_method=init_method)  # fmt: skip
        return {"result": _plain(result), "batches": batches}
    finally:
        mod.make_model = original


def _raise_then_train_rank(
    mod: Any, job: dict[str, Any], init_method: str, again: str, rank: int
) -> dict[str, Any]:
    """In the same process: train_ddp with make_model raising, then train_ddp run correctly.

    Each call's outcome is reported, with whether a process group was still initialised
    after it; the second call needs the first to have destroyed its group.
    """
    import torch.distributed as dist

    calls = (("failing", {**job, "mode": "raise"}, init_method),
             ("ok", {**job, "mode": "record"}, again))  # fmt: skip
    report: dict[str, Any] = {}
    for key, call_job, method in calls:
        try:
            outcome = _train_rank(mod, call_job, method, rank)
        except Exception as exc:  # the learner's: reported as data
            outcome = {"error": type(exc).__name__, "message": str(exc)[:1000]}
        outcome = _plain(outcome)
        outcome["initialized_after"] = bool(dist.is_initialized())
        report[key] = outcome
    return report


def _rejected_rank(mod: Any, job: dict[str, Any], init_method: str, rank: int) -> dict[str, Any]:
    """train_ddp with each case's invalid arguments, init_process_group stubbed out.

    The cases run one after the other in this process; if one hangs, the child is killed and
    every case is reported as the way the process ended.
    """
    import torch.distributed as dist

    reports: list[dict[str, Any]] = []
    original = dist.init_process_group
    for case in job["cases"]:
        calls: list[str] = []

        def init_process_group(*args: Any, _calls: list[str] = calls, **kwargs: Any) -> None:
            _calls.append("init")
            raise RuntimeError("grader: init_process_group must not be reached here")

        dist.init_process_group = init_process_group
        try:
            mod.train_ddp(rank, case["world_size"], steps=case["steps"], lr=case["lr"], seed=0,
                          init_method=init_method)  # fmt: skip
        except Exception as exc:  # the learner's: reported as data
            reports.append(
                {"error": type(exc).__name__, "message": str(exc)[:500], "init_calls": calls}
            )
        else:
            reports.append({"error": "nothing (the call returned normally)", "init_calls": calls})
        finally:
            dist.init_process_group = original
    return {"result": reports}


def _main_rank(mod: Any, job: dict[str, Any], port: int, out: Path, rank: int) -> dict[str, Any]:
    """main(argv) with the environment torchrun gives rank ``rank`` of 2."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    mod.main(["--steps", str(job["steps"]), "--out", str(out)])
    return {}


def _fork_is_clean() -> bool:
    """Whether a child forked from this process can still run autograd."""
    proc = torch.multiprocessing.get_context("fork").Process(target=_backward_probe, daemon=True)
    proc.start()
    proc.join(FORK_TIMEOUT_S)
    if proc.is_alive():
        proc.kill()
        proc.join(10)
    return proc.exitcode == 0


def _backward_probe() -> None:
    torch.set_num_threads(1)
    try:
        x = torch.ones(2, requires_grad=True)
        (x * 2).sum().backward()
    except RuntimeError:
        raise SystemExit(3) from None


_BOOT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("pp510_grader", sys.argv[1])
grader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(grader)
grader._serve_jobs(sys.argv[2])
"""

_HELPER: dict[str, Any] = {}
"""The fresh interpreter that forks the ranks when this process cannot: started once, reused.

``{"learner": path, "proc": Popen, "tmp": Path}``. It reads one job file name per line on
stdin and answers ``done`` on stdout; it ends when its stdin closes (:func:`_stop_helper`,
at the end of this module's tests or at exit, or when this process dies).
"""


def _job_in_fresh_python(mod: Any, job: dict[str, Any]) -> dict[str, Any]:
    """``_job`` in the helper interpreter (this file and the learner's, imported by path)."""
    proc, tmp = _helper(str(Path(mod.__file__).resolve()))
    job_path = Path(tempfile.mkdtemp(prefix="job-", dir=tmp)) / "job.pt"
    torch.save(job, job_path)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(f"{job_path}\n".encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], FORK_TIMEOUT_S + 60.0)
        line = proc.stdout.readline() if ready else b""
    except (BrokenPipeError, OSError):
        line = b""
    answer = job_path.with_suffix(".out")
    if line.strip() == b"done" and answer.exists():
        got: dict[str, Any] = torch.load(answer, weights_only=True)
        shutil.rmtree(job_path.parent, ignore_errors=True)
        return got
    text = (tmp / "log.txt").read_text(errors="replace")
    code = proc.poll()
    _stop_helper()
    status = f"ended with status {code}" if code is not None else "stopped answering"
    raise RuntimeError(f"the grader's helper process {status} before reporting:\n{_excerpt(text)}")


def _helper(learner_path: str) -> tuple[subprocess.Popen[bytes], Path]:
    """The helper interpreter for this learner file: the running one, or a new one."""
    if _HELPER and (_HELPER["learner"] != learner_path or _HELPER["proc"].poll() is not None):
        _stop_helper()
    if not _HELPER:
        tmp = Path(tempfile.mkdtemp(prefix="pp510-helper-"))
        command = [sys.executable, "-c", _BOOT, str(Path(__file__).resolve()), learner_path]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with (tmp / "log.txt").open("wb") as log:
            proc = subprocess.Popen(
                command, cwd=tmp, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, start_new_session=True,
            )  # fmt: skip
        _HELPER.update(learner=learner_path, proc=proc, tmp=tmp)
    return _HELPER["proc"], _HELPER["tmp"]


def _stop_helper() -> None:
    """End the helper interpreter and everything it started; remove its folder."""
    if not _HELPER:
        return
    proc, tmp = _HELPER.pop("proc"), _HELPER.pop("tmp")
    _HELPER.clear()
    seen = _descendants(proc.pid)
    with contextlib.suppress(OSError, ValueError):
        proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    _kill_all({pid for pid in seen | _descendants(proc.pid) if _alive(pid)})
    with contextlib.suppress(OSError, ValueError):
        proc.stdout.close()
    shutil.rmtree(tmp, ignore_errors=True)


atexit.register(_stop_helper)


@pytest.fixture(scope="module", autouse=True)
def _helper_stops_with_the_module() -> Any:
    """No helper interpreter outlives this grader's tests (where they run in this process)."""
    yield
    _stop_helper()


def _serve_jobs(learner_path: str) -> None:
    """The helper interpreter's side of ``_job_in_fresh_python``: one job per stdin line."""
    spec = importlib.util.spec_from_file_location("pp510_learner", learner_path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # the learner's prints go to the log, not into the answers
    for line in sys.stdin.buffer:
        job_path = Path(line.decode().strip())
        got = _job(mod, torch.load(job_path, weights_only=True))
        torch.save(got, job_path.with_suffix(".out"))
        out.write(b"done\n")
        out.flush()


def _supervise(
    command: list[str], cwd: Path, env: dict[str, str], log: Any, timeout_s: float
) -> tuple[int | None, bool, int]:
    """Run ``command`` in its own session; kill it and every descendant if it overruns.

    Returns the exit status, whether it timed out, and how many of its descendants (seen in
    /proc while it ran) were still alive after it ended (those are killed too).
    """
    seen: set[int] = set()
    timed_out = False
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            seen |= _descendants(proc.pid)
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            _kill_all(seen | _descendants(proc.pid))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
        left = [pid for pid in seen if _alive(pid)]
        _kill_all(set(left))
    return proc.returncode, timed_out, len(left)


# ----------------------------------------------------------------------------- helpers: processes


def _fork_ranks(
    target: Callable[[int], dict[str, Any]], world_size: int, tmp: Path
) -> dict[str, Any]:
    """Run ``target(rank)`` in ``world_size`` forked processes; join, or kill, every one.

    Each child saves ``target``'s report (or its exception) and whether a process group is
    still initialised; nothing the children started survives this function.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel  # noqa: F401  (imported before fork)

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # the lazy imports, once
    context = torch.multiprocessing.get_context("fork")
    procs: list[Any] = []
    timed_out = False
    try:
        for rank in range(world_size):
            proc = context.Process(target=_child, args=(target, rank, tmp, dist), daemon=True)
            proc.start()
            procs.append(proc)
        deadline = time.monotonic() + FORK_TIMEOUT_S
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        timed_out = any(proc.is_alive() for proc in procs)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        for proc in procs:
            proc.join(10)
    reports = []
    for rank in range(world_size):
        path = tmp / f"rank{rank}.pt"
        reports.append(torch.load(path, weights_only=True) if path.exists() else None)
    mine = {proc.pid for proc in procs}
    left = [c for c in multiprocessing.active_children() if c.pid in mine]
    left += [proc for proc in procs if proc.is_alive() and proc not in left]
    return {
        "exitcodes": [proc.exitcode for proc in procs],
        "timed_out": timed_out,
        "reports": reports,
        "left": len(left),
    }


def _child(target: Callable[[int], dict[str, Any]], rank: int, tmp: Path, dist: Any) -> None:
    torch.set_num_threads(1)
    try:
        report = target(rank)
    except BaseException as exc:  # the learner's, reported as data
        report = {"error": type(exc).__name__, "message": str(exc)[:1000]}
    report = _plain(report)
    report["initialized_after"] = bool(dist.is_initialized())
    torch.save(report, tmp / f"rank{rank}.pt")


def _plain(value: Any) -> Any:
    """Tensors, numbers, strings and containers of them; anything else described."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone().as_subclass(torch.Tensor)
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (int, str)) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or type(value) in (bool, int, float, str):
        return value
    return f"<{describe(value)}>"


def _reraise_stub(mod: Any, got: dict[str, Any]) -> None:
    """A stub's NotImplementedError happened in a child: raise it here, from the stub itself."""
    reports = [r for r in got.get("reports", []) if r]
    reports += [r[key] for r in reports for key in ("failing", "ok") if r.get(key)]
    for report in reports:
        if report.get("error") == "NotImplementedError":
            found = re.match(r"5\.10: (\w+)", report.get("message", ""))
            if found:
                _probe_stub(mod, found.group(1))


def _probe_stub(mod: Any, name: str) -> None:
    """Call ``name`` with harmless arguments: a stub raises its NotImplementedError."""
    tmp = tempfile.mkdtemp(prefix="pp510-probe-")
    try:
        if name == "shard_indices":
            mod.shard_indices(4, 2, 0)
        elif name == "train_ddp":
            mod.train_ddp(0, 1, steps=0, lr=0.1, seed=0, init_method=f"file://{tmp}/store")
        elif name == "main":
            saved = {k: os.environ.pop(k) for k in ("RANK", "WORLD_SIZE") if k in os.environ}
            try:
                mod.main(["--steps", "0", "--out", tmp])
            finally:
                os.environ.update(saved)
    except NotImplementedError:
        raise
    except (Exception, SystemExit):  # not a stub after all: the test reports the failure
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_out(out: Path) -> dict[str, Any]:
    """What rank 0 wrote: the folder's file names and result.pt loaded weights-only."""
    if not out.is_dir():
        return {"files": None, "result": None, "load_error": ""}
    files = sorted(path.name for path in out.iterdir())
    result, error = None, ""
    if "result.pt" in files:
        try:
            result = _plain(torch.load(out / "result.pt", weights_only=True))
        except Exception as exc:  # a file the learner wrote
            text = str(exc).strip()
            error = f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"
    return {"files": files, "result": result, "load_error": error}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int | None) -> bool:
    if port is None:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid``, from /proc (empty where /proc cannot be read)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [path.name for path in Path("/proc").iterdir()]
    except OSError:
        return set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with Path(f"/proc/{entry}/stat").open("rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with Path(f"/proc/{pid}/stat").open("rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 :].split()[:1]
    return state != ["Z"]


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _excerpt(text: str, tail: int = 12) -> str:
    """A worker's first traceback (the learner's error, usually), then the log's last lines."""
    lines = [line for line in text.splitlines() if line.strip()]
    first: list[str] = []
    if "Traceback (most recent call last):" in lines:
        start = lines.index("Traceback (most recent call last):")
        for line in lines[start:]:
            first.append(line)
            if len(first) > 1 and not line.startswith((" ", "\t")):
                break
        first = first[-30:]
    last = [line for line in lines[-tail:] if line not in first]
    return "\n".join(first + (["..."] if first and last else []) + last)
