"""Grader for 2.5: checkpoint and exact resume.

The central check is a twin experiment run by this grader's own training loop: run A
trains ``N`` epochs without a break (the judge runs it itself); run B trains ``k`` epochs,
saves with the learner's ``save_checkpoint``, and fresh model/optimizer/scheduler objects
(built after every global RNG has been scrambled) load it with the learner's
``load_checkpoint`` and train the remaining epochs. Adam (which has state), a StepLR (which
counts epochs), dropout and a shuffle (torch RNG), a noise augmentation (NumPy RNG) and a
random sign flip (Python ``random``) make every part of the checkpoint matter: B must end
exactly where A ends.

Run B happens where the learner's code runs, in a temporary folder of its own; it sends back
data only: the bytes of the checkpoint file (which the judge opens with
``torch.load(..., weights_only=True)``), the state dicts after saving or loading, and the
RNG states. What was saved and restored is compared with the judge's own run of the same
training.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import io
import pickle
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import assert_close, describe, fail, tolerance
from pytorch_path.scenario import LearnerError, scenario

_KEYS = ("model", "optimizer", "scheduler", "epoch", "rng", "extra")
_TRAP = "_pytorch_path_checkpoint_trap"
_SAVE = "save_checkpoint"
_LOAD = "load_checkpoint"


# ----------------------------------------------------------------------------- the file


@pytest.mark.points(2)
def test_checkpoint_file_holds_state_dicts(learner, device, seed):
    """save_checkpoint writes one file at path: state_dicts, epoch, RNG, extra; safe to load.

    The second call leaves ``extra`` out: its default is None.
    """
    for index, extra in enumerate(({"best_val": 0.625, "note": "run-7"}, None)):
        cfg = _config(seed, index)
        X, y = _data(cfg, seed, 10 + index, device)
        given = f", extra={extra!r})" if extra is not None else ") (extra left out)"
        call = (
            f"called save_checkpoint(path, model=..., optimizer=Adam, scheduler=StepLR, "
            f"epoch={cfg.k - 1}{given}"
        )
        got = _run(learner, save, _asdict(cfg), X, y, extra, as_str=index == 1, calls={_SAVE: call})
        expected, _ = _judge_run(cfg, device, X, y, cfg.k)  # the run up to the checkpoint
        # Saving must not disturb the run it is saving.
        if not got["params_same"]:
            raise fail(f"{call}; saving replaced the model's parameters; it must only read them")
        _compare_state(got["after"], got["before"], when="after saving", call=call)
        if any(kind != device.type for kind in got["devices"]):
            raise fail(
                f"{call}; after saving, the model is on {got['devices']}, it was on {device}: "
                "saving must not move the model (state_dict() works on any device)"
            )
        moved = _rng_problems(got["rng_after"], got["rng_before"])
        if moved:
            raise fail(
                f"{call}; saving changed {_RNG_NAMES[moved[0]][0]}: read the RNG states "
                "(get_state), do not draw from or reseed a generator while saving"
            )

        name = got["name"]
        if got["files"] != [name]:
            raise fail(
                f"{call} with path={name!r} in an empty folder; afterwards the folder "
                f"holds {got['files']}, expected exactly one file, {name!r}: put everything in "
                "one dict and write it with a single torch.save(checkpoint, path)"
            )
        ckpt = _weights_only_load(got["file"], call)
        if not isinstance(ckpt, dict):
            raise fail(f"{call}; the file holds {describe(ckpt)}, expected a dict")
        missing = [key for key in _KEYS if key not in ckpt]
        if missing:
            raise fail(
                f"{call}; the checkpoint dict has keys {sorted(map(str, ckpt))}, missing "
                f"{missing}; expected {list(_KEYS)}"
            )
        tol = tolerance(torch.float32, device)  # the learner's copy of a run vs the judge's
        sd = ckpt["model"]
        expected_keys = list(expected["model"])
        if not isinstance(sd, dict) or sorted(map(str, sd)) != sorted(expected_keys):
            raise fail(
                f"{call}; checkpoint['model'] is {describe(sd)}, expected model.state_dict(): "
                f"a dict with keys {expected_keys[:4]}... (parameters and buffers)"
            )
        for key, want in expected["model"].items():
            assert_close(
                sd[key],
                want.cpu(),
                what=f"checkpoint['model'][{key!r}] (loaded with map_location='cpu')",
                call=call,
                **tol,
            )
        opt = ckpt["optimizer"]
        if not isinstance(opt, dict) or set(opt) != {"state", "param_groups"}:
            raise fail(
                f"{call}; checkpoint['optimizer'] is {describe(opt)}, expected "
                "optimizer.state_dict(), a dict with keys 'state' and 'param_groups'"
            )
        want_opt = expected["optimizer"]["state"]
        if not isinstance(opt["state"], dict) or sorted(opt["state"]) != sorted(want_opt):
            raise fail(
                f"{call}; checkpoint['optimizer']['state'] holds {len(opt['state'])} entries, "
                f"expected {len(want_opt)} (one per parameter)"
            )
        for i, want_state in want_opt.items():
            for key, value in want_state.items():
                assert_close(
                    opt["state"][i].get(key) if isinstance(opt["state"][i], dict) else None,
                    value.cpu(),
                    what=f"checkpoint['optimizer']['state'][{i}][{key!r}]",
                    call=call,
                    **tol,
                )
        sched = ckpt["scheduler"]
        if not isinstance(sched, dict) or sched.get("last_epoch") != cfg.k:
            raise fail(
                f"{call}; checkpoint['scheduler'] is {describe(sched)}, expected "
                f"scheduler.state_dict() (a dict whose 'last_epoch' is {cfg.k})"
            )
        if type(ckpt["epoch"]) is not int or ckpt["epoch"] != cfg.k - 1:
            raise fail(
                f"{call}; checkpoint['epoch'] is {describe(ckpt['epoch'])}, expected the int "
                f"{cfg.k - 1}, the epoch argument as given"
            )
        if ckpt["extra"] != extra:
            raise fail(
                f"{call}; checkpoint['extra'] is {describe(ckpt['extra'])}, expected "
                f"{extra!r}: store the extra argument as given (None when it is left out)"
            )
        if not isinstance(ckpt["rng"], dict) or not ckpt["rng"]:
            raise fail(
                f"{call}; checkpoint['rng'] is {describe(ckpt['rng'])}, expected a dict holding "
                "the states of torch's, NumPy's and Python's random number generators"
            )


# ----------------------------------------------------------------------------- loading


@pytest.mark.points(2)
def test_load_restores_everything(learner, device, seed):
    """load_checkpoint into new objects restores weights, Adam, StepLR, RNGs; returns epoch+1."""
    for index in range(2):
        cfg = _config(seed, 20 + index)
        X, y = _data(cfg, seed, 30 + index, device)
        call = (
            "called load_checkpoint(path, model=<a new model>, optimizer=<a new Adam>, "
            f"scheduler=<a new StepLR>) on a checkpoint saved with epoch={cfg.k - 1}"
        )
        calls = {_SAVE: _save_call(cfg), _LOAD: call}
        got = _run(learner, save_and_load, _asdict(cfg), X, y, cfg.rng_seed + 17, calls=calls)
        expected, _ = _judge_run(cfg, device, X, y, cfg.k)
        _check_start(got["start"], cfg.k, call)
        if not got["params_same"]:
            raise fail(
                f"{call}; the model's Parameters were replaced; load in place with "
                "model.load_state_dict(...), so the optimizer still holds the model's parameters"
            )
        for kind in got["devices"]:
            if kind != device.type:
                raise fail(
                    f"{call}; after loading, a parameter is on {kind}, the model was on "
                    f"{device}: load_state_dict copies values onto the model's own device; do "
                    "not move the model"
                )
        _compare_state(
            got["loaded"], expected, when="after loading", call=call, loose=device.type != "cpu"
        )
        wrong = _rng_problems(got["rng_after"], got["rng_saved"])
        if wrong:
            name, used_for = _RNG_NAMES[wrong[0]]
            raise fail(
                f"{call}; afterwards {name} is not in the state it was in when the checkpoint "
                f"was saved, so the resumed run draws different {used_for} than the "
                "uninterrupted one. Save each RNG's state in the checkpoint and set it back "
                "when loading"
            )


@pytest.mark.points(3)
def test_resume_matches_uninterrupted_run(learner, device, seed):
    """Training k epochs, saving, loading into new objects and finishing equals one long run."""
    for index in range(2):
        cfg = _config(seed, 40 + index)
        X, y = _data(cfg, seed, 50 + index, device)
        expected, lr_a = _judge_run(cfg, device, X, y, cfg.epochs)  # run A, by the judge

        calls = {_SAVE: _save_call(cfg), _LOAD: "called load_checkpoint(path, ...)"}
        got = _run(learner, resume, _asdict(cfg), X, y, cfg.rng_seed + 29, calls=calls)
        start = got["start"]
        if got["final"] is None:
            raise fail(
                f"load_checkpoint returned {got['start_described']}; expected the int {cfg.k}, "
                "the first epoch still to run"
            )
        call = f"{cfg.text()} (the grader's training loop; your save/load in between)"
        try:
            _compare_state(
                got["final"],
                expected,
                when="at the end of training",
                call=call,
                loose=device.type != "cpu",
            )
        except AssertionError as exc:
            raise fail(
                f"{exc}. The resumed run must follow the uninterrupted one exactly: that needs "
                "the model, Adam's state, the scheduler and every RNG restored, and training "
                f"restarted at the right epoch (load_checkpoint returned {start})"
            ) from None
        last_lr = [float(v) for v in got["final"]["scheduler"].get("_last_lr", [])]
        if last_lr != lr_a:
            raise fail(f"{call}; the final learning rate is {last_lr}, expected {lr_a}")


# ----------------------------------------------------------------------------- portability, safety


def test_gpu_checkpoint_loads_on_cpu(learner, seed):
    """A checkpoint whose tensors were saved on a GPU loads into a CPU model (map_location)."""
    cpu = torch.device("cpu")
    cfg = _config(seed, 60)
    X, y = _data(cfg, seed, 61, cpu)
    # The file is written as a GPU machine would: every storage tagged with a CUDA device
    # that the machine does not have, so torch.load without map_location fails there.
    missing = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda:0"
    call = (
        f"called load_checkpoint(path, ...) on a checkpoint written on a GPU ({missing}) with a "
        f"model on the CPU (saved with epoch={cfg.k - 1})"
    )
    calls = {_SAVE: f"called save_checkpoint(path, ..., epoch={cfg.k - 1})", _LOAD: call}
    got = _run(learner, gpu_file_on_cpu, _asdict(cfg), X, y, missing, calls=calls)
    expected, _ = _judge_run(cfg, cpu, X, y, cfg.k)
    _check_start(got["start"], cfg.k, call)
    _compare_state(got["loaded"], expected, when="after loading", call=call)


def test_load_refuses_pickled_code(learner, device, seed):
    """load_checkpoint refuses a file whose pickle runs code (weights_only=True), loads its own."""
    cfg = _config(seed, 70)
    X, y = _data(cfg, seed, 71, device)
    call = (
        "called load_checkpoint(path, ...) on a file (not written by save_checkpoint) whose "
        "pickle would run Python code while loading"
    )
    own = (
        "after refusing a file whose pickle runs code, called save_checkpoint(path, ..., "
        f"epoch={cfg.k - 1}) and load_checkpoint(path, ...) into new objects"
    )
    got = _run(learner, refuse_pickled_code, _asdict(cfg), X, y, calls={_SAVE: own, _LOAD: own})
    if got["ran"]:
        raise fail(
            f"{call}; the code in the file ran. torch.load(..., weights_only=False) unpickles "
            "arbitrary objects, and unpickling can execute anything: load with "
            "weights_only=True (the default since torch 2.6) and keep your checkpoints to "
            "tensors and plain values so that they load that way"
        )
    if got["raised"] is None:
        raise fail(f"{call}; it returned normally; expected torch.load to refuse the file")
    # Refusing is not enough: a checkpoint of its own still loads, with the right values.
    expected, _ = _judge_run(cfg, device, X, y, cfg.k)
    _check_start(got["start"], cfg.k, own)
    _compare_state(
        got["loaded"], expected, when="after loading", call=own, loose=device.type != "cpu"
    )


# ----------------------------------------------------------------------------- scenarios


@scenario
def save(
    mod: Any, cfg: dict[str, Any], X: torch.Tensor, y: torch.Tensor, extra: Any, *, as_str: bool
) -> dict[str, Any]:
    """Run B up to the checkpoint and save it in an empty folder; what saving left behind."""
    c = Config(**cfg)
    device = X.device
    with tempfile.TemporaryDirectory(prefix="pp-ckpt-") as tmp:
        folder = Path(tmp) / "run"
        folder.mkdir()
        path = folder / "last.pt"
        model, optimizer, scheduler = _build(c, device, c.init_seed)
        _seed_all(c.rng_seed)
        _train(c, model, optimizer, scheduler, X, y, range(c.k))
        before = _snapshot(model, optimizer, scheduler)
        params = list(model.parameters())
        rng_before = _rng_state(device)
        mod.save_checkpoint(
            str(path) if as_str else path,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            epoch=c.k - 1,
            **({} if extra is None else {"extra": extra}),  # None: left at its default
        )
        rng_after = _rng_state(device)
        now = list(model.parameters())
        return {
            "params_same": len(now) == len(params)
            and all(a is b for a, b in zip(now, params, strict=True)),
            "before": before,
            "after": _snapshot(model, optimizer, scheduler),
            "devices": [p.device.type for p in model.parameters()],
            "rng_before": rng_before,
            "rng_after": rng_after,
            "name": path.name,
            "files": sorted(p.name for p in folder.iterdir()),
            "file": path.read_bytes() if path.is_file() else None,
        }


@scenario
def save_and_load(
    mod: Any, cfg: dict[str, Any], X: torch.Tensor, y: torch.Tensor, scramble: int
) -> dict[str, Any]:
    """Run B up to the checkpoint, save, scramble the RNGs, load into new objects."""
    c = Config(**cfg)
    device = X.device
    with tempfile.TemporaryDirectory(prefix="pp-ckpt-") as tmp:
        path = Path(tmp) / "ckpt.pt"
        rng_saved = _train_and_save(mod, c, X, y, path, None)
        model, optimizer, scheduler, params, start = _fresh_and_load(mod, c, device, path, scramble)
        rng_after = _rng_state(device)
    now = list(model.parameters())
    return {
        "start": start,
        "params_same": len(now) == len(params)
        and all(a is b for a, b in zip(now, params, strict=True)),
        "devices": [p.device.type for p in now],
        "loaded": _snapshot(model, optimizer, scheduler),
        "rng_saved": rng_saved,
        "rng_after": rng_after,
    }


@scenario
def resume(
    mod: Any, cfg: dict[str, Any], X: torch.Tensor, y: torch.Tensor, scramble: int
) -> dict[str, Any]:
    """Run B: k epochs, save, load into new objects, train from the returned epoch to the end."""
    c = Config(**cfg)
    device = X.device
    with tempfile.TemporaryDirectory(prefix="pp-ckpt-") as tmp:
        path = Path(tmp) / "resume.pt"
        _train_and_save(mod, c, X, y, path, {"epoch_loss": 0.5})
        model, optimizer, scheduler, _, start = _fresh_and_load(mod, c, device, path, scramble)
    final = None
    if type(start) is int and 0 <= start <= c.epochs:
        _train(c, model, optimizer, scheduler, X, y, range(start, c.epochs))
        final = _snapshot(model, optimizer, scheduler)
    return {"start": start, "start_described": describe(start), "final": final}


@scenario
def gpu_file_on_cpu(
    mod: Any, cfg: dict[str, Any], X: torch.Tensor, y: torch.Tensor, missing: str
) -> dict[str, Any]:
    """Save with every storage tagged ``missing`` (a GPU), then load into a CPU model."""
    c = Config(**cfg)
    cpu = torch.device("cpu")
    model, optimizer, scheduler = _build(c, cpu, c.init_seed)
    _seed_all(c.rng_seed)
    _train(c, model, optimizer, scheduler, X, y, range(c.k))
    with tempfile.TemporaryDirectory(prefix="pp-ckpt-") as tmp:
        path = Path(tmp) / "gpu.pt"
        location_tag = torch.serialization.location_tag
        torch.serialization.location_tag = lambda storage: missing  # type: ignore[assignment]
        try:
            mod.save_checkpoint(
                path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=c.k - 1
            )
        finally:
            torch.serialization.location_tag = location_tag
        fresh, fresh_opt, fresh_sched = _build(c, cpu, c.init_seed + 3)
        start = mod.load_checkpoint(path, model=fresh, optimizer=fresh_opt, scheduler=fresh_sched)
    return {"start": start, "loaded": _snapshot(fresh, fresh_opt, fresh_sched)}


@scenario
def refuse_pickled_code(
    mod: Any, cfg: dict[str, Any], X: torch.Tensor, y: torch.Tensor
) -> dict[str, Any]:
    """Load a file whose pickle runs code (did it run? was it refused?), then a real checkpoint."""
    c = Config(**cfg)
    device = X.device
    model, optimizer, scheduler = _build(c, device, c.init_seed)

    class Payload:
        def __reduce__(self) -> Any:
            return (exec, (f"import builtins; builtins.{_TRAP} = True",))

    raised = None
    with tempfile.TemporaryDirectory(prefix="pp-ckpt-") as tmp:
        path = Path(tmp) / "downloaded.pt"
        torch.save(
            {
                "model": Payload(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": 3,
                "rng": {},
                "extra": None,
            },
            path,
        )
        try:
            mod.load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
        except NotImplementedError:
            raise
        except Exception as exc:  # any refusal will do, as long as nothing ran
            raised = type(exc).__name__
        finally:
            ran = bool(getattr(builtins, _TRAP, False))
            if hasattr(builtins, _TRAP):
                delattr(builtins, _TRAP)
        if ran or raised is None:
            return {"ran": ran, "raised": raised, "start": None, "loaded": None}
        own = Path(tmp) / "own.pt"
        _train_and_save(mod, c, X, y, own, None)
        fresh, fresh_opt, fresh_sched, _, start = _fresh_and_load(mod, c, device, own, c.k + 5)
    return {
        "ran": ran,
        "raised": raised,
        "start": start,
        "loaded": _snapshot(fresh, fresh_opt, fresh_sched),
    }


# ----------------------------------------------------------------------------- helpers: the run


class Net(nn.Module):
    """A small classifier with buffers (BatchNorm) and dropout (so the RNG matters)."""

    def __init__(self, d_in: int, hidden: int, classes: int, p: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(p)
        )
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class Config:
    """One twin experiment."""

    d_in: int
    hidden: int
    classes: int
    n: int
    batch: int
    p: float
    lr: float
    step_size: int
    gamma: float
    epochs: int
    k: int
    rng_seed: int
    init_seed: int

    def text(self) -> str:
        return (
            f"{self.epochs} epochs of Adam(lr={self.lr}) with StepLR(step_size={self.step_size}, "
            f"gamma={self.gamma}) on an MLP with dropout, checkpointed after epoch {self.k - 1} "
            f"(0-based) and resumed"
        )


def _asdict(cfg: Config) -> dict[str, Any]:
    """The config as data, for a scenario (which rebuilds it with ``Config(**cfg)``)."""
    return dataclasses.asdict(cfg)


def _lrs(cfg: Config, restart: int | None) -> list[int]:
    """Number of decays before each epoch; with ``restart`` the scheduler restarts there."""
    out = []
    for epoch in range(cfg.epochs + 1):
        if restart is None or epoch < restart:
            out.append(epoch // cfg.step_size)
        else:
            out.append(restart // cfg.step_size + (epoch - restart) // cfg.step_size)
    return out


def _config(seed: Any, offset: int) -> Config:
    rng = seed.python_random(offset)
    while True:
        d_in, hidden, classes = rng.randint(3, 7), rng.randint(8, 14), rng.randint(2, 5)
        if len({d_in, hidden, classes}) < 3:
            continue
        epochs = rng.randint(5, 6)
        step_size = rng.randint(2, 3)
        k = rng.randint(2, epochs - 2)
        cfg = Config(
            d_in=d_in,
            hidden=hidden,
            classes=classes,
            n=rng.randint(22, 34),
            batch=rng.randint(5, 8),
            p=round(rng.uniform(0.2, 0.4), 3),
            lr=round(rng.uniform(0.01, 0.04), 4),
            step_size=step_size,
            gamma=round(rng.uniform(0.3, 0.6), 3),
            epochs=epochs,
            k=k,
            rng_seed=rng.randrange(2**31),
            init_seed=rng.randrange(2**31),
        )
        # A scheduler that restarts counting at the resume must give another lr sequence.
        if _lrs(cfg, None) != _lrs(cfg, cfg.k):
            return cfg


def _data(cfg: Config, seed: Any, offset: int, device: torch.device):
    gen = seed.generator(offset)
    X = torch.randn(cfg.n, cfg.d_in, generator=gen)
    y = torch.randint(0, cfg.classes, (cfg.n,), generator=gen)
    return X.to(device), y.to(device)


def _build(cfg: Config, device: torch.device, init_seed: int):
    torch.manual_seed(init_seed)
    model = Net(cfg.d_in, cfg.hidden, cfg.classes, cfg.p).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    return model, optimizer, scheduler


def _seed_all(value: int) -> None:
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)


def _train(cfg, model, optimizer, scheduler, X, y, epochs) -> None:
    """The grader's loop: torch shuffle + dropout, NumPy noise, a Python coin flip.

    Every epoch ends with NumPy's generator holding a cached Gaussian, so a checkpoint
    that drops ``has_gauss`` / ``cached_gaussian`` from NumPy's state does not resume exactly.
    """
    for _ in epochs:
        model.train()
        order = torch.randperm(cfg.n).to(X.device)
        for start in range(0, cfg.n, cfg.batch):
            idx = order[start : start + cfg.batch]
            if len(idx) < 2:
                continue
            xb = X[idx] + torch.from_numpy(np.random.normal(0.0, 0.1, size=tuple(X[idx].shape))).to(
                X
            )
            if random.random() < 0.5:
                xb = -xb
            optimizer.zero_grad()
            F.cross_entropy(model(xb), y[idx]).backward()
            optimizer.step()
        scheduler.step()
        if np.random.get_state()[3] == 0:
            # End the epoch with a cached Gaussian in NumPy's generator (has_gauss=1): part
            # of its state, which a checkpoint must keep as well.
            np.random.standard_normal()


def _judge_run(
    cfg: Config, device: torch.device, X: torch.Tensor, y: torch.Tensor, epochs: int
) -> tuple[dict[str, Any], list[float]]:
    """The judge's own run of ``epochs`` epochs: the state it ends in and the last lrs."""
    model, optimizer, scheduler = _build(cfg, device, cfg.init_seed)
    _seed_all(cfg.rng_seed)
    _train(cfg, model, optimizer, scheduler, X, y, range(epochs))
    return _snapshot(model, optimizer, scheduler), [float(v) for v in scheduler.get_last_lr()]


def _snapshot(model, optimizer, scheduler) -> dict[str, Any]:
    return {
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scheduler": copy.deepcopy(scheduler.state_dict()),
    }


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    if device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def _train_and_save(mod: Any, cfg: Config, X, y, path: Path, extra: Any) -> dict[str, Any]:
    """Run B up to the checkpoint and save it with the learner's code; the RNGs at saving."""
    model, optimizer, scheduler = _build(cfg, X.device, cfg.init_seed)
    _seed_all(cfg.rng_seed)
    _train(cfg, model, optimizer, scheduler, X, y, range(cfg.k))
    rng = _rng_state(X.device)
    mod.save_checkpoint(
        path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=cfg.k - 1, extra=extra
    )
    return rng


def _fresh_and_load(mod: Any, cfg: Config, device: torch.device, path: Path, scramble: int):
    """Scramble every RNG, build new objects, load with the learner's load_checkpoint."""
    _seed_all(scramble)
    torch.rand(7)
    np.random.rand(5)
    random.random()
    model, optimizer, scheduler = _build(cfg, device, scramble + 1)
    params = list(model.parameters())
    start = mod.load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
    return model, optimizer, scheduler, params, start


# ----------------------------------------------------------------------------- helpers: verdicts


_RNG_NAMES = {
    "torch": (
        "torch's CPU RNG (torch.get_rng_state / torch.set_rng_state)",
        "shuffles and dropout masks",
    ),
    "cuda": ("the CUDA RNG (torch.cuda.get_rng_state_all / set_rng_state_all)", "dropout masks"),
    "mps": ("the MPS RNG (torch.mps.get_rng_state / set_rng_state)", "dropout masks"),
    "numpy": ("NumPy's global RNG (np.random.get_state / np.random.set_state)", "augmentations"),
    "python": ("Python's random module's RNG (random.getstate / random.setstate)", "coin flips"),
}


def _save_call(cfg: Config) -> str:
    return f"called save_checkpoint(path, model=..., optimizer=Adam, ..., epoch={cfg.k - 1})"


def _run(side: Any, fn: Any, *args: Any, calls: dict[str, str], **kwargs: Any) -> Any:
    """Run a scenario; turn the learner's usual save/load errors into advice.

    ``calls`` names the call each of the learner's functions was given, for the message:
    the outermost frame of the learner's traceback says which one raised.
    """
    try:
        return side.run(fn, *args, **kwargs)
    except LearnerError as exc:
        if exc.is_a("NotImplementedError"):
            raise
        where = exc.frames[0].name if exc.frames else ""
        call = calls.get(where) or " / ".join(calls.values())
        text = exc.message.strip()
        first = text.splitlines()[0] if text else exc.type_name
        if exc.is_a("UnpicklingError"):
            raise fail(
                f"{call} raised UnpicklingError ({first[:80]}...): the checkpoint holds objects "
                "that weights_only=True refuses. Keep the file loadable safely: state_dict()s "
                "and plain values, NumPy's RNG state as a tensor or lists"
            ) from None
        if exc.is_a("RuntimeError"):
            if "deserialize object on" in text:
                raise fail(
                    f"{call} raised RuntimeError: {first} Pass map_location='cpu' to torch.load "
                    "so a checkpoint written on a GPU loads anywhere"
                ) from None
            if "state_dict" in text or "size mismatch" in text:
                raise fail(f"{call} raised RuntimeError: {first}") from None
        raise


def _weights_only_load(data: bytes | None, call: str) -> Any:
    """The learner's checkpoint file, opened by the judge with weights_only=True."""
    if not isinstance(data, bytes):
        raise fail(f"{call}; no file was written at path; write it with torch.save(..., path)")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" (it holds {found.group(1)})" if found else ""
        raise fail(
            f"{call}; the file does not load with torch.load(path, map_location='cpu', "
            f"weights_only=True){what}: it contains pickled Python objects. Save state_dict()s "
            "(dicts of tensors), not the model or optimizer objects, and store NumPy's RNG "
            "state as a tensor or plain lists/ints, not as a NumPy array"
        ) from None
    except Exception as exc:  # the judge's own torch.load of a file that is not a checkpoint
        raise fail(
            f"{call}; the file at path is not a torch.save file that torch.load can read "
            f"({type(exc).__name__}: {str(exc)[:120]}); write it with torch.save(checkpoint, path)"
        ) from None


def _same_rng(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return (
            isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(_same_rng(x, z) for x, z in zip(a, b, strict=True))
        )
    return a == b


def _rng_problems(now: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [key for key in expected if not _same_rng(now.get(key), expected[key])]


def _check_start(start: Any, expected: int, call: str) -> None:
    if type(start) is not int:
        raise fail(
            f"{call}; returned {describe(start)}, expected the int {expected} (the saved "
            "epoch + 1, the first epoch still to run)"
        )
    if start != expected:
        hint = (
            " That is the saved epoch itself, which has already run: return epoch + 1, "
            "the first epoch still to run, so range(start, num_epochs) does not repeat it"
            if start == expected - 1
            else ""
        )
        raise fail(f"{call}; returned {start}, expected {expected}.{hint}")


def _compare_state(
    got: dict[str, Any], expected: dict[str, Any], *, when: str, call: str, loose: bool = False
) -> None:
    """A snapshot (model, optimizer and scheduler state) against ``expected``.

    ``loose`` widens the tolerance for comparing two training runs on an accelerator, whose
    reductions (BatchNorm's backward, for one) need not be bitwise reproducible.
    """
    tol = {"rtol": 1e-4, "atol": 1e-5} if loose else {"rtol": 1e-6, "atol": 1e-7}
    opt_tol = {"rtol": 1e-4, "atol": 1e-7} if loose else {"rtol": 1e-6, "atol": 1e-9}
    state = got["model"]
    for name, want in expected["model"].items():
        assert_close(state.get(name), want, what=f"{when}, the model's {name}", call=call, **tol)
    got_opt = got["optimizer"]
    want_opt = expected["optimizer"]
    if want_opt["state"] and not got_opt["state"]:
        raise fail(
            f"{call}; {when}, the optimizer has no state: Adam's running averages of the "
            "gradient (exp_avg, exp_avg_sq) and its step counts start again from zero, so the "
            "next updates differ. Save optimizer.state_dict() and restore it with "
            "optimizer.load_state_dict(...)"
        )
    for index, want_state in want_opt["state"].items():
        got_state = got_opt["state"].get(index, {})
        for key, value in want_state.items():
            if key not in got_state:
                raise fail(
                    f"{call}; {when}, the optimizer's state for parameter {index} has no {key!r}"
                    "; restore it with optimizer.load_state_dict(...)"
                )
            assert_close(
                got_state[key],
                value,
                what=f"{when}, the optimizer's {key} of parameter {index}",
                call=call,
                **opt_tol,
            )
    for g_got, g_want in zip(got_opt["param_groups"], want_opt["param_groups"], strict=True):
        if abs(g_got["lr"] - g_want["lr"]) > 1e-12 * max(1.0, abs(g_want["lr"])):
            raise fail(
                f"{call}; {when}, the optimizer's learning rate is {g_got['lr']:.6g}, expected "
                f"{g_want['lr']:.6g}; restore optimizer.state_dict() and scheduler.state_dict()"
            )
    want_sched = expected["scheduler"]
    got_sched = got["scheduler"]
    if got_sched.get("last_epoch") != want_sched["last_epoch"]:
        raise fail(
            f"{call}; {when}, the scheduler has counted {got_sched.get('last_epoch')} epochs "
            f"(scheduler.last_epoch), expected {want_sched['last_epoch']}: a new StepLR starts "
            "counting from 0 and would decay the learning rate at the wrong epochs. Save "
            "scheduler.state_dict() and restore it with scheduler.load_state_dict(...)"
        )
    got_lr = [float(v) for v in got_sched.get("_last_lr", [])]
    want_lr = [float(v) for v in want_sched["_last_lr"]]
    if got_lr != want_lr:
        raise fail(
            f"{call}; {when}, scheduler.get_last_lr() is {got_lr}, expected {want_lr}; restore "
            "it with scheduler.load_state_dict(...)"
        )
