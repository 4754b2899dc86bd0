"""Grader for 2.5: checkpoint and exact resume.

The central check is a twin experiment run by this grader's own training loop: run A
trains ``N`` epochs without a break; run B trains ``k`` epochs, saves with the learner's
``save_checkpoint``, and fresh model/optimizer/scheduler objects (built after every global
RNG has been scrambled) load it with the learner's ``load_checkpoint`` and train the
remaining epochs. Adam (which has state), a StepLR (which counts epochs), dropout and a
shuffle (torch RNG), a noise augmentation (NumPy RNG) and a random sign flip (Python
``random``) make every part of the checkpoint matter: B must end exactly where A ends.
"""

from __future__ import annotations

import builtins
import copy
import pickle
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import assert_close, describe, fail

_KEYS = ("model", "optimizer", "scheduler", "epoch", "rng", "extra")
_TRAP = "_pytorch_path_checkpoint_trap"


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
    """The grader's loop: torch shuffle + dropout, NumPy noise, a Python coin flip."""
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


def _snapshot(model, optimizer, scheduler) -> dict[str, Any]:
    return {
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scheduler": copy.deepcopy(scheduler.state_dict()),
    }


def _weights_only_load(path: Path, call: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" (it holds {found.group(1)})" if found else ""
        raise fail(
            f"{call}; the file does not load with torch.load(path, map_location='cpu', "
            f"weights_only=True){what}: it contains pickled Python objects. Save state_dict()s "
            "(dicts of tensors), not the model or optimizer objects, and store NumPy's RNG "
            "state as a tensor or plain lists/ints, not as a NumPy array"
        ) from exc


def _run_learner(fn, *args: Any, call: str, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except pickle.UnpicklingError as exc:
        raise fail(
            f"{call} raised UnpicklingError ({str(exc).splitlines()[0][:80]}...): the checkpoint "
            "holds objects that weights_only=True refuses. Keep the file loadable safely: "
            "state_dict()s and plain values, NumPy's RNG state as a tensor or lists"
        ) from exc
    except RuntimeError as exc:
        text = str(exc)
        if "deserialize object on" in text:
            raise fail(
                f"{call} raised RuntimeError: {text.splitlines()[0]} Pass map_location='cpu' "
                "to torch.load so a checkpoint written on a GPU loads anywhere"
            ) from exc
        if "state_dict" in text or "size mismatch" in text:
            raise fail(f"{call} raised RuntimeError: {text.splitlines()[0]}") from exc
        raise


def _save_b(learner, cfg, device, X, y, path, extra):
    """Run B up to the checkpoint and save it; returns the live objects and snapshots."""
    model, optimizer, scheduler = _build(cfg, device, cfg.init_seed)
    _seed_all(cfg.rng_seed)
    _train(cfg, model, optimizer, scheduler, X, y, range(cfg.k))
    before = _snapshot(model, optimizer, scheduler)
    params = list(model.parameters())
    rng_before = _rng_state(device)
    call = (
        f"called save_checkpoint(path, model=..., optimizer=Adam, scheduler=StepLR, "
        f"epoch={cfg.k - 1}, extra={extra!r})"
    )
    _run_learner(
        learner.save_checkpoint,
        path,
        call=call,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epoch=cfg.k - 1,
        extra=extra,
    )
    return model, optimizer, scheduler, before, params, rng_before, call


def _run_a(cfg, device, X, y):
    model, optimizer, scheduler = _build(cfg, device, cfg.init_seed)
    _seed_all(cfg.rng_seed)
    _train(cfg, model, optimizer, scheduler, X, y, range(cfg.epochs))
    return model, optimizer, scheduler


def _fresh_and_load(learner, cfg, device, path, scramble: int):
    """Scramble every RNG, build new objects, load with the learner's load_checkpoint."""
    _seed_all(scramble)
    torch.rand(7)
    np.random.rand(5)
    random.random()
    model, optimizer, scheduler = _build(cfg, device, scramble + 1)
    params = list(model.parameters())
    call = (
        "called load_checkpoint(path, model=<a new model>, optimizer=<a new Adam>, "
        "scheduler=<a new StepLR>)"
    )
    start = _run_learner(
        learner.load_checkpoint,
        path,
        call=call,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
    )
    rng_after = _rng_state(device)
    return model, optimizer, scheduler, start, params, rng_after, call


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
    model, optimizer, scheduler, expected, *, when: str, call: str, loose: bool = False
) -> None:
    """Model, optimizer and scheduler state against ``expected`` (a snapshot).

    ``loose`` widens the tolerance for comparing two training runs on an accelerator, whose
    reductions (BatchNorm's backward, for one) need not be bitwise reproducible.
    """
    tol = {"rtol": 1e-4, "atol": 1e-5} if loose else {"rtol": 1e-6, "atol": 1e-7}
    opt_tol = {"rtol": 1e-4, "atol": 1e-7} if loose else {"rtol": 1e-6, "atol": 1e-9}
    state = model.state_dict()
    for name, want in expected["model"].items():
        assert_close(
            state[name],
            want,
            what=f"{when}, the model's {name}",
            call=call,
            **tol,
        )
    got_opt = optimizer.state_dict()
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
    got_sched = scheduler.state_dict()
    if got_sched.get("last_epoch") != want_sched["last_epoch"]:
        raise fail(
            f"{call}; {when}, the scheduler has counted {got_sched.get('last_epoch')} epochs "
            f"(scheduler.last_epoch), expected {want_sched['last_epoch']}: a new StepLR starts "
            "counting from 0 and would decay the learning rate at the wrong epochs. Save "
            "scheduler.state_dict() and restore it with scheduler.load_state_dict(...)"
        )
    if [float(v) for v in scheduler.get_last_lr()] != [float(v) for v in want_sched["_last_lr"]]:
        raise fail(
            f"{call}; {when}, scheduler.get_last_lr() is {scheduler.get_last_lr()}, expected "
            f"{want_sched['_last_lr']}; restore it with scheduler.load_state_dict(...)"
        )


# ----------------------------------------------------------------------------- the file


@pytest.mark.points(2)
def test_checkpoint_file_holds_state_dicts(learner, device, seed, tmp_path):
    """save_checkpoint writes one file at path: state_dicts, epoch, RNG, extra; safe to load."""
    for index, extra in enumerate(({"best_val": 0.625, "note": "run-7"}, None)):
        cfg = _config(seed, index)
        X, y = _data(cfg, seed, 10 + index, device)
        folder = tmp_path / f"run{index}"
        folder.mkdir()
        path = folder / "last.pt"
        target = path if index == 0 else str(path)
        model, optimizer, scheduler, before, params, rng_before, call = _save_b(
            learner, cfg, device, X, y, target, extra
        )
        # Saving must not disturb the run it is saving.
        if list(model.parameters()) != params or any(
            a is not b for a, b in zip(model.parameters(), params, strict=True)
        ):
            raise fail(f"{call}; saving replaced the model's parameters; it must only read them")
        _compare_state(model, optimizer, scheduler, before, when="after saving", call=call)
        for p in model.parameters():
            if p.device.type != device.type:
                raise fail(
                    f"{call}; after saving, the model is on {p.device}, it was on {device}: "
                    "saving must not move the model (state_dict() works on any device)"
                )
        moved = _rng_problems(_rng_state(device), rng_before)
        if moved:
            raise fail(
                f"{call}; saving changed {_RNG_NAMES[moved[0]][0]}: read the RNG states "
                "(get_state), do not draw from or reseed a generator while saving"
            )

        files = sorted(p.name for p in folder.iterdir())
        if files != [path.name]:
            raise fail(
                f"{call} with path={path.name!r} in an empty folder; afterwards the folder "
                f"holds {files}, expected exactly one file, {path.name!r}: put everything in "
                "one dict and write it with a single torch.save(checkpoint, path)"
            )
        ckpt = _weights_only_load(path, call)
        if not isinstance(ckpt, dict):
            raise fail(f"{call}; the file holds {describe(ckpt)}, expected a dict")
        missing = [key for key in _KEYS if key not in ckpt]
        if missing:
            raise fail(
                f"{call}; the checkpoint dict has keys {sorted(map(str, ckpt))}, missing "
                f"{missing}; expected {list(_KEYS)}"
            )
        sd = ckpt["model"]
        expected_keys = list(before["model"])
        if not isinstance(sd, dict) or sorted(map(str, sd)) != sorted(expected_keys):
            raise fail(
                f"{call}; checkpoint['model'] is {describe(sd)}, expected model.state_dict(): "
                f"a dict with keys {expected_keys[:4]}... (parameters and buffers)"
            )
        for name, want in before["model"].items():
            assert_close(
                sd[name],
                want.cpu(),
                what=f"checkpoint['model'][{name!r}] (loaded with map_location='cpu')",
                call=call,
            )
        opt = ckpt["optimizer"]
        if not isinstance(opt, dict) or set(opt) != {"state", "param_groups"}:
            raise fail(
                f"{call}; checkpoint['optimizer'] is {describe(opt)}, expected "
                "optimizer.state_dict(), a dict with keys 'state' and 'param_groups'"
            )
        if len(opt["state"]) != len(before["optimizer"]["state"]):
            raise fail(
                f"{call}; checkpoint['optimizer']['state'] holds {len(opt['state'])} entries, "
                f"expected {len(before['optimizer']['state'])} (one per parameter)"
            )
        for i, want_state in before["optimizer"]["state"].items():
            for key, value in want_state.items():
                assert_close(
                    opt["state"][i][key],
                    value.cpu(),
                    what=f"checkpoint['optimizer']['state'][{i}][{key!r}]",
                    call=call,
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
                f"{extra!r}: store the extra argument as given"
            )
        if not isinstance(ckpt["rng"], dict) or not ckpt["rng"]:
            raise fail(
                f"{call}; checkpoint['rng'] is {describe(ckpt['rng'])}, expected a dict holding "
                "the states of torch's, NumPy's and Python's random number generators"
            )


# ----------------------------------------------------------------------------- loading


@pytest.mark.points(2)
def test_load_restores_everything(learner, device, seed, tmp_path):
    """load_checkpoint into new objects restores weights, Adam, StepLR, RNGs; returns epoch+1."""
    for index in range(2):
        cfg = _config(seed, 20 + index)
        X, y = _data(cfg, seed, 30 + index, device)
        path = tmp_path / f"ckpt{index}.pt"
        _, _, _, before, _, rng_before, _ = _save_b(learner, cfg, device, X, y, path, None)
        model, optimizer, scheduler, start, params, rng_after, call = _fresh_and_load(
            learner, cfg, device, path, cfg.rng_seed + 17
        )
        call = f"{call} on a checkpoint saved with epoch={cfg.k - 1}"
        _check_start(start, cfg.k, call)
        now = list(model.parameters())
        if any(a is not b for a, b in zip(now, params, strict=True)):
            raise fail(
                f"{call}; the model's Parameters were replaced; load in place with "
                "model.load_state_dict(...), so the optimizer still holds the model's parameters"
            )
        for p in now:
            if p.device.type != device.type:
                raise fail(
                    f"{call}; after loading, a parameter is on {p.device}, the model was on "
                    f"{device}: load_state_dict copies values onto the model's own device; do "
                    "not move the model"
                )
        _compare_state(model, optimizer, scheduler, before, when="after loading", call=call)
        wrong = _rng_problems(rng_after, rng_before)
        if wrong:
            name, used_for = _RNG_NAMES[wrong[0]]
            raise fail(
                f"{call}; afterwards {name} is not in the state it was in when the checkpoint "
                f"was saved, so the resumed run draws different {used_for} than the "
                "uninterrupted one. Save each RNG's state in the checkpoint and set it back "
                "when loading"
            )


@pytest.mark.points(3)
def test_resume_matches_uninterrupted_run(learner, device, seed, tmp_path):
    """Training k epochs, saving, loading into new objects and finishing equals one long run."""
    for index in range(2):
        cfg = _config(seed, 40 + index)
        X, y = _data(cfg, seed, 50 + index, device)
        model_a, opt_a, sched_a = _run_a(cfg, device, X, y)
        expected = _snapshot(model_a, opt_a, sched_a)
        lr_a = sched_a.get_last_lr()

        path = tmp_path / f"resume{index}.pt"
        _save_b(learner, cfg, device, X, y, path, {"epoch_loss": 0.5})
        model, optimizer, scheduler, start, _, _, _ = _fresh_and_load(
            learner, cfg, device, path, cfg.rng_seed + 29
        )
        if type(start) is not int or not 0 <= start <= cfg.epochs:
            raise fail(
                f"load_checkpoint returned {describe(start)}; expected the int {cfg.k}, the "
                "first epoch still to run"
            )
        _train(cfg, model, optimizer, scheduler, X, y, range(start, cfg.epochs))
        call = f"{cfg.text()} (the grader's training loop; your save/load in between)"
        try:
            _compare_state(
                model,
                optimizer,
                scheduler,
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
        if scheduler.get_last_lr() != lr_a:
            raise fail(
                f"{call}; the final learning rate is {scheduler.get_last_lr()}, expected {lr_a}"
            )


# ----------------------------------------------------------------------------- portability, safety


def test_gpu_checkpoint_loads_on_cpu(learner, seed, tmp_path, monkeypatch):
    """A checkpoint whose tensors were saved on a GPU loads into a CPU model (map_location)."""
    cpu = torch.device("cpu")
    cfg = _config(seed, 60)
    X, y = _data(cfg, seed, 61, cpu)
    model, optimizer, scheduler = _build(cfg, cpu, cfg.init_seed)
    _seed_all(cfg.rng_seed)
    _train(cfg, model, optimizer, scheduler, X, y, range(cfg.k))
    before = _snapshot(model, optimizer, scheduler)
    # Write the file as a GPU machine would: every storage tagged with a CUDA device that this
    # machine does not have, so torch.load without map_location fails here.
    missing = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda:0"
    path = tmp_path / "gpu.pt"
    save_call = f"called save_checkpoint(path, ..., epoch={cfg.k - 1})"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: missing)
        _run_learner(
            learner.save_checkpoint,
            path,
            call=save_call,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            epoch=cfg.k - 1,
        )
    fresh, fresh_opt, fresh_sched = _build(cfg, cpu, cfg.init_seed + 3)
    call = (
        f"called load_checkpoint(path, ...) on a checkpoint written on a GPU ({missing}) with a "
        f"model on the CPU (saved with epoch={cfg.k - 1})"
    )
    start = _run_learner(
        learner.load_checkpoint,
        path,
        call=call,
        model=fresh,
        optimizer=fresh_opt,
        scheduler=fresh_sched,
    )
    _check_start(start, cfg.k, call)
    _compare_state(fresh, fresh_opt, fresh_sched, before, when="after loading", call=call)


def test_load_refuses_pickled_code(learner, seed, tmp_path):
    """load_checkpoint refuses a file that would run code when unpickled (weights_only=True)."""
    cfg = _config(seed, 70)
    model, optimizer, scheduler = _build(cfg, torch.device("cpu"), cfg.init_seed)

    class Payload:
        def __reduce__(self):
            return (exec, (f"import builtins; builtins.{_TRAP} = True",))

    path = tmp_path / "downloaded.pt"
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
    call = (
        "called load_checkpoint(path, ...) on a file (not written by save_checkpoint) whose "
        "pickle would run Python code while loading"
    )
    raised: BaseException | None = None
    try:
        learner.load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
    except NotImplementedError:
        raise
    except Exception as exc:  # any refusal will do, as long as nothing ran
        raised = exc
    finally:
        ran = getattr(builtins, _TRAP, False)
        if hasattr(builtins, _TRAP):
            delattr(builtins, _TRAP)
    if ran:
        raise fail(
            f"{call}; the code in the file ran. torch.load(..., weights_only=False) unpickles "
            "arbitrary objects, and unpickling can execute anything: load with "
            "weights_only=True (the default since torch 2.6) and keep your checkpoints to "
            "tensors and plain values so that they load that way"
        )
    if raised is None:
        raise fail(f"{call}; it returned normally; expected torch.load to refuse the file")
