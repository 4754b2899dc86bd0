"""Grader for 2.4: learning-rate schedules, stepped at the right time.

The schedulers the learner builds are checked against their closed forms at random
configurations, with two parameter groups of different base learning rates. The training
loops are checked by twin runs and by recording *when* things happen: a step pre-hook on the
optimizer records the learning rates in force at every ``optimizer.step()`` (so the lr
actually used is known), and the scheduler's ``step`` is wrapped to record every call and its
arguments. The sequence of optimizer steps (O), scheduler steps (S) and validations (V) is
compared with the one the contract asks for, which names mistakes such as a scheduler
stepped per batch, stepped before the optimizer, or fed the training loss. Every twin run
also compares the trained weights with the reference's, computed on the same batches.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau, StepLR

from pytorch_path.checks import call_learner, describe, expect_raises, fail
from pytorch_path.scenario import LearnerError, scenario

_HINTS = {
    "missing 1 required positional argument: 'metrics'": (
        "ReduceLROnPlateau needs the watched value: scheduler.step(val_loss)"
    ),
}


# ----------------------------------------------------------------------------- StepLR


def test_step_scheduler(learner, seed):
    """make_step_scheduler returns a StepLR on the optimizer: lr = base * gamma ** (k // step)."""
    rng = seed.python_random()
    for _ in range(3):
        step_size, gamma = rng.randint(2, 4), round(rng.uniform(0.2, 0.9), 3)
        bases = _bases(rng)
        call = (
            f"called make_step_scheduler(optimizer, step_size={step_size}, gamma={gamma}) with "
            f"two parameter groups (lr {bases[0]} and {bases[1]})"
        )
        got = learner.run(step_scheduler, step_size, gamma, bases, steps=3 * step_size + 2)
        _check_scheduler(got, "StepLR", call)
        for k, row in enumerate(got["lrs"]):
            for g, (lr, base) in enumerate(zip(row, bases, strict=True)):
                want = base * gamma ** (k // step_size)
                if not _close(lr, want):
                    raise fail(
                        f"{call}; after {k} scheduler steps group {g}'s lr is {lr:.6g}, "
                        f"expected {base} * {gamma} ** ({k} // {step_size}) = {want:.6g}"
                    )


# ----------------------------------------------------------------------------- warmup + cosine


def test_warmup_cosine_closed_form(learner, seed):
    """make_warmup_cosine gives base * f(s) at every step, for random W, T, min ratio, groups.

    The configuration with a minimum of 0 leaves ``min_lr_ratio`` out: its default is 0.
    """
    rng = seed.python_random()
    for index, (W, T, m) in enumerate(_configs(rng)):
        lrs, bases, call = _warmup_cosine(learner, rng, W, T, m, default_m=index == 1)
        _check_closed_form(lrs, bases, W, T, m, call)


def test_warmup_cosine_boundaries(learner, seed):
    """Warmup starts near 0 (base/W), peaks at W-1 and W, ends at min_lr_ratio * base and stays."""
    rng = seed.python_random(1)
    for _ in range(3):
        W, T, m = rng.randint(2, 6), 0, round(rng.uniform(0.05, 0.4), 3)
        T = W + rng.randint(3, 8)
        lrs, bases, call = _warmup_cosine(learner, rng, W, T, m)
        first = [row[0] for row in lrs]
        base = bases[0]
        checks = (
            (
                0,
                base / W,
                "the first optimizer step must use base_lr / W: a small lr, not 0 "
                "(that step would be wasted) and not the full base lr",
            ),
            (W - 1, base, "the warmup must reach the full base lr at its last step, W - 1"),
            (
                W,
                base,
                "the cosine starts at the full base lr at step W, so the lr is "
                "continuous where warmup ends",
            ),
            (T, m * base, "at step total_steps the lr must have reached min_lr_ratio * base_lr"),
            (T + 2, m * base, "after total_steps the lr must stay at min_lr_ratio * base_lr"),
        )
        for s, want, advice in checks:
            if not _close(first[s], want):
                raise fail(
                    f"{call}; after {s} scheduler steps group 0's lr is {first[s]:.6g}, "
                    f"expected {want:.6g}: {advice}"
                )
        for s in range(W, T):
            if first[s + 1] > first[s] * (1 + 1e-12):
                raise fail(
                    f"{call}; the lr rises from {first[s]:.6g} to {first[s + 1]:.6g} between "
                    f"steps {s} and {s + 1}; after the warmup it must only decrease"
                )


def test_warmup_cosine_rejects_bad_arguments(learner, seed):
    """ValueError unless 0 <= W < T and 0 <= min_lr_ratio <= 1; the edges of that range work."""
    rng = seed.python_random(2)
    T = rng.randint(5, 12)
    for W, total, m in ((-1, T, 0.0), (T, T, 0.0), (T + 2, T, 0.1), (1, T, -0.1), (1, T, 1.01)):
        call = (
            f"make_warmup_cosine(optimizer, warmup_steps={W}, total_steps={total}, "
            f"min_lr_ratio={m})"
        )
        expect_raises(learner.run, "ValueError", warmup_cosine, W, total, m, _bases(rng), what=call)
    # Just inside the range: no warmup with a constant lr, and the longest warmup.
    for W, m in ((0, 1.0), (T - 1, 0.0)):
        bases = _bases(rng)
        call = (
            f"called make_warmup_cosine(optimizer, warmup_steps={W}, total_steps={T}, "
            f"min_lr_ratio={m}) with two parameter groups (base lr {bases[0]} and {bases[1]})"
        )
        try:
            got = learner.run(warmup_cosine, W, T, m, bases, steps=T + 3)
        except LearnerError as exc:
            if not exc.is_a("ValueError"):
                raise
            raise fail(
                f"{call} raised ValueError: {exc.message}; these arguments are valid "
                "(the contract allows 0 <= warmup_steps < total_steps and "
                "0 <= min_lr_ratio <= 1)"
            ) from None
        _check_scheduler(got, "LambdaLR", call)
        _check_closed_form(got["lrs"], bases, W, T, m, call)


# ----------------------------------------------------------------------------- training loops


def test_schedule_stepped_per_epoch(learner, reference, device, seed):
    """per_batch=False: StepLR (counted in epochs) steps once per epoch, after the last batch."""
    rng = seed.python_random(3)
    for index in range(2):
        step_size, gamma = rng.randint(1, 2), round(rng.uniform(0.3, 0.7), 2)
        _schedule_twin(
            learner,
            reference,
            _problem(seed, 10 + index, device),
            ("step", step_size, gamma),
            per_batch=False,
            epochs=rng.randint(3, 5),
            label=f"StepLR(step_size={step_size}, gamma={gamma})",
        )


def test_schedule_stepped_per_batch(learner, reference, device, seed):
    """per_batch=True: warmup + cosine (counted in steps) steps right after every optimizer step."""
    rng = seed.python_random(4)
    for index in range(2):
        epochs = rng.randint(2, 3)
        W = rng.randint(2, 4)
        _schedule_twin(
            learner,
            reference,
            _problem(seed, 20 + index, device),
            ("cosine", W, 4 * epochs, 0.1),
            per_batch=True,
            epochs=epochs,
            label=f"a warmup + cosine LambdaLR (warmup {W} steps)",
        )


def test_plateau_watches_the_validation_loss(learner, reference, device, seed):
    """Each epoch: model.train(), train, val_fn once, then scheduler.step(val_loss) once."""
    rng = seed.python_random(6)
    for index in range(2):
        prob = _problem(seed, 40 + index, device)
        nb, epochs = len(prob["batches"]), rng.randint(6, 8)
        values = _val_values(rng, epochs)
        patience = 1
        spec = ("plateau", 0.5, patience)
        want = reference.run(train_with_plateau, prob, spec, values, epochs)
        call = (
            f"called train_with_plateau(model, train_batches, loss_fn, val_fn, optimizer, "
            f"scheduler, epochs={epochs}) with {nb} batches, ReduceLROnPlateau(factor=0.5, "
            f"patience={patience}) and val_fn returning {values}"
        )
        got = call_learner(
            learner.run, train_with_plateau, prob, spec, values, epochs, call=call, hints=_HINTS
        )
        if got["val_calls"] != epochs:
            raise fail(
                f"{call}; val_fn was called {got['val_calls']} times in {epochs} epochs; call it "
                "exactly once per epoch, after the epoch's training"
            )
        if got["wrong_model"]:
            raise fail(f"{call}; val_fn was given something other than the model")
        if got["eval_forwards"]:
            raise fail(
                f"{call}; {got['eval_forwards']} training forward passes ran in eval mode: val_fn "
                "leaves the model in eval mode, so call model.train() at the start of every "
                "epoch"
            )
        _check_order(_pattern(got), _pattern(want), per_batch=None, nb=nb, call=call)
        _check_plateau_metrics(got, nb, call)
        used = _used_lrs(got)
        per_epoch = [used[k * nb] for k in range(epochs)]
        _check_lrs(got["out"], per_epoch, epochs, what="one per epoch", call=call)
        for k, (lr, expected) in enumerate(zip(got["out"], want["out"], strict=True)):
            if not _close(lr, expected):
                raise fail(f"{call}; epoch {k} trained with lr {lr:.6g}, expected {expected:.6g}")
        _check_weights(got["weights"], want["weights"], device, call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def step_scheduler(
    mod: Any, step_size: int, gamma: float, bases: list[float], *, steps: int
) -> dict[str, Any]:
    """make_step_scheduler on a two-group SGD; the lrs after 0, 1, ... scheduler steps."""
    optimizer = _groups_optimizer(bases)
    sched = mod.make_step_scheduler(optimizer, step_size, gamma)
    return _scheduler_report(sched, optimizer, StepLR, steps)


@scenario
def warmup_cosine(
    mod: Any, W: int, T: int, m: float | None, bases: list[float], *, steps: int = 0
) -> dict[str, Any]:
    """make_warmup_cosine on a two-group SGD (``m=None``: min_lr_ratio left out); the lrs."""
    optimizer = _groups_optimizer(bases)
    if m is None:
        sched = mod.make_warmup_cosine(optimizer, W, T)
    else:
        sched = mod.make_warmup_cosine(optimizer, W, T, m)
    return _scheduler_report(sched, optimizer, LambdaLR, steps)


@scenario
def train_with_schedule(
    mod: Any, prob: dict[str, Any], spec: tuple, *, epochs: int, per_batch: bool
) -> dict[str, Any]:
    """train_with_schedule on a model that arrives in eval mode, with every call recorded."""
    model = _model(prob)
    model.eval()  # arrives in eval mode, as after a validation pass
    optimizer = _optimizer(prob, model)
    sched = _scheduler(spec, optimizer)
    rec = _Recorder()
    rec.attach(model, optimizer, sched)
    try:
        out = mod.train_with_schedule(
            model, prob["batches"], rec.loss_fn, optimizer, sched, epochs, per_batch=per_batch
        )
    finally:
        rec.detach()
    return {"out": out, **rec.report(), "weights": model.state_dict()}


@scenario
def train_with_plateau(
    mod: Any, prob: dict[str, Any], spec: tuple, values: list[float], epochs: int
) -> dict[str, Any]:
    """train_with_plateau with a val_fn returning ``values``, every call recorded."""
    model = _model(prob)
    optimizer = _optimizer(prob, model)
    sched = _scheduler(spec, optimizer)
    rec = _Recorder()
    val_fn = _Val(model, rec, values, prob["val_x"])
    rec.attach(model, optimizer, sched)
    try:
        out = mod.train_with_plateau(
            model, prob["batches"], rec.loss_fn, val_fn, optimizer, sched, epochs
        )
    finally:
        rec.detach()
    return {
        "out": out,
        **rec.report(),
        "val_calls": val_fn.calls,
        "wrong_model": val_fn.wrong_model,
        "weights": model.state_dict(),
    }


# ----------------------------------------------------------------------------- helpers: data


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for tight comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    if device.type == "mps":
        return {"rtol": 1e-4, "atol": 1e-6}
    return {"rtol": 1e-7, "atol": 1e-10}


def _close(a: Any, b: float, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        return False
    return abs(a - b) <= atol + rtol * abs(b)


def _bases(rng: Any) -> list[float]:
    """Two base learning rates, one per parameter group."""
    return [round(rng.uniform(0.05, 0.5), 4), round(rng.uniform(0.001, 0.04), 5)]


def _configs(rng: Any) -> list[tuple[int, int, float]]:
    """(W, T, m): one without warmup, one with min 0, two general ones."""
    out = []
    for W, m in ((0, round(rng.uniform(0.05, 0.3), 3)), (rng.randint(2, 5), 0.0)):
        out.append((W, W + rng.randint(4, 9), m))
    for _ in range(2):
        W = rng.randint(1, 6)
        out.append((W, W + rng.randint(3, 12), round(rng.uniform(0.0, 0.5), 3)))
    return out


def _problem(seed: Any, offset: int, device: torch.device) -> dict[str, Any]:
    """A small regression problem with a two-group optimizer, on one device, as data."""
    rng = seed.python_random(offset)
    d, hidden, batch = rng.randint(2, 5), rng.randint(6, 9), rng.randint(3, 6)
    n_batches = rng.randint(3, 4)
    dtype = _dtype(device)
    gen = seed.generator(offset)
    X = torch.randn(batch * n_batches + 5, d, generator=gen, dtype=torch.float64)
    w = torch.randn(d, 1, generator=gen, dtype=torch.float64)
    y = torch.tanh(X @ w) + 0.05 * torch.randn(X.shape[0], 1, generator=gen, dtype=torch.float64)
    X, y = X.to(device, dtype), y.to(device, dtype)
    batches = [
        (X[i : i + batch].clone(), y[i : i + batch].clone())
        for i in range(0, batch * n_batches, batch)
    ]
    lrs = (round(rng.uniform(0.05, 0.15), 3), round(rng.uniform(0.01, 0.04), 3))
    return {
        "sizes": (d, hidden),
        "init_seed": seed.value + offset,
        "device": device,
        "dtype": dtype,
        "batches": batches,
        "val_x": X[batch * n_batches :].clone(),
        "lrs": lrs,
        "momentum": round(rng.uniform(0.3, 0.7), 2),
    }


def _val_values(rng: Any, epochs: int) -> list[float]:
    """Validation losses that stall (rise) twice in a row at least once, so the lr drops."""
    while True:
        kinds = [rng.random() < 0.45 for _ in range(epochs)]  # True = stall
        if any(a and b for a, b in itertools.pairwise(kinds)) and not kinds[0]:
            break
    values, best = [], round(rng.uniform(0.8, 1.5), 4)
    for stall in kinds:
        if stall:
            values.append(round(best * rng.uniform(1.01, 1.3), 6))
        else:
            best = round(best * rng.uniform(0.6, 0.9), 6)
            values.append(best)
    return values


# ----------------------------------------------------------------------------- helpers: scenarios


def _groups_optimizer(bases: list[float]) -> torch.optim.Optimizer:
    """An SGD optimizer over two dummy parameters in two groups with these base lrs."""
    params = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, bases, strict=True)]
    return torch.optim.SGD(groups, lr=bases[0])


def _trajectory(optimizer: torch.optim.Optimizer, scheduler: Any, steps: int) -> list[list[float]]:
    """The lrs of every group after 0, 1, ..., steps-1 scheduler steps (optimizer stepped first)."""
    out = []
    for _ in range(steps):
        out.append([float(g["lr"]) for g in optimizer.param_groups])
        optimizer.step()  # no gradients: changes nothing, keeps PyTorch's order check happy
        scheduler.step()
    return out


def _scheduler_report(sched: Any, optimizer: Any, kind: type, steps: int) -> dict[str, Any]:
    """What kind of scheduler came back, and (when it is usable) its lr trajectory."""
    is_kind = isinstance(sched, kind)
    same = getattr(sched, "optimizer", None) is optimizer
    return {
        "is_kind": is_kind,
        "described": describe(sched),
        "same_optimizer": same,
        "lrs": _trajectory(optimizer, sched, steps) if is_kind and same else None,
    }


def _model(prob: dict[str, Any]) -> nn.Module:
    d, hidden = prob["sizes"]
    torch.manual_seed(prob["init_seed"])
    model = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    return model.to(prob["device"], prob["dtype"])


def _optimizer(prob: dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    first, second = model[0], model[2]
    groups = [
        {"params": first.parameters(), "lr": prob["lrs"][0]},
        {"params": second.parameters(), "lr": prob["lrs"][1]},
    ]
    return torch.optim.SGD(groups, lr=prob["lrs"][0], momentum=prob["momentum"])


def _cosine_lambda(W: int, T: int, m: float) -> Callable[[int], float]:
    return lambda s: _factor(s, W, T, m)


def _scheduler(spec: tuple, optimizer: torch.optim.Optimizer) -> Any:
    kind, *args = spec
    if kind == "step":
        return StepLR(optimizer, step_size=args[0], gamma=args[1])
    if kind == "cosine":
        return LambdaLR(optimizer, _cosine_lambda(*args))
    return ReduceLROnPlateau(optimizer, mode="min", factor=args[0], patience=args[1])


def _metric(args: tuple, kwargs: dict[str, Any]) -> tuple[float | None, str]:
    """The value a scheduler.step call was given (as a float when it is a number)."""
    raw = args[0] if args else kwargs.get("metrics")
    value = raw
    if isinstance(raw, torch.Tensor) and raw.numel() == 1:
        value = float(raw)
    number = float(value) if isinstance(value, (int, float)) else None
    return number, describe(raw)


class _Recorder:
    """Records optimizer steps (O), scheduler steps (S) and validations (V), in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.train_losses: list[float] = []
        self.eval_forwards = 0
        self.in_val = False

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        self._handles = [
            optimizer.register_step_pre_hook(self._on_opt),
            model.register_forward_pre_hook(self._on_forward),
        ]
        self._scheduler = scheduler
        original = scheduler.step

        def step(*args: Any, **kwargs: Any) -> Any:
            metric, shown = _metric(args, kwargs)
            text = f"{args}{kwargs or ''}"[:120]
            plain = not args and not kwargs
            info = {"plain": plain, "text": text, "metric": metric, "shown": shown}
            self.events.append(("S", info))
            return original(*args, **kwargs)

        scheduler.step = step

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        del self._scheduler.step

    def _on_opt(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.events.append(("O", [float(g["lr"]) for g in optimizer.param_groups]))

    def _on_forward(self, module: nn.Module, args: Any) -> None:
        if not self.in_val and not module.training:
            self.eval_forwards += 1

    def loss_fn(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = nn.functional.mse_loss(out, y)
        self.train_losses.append(float(loss.detach()))
        return loss

    def report(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "train_losses": self.train_losses,
            "eval_forwards": self.eval_forwards,
        }


class _Val:
    """The val_fn handed to learner code: puts the model in eval mode, returns a set value."""

    def __init__(self, model: nn.Module, rec: _Recorder, values: list[float], X: Any) -> None:
        self.model, self.rec, self.values, self.X = model, rec, values, X
        self.calls = 0
        self.wrong_model = False

    def __call__(self, model: nn.Module) -> float:
        if model is not self.model:
            self.wrong_model = True
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        self.rec.events.append(("V", value))
        self.rec.in_val = True
        try:
            model.eval()
            with torch.no_grad():
                model(self.X)
        finally:
            self.rec.in_val = False
        return value


# ----------------------------------------------------------------------------- helpers: verdicts


def _check_scheduler(got: dict[str, Any], kind: str, call: str) -> None:
    if not got["is_kind"]:
        raise fail(f"{call}; returned {got['described']}, expected a torch {kind}")
    if not got["same_optimizer"]:
        raise fail(f"{call}; the scheduler drives another optimizer; pass it `optimizer`")


def _factor(s: int, W: int, T: int, m: float) -> float:
    """The documented multiplier."""
    if s < W:
        return (s + 1) / W
    if s >= T:
        return m
    return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * (s - W) / (T - W)))


def _cos(p: float, m: float) -> float:
    return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * min(max(p, 0.0), 1.0)))


_VARIANTS: tuple[tuple[str, Callable[[int, int, int, float], float]], ...] = (
    (
        "the warmup starts at 0 (s / W): the first optimizer step would not train at all; "
        "use (s + 1) / W, so step 0 already uses base_lr / W",
        lambda s, W, T, m: s / W if s < W else _factor(s, W, T, m),
    ),
    (
        "the warmup starts at the full base lr: during the first W steps the lr must ramp up "
        "linearly, (s + 1) / W",
        lambda s, W, T, m: 1.0 if s < W else _factor(s, W, T, m),
    ),
    (
        "the cosine part is off by one: progress = (s - W) / (T - W), which is 0 at s = W "
        "(lr = base) and 1 at s = T (lr = min)",
        lambda s, W, T, m: _factor(s, W, T, m) if s < W else _cos((s - W + 1) / (T - W), m),
    ),
    (
        "the cosine part is off by one: progress = (s - W) / (T - W), which is 0 at s = W "
        "(lr = base) and 1 at s = T (lr = min), not at T - 1",
        lambda s, W, T, m: _factor(s, W, T, m) if s < W else _cos((s - W) / max(1, T - W - 1), m),
    ),
    (
        "the cosine part counts from step 0 instead of from the end of the warmup: "
        "progress = (s - W) / (T - W)",
        lambda s, W, T, m: _factor(s, W, T, m) if s < W else _cos(s / T, m),
    ),
    (
        "min_lr_ratio is ignored: the cosine must end at min_lr_ratio * base_lr, "
        "f = m + (1 - m) * 0.5 * (1 + cos(pi * progress))",
        lambda s, W, T, m: _factor(s, W, T, 0.0),
    ),
    (
        "after total_steps the lr must stay at min_lr_ratio * base_lr; here the cosine "
        "keeps going (clamp: f(s) = m for s >= T)",
        lambda s, W, T, m: (
            _factor(s, W, T, m)
            if s < T
            else m + (1 - m) * 0.5 * (1 + math.cos(math.pi * (s - W) / (T - W)))
        ),
    ),
)


def _warmup_cosine(
    learner: Any, rng: Any, W: int, T: int, m: float, *, default_m: bool = False
) -> tuple[list, list, str]:
    """The learner's warmup-cosine trajectory over T + 3 steps, with a ZeroDivisionError hint.

    ``default_m``: leave min_lr_ratio out of the call (``m`` is then its default, 0).
    """
    bases = _bases(rng)
    args = f"warmup_steps={W}, total_steps={T}" + ("" if default_m else f", min_lr_ratio={m}")
    default = " (min_lr_ratio left out: its default is 0)" if default_m else ""
    call = (
        f"called make_warmup_cosine(optimizer, {args}){default} with two parameter groups "
        f"(base lr {bases[0]} and {bases[1]})"
    )
    try:
        got = learner.run(warmup_cosine, W, T, None if default_m else m, bases, steps=T + 3)
    except LearnerError as exc:
        if not exc.is_a("ZeroDivisionError"):
            raise
        advice = " (warmup_steps=0 means no warmup: skip the warmup branch)" if W == 0 else ""
        raise fail(f"{call}; it raised ZeroDivisionError: {exc.message}{advice}") from None
    _check_scheduler(got, "LambdaLR", call)
    return got["lrs"], bases, call


def _check_closed_form(
    lrs: list[list[float]], bases: list[float], W: int, T: int, m: float, call: str
) -> None:
    for s, row in enumerate(lrs):
        for g, (got, base) in enumerate(zip(row, bases, strict=True)):
            want = base * _factor(s, W, T, m)
            if not _close(got, want):
                raise fail(
                    f"{call}; after {s} scheduler steps group {g}'s lr is {got:.6g}, "
                    f"expected base_lr * f({s}) = {want:.6g}" + _explain_cosine(lrs, bases, W, T, m)
                )


def _explain_cosine(lrs: list[list[float]], bases: list[float], W: int, T: int, m: float) -> str:
    """Which common mistake the whole trajectory follows, if any."""
    if all(
        _close(got, base * base * _factor(s, W, T, m))
        for s, row in enumerate(lrs)
        for got, base in zip(row, bases, strict=True)
    ):
        return (
            "; the lambda returns an lr, but LambdaLR multiplies what it returns by each "
            "group's base lr: return the multiplier f(s)"
        )
    for advice, variant in _VARIANTS:
        if W == 0 and "warmup" in advice.split(":")[0]:
            continue
        try:
            ok = all(
                _close(got, base * variant(s, W, T, m))
                for s, row in enumerate(lrs)
                for got, base in zip(row, bases, strict=True)
            )
        except ZeroDivisionError:
            ok = False
        if ok:
            return f"; {advice}"
    return ""


def _pattern(report: dict[str, Any]) -> str:
    return "".join(kind for kind, _ in report["events"])


def _used_lrs(report: dict[str, Any]) -> list[list[float]]:
    return [lrs for kind, lrs in report["events"] if kind == "O"]


def _short(pattern: str, limit: int = 24) -> str:
    return pattern if len(pattern) <= limit else pattern[:limit] + "…"


def _check_order(got: str, expected: str, *, per_batch: bool | None, nb: int, call: str) -> None:
    """The O/S/V sequence must be the expected one; name the usual mistakes."""
    if got == expected:
        return
    legend = "O = optimizer.step(), S = scheduler.step()" + (
        ", V = val_fn()" if "V" in expected else ""
    )
    head = f"{call}; the calls went {_short(got)!r}, expected {_short(expected)!r} ({legend})"
    n_o, n_s = got.count("O"), got.count("S")
    if n_o != expected.count("O"):
        raise fail(
            f"{head}; optimizer.step() ran {n_o} times, expected {expected.count('O')} (one per "
            "batch, every epoch)"
        )
    if n_s == 0:
        raise fail(f"{head}; scheduler.step() was never called")
    if got.index("S") < got.index("O"):
        raise fail(
            f"{head}; scheduler.step() ran before the first optimizer.step(), so training "
            "skipped the schedule's first learning rate (PyTorch warns about this order): "
            "call scheduler.step() after optimizer.step()"
        )
    if per_batch is False and n_s == n_o:
        raise fail(
            f"{head}; the scheduler was stepped after every batch, but per_batch=False means "
            "an epoch-based schedule: call scheduler.step() once per epoch, after the "
            "epoch's last batch"
        )
    if per_batch is True and n_s == n_o // nb:
        raise fail(
            f"{head}; the scheduler was stepped once per epoch, but per_batch=True means a "
            "schedule counted in optimizer steps: call scheduler.step() after every "
            "optimizer.step()"
        )
    if per_batch is None and got.replace("O", "").startswith("SV"):
        raise fail(
            f"{head}; scheduler.step() ran before val_fn(model) in an epoch: validate first, "
            "then step the scheduler with the value val_fn returned"
        )
    if per_batch is None and n_s == n_o:
        raise fail(
            f"{head}; ReduceLROnPlateau was stepped after every batch: step it once per "
            "epoch, after validation"
        )
    raise fail(head)


def _check_lrs(out: Any, used: list[list[float]], expected: int, *, what: str, call: str) -> None:
    """The returned list: ``expected`` Python floats equal to the lrs actually used."""
    if not isinstance(out, list):
        raise fail(f"{call}; returned {describe(out)}; return a list of Python floats")
    if len(out) != expected:
        raise fail(f"{call}; returned {len(out)} learning rates, expected {expected} ({what})")
    for i, value in enumerate(out):
        if type(value) is not float:
            advice = (
                " (get_last_lr() gives a list with one lr per group: take "
                "optimizer.param_groups[0]['lr'])"
                if isinstance(value, list)
                else ""
            )
            raise fail(
                f"{call}; entry {i} of the returned list is {describe(value)}, expected a "
                f"Python float{advice}"
            )
    want = [row[0] for row in used]
    if all(_close(a, b) for a, b in zip(out, want, strict=True)):
        return
    after = [*want[1:], math.nan]
    if all(_close(a, b) for a, b in zip(out[:-1], after[:-1], strict=True)):
        raise fail(
            f"{call}; each returned lr is the one of the *next* step: read "
            "optimizer.param_groups[0]['lr'] before optimizer.step() and scheduler.step(), "
            "so it is the lr that step used"
        )
    bad = next(i for i, (a, b) in enumerate(zip(out, want, strict=True)) if not _close(a, b))
    raise fail(
        f"{call}; returned lr {bad} is {out[bad]:.6g}, but that step used {want[bad]:.6g}; "
        "record optimizer.param_groups[0]['lr'] when it is used"
    )


def _check_weights(
    got: dict[str, Any], want: dict[str, torch.Tensor], device: torch.device, call: str
) -> None:
    """The trained weights against the reference's, trained on the same batches and schedule."""
    tol = _tol(device)
    for name, q in want.items():
        p = got.get(name) if isinstance(got, dict) else None
        if (
            not isinstance(p, torch.Tensor)
            or p.shape != q.shape
            or not torch.allclose(p.detach().cpu().double(), q.detach().cpu().double(), **tol)
        ):
            raise fail(
                f"{call}; the model's {name} after training differs from a correct loop's on "
                "the same batches and schedule; per batch: optimizer.zero_grad(), forward, "
                "loss_fn(output, y), backward(), optimizer.step()"
            )


def _check_plateau_metrics(got: dict[str, Any], nb: int, call: str) -> None:
    """Every scheduler.step got the value val_fn had just returned (not a training loss)."""
    last_val = None
    for kind, payload in got["events"]:
        if kind == "V":
            last_val = payload
        elif kind == "S":
            metric = payload["metric"]
            if metric is None or metric != last_val:
                losses = got["train_losses"]
                chunks = [losses[i : i + nb] for i in range(0, len(losses), nb)]
                candidates = losses + [sum(c) / len(c) for c in chunks] + [sum(c) for c in chunks]
                trained = metric is not None and any(
                    _close(metric, t, rtol=1e-6) for t in candidates
                )
                what = "a training loss" if trained else payload["shown"]
                raise fail(
                    f"{call}; scheduler.step got {what} (val_fn had just returned "
                    f"{last_val}): feed ReduceLROnPlateau the validation loss, "
                    "scheduler.step(val_loss), with val_loss = val_fn(model); the training "
                    "loss keeps falling even when the model stops generalising"
                )


def _schedule_twin(
    learner: Any,
    reference: Any,
    prob: dict[str, Any],
    spec: tuple,
    *,
    per_batch: bool,
    epochs: int,
    label: str,
) -> None:
    """One twin run of train_with_schedule: order, arguments, lrs used, lrs returned, weights."""
    nb = len(prob["batches"])
    device = prob["device"]
    want = reference.run(train_with_schedule, prob, spec, epochs=epochs, per_batch=per_batch)
    call = (
        f"called train_with_schedule(model, batches, loss_fn, optimizer, scheduler, "
        f"epochs={epochs}, per_batch={per_batch}) with {nb} batches and {label}"
    )
    got = call_learner(
        learner.run,
        train_with_schedule,
        prob,
        spec,
        epochs=epochs,
        per_batch=per_batch,
        call=call,
        hints=_HINTS,
    )
    _check_order(_pattern(got), _pattern(want), per_batch=per_batch, nb=nb, call=call)
    for _kind, info in (e for e in got["events"] if e[0] == "S"):
        if not info["plain"]:
            raise fail(
                f"{call}; scheduler.step was called with arguments {info['text']}; "
                "call scheduler.step() with none (the epoch argument is deprecated)"
            )
    used, ref_used = _used_lrs(got), _used_lrs(want)
    for i, (a, b) in enumerate(zip(used, ref_used, strict=True)):
        if not all(_close(x, y) for x, y in zip(a, b, strict=True)):
            raise fail(
                f"{call}; optimizer step {i} used the lrs {a}, a correct loop uses {b}; leave "
                "the learning rates to the scheduler"
            )
    if got["eval_forwards"]:
        raise fail(
            f"{call}; the model arrived in eval mode and trained in it: call model.train() at "
            "the start"
        )
    _check_lrs(got["out"], used, epochs * nb, what="one per optimizer step", call=call)
    _check_weights(got["weights"], want["weights"], device, call)
