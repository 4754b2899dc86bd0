"""Grader for 2.7: gradient clipping and gradient accumulation.

Every check is a twin run: the same float64 model is copied, the learner's function trains
one copy, the reference (or the grader's own big-batch step) trains the other, and the
weights, returned norms and losses are compared. When they differ, the grader replays the
step with well-known mistakes (no clipping, clipping after the step, clipping each parameter
or each element, losses not divided by ``accum_steps``, gradients cleared every
micro-batch or never, a lost trailing group...) and names the one that matches.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from pytorch_path.checks import assert_close, assert_python_float, describe, fail


def _dtype(device: torch.device) -> torch.dtype:
    """float64 where it exists, so that equal updates are equal to ~1e-15."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-6} if device.type == "mps" else {"rtol": 1e-9, "atol": 1e-12}


@dataclass
class Task:
    """A small model, a loss, and where the data come from."""

    d_in: int
    hidden: int
    d_out: int
    classify: bool
    init_seed: int

    def model(self, device: torch.device) -> nn.Module:
        torch.manual_seed(self.init_seed)
        model = nn.Sequential(
            nn.Linear(self.d_in, self.hidden), nn.Tanh(), nn.Linear(self.hidden, self.d_out)
        )
        return model.to(device, _dtype(device))

    def loss_fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        return nn.CrossEntropyLoss() if self.classify else nn.MSELoss()

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


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], device: torch.device) -> bool:
    tol = _tol(device)
    return all(torch.allclose(a[k], b[k], rtol=tol["rtol"], atol=tol["atol"]) for k in a)


def _stale(model: nn.Module, gen: torch.Generator) -> None:
    """Leave gradients from 'a previous step' on the model, as a training loop would."""
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p)


def _count_steps(optimizer: torch.optim.Optimizer) -> list[int]:
    count = [0]

    def hook(opt: Any, args: Any, kwargs: Any) -> None:
        count[0] += 1

    optimizer.register_step_pre_hook(hook)
    return count


def _call(fn: Callable[..., Any], *args: Any, call: str) -> Any:
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except TypeError as exc:
        if "has no len" in str(exc):
            raise fail(
                f"{call} raised TypeError: {exc}. batches may be a one-shot iterator (a "
                "generator): count micro-batches as you go instead of calling len(batches)"
            ) from exc
        raise


def _check_weights(got, want, *, device, call: str, what: str, hint: str) -> None:
    """Compare weights; when a known mistake explains the gap, say that first."""
    for name, value in want.items():
        try:
            assert_close(got[name], value, what=f"the model's {name} {what}", **_tol(device))
        except AssertionError as exc:
            if hint:
                raise fail(f"{call}; {hint} (in detail: {exc})") from None
            raise fail(f"{call}; {exc}") from None


# ----------------------------------------------------------------------------- clipping


def _clip_variant(model, x, y, loss_fn, optimizer, max_norm, variant: str) -> None:
    """One step as the reference does it, or with a well-known mistake."""
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
    elif variant in ("correct", "keeps_old_grads"):
        torch.nn.utils.clip_grad_norm_(params, max_norm)
    optimizer.step()  # "unclipped": no clipping before the step (or only after it)


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


def _diagnose_clip(task, device, start, x, y, lr, max_norm, got, stale_seed) -> str:
    for variant, message in _CLIP_MISTAKES.items():
        model = copy.deepcopy(start)
        _stale(model, torch.Generator().manual_seed(stale_seed))
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        _clip_variant(model, x, y, task.loss_fn(), optimizer, max_norm, variant)
        if _close(_weights(model), got, device):
            return message
    return ""


def _grad_norm(model: nn.Module, x, y, loss_fn) -> float:
    twin = copy.deepcopy(model)
    loss_fn(twin(x), y).backward()
    return float(torch.cat([p.grad.reshape(-1) for p in twin.parameters()]).norm())


@pytest.mark.points(3)
def test_clipping_scales_the_update(learner, device, seed):
    """With plain SGD the update is -lr * the gradient scaled down to total norm max_norm."""
    rng = seed.python_random()
    for index in range(4):
        task = _task(rng)
        model = task.model(device)
        x, y = task.batch(seed, rng.randint(9, 17), index, device)
        lr = round(rng.uniform(0.05, 0.3), 3)
        norm = _grad_norm(model, x, y, task.loss_fn())
        # Mostly well below the gradient's norm (clipping bites); once far above it.
        max_norm = round(norm * rng.uniform(0.05, 0.4), 4) if index < 3 else 10 * norm + 1
        start = copy.deepcopy(model)
        stale_seed = rng.randrange(2**31)
        _stale(model, torch.Generator().manual_seed(stale_seed))
        expected = copy.deepcopy(start)
        _stale(expected, torch.Generator().manual_seed(stale_seed))
        _clip_variant(
            expected,
            x,
            y,
            task.loss_fn(),
            torch.optim.SGD(expected.parameters(), lr=lr),
            max_norm,
            "correct",
        )
        want = _weights(expected)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        steps = _count_steps(optimizer)
        x_before, y_before = x.clone(), y.clone()
        call = (
            f"called train_step_clipped(model, x, y, {task.loss_name()}, SGD(lr={lr}), "
            f"max_norm={max_norm:.4g}) with x: {describe(x)}, the gradient's total norm being "
            f"{norm:.4g}"
        )
        _call(
            learner.train_step_clipped, model, x, y, task.loss_fn(), optimizer, max_norm, call=call
        )
        if steps[0] != 1:
            raise fail(f"{call}; optimizer.step() ran {steps[0]} times, expected once")
        got = _weights(model)
        if not _close(got, want, device):
            hint = _diagnose_clip(task, device, start, x, y, lr, max_norm, got, stale_seed)
            _check_weights(got, want, device=device, call=call, what="after the step", hint=hint)
        if not (torch.equal(x, x_before) and torch.equal(y, y_before)):
            raise fail(f"{call}; the inputs x or y were changed in place")


@pytest.mark.points(2)
def test_returns_norm_before_clipping(learner, reference, device, seed):
    """train_step_clipped returns clip_grad_norm_'s total norm before clipping, as a float."""
    rng = seed.python_random(1)
    for index in range(4):
        task = _task(rng)
        model = task.model(device)
        x, y = task.batch(seed, rng.randint(9, 17), 10 + index, device)
        norm = _grad_norm(model, x, y, task.loss_fn())
        max_norm = round(norm * rng.uniform(0.1, 0.5), 4) if index % 2 == 0 else 3 * norm + 1
        twin = copy.deepcopy(model)
        expected = reference.train_step_clipped(
            twin, x, y, task.loss_fn(), torch.optim.Adam(twin.parameters(), lr=0.01), max_norm
        )
        call = (
            f"called train_step_clipped(model, x, y, {task.loss_name()}, Adam(lr=0.01), "
            f"max_norm={max_norm:.4g}) with x: {describe(x)}"
        )
        got = _call(
            learner.train_step_clipped,
            model,
            x,
            y,
            task.loss_fn(),
            torch.optim.Adam(model.parameters(), lr=0.01),
            max_norm,
            call=call,
        )
        value = assert_python_float(got, what="the returned norm", call=call)
        if expected > max_norm and math.isclose(value, max_norm, rel_tol=1e-4):
            raise fail(
                f"{call}; returned {value:.6g}, which is max_norm: that is the norm after "
                f"clipping. Return the total norm before clipping ({expected:.6g}), which is "
                "what clip_grad_norm_ returns"
            )
        if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
            raise fail(
                f"{call}; returned {value:.6g}, expected {expected:.6g}: the L2 norm of all "
                "the model's gradients taken together, as clip_grad_norm_(model.parameters(), "
                "max_norm) returns it"
            )


# ----------------------------------------------------------------------------- accumulation


def _accumulate_variant(model, batches, loss_fn, optimizer, k, variant: str) -> None:
    """The reference loop, or one with a well-known mistake."""
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


def _diagnose_accum(start, batches, loss_fn, opt_factory, k, got, device, stale=None) -> str:
    for variant, message in _ACCUM_MISTAKES.items():
        model = copy.deepcopy(start)
        if stale is not None:
            _stale(model, stale())
        _accumulate_variant(model, batches, loss_fn, opt_factory(model), k, variant)
        if _close(_weights(model), got, device):
            return message
    return ""


def _micro_batches(task, seed, count, size, offset, device):
    return [task.batch(seed, size, offset + i, device) for i in range(count)]


def _one_shot(batches: list[Any]) -> Iterator[Any]:
    yield from batches


@pytest.mark.points(2)
def test_accumulation_matches_reference(learner, reference, device, seed):
    """Accumulated training gives the reference's weights, losses and number of steps."""
    rng = seed.python_random(2)
    configs = [(2, 6), (3, 7), (4, 5), (1, 3), (3, 3)]  # (accum_steps, micro-batches)
    for index, (k, count) in enumerate(configs):
        task = _task(rng)
        start = task.model(device)
        size = rng.randint(3, 6)
        batches = _micro_batches(task, seed, count, size, 100 + 20 * index, device)
        use_adam = index % 2 == 1

        def make_opt(model: nn.Module, use_adam: bool = use_adam) -> torch.optim.Optimizer:
            if use_adam:
                return torch.optim.Adam(model.parameters(), lr=0.02)
            return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        ref_model = copy.deepcopy(start)
        ref_opt = make_opt(ref_model)
        ref_steps = _count_steps(ref_opt)
        ref_losses = reference.train_accumulated(
            ref_model, [(x.clone(), y.clone()) for x, y in batches], task.loss_fn(), ref_opt, k
        )
        model = copy.deepcopy(start)

        def stale(index: int = index) -> torch.Generator:
            return seed.generator(300 + index)

        _stale(model, stale())
        optimizer = make_opt(model)
        steps = _count_steps(optimizer)
        one_shot = index == 1
        given = _one_shot(batches) if one_shot else batches
        call = (
            f"called train_accumulated(model, batches, {task.loss_name()}, "
            f"{'Adam' if use_adam else 'SGD with momentum'}, accum_steps={k}) with {count} "
            f"micro-batches of {size} samples" + (" given as a generator" if one_shot else "")
        )
        losses = _call(
            learner.train_accumulated, model, given, task.loss_fn(), optimizer, k, call=call
        )
        if not isinstance(losses, list) or len(losses) != count:
            raise fail(
                f"{call}; returned {describe(losses)}, expected a list of {count} floats, one "
                "loss per micro-batch"
            )
        got = _weights(model)
        want_w = _weights(ref_model)
        if steps[0] != ref_steps[0] or not _close(got, want_w, device):
            hint = _diagnose_accum(start, batches, task.loss_fn(), make_opt, k, got, device, stale)
            if steps[0] != ref_steps[0]:
                raise fail(
                    f"{call}; optimizer.step() ran {steps[0]} times, expected {ref_steps[0]} "
                    f"(one per group of {k}, the last group possibly incomplete)"
                    + (f"; {hint}" if hint else "")
                )
            _check_weights(got, want_w, device=device, call=call, what="after training", hint=hint)
        for i, (value, want) in enumerate(zip(losses, ref_losses, strict=True)):
            value = assert_python_float(value, what=f"the loss of micro-batch {i}", call=call)
            if not math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):
                hint = ""
                if k > 1 and math.isclose(value * k, want, rel_tol=1e-6):
                    hint = (
                        ": that is the loss divided by accum_steps. Divide only what goes to "
                        "backward(); record the micro-batch's own loss"
                    )
                raise fail(
                    f"{call}; the loss of micro-batch {i} is {value:.6g}, expected {want:.6g}{hint}"
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
        start = task.model(device)
        batches = _micro_batches(task, seed, k * groups, size, 500 + 20 * index, device)
        # The grader's own big-batch steps: one SGD step per concatenated group.
        big = copy.deepcopy(start)
        big_opt = torch.optim.SGD(big.parameters(), lr=lr)
        for g in range(groups):
            group = batches[g * k : (g + 1) * k]
            big_opt.zero_grad()
            x_all = torch.cat([x for x, _ in group])
            y_all = torch.cat([y for _, y in group])
            task.loss_fn()(big(x_all), y_all).backward()
            big_opt.step()
        want = _weights(big)
        model = copy.deepcopy(start)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        call = (
            f"called train_accumulated(model, batches, {task.loss_name()}, SGD(lr={lr}), "
            f"accum_steps={k}) with {k * groups} micro-batches of {size} samples"
        )
        _call(learner.train_accumulated, model, batches, task.loss_fn(), optimizer, k, call=call)
        got = _weights(model)
        if _close(got, want, device):
            continue

        def sgd(m: nn.Module, lr: float = lr) -> torch.optim.Optimizer:
            return torch.optim.SGD(m.parameters(), lr=lr)

        hint = _diagnose_accum(start, batches, task.loss_fn(), sgd, k, got, device)
        what = (
            f"compared with {groups} SGD step(s) of the grader on the {k * size}-sample "
            "concatenation of each group"
        )
        _check_weights(got, want, device=device, call=call, what=what, hint=hint)
