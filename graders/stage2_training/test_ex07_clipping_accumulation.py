"""Grader for 2.7: gradient clipping and gradient accumulation.

Every check is a twin run. The grader builds a small float64 model and sends its weights,
the data and the optimizer's settings to a scenario, which rebuilds the model there, lets
the learner's function train it, and sends back the weights, the returned value and the
number of optimizer steps. The weights are compared with the grader's own step (clipping
by ``max_norm / total`` or by ``clip_grad_norm_``'s ``max_norm / (total + 1e-6)``: either
is accepted), with the reference's run, or with one big-batch step on the concatenated
micro-batches. When they differ, the grader replays the step with well-known mistakes (no
clipping, clipping after the step, clipping each parameter or each element, losses not
divided by ``accum_steps``, gradients cleared every micro-batch or never, a lost trailing
group...) and names the one that matches.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from pytorch_path.checks import (
    assert_python_float,
    assert_tensor,
    assert_unchanged,
    call_learner,
    describe,
    fail,
)
from pytorch_path.scenario import scenario

_LEN_HINTS = {
    "has no len": (
        "batches may be a one-shot iterator (a generator): count micro-batches as you go "
        "instead of calling len(batches)"
    )
}

# The two accepted ways to clip: the factor max_norm / total, or clip_grad_norm_'s own.
_CLIP_FORMULAS = (
    ("exact", "clipping by max_norm / total"),
    ("correct", "clipping by max_norm / (total + 1e-6), as clip_grad_norm_ does"),
)


# ----------------------------------------------------------------------------- clipping


@pytest.mark.points(3)
def test_clipping_scales_the_update(learner, device, seed):
    """With SGD the update is -lr * the gradient times max_norm / total (or / (total + 1e-6))."""
    rng = seed.python_random()
    for index in range(4):
        task = _task(rng)
        start = _weights(task.model(device))
        x, y = task.batch(seed, rng.randint(9, 17), index, device)
        lr = round(rng.uniform(0.05, 0.3), 3)
        norm = _grad_norm(task, start, x, y)
        # Mostly well below the gradient's norm (clipping bites); once far above it.
        max_norm = round(norm * rng.uniform(0.05, 0.4), 4) if index < 3 else 10 * norm + 1
        stale = _stale_grads(start, torch.Generator().manual_seed(rng.randrange(2**31)))
        opt = {"name": "sgd", "lr": lr}
        wants = [
            (label, _clip_variant(task, start, x, y, opt, max_norm, stale, variant))
            for variant, label in _CLIP_FORMULAS
        ]
        call = (
            f"called train_step_clipped(model, x, y, {task.loss_name()}, SGD(lr={lr}), "
            f"max_norm={max_norm:.4g}) with x: {describe(x)}, the gradient's total norm being "
            f"{norm:.4g}"
        )
        out = learner.run(clip_step, task.arch(), start, x, y, opt, max_norm, stale)
        if out["steps"] != 1:
            raise fail(f"{call}; optimizer.step() ran {out['steps']} times, expected once")
        got = out["weights"]
        if not any(_close(got, want, device) for _, want in wants):
            hint = _diagnose_clip(task, device, start, x, y, opt, max_norm, got, stale)
            _check_weights(got, wants, device=device, call=call, what="after the step", hint=hint)
        assert_unchanged(out["x_after"], x, what="the input x", call=call)
        assert_unchanged(out["y_after"], y, what="the input y", call=call)


@pytest.mark.points(2)
def test_returns_norm_before_clipping(learner, reference, device, seed):
    """train_step_clipped returns clip_grad_norm_'s total norm before clipping, as a float."""
    rng = seed.python_random(1)
    for index in range(4):
        task = _task(rng)
        start = _weights(task.model(device))
        x, y = task.batch(seed, rng.randint(9, 17), 10 + index, device)
        norm = _grad_norm(task, start, x, y)
        max_norm = round(norm * rng.uniform(0.1, 0.5), 4) if index % 2 == 0 else 3 * norm + 1
        opt = {"name": "adam", "lr": 0.01}
        args = (task.arch(), start, x, y, opt, max_norm, None)
        expected = reference.run(clip_step, *args)["result"]
        call = (
            f"called train_step_clipped(model, x, y, {task.loss_name()}, Adam(lr=0.01), "
            f"max_norm={max_norm:.4g}) with x: {describe(x)}"
        )
        out = learner.run(clip_step, *args)
        value = assert_python_float(out["result"], what="the returned norm", call=call)
        if expected > max_norm and math.isclose(value, max_norm, rel_tol=1e-4):
            raise fail(
                f"{call}; returned {value:.10g}, which is max_norm: that is the norm after "
                f"clipping. Return the total norm before clipping ({expected:.10g}), which is "
                "what clip_grad_norm_ returns"
            )
        if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
            raise fail(
                f"{call}; returned {value:.10g}, expected {expected:.10g} (tolerance "
                "rel_tol=1e-6): the L2 norm of all the model's gradients taken together, as "
                "clip_grad_norm_(model.parameters(), max_norm) returns it"
            )


# ----------------------------------------------------------------------------- accumulation


@pytest.mark.points(2)
def test_accumulation_matches_reference(learner, reference, device, seed):
    """Accumulated training gives the reference's weights, losses and steps; no gradient is left."""
    rng = seed.python_random(2)
    configs = [(2, 6), (3, 7), (4, 5), (1, 3), (3, 3)]  # (accum_steps, micro-batches)
    for index, (k, count) in enumerate(configs):
        task = _task(rng)
        start = _weights(task.model(device))
        size = rng.randint(3, 6)
        batches = _micro_batches(task, seed, count, size, 100 + 20 * index, device)
        use_adam = index % 2 == 1
        opt = (
            {"name": "adam", "lr": 0.02}
            if use_adam
            else {"name": "sgd", "lr": 0.1, "momentum": 0.9}
        )
        stale = _stale_grads(start, seed.generator(300 + index))
        one_shot = index == 1
        args = (task.arch(), start, batches, opt, k, stale, one_shot)
        want = reference.run(accumulate, *args)
        call = (
            f"called train_accumulated(model, batches, {task.loss_name()}, "
            f"{'Adam' if use_adam else 'SGD with momentum'}, accum_steps={k}) with {count} "
            f"micro-batches of {size} samples" + (" given as a generator" if one_shot else "")
        )
        out = call_learner(learner.run, accumulate, *args, call=call, hints=_LEN_HINTS)
        losses = out["losses"]
        if not isinstance(losses, list) or len(losses) != count:
            raise fail(
                f"{call}; returned {out['described']}, expected a list of {count} floats, one "
                "loss per micro-batch"
            )
        got = out["weights"]
        if out["steps"] != want["steps"] or not _close(got, want["weights"], device):
            hint = _diagnose_accum(task, start, batches, opt, k, got, device, stale)
            if out["steps"] != want["steps"]:
                raise fail(
                    f"{call}; optimizer.step() ran {out['steps']} times, expected "
                    f"{want['steps']} (one per group of {k}, the last group possibly "
                    "incomplete)" + (f"; {hint}" if hint else "")
                )
            _check_weights(
                got,
                [("a correct run", want["weights"])],
                device=device,
                call=call,
                what="after training",
                hint=hint,
            )
        for i, (value, expected) in enumerate(zip(losses, want["losses"], strict=True)):
            value = assert_python_float(value, what=f"the loss of micro-batch {i}", call=call)
            if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
                hint = ""
                if k > 1 and math.isclose(value * k, expected, rel_tol=1e-6):
                    hint = (
                        ": that is the loss divided by accum_steps. Divide only what goes to "
                        "backward(); record the micro-batch's own loss"
                    )
                raise fail(
                    f"{call}; the loss of micro-batch {i} is {value:.10g}, expected "
                    f"{expected:.10g}{hint}"
                )
        grads = out["grads"]
        left = [name for name, grad in grads.items() if grad is not None and bool(grad.any())]
        if left:
            last = "the step of the last, incomplete group" if count % k else "the last step"
            raise fail(
                f"{call}; afterwards {left[0]}.grad still holds a gradient: clear the gradients "
                f"right after every optimizer.step() ({last} included), so that no gradient is "
                "left on the model"
            )


@pytest.mark.points(3)
def test_accumulation_equals_big_batch_step(learner, device, seed):
    """k equal micro-batches with a mean loss, accumulated, equal one step on their union."""
    rng = seed.python_random(3)
    for index in range(3):
        task = _task(rng, classify=index == 1)
        k = rng.randint(2, 4)
        groups = 1 if index == 0 else 2
        size = rng.randint(3, 6)
        lr = round(rng.uniform(0.05, 0.2), 3)
        start = _weights(task.model(device))
        batches = _micro_batches(task, seed, k * groups, size, 500 + 20 * index, device)
        opt = {"name": "sgd", "lr": lr}
        # The grader's own big-batch steps: one SGD step per concatenated group.
        big, loss_fn = _build(task.arch(), start)
        big_opt = _optimizer(big, opt)
        for g in range(groups):
            group = batches[g * k : (g + 1) * k]
            big_opt.zero_grad()
            x_all = torch.cat([x for x, _ in group])
            y_all = torch.cat([y for _, y in group])
            loss_fn(big(x_all), y_all).backward()
            big_opt.step()
        want = _weights(big)
        call = (
            f"called train_accumulated(model, batches, {task.loss_name()}, SGD(lr={lr}), "
            f"accum_steps={k}) with {k * groups} micro-batches of {size} samples"
        )
        out = call_learner(
            learner.run,
            accumulate,
            task.arch(),
            start,
            batches,
            opt,
            k,
            None,
            False,
            call=call,
            hints=_LEN_HINTS,
        )
        got = out["weights"]
        if _close(got, want, device):
            continue
        hint = _diagnose_accum(task, start, batches, opt, k, got, device)
        what = (
            f"compared with {groups} SGD step(s) of the grader on the {k * size}-sample "
            "concatenation of each group"
        )
        wants = [("the big-batch step", want)]
        _check_weights(got, wants, device=device, call=call, what=what, hint=hint)


# ----------------------------------------------------------------------------- scenarios


@scenario
def clip_step(
    mod: Any,
    arch: tuple[int, int, int, bool],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    opt: dict[str, Any],
    max_norm: float,
    stale: list[torch.Tensor] | None,
) -> dict[str, Any]:
    """train_step_clipped on the model ``arch``/``state`` (old gradients ``stale`` left on it).

    Returns what it returned, the weights afterwards, how many times optimizer.step() ran,
    and x and y as they are after the call.
    """
    model, loss_fn = _build(arch, state)
    _set_grads(model, stale)
    optimizer = _optimizer(model, opt)
    steps = _count_steps(optimizer)
    result = mod.train_step_clipped(model, x, y, loss_fn, optimizer, max_norm)
    return {
        "result": result,
        "described": describe(result),
        "steps": steps[0],
        "weights": _weights(model),
        "x_after": x,
        "y_after": y,
    }


@scenario
def accumulate(
    mod: Any,
    arch: tuple[int, int, int, bool],
    state: dict[str, torch.Tensor],
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    opt: dict[str, Any],
    accum_steps: int,
    stale: list[torch.Tensor] | None,
    one_shot: bool,
) -> dict[str, Any]:
    """train_accumulated on the model ``arch``/``state``; ``batches`` as a generator if one_shot.

    Returns the losses it returned, the weights and gradients afterwards and how many times
    optimizer.step() ran.
    """
    model, loss_fn = _build(arch, state)
    _set_grads(model, stale)
    optimizer = _optimizer(model, opt)
    steps = _count_steps(optimizer)
    given = _one_shot(batches) if one_shot else batches
    losses = mod.train_accumulated(model, given, loss_fn, optimizer, accum_steps)
    return {
        "losses": losses,
        "described": describe(losses),
        "steps": steps[0],
        "weights": _weights(model),
        "grads": {name: p.grad for name, p in model.named_parameters()},
    }


# ----------------------------------------------------------------------------- helpers


def _dtype(device: torch.device) -> torch.dtype:
    """float64 where it exists, so that equal updates are equal to ~1e-15."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-6} if device.type == "mps" else {"rtol": 1e-9, "atol": 1e-12}


def _loose_tol(device: torch.device) -> dict[str, float]:
    """For naming a mistake: far tighter than any mistake's effect, looser than rounding."""
    return {"rtol": 1e-4, "atol": 1e-6} if device.type == "mps" else {"rtol": 1e-6, "atol": 1e-9}


@dataclass
class Task:
    """A small model, a loss, and where the data come from."""

    d_in: int
    hidden: int
    d_out: int
    classify: bool
    init_seed: int

    def arch(self) -> tuple[int, int, int, bool]:
        """What a scenario needs to rebuild the model and the loss."""
        return (self.d_in, self.hidden, self.d_out, self.classify)

    def model(self, device: torch.device) -> nn.Module:
        torch.manual_seed(self.init_seed)
        model = nn.Sequential(
            nn.Linear(self.d_in, self.hidden), nn.Tanh(), nn.Linear(self.hidden, self.d_out)
        )
        return model.to(device, _dtype(device))

    def loss_name(self) -> str:
        return "CrossEntropyLoss()" if self.classify else "MSELoss()"

    def batch(self, seed: Any, n: int, offset: int, device: torch.device):
        gen = seed.generator(offset)
        x = torch.randn(n, self.d_in, generator=gen, dtype=torch.float64)
        if self.classify:
            y = torch.randint(0, self.d_out, (n,), generator=gen).to(device)
        else:
            y = torch.randn(n, self.d_out, generator=gen, dtype=torch.float64)
            y = (3 * y).to(device, _dtype(device))
        return x.to(device, _dtype(device)), y


def _task(rng: Any, classify: bool | None = None) -> Task:
    while True:
        d_in, hidden, d_out = rng.randint(3, 7), rng.randint(8, 13), rng.randint(2, 5)
        if len({d_in, hidden, d_out}) == 3:
            break
    return Task(
        d_in=d_in,
        hidden=hidden,
        d_out=d_out,
        classify=rng.random() < 0.5 if classify is None else classify,
        init_seed=rng.randrange(2**31),
    )


def _build(
    arch: tuple[int, int, int, bool], state: dict[str, torch.Tensor]
) -> tuple[nn.Module, nn.Module]:
    """The model with the weights ``state``, and its loss (used on both sides)."""
    d_in, hidden, d_out, classify = arch
    model = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, d_out))
    first = next(iter(state.values()))
    model = model.to(first.device, first.dtype)
    model.load_state_dict(state)
    return model, nn.CrossEntropyLoss() if classify else nn.MSELoss()


def _optimizer(model: nn.Module, opt: dict[str, Any]) -> torch.optim.Optimizer:
    if opt["name"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=opt["lr"])
    return torch.optim.SGD(model.parameters(), lr=opt["lr"], momentum=opt.get("momentum", 0.0))


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _stale_grads(state: dict[str, torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """Gradients from 'a previous step', as a training loop would leave them on the model."""
    return [torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p) for p in state.values()]


def _set_grads(model: nn.Module, grads: list[torch.Tensor] | None) -> None:
    if grads is not None:
        for p, g in zip(model.parameters(), grads, strict=True):
            p.grad = g.clone()


def _count_steps(optimizer: torch.optim.Optimizer) -> list[int]:
    count = [0]

    def hook(opt: Any, args: Any, kwargs: Any) -> None:
        count[0] += 1

    optimizer.register_step_pre_hook(hook)
    return count


def _one_shot(batches: list[Any]) -> Iterator[Any]:
    yield from batches


def _is_weights(got: Any, want: dict[str, torch.Tensor]) -> bool:
    return isinstance(got, dict) and all(
        isinstance(got.get(k), torch.Tensor) and got[k].shape == v.shape for k, v in want.items()
    )


def _close(got: Any, want: dict[str, torch.Tensor], device: torch.device, *, loose=False) -> bool:
    tol = _loose_tol(device) if loose else _tol(device)
    if not _is_weights(got, want):
        return False
    return all(
        torch.allclose(got[k].detach().cpu().double(), v.detach().cpu().double(), **tol)
        for k, v in want.items()
    )


def _worst(got: dict, want: dict, tol: dict[str, float]) -> tuple[float, str, int, int]:
    """The worst excess over the tolerance, the parameter and flat index where it is, and
    how many elements of that parameter are off."""
    worst = (-math.inf, "", 0, 0)
    for name, value in want.items():
        a, e = got[name].detach().cpu().double(), value.detach().cpu().double()
        excess = ((a - e).abs() - (tol["atol"] + tol["rtol"] * e.abs())).reshape(-1)
        excess = torch.where(torch.isnan(excess), torch.full_like(excess, math.inf), excess)
        if excess.numel() and float(excess.max()) > worst[0]:
            worst = (float(excess.max()), name, int(excess.argmax()), int((excess > 0).sum()))
    return worst


def _check_weights(
    got: Any,
    wants: list[tuple[str, dict[str, torch.Tensor]]],
    *,
    device: torch.device,
    call: str,
    what: str,
    hint: str,
) -> None:
    """Fail unless ``got`` matches one of ``wants``; name a known mistake first if there is one.

    The message shows the worst element of the closest candidate, with every candidate's
    value at that place, in full precision (``repr``), so that even a gap of 1e-9 shows.
    """
    tol = _tol(device)
    first = wants[0][1]
    for name, value in first.items():
        tensor = got.get(name) if isinstance(got, dict) else None
        head = f"the model's {name} {what}"
        shape = tuple(value.shape)
        assert_tensor(tensor, what=head, shape=shape, dtype=value.dtype, device=device, call=call)
    gaps = [(_worst(got, want, tol), label) for label, want in wants]
    (excess, name, index, count), label = min(gaps, key=lambda gap: gap[0][0])
    if excess <= 0:
        return
    shape = tuple(first[name].shape)
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(index), shape))
    got_v = got[name].detach().cpu().double().reshape(-1)[index].item()
    expected = " or ".join(
        f"{want[name].detach().cpu().double().reshape(-1)[index].item()!r} ({lab})"
        for lab, want in wants
    )
    detail = (
        f"the model's {name} {what} has wrong values: {count} of {first[name].numel()} "
        f"elements differ from the closest expected result ({label}); the largest gap is at "
        f"index {where}: got {got_v!r}, expected {expected} (tolerance rtol={tol['rtol']:g}, "
        f"atol={tol['atol']:g})"
    )
    if hint:
        raise fail(f"{call}; {hint} (in detail: {detail})")
    raise fail(f"{call}; {detail}")


def _grad_norm(task: Task, state: dict[str, torch.Tensor], x, y) -> float:
    model, loss_fn = _build(task.arch(), state)
    loss_fn(model(x), y).backward()
    return float(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm())


# ------------------------------------------------------------------------ clipping mistakes


def _clip_variant(task, state, x, y, opt, max_norm, stale, variant: str) -> dict:
    """The weights after one step as the reference does it, or with a well-known mistake."""
    model, loss_fn = _build(task.arch(), state)
    _set_grads(model, stale)
    optimizer = _optimizer(model, opt)
    if variant != "keeps_old_grads":
        optimizer.zero_grad()
    loss_fn(model(x), y).backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if variant == "per_parameter":
        for p in params:
            torch.nn.utils.clip_grad_norm_([p], max_norm)
    elif variant == "max_norm_type":
        torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=float("inf"))
    elif variant == "by_value":
        torch.nn.utils.clip_grad_value_(params, max_norm)
    elif variant == "exact":
        total = float(torch.cat([p.grad.reshape(-1) for p in params]).norm())
        if total > max_norm:
            with torch.no_grad():
                for p in params:
                    p.grad.mul_(max_norm / total)
    elif variant in ("correct", "keeps_old_grads"):
        torch.nn.utils.clip_grad_norm_(params, max_norm)
    optimizer.step()  # "unclipped": no clipping before the step (or only after it)
    return _weights(model)


_CLIP_MISTAKES = {
    "unclipped": (
        "the update was not clipped: the weights moved by the full, unclipped gradient. Clip "
        "between loss.backward() and optimizer.step(); clipping after the step only changes "
        "gradients that were already used"
    ),
    "per_parameter": (
        "each parameter's gradient was clipped to max_norm on its own, so the total norm can "
        "still be far above max_norm and the gradient's direction changes. Clip all "
        "gradients together in ONE call: clip_grad_norm_(model.parameters(), max_norm)"
    ),
    "by_value": (
        "the gradient was clipped element by element (clip_grad_value_), which changes its "
        "direction. Scale the whole gradient by its total L2 norm: clip_grad_norm_"
    ),
    "max_norm_type": (
        "the gradient was clipped by its largest element (norm_type=inf); clip its L2 norm, "
        "clip_grad_norm_'s default (norm_type=2)"
    ),
    "keeps_old_grads": (
        "the update includes gradients left over from before the call: clear them "
        "(optimizer.zero_grad()) before the backward pass"
    ),
}


def _diagnose_clip(task, device, start, x, y, opt, max_norm, got, stale) -> str:
    for variant, message in _CLIP_MISTAKES.items():
        simulated = _clip_variant(task, start, x, y, opt, max_norm, stale, variant)
        if _close(got, simulated, device, loose=True):
            return message
    return ""


# -------------------------------------------------------------------- accumulation mistakes


def _accumulate_variant(task, state, batches, opt, k, stale, variant: str) -> dict:
    """The weights after the reference loop, or after one with a well-known mistake."""
    model, loss_fn = _build(task.arch(), state)
    _set_grads(model, stale)
    optimizer = _optimizer(model, opt)
    if variant != "keeps_old_grads":
        optimizer.zero_grad()
    pending = 0
    for x, y in batches:
        if variant == "zero_every_micro_batch":
            optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        (loss if variant == "not_divided" else loss / k).backward()
        pending += 1
        if pending == k or variant == "step_every_micro_batch":
            optimizer.step()
            if variant != "never_zeroed":
                optimizer.zero_grad()
            pending = 0
    if pending and variant != "drops_trailing_group":
        if variant == "trailing_rescaled":
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.mul_(k / pending)
        optimizer.step()
    return _weights(model)


_ACCUM_MISTAKES = {
    "not_divided": (
        "the step is accum_steps times too large: divide each micro-batch's loss by "
        "accum_steps before backward(), so the summed gradients are the gradient of the mean"
    ),
    "zero_every_micro_batch": (
        "only the last micro-batch of each group reached the step: the gradients of the "
        "earlier ones were cleared. Call zero_grad() only right after optimizer.step()"
    ),
    "never_zeroed": (
        "gradients of earlier groups leaked into later steps: clear them (zero_grad()) after "
        "every optimizer.step()"
    ),
    "step_every_micro_batch": (
        "optimizer.step() ran after every micro-batch: step once per accum_steps micro-batches"
    ),
    "keeps_old_grads": (
        "the first step included gradients left on the model before the call: clear them "
        "(optimizer.zero_grad()) before the first micro-batch"
    ),
    "drops_trailing_group": (
        "the last, incomplete group of micro-batches never got its optimizer.step(): step "
        "once more after the loop when micro-batches are left over"
    ),
    "trailing_rescaled": (
        "the last, incomplete group was averaged over its own size; as documented, its losses "
        "are divided by accum_steps like every other micro-batch's"
    ),
}


def _diagnose_accum(task, start, batches, opt, k, got, device, stale=None) -> str:
    for variant, message in _ACCUM_MISTAKES.items():
        simulated = _accumulate_variant(task, start, batches, opt, k, stale, variant)
        if _close(got, simulated, device, loose=True):
            return message
    return ""


def _micro_batches(task, seed, count, size, offset, device):
    return [task.batch(seed, size, offset + i, device) for i in range(count)]
