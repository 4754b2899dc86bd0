"""Grader for 1.9: linear regression from scratch.

The learner's loss trajectory is compared with a twin run of the reference on the same
data, learning rate and number of steps; when they differ, the trajectory is matched
against simulated common mistakes (gradients never zeroed, a summed loss, an uphill
update) to say which one it is. ``torch.optim`` and ``nn.Module`` are banned by
behaviour: inside one scenario their constructors are patched to fail. Where w and b are
made is checked with X and y on a second device simulated on the CPU (see
``SimulatedDevice``).

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from pytorch_path.checks import (
    SimulatedDevice,
    assert_close,
    assert_loss_decreases,
    assert_no_graph,
    assert_python_float,
    assert_requires_grad,
    assert_tensor,
    assert_unchanged,
    call_repr,
    describe,
    fail,
)
from pytorch_path.data import make_regression
from pytorch_path.scenario import LearnerError, scenario


def _data(
    seed: Any,
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    offset: int,
    n_range: tuple[int, int] = (40, 120),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthetic data: ``y = X @ w_true + b_true + small noise``, D between 2 and 6."""
    rng = seed.python_random(offset)
    d = rng.randint(2, 6)
    n = rng.randint(*n_range)
    gen = seed.generator(offset)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    w_true = torch.randn(d, generator=gen, dtype=torch.float64)
    b_true = torch.randn((), generator=gen, dtype=torch.float64)
    y = X @ w_true + b_true + 0.01 * torch.randn(n, generator=gen, dtype=torch.float64)
    return tuple(t.to(device=device, dtype=dtype) for t in (X, y, w_true, b_true))  # type: ignore[return-value]


_HINTS = (
    (
        "leaf Variable that requires grad is being used in an in-place operation",
        "update w and b inside `with torch.no_grad():` so autograd does not record the update",
    ),
    (
        "does not require grad and does not have a grad_fn",
        "the loss is not connected to w and b: keep the graph from w and b to the loss (no "
        ".detach() or .item() before backward), and update w and b in place "
        "(w -= lr * w.grad) inside torch.no_grad() rather than building new tensors "
        "(w = w - ...)",
    ),
    (
        "backward through the graph a second time",
        "compute the prediction and the loss afresh inside the loop, every step",
    ),
    (
        "same dtype",
        "create w and b with X's dtype and device: torch.zeros(D, dtype=X.dtype, "
        "device=X.device, requires_grad=True)",
    ),
    (
        "same device",
        "create w and b with X's dtype and device: torch.zeros(D, dtype=X.dtype, "
        "device=X.device, requires_grad=True)",
    ),
    (
        "'NoneType' object has no attribute 'zero_'",
        "w.grad or b.grad is None: w and b must be leaf tensors created with "
        "requires_grad=True and updated in place (w -= lr * w.grad) inside torch.no_grad(); "
        "w = w - ... builds a new tensor that has no .grad",
    ),
    (
        "unsupported operand type(s) for *: 'float' and 'NoneType'",
        "w.grad is None: w must be created with requires_grad=True and loss.backward() "
        "called before the update",
    ),
)


def _fit(side: Any, X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int) -> Any:
    """Run the learner's fit, turning the usual autograd errors into advice."""
    call = call_repr("fit_linear_regression", X, y, lr=lr, steps=steps)
    try:
        return call, side.run(fit, X, y, lr=lr, steps=steps)
    except LearnerError as exc:
        text = exc.message.strip().splitlines()[0] if exc.message.strip() else exc.type_name
        if exc.is_a("RuntimeError", "TypeError", "AttributeError"):
            for pattern, hint in _HINTS:
                if pattern in text:
                    last = exc.last_frame
                    where = f" (in {last.name}, line {last.lineno})" if last else ""
                    raise fail(f"{call} raised {exc.type_name}: {text}{where}; {hint}") from None
        raise


def _unpack(out: Any, call: str, steps: int) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Check the (w, b, losses) structure and that every loss is a Python float."""
    if not out["is_tuple"] or len(out["result"]) != 3:
        raise fail(f"{call} returned {out['described']}; return a tuple (w, b, losses)")
    w, b, losses = out["result"]
    if not isinstance(losses, list):
        raise fail(
            f"{call}: losses is {describe(losses)}; return a list of Python floats, one per step"
        )
    if len(losses) != steps:
        raise fail(
            f"{call}: losses has {len(losses)} entries, expected {steps} (one per step, each "
            "recorded before that step's update)"
        )
    for i, value in enumerate(losses):
        if isinstance(value, torch.Tensor) or type(value) is not float:
            assert_python_float(value, what=f"losses[{i}]", call=call)
    return w, b, losses


def _simulate(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    zero_grad: bool = True,
    reduction: str = "mean",
    sign: float = 1.0,
) -> list[float]:
    """A loss trajectory of gradient descent, with one of the usual mistakes switched on."""
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    b = torch.zeros((), dtype=X.dtype, device=X.device, requires_grad=True)
    losses = []
    for _ in range(steps):
        sq = (X @ w + b - y) ** 2
        loss = sq.mean() if reduction == "mean" else sq.sum()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break
        loss.backward()
        with torch.no_grad():
            w -= sign * lr * w.grad
            b -= sign * lr * b.grad
            if zero_grad:
                w.grad.zero_()
                b.grad.zero_()
    return losses


def _agree(got: list[float], want: list[float], rtol: float, atol: float) -> bool:
    """Whether the finite prefix of two trajectories agrees (at least 3 steps of it)."""
    n = 0
    for g, e in zip(got, want, strict=False):
        if not (math.isfinite(g) and math.isfinite(e)):
            break
        if abs(g - e) > atol + rtol * abs(e):
            return False
        n += 1
    return n >= min(3, len(want))


_MISTAKES = (
    (
        {"zero_grad": False},
        "the gradients are never zeroed, so each step adds to the last ones: call "
        "w.grad.zero_() and b.grad.zero_() after every update",
    ),
    (
        {"reduction": "sum"},
        "the loss is a sum over the samples: use the mean, (… ** 2).mean(), so the "
        "learning rate does not scale with N",
    ),
    (
        {"sign": -1.0},
        "the update climbs the loss: subtract lr * grad (w -= lr * w.grad)",
    ),
)


def _diagnose(
    X: torch.Tensor,
    y: torch.Tensor,
    losses: list[float],
    expected: list[float],
    *,
    lr: float,
    call: str,
    tol: dict[str, float],
) -> None:
    """Raise a failure that names the first differing step and, where it can, the mistake."""
    first = (y.detach().double() ** 2).mean().item()
    if not abs(losses[0] - first) <= tol["atol"] + tol["rtol"] * first:
        if len(expected) > 1 and abs(losses[0] - expected[1]) <= 1e-3 * abs(expected[1]):
            raise fail(
                f"{call}: losses[0] is {losses[0]:.6g}, the loss after the first update; record "
                f"loss.item() before updating w and b, so losses[0] is the loss of w = 0, b = 0 "
                f"(mean(y ** 2) = {first:.6g})"
            )
        if abs(losses[0] - first * len(y)) <= 1e-4 * first * len(y):
            raise fail(
                f"{call}: losses[0] is {losses[0]:.6g}, the SUM of squared errors at w = 0, b = 0; "
                f"the loss is the mean squared error (expected {first:.6g})"
            )
        raise fail(
            f"{call}: losses[0] is {losses[0]:.6g}, expected {first:.6g}, the mean squared error "
            "of w = zeros(D), b = 0 (start from zeros, record loss.item() before the update)"
        )
    for kwargs, advice in _MISTAKES:
        simulated = _simulate(X, y, lr=lr, steps=len(expected), **kwargs)
        if _agree(losses, simulated, 1e-3, 1e-9):
            raise fail(f"{call}: the losses follow a run where {advice}")
    for i, (g, e) in enumerate(zip(losses, expected, strict=True)):
        if not abs(g - e) <= tol["atol"] + tol["rtol"] * abs(e):
            raise fail(
                f"{call}: losses[{i}] is {g:.6g}, but a correct run on the same data, lr and "
                f"steps gives {e:.6g} (losses[0..{i - 1}] agree); check the update "
                "w -= lr * w.grad, b -= lr * b.grad, the mean in the loss, and zeroing the "
                "gradients every step"
            )


def _check_no_divergence(losses: list[float], call: str) -> None:
    """A loss that grows or overflows gets its own message (it is a sign, mean or zeroing bug)."""
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is not None or losses[-1] > losses[0]:
        how = (
            f"became {losses[bad]} at step {bad}"
            if bad is not None
            else f"grew from {losses[0]:.4g} to {losses[-1]:.4g}"
        )
        raise fail(
            f"{call}: the loss {how} instead of falling; check the update direction "
            "(w -= lr * w.grad), that the loss is a mean (not a sum), and that the gradients "
            "are zeroed every step"
        )


def _tolerances(dtype: torch.dtype) -> dict[str, float]:
    if dtype == torch.float64:
        return {"rtol": 1e-8, "atol": 1e-12}
    return {"rtol": 2e-4, "atol": 1e-7}


# ----------------------------------------------------------------------------- tests


def test_predict(learner, reference, device, seed):
    """predict(X, w, b) is X @ w + b, shape (N,), keeping the graph to w and b."""
    for i, dtype in enumerate((torch.float32, torch.float64, torch.float32)):
        X, _, w, b = _data(seed, dtype=dtype, device=device, offset=i)
        expected = reference.run(predict, X, w, b)
        call = call_repr("predict", X, w, b)
        got = learner.run(predict, X, w, b)
        assert_close(got["out"], expected["out"], call=call, **_tolerances(dtype))
        assert_requires_grad(got["out"], call=call)
        # The gradient reaches w and b: compare it with the reference's.
        assert_close(got["grad_w"], expected["grad_w"], what="the gradient reaching w", call=call,
                     **_tolerances(dtype))  # fmt: skip
        assert_unchanged(got["X_after"], X, what="X", call=call)


def test_losses_match_a_twin_run(learner, reference, device, seed):
    """losses: one Python float per step, recorded before each update, equal to a correct run's."""
    configs = ((torch.float64, 0.1, 30), (torch.float32, 0.05, 25), (torch.float64, 0.2, 12))
    for i, (dtype, lr, steps) in enumerate(configs):
        X, y, _, _ = _data(seed, dtype=dtype, device=device, offset=10 + i)
        w_ref, b_ref, expected = reference.run(fit, X, y, lr=lr, steps=steps)["result"]
        call, out = _fit(learner, X, y, lr=lr, steps=steps)
        w, b, losses = _unpack(out, call, steps)
        tol = _tolerances(dtype)
        if not all(
            abs(g - e) <= tol["atol"] + tol["rtol"] * abs(e)
            for g, e in zip(losses, expected, strict=True)
        ):
            _diagnose(X, y, losses, expected, lr=lr, call=call, tol=tol)
        assert_close(w, w_ref, what="the returned w", call=call, **tol)
        assert_close(b, b_ref, what="the returned b", call=call, **tol)


def test_learns_the_true_parameters(learner, device, seed):
    """On synthetic data the loss falls by at least 90% and w, b land near the true ones."""
    for i in range(3):
        X, y, w_true, b_true = _data(seed, dtype=torch.float32, device=device, offset=20 + i)
        call, out = _fit(learner, X, y, lr=0.1, steps=150)
        w, b, losses = _unpack(out, call, 150)
        _check_no_divergence(losses, call)
        assert_loss_decreases(losses, fraction=0.9, what=f"{call}: the loss")
        tol = {"rtol": 0.0, "atol": 0.05}
        assert_close(w, w_true, what="the learned w (vs the true weights)", call=call, **tol)
        assert_close(b, b_true, what="the learned b (vs the true bias)", call=call, **tol)


def test_returns_detached_on_inputs_device_and_dtype(learner, device, seed):
    """w (D,) and b () come back detached, with X's dtype and device; X and y are not modified."""
    for i, dtype in enumerate((torch.float64, torch.float32)):
        X, y, _, _ = _data(seed, dtype=dtype, device=device, offset=30 + i)
        call, out = _fit(learner, X, y, lr=0.1, steps=5)
        w, b, _ = _unpack(out, call, 5)
        d = X.shape[1]
        assert_tensor(w, what="the returned w", shape=(d,), dtype=dtype, device=device, call=call)
        assert_tensor(b, what="the returned b", shape=(), dtype=dtype, device=device, call=call)
        assert_no_graph(w, what="the returned w", call=call)
        assert_no_graph(b, what="the returned b", call=call)
        assert_unchanged(out["X_after"], X, what="X", call=call)
        assert_unchanged(out["y_after"], y, what="y", call=call)


def test_w_and_b_on_the_data_device(learner, reference, seed):
    """w and b are made on X's device: the fit runs with X and y on a second, simulated device."""
    X, y, _, _ = _data(seed, dtype=torch.float64, device="cpu", offset=35)
    call = call_repr("fit_linear_regression", X, y, lr=0.1, steps=4).replace("on cpu", "on meta")
    got = learner.run(fit_simulated, X, y, lr=0.1, steps=4)
    if got["mixed"]:
        raise fail(
            f"{call}; your code combined X (on device meta) with a tensor made on the CPU, in "
            f"{got['mixed']}: on a GPU this raises 'Expected all tensors to be on the same "
            "device'. Create w and b on X's device: torch.zeros(D, dtype=X.dtype, "
            "device=X.device, requires_grad=True)"
        )
    w, b, losses = _unpack(got, call, 4)
    for name, far in zip(("w", "b"), got["far"], strict=True):
        if not far:
            raise fail(
                f"{call}; the returned {name} is on cpu, not on X's device (meta): create w and b "
                "with device=X.device (and dtype=X.dtype)"
            )
    w_ref, b_ref, expected = reference.run(fit_simulated, X, y, lr=0.1, steps=4)["result"]
    tol = _tolerances(torch.float64)
    assert_close(torch.tensor(losses), torch.tensor(expected), what=f"{call}: the losses", **tol)
    assert_close(w, w_ref, what="the returned w", call=call, **tol)
    assert_close(b, b_ref, what="the returned b", call=call, **tol)


def test_zero_steps(learner, device, seed):
    """With steps=0 the result is the zero initialisation and an empty list of losses."""
    X, y, _, _ = _data(seed, dtype=torch.float32, device=device, offset=40)
    call, out = _fit(learner, X, y, lr=0.1, steps=0)
    w, b, _ = _unpack(out, call, 0)
    assert_close(w, torch.zeros(X.shape[1], device=device), what="the returned w", call=call)
    assert_close(b, torch.zeros((), device=device), what="the returned b", call=call)


def test_no_optim_no_nn_module(learner, reference, device, seed):
    """The update is written by hand: no torch.optim optimizer and no nn.Module is created."""
    X, y, _, _ = _data(seed, dtype=torch.float32, device=device, offset=50)
    call = call_repr("fit_linear_regression", X, y, lr=0.1, steps=10)
    got = learner.run(fit_without_optim_or_modules, X, y, lr=0.1, steps=10)
    if got["made"]:
        kind, name = got["made"]
        if kind == "optimizer":
            raise fail(
                f"fit_linear_regression created a torch.optim optimizer ({name}); this exercise "
                "asks for the update by hand: w -= lr * w.grad inside torch.no_grad()"
            )
        raise fail(
            f"fit_linear_regression created an nn.Module ({name}); use plain tensors w and b, "
            "compute X @ w + b and the mean squared error with tensor operations (functions "
            "from torch.nn.functional are fine)"
        )
    # Not an observation alone: the losses it produced must be a correct run's.
    want = reference.run(fit, X, y, lr=0.1, steps=10)["result"][2]
    _w, _b, losses = _unpack(got, call, 10)
    assert_close(torch.tensor(losses), torch.tensor(want), what=f"{call}: the losses",
                 **_tolerances(torch.float32))  # fmt: skip


def test_runs_fast(learner, reference, seed):
    """300 steps on a small data set take well under a second (no Python loop over samples)."""
    X, y, _, _ = _data(seed, dtype=torch.float32, device="cpu", offset=60, n_range=(120, 128))
    started = time.perf_counter()
    want = reference.run(fit, X, y, lr=0.1, steps=300)
    ref_s = time.perf_counter() - started
    started = time.perf_counter()
    call, out = _fit(learner, X, y, lr=0.1, steps=300)
    took = time.perf_counter() - started  # measured by the judge, round trip included
    _, _, losses = _unpack(out, call, 300)
    limit = max(1.0, 25 * ref_s)
    if took > limit:
        raise fail(
            f"{call} took {took:.2f} s (a correct version takes {ref_s:.3f} s here, the limit is "
            f"{limit:.2f} s); compute the loss for all samples at once with tensor operations"
        )
    assert_close(torch.tensor(losses), torch.tensor(want["result"][2]), what=f"{call}: the losses",
                 **_tolerances(torch.float32))  # fmt: skip


# ----------------------------------------------------------------------------- scenarios


@scenario
def predict(mod: Any, X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> dict[str, Any]:
    """predict(X, w, b) on leaf w and b; the gradient of the sum of predictions w.r.t. w."""
    w = w.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True)
    out = mod.predict(X, w, b)
    grad_w = None
    if isinstance(out, torch.Tensor) and out.requires_grad:
        (grad_w,) = torch.autograd.grad(out.sum(), w, allow_unused=True)
    return {"out": out, "grad_w": grad_w, "X_after": X}


@scenario
def fit(mod: Any, X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int) -> dict[str, Any]:
    """fit_linear_regression(X, y, lr, steps): the result, and X and y afterwards."""
    out = mod.fit_linear_regression(X, y, lr=lr, steps=steps)
    is_tuple = isinstance(out, tuple)
    return {
        "is_tuple": is_tuple,
        "result": tuple(out) if is_tuple else (),
        "described": describe(out),
        "X_after": X,
        "y_after": y,
    }


@scenario
def fit_simulated(
    mod: Any, X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int
) -> dict[str, Any]:
    """fit(...) with X and y on a simulated device 'meta'; whether w and b came back there."""
    with SimulatedDevice([X, y]) as sim:
        out = fit(mod, X, y, lr=lr, steps=steps)
    result = out["result"]
    out["far"] = [sim.is_far(v) for v in result[:2]] if len(result) == 3 else []
    out["mixed"] = sim.mixed
    return out


@scenario
def fit_without_optim_or_modules(
    mod: Any, X: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int
) -> dict[str, Any]:
    """fit(...) with torch.optim optimizers and nn.Modules made to record their creation."""
    made: list[tuple[str, str]] = []
    optim_init, module_init = torch.optim.Optimizer.__init__, torch.nn.Module.__init__

    def no_optimizer(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(("optimizer", type(self).__name__))
        optim_init(self, *args, **kwargs)

    def no_module(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(("module", type(self).__name__))
        module_init(self, *args, **kwargs)

    torch.optim.Optimizer.__init__ = no_optimizer  # type: ignore[method-assign]
    torch.nn.Module.__init__ = no_module  # type: ignore[method-assign]
    try:
        out = fit(mod, X, y, lr=lr, steps=steps)
    finally:
        torch.optim.Optimizer.__init__ = optim_init  # type: ignore[method-assign]
        torch.nn.Module.__init__ = module_init  # type: ignore[method-assign]
    out["made"] = made[0] if made else None
    return out


@scenario
def loss_curve(mod: Any, *, seed: int = 0) -> dict[str, Any]:
    """For ``pytorch-path plot``: fit_linear_regression's loss at each step, on seeded data."""
    X, y, _, _ = make_regression(96, 4, noise=0.1, seed=seed, dtype=torch.float64)
    steps = 40
    call = call_repr("fit_linear_regression", X, y, lr=0.1, steps=steps)
    _, _, losses = _unpack(fit(mod, X, y, lr=0.1, steps=steps), call, steps)
    return {"loss": losses, "label": "train loss (MSE) per step", "x_label": "step"}


# ----------------------------------------------------------------------------- a simulated device
# Placement is checked on a second device simulated on the CPU (checks.SimulatedDevice)
# (a real 'meta' device holds no values, so no loss could be recorded):
# tensors marked "far" report device 'meta' and really live on the CPU; a request for device
# 'meta' is served on the CPU and its result marked far, as is everything computed from a far
# tensor unless it is moved to another device; and an operation mixing a far tensor with a CPU
# tensor of one or more dims is recorded, as a GPU would raise there. Indexing with CPU index
# tensors and 0-dim CPU tensors are allowed, as on a GPU.
