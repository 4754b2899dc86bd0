"""Grader for 5.8: mixed precision with torch.autocast and torch.amp.GradScaler.

``autocast_forward`` runs a small float32 model (Linear, LayerNorm, ReLU, Linear) inside
the learner's autocast region; the judge runs the same model under its own
``torch.autocast`` and compares the output (values and dtype: bfloat16 on the CPU, float16
on CUDA). A forward pre-hook notes whether autocast was on while the model ran; afterwards
the parameters must still be float32, and a plain forward must give float32 again (the
region was closed).

``amp_train_step`` is checked by twin runs: the same model, batches, SGD with momentum and
``torch.amp.GradScaler("cpu" | "cuda", init_scale=..., growth_interval=2,
backoff_factor=0.25)`` go to the reference and to the learner, five steps each. The losses,
grad norms, scales, ``skipped`` flags and the weights after every step must agree, with the
scale growing after two good steps. A loss function whose backward multiplies the gradient
by infinity makes one step's gradients inf/NaN: that step must be skipped (weights
unchanged, scale times 0.25, ``skipped`` True). With a large scale and a small
``max_norm``, the grad norm must be the judge's own norm of the unscaled gradients, so
clipping before ``unscale_`` (a norm ``scale`` times larger) is named. The loss function
notes whether autocast was on when it ran and in what dtype the output came.

Every scenario replaces the constructors of the deprecated ``torch.cuda.amp.autocast``,
``torch.cuda.amp.GradScaler``, ``torch.cpu.amp.autocast`` and ``torch.cpu.amp.GradScaler``
with functions that raise, naming ``torch.amp`` (they are put back afterwards). The CUDA
runs (float16 with ``GradScaler("cuda")``) are skipped where CUDA is absent; MPS is not
graded for the training step.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    CheckFailure,
    assert_close,
    assert_state_dict_close,
    assert_tensor,
    call_learner,
    describe,
    fail,
)
from pytorch_path.scenario import scenario

#: Output tolerance of the autocast forward (bfloat16's, wide enough for float16 too).
OUT_TOL = {"rtol": 1.6e-2, "atol": 1e-2}
#: Losses and gradient norms of the twin runs, as the contract states.
NUM_TOL = {"rtol": 1e-2, "atol": 1e-4}
#: Weights after each step of the twin runs, as the contract states.
WEIGHT_TOL = {"rtol": 1e-2, "atol": 1e-3}
_DEFAULT = "<default>"
#: The device types whose autocast state the scenarios note.
_KINDS = ("cpu", "cuda", "mps")
_REFUSED = "refused by this grader"
_HINTS = {
    _REFUSED: (
        "torch.cuda.amp and torch.cpu.amp are deprecated: open the region with "
        "torch.autocast(device_type, dtype=...) (the same as torch.amp.autocast) and use the "
        "torch.amp.GradScaler you are given"
    ),
    "expected scalar type": (
        "autocast casts inside the region by itself: keep the model and the input float32 "
        "and call the model inside `with torch.autocast(...)`"
    ),
    "mat1 and mat2 must have the same dtype": (
        "autocast casts inside the region by itself: keep the model and the input float32 "
        "and call the model inside `with torch.autocast(...)`"
    ),
    "unscale_() is being called after step()": (
        "finish every step with scaler.update(): besides adjusting the scale, it resets the "
        "scaler's record of this step, and without it the next unscale_ refuses to run"
    ),
    "does not require grad and does not have a grad_fn": (
        "the loss must come from the forward pass with autograd on (no torch.no_grad())"
    ),
}


# ----------------------------------------------------------------------------- forward


def test_autocast_forward_defaults(learner, device, seed):
    """By default the output is bfloat16 on the CPU (float16 on CUDA); params stay float32."""
    spec, state = _model(seed, 1)
    low = _low(device.type)
    for index in range(2):
        x = seed.randn(seed.python_random(index).randint(3, 7), spec["d_in"], offset=10 + index)
        x = x.to(device)
        call = f"called autocast_forward(model, x) with x: {describe(x)}"
        got = _forward_run(learner, spec, state, x, {}, call)
        want = _judge_forward(spec, state, x, device.type, low)
        _check_forward(got, want, state, device.type, low, call)


def test_autocast_forward_options(learner, device, seed):
    """dtype= sets the low precision; device_type= chooses which device's ops autocast casts."""
    spec, state = _model(seed, 2)
    x = seed.randn(5, spec["d_in"], offset=20).to(device)
    cases: list[tuple[dict[str, Any], str, torch.dtype | None]] = [
        ({"device_type": device.type}, device.type, _low(device.type)),
    ]
    if device.type != "mps":  # bfloat16 autocast on MPS depends on the macOS version
        cases.append(({"dtype": torch.bfloat16}, device.type, torch.bfloat16))
    if device.type == "cpu":
        cases.append(({"dtype": torch.float16}, "cpu", torch.float16))
        # CUDA autocast casts CUDA ops only: a model on the CPU stays float32.
        cases.append(({"device_type": "cuda"}, "cuda", None))
        cases.append(({"device_type": "cuda", "dtype": torch.bfloat16}, "cuda", None))
    else:
        cases.append(({"dtype": torch.float16}, device.type, torch.float16))
        cases.append(({"device_type": "cpu"}, "cpu", None))  # CPU autocast: not the GPU's ops
    for options, kind, low in cases:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in options.items())
        call = f"called autocast_forward(model, x, {shown}) with x: {describe(x)}"
        got = _forward_run(learner, spec, state, x, options, call)
        want = _judge_forward(spec, state, x, kind, low or torch.bfloat16)
        _check_forward(got, want, state, kind, low, call, options=options)


# ----------------------------------------------------------------------------- the step


def test_train_step_matches_a_twin_run(learner, reference, device, seed):
    """Five steps: losses, grad norms, scales (growing), flags and weights equal a correct run's."""
    _skip_mps(device)
    run = _Run(seed, 30, device, init_scale=2.0**10, max_norm=0.3)
    got, want = run.twin(learner, reference)
    run.check(got, want)


def test_forward_and_loss_run_under_autocast(learner, reference, device, seed):
    """In the step, the model output is bfloat16 (CPU) / float16 (CUDA), the loss float32.

    The model is handed over in eval mode this time: the step leaves it in that mode.
    """
    _skip_mps(device)
    run = _Run(seed, 40, device, init_scale=2.0**8, max_norm=1.0, steps=2, train_mode=False)
    got, want = run.twin(learner, reference)
    low = str(_low(device.type))
    if not got["spy"]:
        raise fail(f"{run.call(0)}; loss_fn was never called: compute the loss with loss_fn")
    for i, record in enumerate(got["spy"]):
        where = f"{run.call(i)}; inside, loss_fn(out, y)"
        if not record["model_autocast"]:
            raise fail(f"{where}: the model ran outside autocast; run model(x) inside the region")
        if not record["autocast"]:
            raise fail(
                f"{where} ran outside the autocast region: compute the loss inside it as well; "
                f"autocast runs losses in float32, outside it the loss of {low} logits is "
                f"computed in {low}"
            )
        if record["out_dtype"] != low:
            raise fail(
                f"{where} got out of dtype {record['out_dtype']}, expected {low}: the step "
                "uses autocast_forward's default dtype, bfloat16 on the CPU, float16 on CUDA"
            )
        if record["loss_dtype"] != "torch.float32":
            raise fail(
                f"{where} returned a {record['loss_dtype']} loss; under autocast the loss is "
                "float32"
            )
    run.check(got, want)


def test_inf_gradients_skip_the_step(learner, reference, device, seed):
    """An inf gradient: the step is skipped, weights unchanged, scale * backoff_factor."""
    _skip_mps(device)
    run = _Run(seed, 50, device, init_scale=2.0**12, max_norm=1.0, inf_steps=(1, 3))
    got, want = run.twin(learner, reference)
    run.check(got, want)


def test_clipping_sees_unscaled_gradients(learner, reference, device, seed):
    """grad_norm is the norm of the unscaled gradients before clipping; default max_norm is 1."""
    _skip_mps(device)
    run = _Run(seed, 60, device, init_scale=2.0**14, max_norm=0.05, steps=2)
    got, want = run.twin(learner, reference)
    true_norm = _judge_grad_norm(run)
    outs = run.outs(got)
    norm = outs[0]["grad_norm"]
    call = run.call(0)
    if isinstance(norm, float) and math.isfinite(norm):
        scale = run.init_scale
        if abs(norm - scale * true_norm) <= 1e-2 * scale * true_norm:
            raise fail(
                f"{call}; grad_norm is {norm:.6g}, {scale:g} (the scale) times the true "
                f"gradient norm {true_norm:.6g}: the gradients were clipped while still "
                "scaled. Call scaler.unscale_(optimizer) before clip_grad_norm_"
            )
        if not abs(norm - true_norm) <= NUM_TOL["rtol"] * true_norm + NUM_TOL["atol"]:
            raise fail(
                f"{call}; grad_norm is {norm:.6g}, expected {true_norm:.6g}: the total 2-norm "
                "of the unscaled gradients, as clip_grad_norm_ returns it before clipping"
            )
    run.check(got, want)
    # The default max_norm: gradients ten times larger than 1 are clipped to norm 1.
    loud = _Run(seed, 70, device, init_scale=2.0**10, max_norm=_DEFAULT, steps=2, loss_gain=10.0)
    got, want = loud.twin(learner, reference)
    loud.check(got, want)


# ----------------------------------------------------------------------------- scenarios


@scenario
def forward_run(
    mod: Any,
    spec: dict[str, Any],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    options: dict[str, Any],
) -> dict[str, Any]:
    """autocast_forward(model, x, **options); autocast as the model saw it; the model after."""
    model = _build(spec, state, x.device)
    seen: list[dict[str, Any]] = []

    def note(module: nn.Module, args: Any) -> None:
        seen.append({t: torch.is_autocast_enabled(t) for t in _KINDS})

    handle = model.register_forward_pre_hook(note)
    with _refuse_legacy_amp(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available... Disabling autocast"
        try:
            out = mod.autocast_forward(model, x, **options)
        finally:
            handle.remove()
    after = {t: torch.is_autocast_enabled(t) for t in _KINDS}
    plain = None
    if all(p.dtype == torch.float32 for p in model.parameters()):
        with torch.no_grad():
            plain = model(x).dtype
    return {
        "out": out.detach() if isinstance(out, torch.Tensor) else out,
        "described": describe(out),
        "seen": seen,
        "after": after,
        "plain_dtype": str(plain),
        "params": _param_facts(model),
        "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


@scenario
def train_steps(
    mod: Any,
    spec: dict[str, Any],
    state: dict[str, torch.Tensor],
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    scaler_cfg: dict[str, float],
    max_norm: Any,
    inf_steps: list[int],
    loss_gain: float,
    train_mode: bool = True,
) -> dict[str, Any]:
    """amp_train_step on each batch with one model, SGD and GradScaler; what each step left."""
    device = batches[0][0].device
    model = _build(spec, state, device).train(train_mode)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, **scaler_cfg)
    spy: list[dict[str, Any]] = []
    seen: list[bool] = []
    kind = device.type

    def note(module: nn.Module, args: Any) -> None:
        seen.append(torch.is_autocast_enabled(kind))

    handle = model.register_forward_pre_hook(note)
    outs, states, grads, modes = [], [], [], []
    try:
        with _refuse_legacy_amp():
            for i, (x, y) in enumerate(batches):
                loss_fn = _SpyLoss(spy, seen, kind, inf=i in inf_steps, gain=loss_gain)
                if max_norm == _DEFAULT:
                    out = mod.amp_train_step(model, x, y, loss_fn, optimizer, scaler)
                else:
                    out = mod.amp_train_step(
                        model, x, y, loss_fn, optimizer, scaler, max_norm=max_norm
                    )
                outs.append(out)
                states.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
                grads.append(_grad_state(model))
                modes.append(sorted(n or "(the model)" for n, m in model.named_modules()
                                    if m.training != train_mode))  # fmt: skip
    finally:
        handle.remove()
    return {
        "outs": outs,
        "described": [describe(o) for o in outs],
        "states": states,
        "grads": grads,
        "spy": spy,
        "params": _param_facts(model),
        "modes": modes,
    }


# ----------------------------------------------------------------------------- the model


class _Net(nn.Module):
    """Linear -> LayerNorm -> ReLU -> Linear: a model whose output is low precision in autocast."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _build(spec: dict[str, Any], state: dict[str, torch.Tensor], device: Any) -> nn.Module:
    model = _Net(**spec)
    model.load_state_dict(state)
    return model.to(device)


def _model(seed: Any, offset: int) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A random spec (sizes all different) and a state drawn by the judge."""
    rng = seed.python_random(offset)
    d_in, hidden, classes = rng.sample(range(3, 13), 3)
    spec = {"d_in": d_in, "hidden": hidden + 8, "classes": classes}
    gen = seed.generator(offset)
    state = {}
    for key, value in _Net(**spec).state_dict().items():
        scale = 0.6 if key.endswith("weight") else 0.2
        state[key] = (1.0 if "body.1.weight" in key else 0.0) + scale * torch.randn(
            value.shape, generator=gen
        )
    return spec, state


class _InfGrad(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by infinity."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:
        return t.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("inf")


class _SpyLoss:
    """Cross-entropy (times ``gain``) that notes the autocast state and the dtypes it sees."""

    def __init__(
        self, spy: list[dict[str, Any]], seen: list[bool], kind: str, *, inf: bool, gain: float
    ) -> None:
        self.spy, self.seen, self.kind, self.inf, self.gain = spy, seen, kind, inf, gain

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        record = {
            "autocast": torch.is_autocast_enabled(self.kind),
            "model_autocast": bool(self.seen and self.seen[-1]),
            "out_dtype": str(out.dtype),
        }
        if self.inf:
            out = _InfGrad.apply(out)
        loss = F.cross_entropy(out, y) * self.gain
        record["loss_dtype"] = str(loss.dtype)
        self.spy.append(record)
        return loss


# ----------------------------------------------------------------------------- twin runs


class _Run:
    """One twin experiment: model, batches, scaler settings, and how to judge the answers."""

    def __init__(
        self,
        seed: Any,
        offset: int,
        device: torch.device,
        *,
        init_scale: float,
        max_norm: Any,
        steps: int = 5,
        inf_steps: tuple[int, ...] = (),
        loss_gain: float = 1.0,
        train_mode: bool = True,
    ) -> None:
        self.device = device
        self.train_mode = train_mode
        self.spec, self.state = _model(seed, offset)
        rng = seed.python_random(offset + 1)
        n = rng.randint(12, 24)
        self.batches = [
            (
                seed.randn(n, self.spec["d_in"], offset=offset + 2 + i).to(device),
                seed.randint(0, self.spec["classes"], (n,), offset=offset + 20 + i).to(device),
            )
            for i in range(steps)
        ]
        self.init_scale = init_scale
        self.scaler_cfg = {
            "init_scale": init_scale,
            "growth_factor": 2.0,
            "backoff_factor": 0.25,
            "growth_interval": 2,
        }
        self.max_norm = max_norm
        self.inf_steps = list(inf_steps)
        self.loss_gain = loss_gain

    def call(self, step: int | None = None) -> str:
        """The call, for a message about ``step`` (or about the whole run)."""
        norm = "" if self.max_norm == _DEFAULT else f", max_norm={self.max_norm}"
        text = (
            f"called amp_train_step(model, x, y, loss_fn, SGD(lr=0.1, momentum=0.9), "
            f"torch.amp.GradScaler({self.device.type!r}, init_scale={self.init_scale:g}, "
            f"growth_interval=2, backoff_factor=0.25){norm}) on {self.device}"
        )
        if step is None:
            return f"{text}, {len(self.batches)} steps in a row"
        inf = " (loss_fn's backward makes the gradients inf)" if step in self.inf_steps else ""
        return f"step {step} of {len(self.batches)}: {text}{inf}"

    def twin(self, learner: Any, reference: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        args = (train_steps, self.spec, self.state, self.batches)
        kwargs = {
            "scaler_cfg": self.scaler_cfg,
            "max_norm": self.max_norm,
            "inf_steps": self.inf_steps,
            "loss_gain": self.loss_gain,
            "train_mode": self.train_mode,
        }
        want = reference.run(*args, **kwargs)
        got = call_learner(learner.run, *args, call=self.call(), hints=_HINTS, **kwargs)
        return got, want

    def outs(self, got: dict[str, Any]) -> list[dict[str, Any]]:
        """The returned dicts, checked for their keys and the types of their values."""
        for i, (out, shown) in enumerate(zip(got["outs"], got["described"], strict=True)):
            call = self.call(i)
            if not isinstance(out, dict):
                raise fail(f"{call}; returned {shown}, expected a dict")
            keys = ("loss", "grad_norm", "scale", "skipped")
            missing = [k for k in keys if k not in out]
            if missing:
                raise fail(f"{call}; the dict has no {missing} (keys: {sorted(map(str, out))})")
            for key in ("loss", "grad_norm", "scale"):
                if type(out[key]) is not float:
                    advice = "; use .item()" if key != "scale" else ""
                    raise fail(
                        f"{call}; result[{key!r}] is {describe(out[key])}, expected a Python "
                        f"float{advice}"
                    )
            if type(out["skipped"]) is not bool:
                raise fail(
                    f"{call}; result['skipped'] is {describe(out['skipped'])}, expected a bool"
                )
        return got["outs"]

    def check(self, got: dict[str, Any], want: dict[str, Any]) -> None:
        """Every step's numbers, flags, cleared gradients and weights against the reference."""
        outs, ref = self.outs(got), want["outs"]
        for name, kind, dtype in got["params"]:
            if kind != "Parameter" or dtype != "torch.float32":
                raise fail(
                    f"{self.call(len(outs) - 1)}; afterwards {name} is a {kind} of {dtype}: the "
                    "parameters stay float32; autocast casts copies inside the region"
                )
        previous = self.state
        for i, (out, expected) in enumerate(zip(outs, ref, strict=True)):
            call = self.call(i)
            if got["modes"][i]:
                given = "train" if self.train_mode else "eval"
                raise fail(
                    f"{call} with the model in {given} mode; afterwards {got['modes'][i]} are "
                    f"in {'eval' if self.train_mode else 'train'} mode: amp_train_step leaves "
                    "the model in the mode it is given (no model.train() or model.eval())"
                )
            scale_before = self.init_scale if i == 0 else ref[i - 1]["scale"]
            self._check_grads(got["grads"][i], call)
            self._check_loss(out, expected, call)
            self._check_norm(out, expected, scale_before, call)
            self._check_scale(out, expected, scale_before, call)
            state = got["states"][i]
            if expected["skipped"] and not _same_state(state, previous):
                raise fail(
                    f"{call}; the gradients held inf/NaN, yet the weights changed: call "
                    "scaler.step(optimizer), which skips optimizer.step() in that case, "
                    "instead of optimizer.step()"
                )
            try:
                assert_state_dict_close(
                    state, want["states"][i], what=f"the weights after step {i}", **WEIGHT_TOL
                )
            except CheckFailure as exc:
                raise fail(
                    f"{call}; {exc}. The order is: autocast forward and loss, "
                    "scaler.scale(loss).backward(), scaler.unscale_(optimizer), "
                    "clip_grad_norm_(model.parameters(), max_norm), scaler.step(optimizer), "
                    "scaler.update(), optimizer.zero_grad(set_to_none=True)"
                ) from None
            previous = state

    def _check_grads(self, grads: str, call: str) -> None:
        if grads == "none":
            return
        if grads == "zeros":
            raise fail(
                f"{call}; afterwards the gradients are tensors of zeros, expected None: "
                "optimizer.zero_grad(set_to_none=True)"
            )
        raise fail(
            f"{call}; afterwards the parameters still hold gradients: finish the step with "
            "optimizer.zero_grad(set_to_none=True), or they add up into the next step"
        )

    def _check_loss(self, out: dict[str, Any], expected: dict[str, Any], call: str) -> None:
        got, want = out["loss"], expected["loss"]
        if not abs(got - want) <= NUM_TOL["atol"] + NUM_TOL["rtol"] * abs(want):
            raise fail(
                f"{call}; result['loss'] is {got:.6g}, expected {want:.6g}: loss_fn(model(x), "
                "y) computed under autocast, before it is scaled"
            )

    def _check_norm(
        self, out: dict[str, Any], expected: dict[str, Any], scale_before: float, call: str
    ) -> None:
        got, want = out["grad_norm"], expected["grad_norm"]
        if expected["skipped"]:
            if math.isfinite(got):
                raise fail(
                    f"{call}; result['grad_norm'] is {got:.6g}, but the gradients held inf/NaN: "
                    "report the norm clip_grad_norm_ returned (inf or nan here)"
                )
            return
        if not math.isfinite(got):
            raise fail(f"{call}; result['grad_norm'] is {got}, expected {want:.6g}")
        if abs(got - want) <= NUM_TOL["atol"] + NUM_TOL["rtol"] * want:
            return
        max_norm = 1.0 if self.max_norm == _DEFAULT else float(self.max_norm)
        if abs(got - scale_before * want) <= 1e-2 * scale_before * want:
            why = (
                f"{scale_before:g} (the scale) times too large: the gradients were clipped "
                "while still scaled. Call scaler.unscale_(optimizer) before clip_grad_norm_"
            )
        elif want > max_norm and abs(got - max_norm) <= 1e-3 * max_norm:
            why = (
                "the norm after clipping; report the total norm clip_grad_norm_ returns, "
                "measured before it clips"
            )
        else:
            why = "the total 2-norm of the unscaled gradients before clipping"
        raise fail(f"{call}; result['grad_norm'] is {got:.6g}, expected {want:.6g}: {why}")

    def _check_scale(
        self, out: dict[str, Any], expected: dict[str, Any], scale_before: float, call: str
    ) -> None:
        got, want = out["scale"], expected["scale"]
        if got == want:
            if out["skipped"] != expected["skipped"]:
                grew = want > scale_before
                why = (
                    "the scale grew in this step, which is no skip: the step was skipped only "
                    "when the scale fell (scale after < scale before)"
                    if grew
                    else "a step is skipped when the scale falls in scaler.update()"
                )
                raise fail(
                    f"{call}; result['skipped'] is {out['skipped']}, expected "
                    f"{expected['skipped']}: {why}"
                )
            return
        if got == scale_before:
            why = (
                "the scale before scaler.update(); call update() every step and report "
                "scaler.get_scale() after it"
            )
        elif got == self.init_scale:
            why = "the initial scale: the scale never changes, so scaler.update() is missing"
        else:
            why = "scaler.get_scale() after scaler.update()"
        raise fail(f"{call}; result['scale'] is {got:g}, expected {want:g}: {why}")


def _judge_grad_norm(run: _Run) -> float:
    """The judge's own total norm of the unscaled gradients of the first step (no scaler)."""
    model = _build(run.spec, run.state, run.device)
    x, y = run.batches[0]
    kind = run.device.type
    with torch.autocast(device_type=kind, dtype=_low(kind)):
        loss = F.cross_entropy(model(x), y) * run.loss_gain
    loss.backward()
    norms = [p.grad.detach().float().norm() for p in model.parameters() if p.grad is not None]
    return torch.stack(norms).norm().item()


# ----------------------------------------------------------------------------- forward checks


def _forward_run(
    learner: Any,
    spec: dict[str, Any],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    options: dict[str, Any],
    call: str,
) -> dict[str, Any]:
    return call_learner(learner.run, forward_run, spec, state, x, options, call=call, hints=_HINTS)


def _judge_forward(
    spec: dict[str, Any], state: dict[str, torch.Tensor], x: torch.Tensor, kind: str, low: Any
) -> torch.Tensor:
    """The judge's own run of the model under torch.autocast(kind, low)."""
    model = _build(spec, state, x.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad(), torch.autocast(device_type=kind, dtype=low):
            return model(x)


def _check_forward(
    got: dict[str, Any],
    want: torch.Tensor,
    state: dict[str, torch.Tensor],
    kind: str,
    low: torch.dtype | None,
    call: str,
    *,
    options: dict[str, Any] | None = None,
) -> None:
    """dtype, values, autocast seen by the model, and the model and autocast afterwards."""
    out = got["out"]
    options = options or {}
    assert_tensor(out, what="the output", shape=tuple(want.shape), device=want.device,
                  finite=False, call=call)  # fmt: skip
    for name, p_kind, dtype in got["params"]:
        if p_kind != "Parameter" or dtype != "torch.float32":
            raise fail(
                f"{call}; afterwards {name} is a {p_kind} of {dtype}, expected float32: never "
                "cast the model (model.half(), model.to(torch.bfloat16)); autocast casts copies "
                "inside the region"
            )
    if out.dtype != want.dtype:
        if "device_type" in options and low is None:
            why = (
                f"autocast for {options['device_type']!r} leaves ops on {want.device.type} "
                f"tensors alone, so the output stays float32; open the region for the "
                "device_type argument, not for x.device.type"
            )
        elif out.dtype == torch.float32:
            why = (
                "the output was cast back (.float()) or the model ran outside autocast; "
                "return model(x) as the region produced it"
            )
        elif out.dtype == torch.float16 and want.dtype == torch.bfloat16:
            why = "on the CPU autocast's default dtype is torch.bfloat16 (float16 on CUDA)"
        elif "dtype" in options:
            why = f"pass dtype={_show(options['dtype'])} to torch.autocast"
        else:
            why = "bfloat16 by default on the CPU, float16 on CUDA"
        raise fail(f"{call}; the output has dtype {out.dtype}, expected {want.dtype}: {why}")
    assert_close(out, want, what="the output", call=call, **OUT_TOL)
    if low is not None and not any(seen.get(kind) for seen in got["seen"]):
        raise fail(f"{call}; autocast for {kind!r} was not on while the model ran")
    if any(got["after"].values()) or got["plain_dtype"] != "torch.float32":
        raise fail(
            f"{call}; after it returned autocast was still on ({got['after']}): use the "
            "`with torch.autocast(...):` block, which closes the region on the way out"
        )
    try:
        assert_state_dict_close(got["state"], state, what="the model's state_dict", rtol=0.0,
                                atol=0.0)  # fmt: skip
    except CheckFailure as exc:
        raise fail(f"{exc}; autocast_forward must leave the model's weights as they are") from None


# ----------------------------------------------------------------------------- helpers


def _low(kind: str) -> torch.dtype:
    return torch.bfloat16 if kind == "cpu" else torch.float16


def _show(value: Any) -> str:
    return str(value) if isinstance(value, torch.dtype) else repr(value)


def _skip_mps(device: torch.device) -> None:
    if device.type == "mps":
        pytest.skip("the GradScaler training step is graded on cpu and cuda only")


def _param_facts(model: nn.Module) -> list[list[Any]]:
    return [[name, type(p).__name__, str(p.dtype)] for name, p in model.named_parameters()]


def _grad_state(model: nn.Module) -> str:
    grads = [p.grad for p in model.parameters()]
    if all(g is None for g in grads):
        return "none"
    if all(g is None or not bool(g.any()) for g in grads):
        return "zeros"
    return "values"


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in b)


@contextlib.contextmanager
def _refuse_legacy_amp() -> Iterator[None]:
    """Make the deprecated torch.cuda.amp / torch.cpu.amp constructors raise, then restore them."""
    targets = [
        (torch.cuda.amp.autocast, "torch.cuda.amp.autocast", "torch.autocast('cuda', ...)"),
        (torch.cuda.amp.GradScaler, "torch.cuda.amp.GradScaler", "torch.amp.GradScaler('cuda')"),
        (torch.cpu.amp.autocast, "torch.cpu.amp.autocast", "torch.autocast('cpu', ...)"),
        (torch.cpu.amp.GradScaler, "torch.cpu.amp.GradScaler", "torch.amp.GradScaler('cpu')"),
    ]
    saved = []
    for cls, name, instead in targets:
        saved.append((cls, cls.__dict__.get("__init__")))

        def refuse(self: Any, *args: Any, _name: str = name, _instead: str = instead,
                   **kwargs: Any) -> None:  # fmt: skip
            raise RuntimeError(
                f"{_name} is deprecated and {_REFUSED}: use {_instead} from torch.amp"
            )

        cls.__init__ = refuse
    try:
        yield
    finally:
        for cls, original in saved:
            if original is None:
                del cls.__init__
            else:
                cls.__init__ = original
