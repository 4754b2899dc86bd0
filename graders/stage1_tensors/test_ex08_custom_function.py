"""Grader for 1.8: a custom autograd.Function (ScaledSwish) that passes gradcheck.

The learner's gradients are compared with plain autograd of the formula
``x * sigmoid(beta * x)`` (computed here, before the learner's code runs), with
``torch.autograd.gradcheck`` in float64, and with finite differences of the learner's
own forward when gradcheck fails (to say which input's gradient is wrong and by how much).
The upstream gradient is always random, never ones, so a backward that forgets
``grad_out`` is caught.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import torch
from torch.autograd.function import BackwardCFunction

from pytorch_path.checks import (
    assert_close,
    assert_no_graph,
    assert_tensor,
    call_repr,
    describe,
    fail,
)

NAMES = ("x", "beta")
KINDS = ("channel", "scalar", "channel4d", "same", "vector")


def _formula(x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The function, written with plain autograd-tracked torch operations."""
    return x * torch.sigmoid(beta * x)


def _shapes(
    rng: random.Random, kind: str, *, small: bool = False
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shapes of (x, beta) for one kind of broadcast; all sizes differ from each other."""
    n, c, h, w = rng.sample(range(2, 6 if small else 7), 4)
    if kind == "channel":
        return (n, c), (c,)
    if kind == "scalar":
        return (n, c), ()
    if kind == "channel4d":
        return (n, c, h, w), (c, 1, 1)
    if kind == "same":
        return (n, c), (n, c)
    return (n * c,), ()


def _inputs(
    seed: Any,
    shapes: tuple[tuple[int, ...], tuple[int, ...]],
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    offset: int,
    grads: tuple[bool, bool] = (True, True),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random x (spread out) and beta (mostly positive, some negative)."""
    x_shape, beta_shape = shapes
    x = _randn(seed, x_shape, dtype=dtype, device=device, offset=offset) * 2.0
    beta = _randn(seed, beta_shape, dtype=dtype, device=device, offset=offset + 1) * 0.8 + 0.7
    return x.requires_grad_(grads[0]), beta.requires_grad_(grads[1])


def _randn(
    seed: Any, shape: tuple[int, ...], *, dtype: torch.dtype, device: Any, offset: int
) -> torch.Tensor:
    """Standard-normal values of any shape (also ``()``), drawn on the CPU then moved."""
    return torch.randn(shape, generator=seed.generator(offset), dtype=dtype).to(device)


def _assert_values(out: Any, expected: torch.Tensor, *, what: str, call: str) -> None:
    """assert_close in the dtype's tolerance, naming float32 rounding in a float64 check."""
    tol = _tolerances(expected.dtype)
    try:
        assert_close(out, expected, what=what, call=call, **tol)
    except AssertionError as exc:
        if expected.dtype == torch.float64 and "wrong values" in str(exc):
            gap = float((out.detach().cpu() - expected.detach().cpu()).abs().max())
            if gap < 1e-4 * (float(expected.abs().max()) + 1e-12):
                raise fail(
                    f"{exc}; the values are right only to about float32 precision (largest gap "
                    f"{gap:.2g}): compute and save everything in the inputs' dtype (no .float())"
                ) from None
        raise


def _tolerances(dtype: torch.dtype) -> dict[str, float]:
    if dtype == torch.float64:
        return {"rtol": 1e-9, "atol": 1e-11}
    return {"rtol": 1e-4, "atol": 1e-5}


def _check_custom_node(out: torch.Tensor, learner: Any, call: str) -> None:
    """The result's grad_fn must be the node of the learner's ScaledSwish."""
    node = out.grad_fn
    if node is None:
        raise fail(
            f"{call}; the result has no grad_fn although the inputs require grad; return the "
            "result of ScaledSwish.apply(x, beta) itself"
        )
    forward_cls = getattr(type(node), "_forward_cls", None)
    if not isinstance(node, BackwardCFunction) or forward_cls is not learner.ScaledSwish:
        raise fail(
            f"{call}; the result's grad_fn is {type(node).__name__}, expected ScaledSwishBackward: "
            "compute the result with ScaledSwish.apply(x, beta) so autograd calls your backward "
            "(instead of differentiating the formula itself), and return it unchanged"
        )


def _backward_error(exc: RuntimeError, call: str) -> Exception:
    text = str(exc).strip().splitlines()[0]
    hint = (
        "backward must return one gradient per input of forward, in forward's order "
        "(grad_x, grad_beta), each with the shape of its own input"
    )
    found = re.search(r"invalid gradient at index (\d)", text)
    if found and found.group(1) in "01":
        name = NAMES[int(found.group(1))]
        hint = (
            f"index {found.group(1)} is {name}, so the gradient for {name} must have {name}'s "
            f"shape; {hint}"
        )
        if name == "beta":
            hint += " (sum beta's gradient over the dims where beta was broadcast against x)"
    return fail(f"{call}, then backward with a random grad_out raised RuntimeError: {text}; {hint}")


def _grads(
    fn: Callable[..., Any],
    x: torch.Tensor,
    beta: torch.Tensor,
    grad_out: torch.Tensor,
    *,
    call: str,
    learner: Any = None,
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """Run ``fn`` forward and backward; return the output and the gradients of x and beta."""
    out = fn(x, beta)
    assert_tensor(out, shape=tuple(x.shape), dtype=x.dtype, device=x.device, call=call)
    wanted = [t for t in (x, beta) if t.requires_grad]
    if learner is not None:
        _check_custom_node(out, learner, call)
    try:
        got = torch.autograd.grad(out, wanted, grad_out, allow_unused=True)
    except RuntimeError as exc:
        if learner is None:
            raise
        raise _backward_error(exc, call) from None
    it = iter(got)
    return out, [next(it) if t.requires_grad else None for t in (x, beta)]


def _compare_grad(
    name: str,
    got: torch.Tensor | None,
    expected: torch.Tensor,
    *,
    unweighted: torch.Tensor,
    other: torch.Tensor | None,
    call: str,
) -> None:
    """Compare one gradient with the expected one; explain the usual mistakes."""
    what = f"the gradient for {name} ({name}.grad)"
    head = f"{call}, then backward with a random grad_out"
    index = NAMES.index(name)
    if got is None:
        raise fail(
            f"{head}; backward returned None for {name} although {name} requires grad; return "
            f"None only when ctx.needs_input_grad[{index}] is False"
        )
    tol = _tolerances(expected.dtype)
    if tuple(got.shape) == tuple(expected.shape) and got.dtype == expected.dtype:
        g, e = got.detach().cpu().double(), expected.detach().cpu().double()
        if not torch.allclose(g, e, **tol):
            scale = float(e.abs().max()) + 1e-12
            if torch.allclose(g, unweighted.detach().cpu().double(), **tol):
                raise fail(
                    f"{head}: {what} equals the gradient for grad_out = ones; backward must "
                    "multiply by grad_out, the gradient flowing in from above (chain rule)"
                )
            if other is not None and torch.allclose(g, other.detach().cpu().double(), **tol):
                raise fail(
                    f"{head}: {what} holds the values of the other input's gradient; return "
                    "(grad_x, grad_beta) in the order of forward's inputs (x, beta)"
                )
            if expected.dtype == torch.float64 and float((g - e).abs().max()) < 1e-4 * scale:
                raise fail(
                    f"{head}: {what} is right only to about float32 precision (largest gap "
                    f"{float((g - e).abs().max()):.2g}); compute and save everything in the "
                    "inputs' dtype (no .float())"
                )
            hint = (
                "x appears twice in x * sigmoid(beta * x): the product rule gives two terms, and "
                "the chain rule through sigmoid needs sigmoid'(z) = s * (1 - s)"
                if name == "x"
                else "beta appears only inside sigmoid(beta * x): use the chain rule, with "
                "sigmoid'(z) = s * (1 - s), and sum over the dims where beta was broadcast"
            )
            try:
                assert_close(got, expected, what=what, call=head, **tol)
            except AssertionError as exc:
                raise fail(f"{exc}; {hint}") from None
    assert_close(got, expected, what=what, call=head, **tol)


def _expected_grads(
    x: torch.Tensor, beta: torch.Tensor, grad_out: torch.Tensor
) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None]]:
    """Gradients of the formula (plain autograd) for grad_out and for ones."""
    xs = x.detach().clone().requires_grad_(x.requires_grad)
    bs = beta.detach().clone().requires_grad_(beta.requires_grad)
    ones = torch.ones_like(grad_out)
    weighted = _grads(_formula, xs, bs, grad_out, call="formula")[1]
    unweighted = _grads(_formula, xs, bs, ones, call="formula")[1]
    return weighted, unweighted


def _check_unchanged(x: torch.Tensor, x_copy: torch.Tensor, name: str, call: str) -> None:
    if not torch.equal(x.detach(), x_copy):
        raise fail(f"{call} changed its input {name} in place; compute new tensors instead")


# ----------------------------------------------------------------------------- tests


def test_is_an_autograd_function(learner, seed):
    """ScaledSwish subclasses torch.autograd.Function, and scaled_swish uses its backward."""
    cls = learner.ScaledSwish
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise fail(f"ScaledSwish is {describe(cls)}; make it a subclass of torch.autograd.Function")
    x, beta = _inputs(seed, ((3, 4), (4,)), dtype=torch.float64, device="cpu", offset=0)
    for name, fn in (("scaled_swish", learner.scaled_swish), ("ScaledSwish.apply", cls.apply)):
        call = call_repr(name, x, beta)
        out = fn(x, beta)
        assert_tensor(out, shape=(3, 4), dtype=torch.float64, device="cpu", call=call)
        _check_custom_node(out, learner, call)


def test_forward_values(learner, reference, device, seed):
    """The forward computes x * sigmoid(beta * x) in the inputs' dtype, beta broadcast against x."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind)
        for j, dtype in enumerate((torch.float32, torch.float64)):
            x, beta = _inputs(seed, shapes, dtype=dtype, device=device, offset=10 * i + 2 * j)
            x_copy, beta_copy = x.detach().clone(), beta.detach().clone()
            with torch.no_grad():
                expected = reference.scaled_swish(x_copy, beta_copy)
            fn = learner.scaled_swish if j == 0 else learner.ScaledSwish.apply
            call = call_repr("scaled_swish" if j == 0 else "ScaledSwish.apply", x, beta)
            out = fn(x, beta)
            _assert_values(out, expected, what="the result", call=call)
            _check_unchanged(x, x_copy, "x", call)
            _check_unchanged(beta, beta_copy, "beta", call)


def test_backward_returns_input_shaped_grads(learner, device, seed):
    """backward returns (grad_x, grad_beta) in forward's order, each shaped like its own input."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind)
        x, beta = _inputs(seed, shapes, dtype=torch.float64, device=device, offset=10 * i)
        grad_out = _randn(seed, shapes[0], dtype=torch.float64, device=device, offset=10 * i + 5)
        call = call_repr("ScaledSwish.apply", x, beta)
        out = learner.ScaledSwish.apply(x, beta)
        _check_custom_node(out, learner, call)
        where = f"{call}, then ScaledSwish.backward(ctx, grad_out) called directly"
        with torch.no_grad():
            result = learner.ScaledSwish.backward(out.grad_fn, grad_out)
        if isinstance(result, (tuple, list)) and all(g is None for g in result[2:]):
            result = tuple(result[:2])  # autograd tolerates trailing Nones
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise fail(
                f"{where} returned {describe(result)}; return a tuple (grad_x, grad_beta), one "
                "gradient per input of forward"
            )
        for name, grad, inp in zip(NAMES, result, (x, beta), strict=True):
            what = f"the gradient for {name}"
            if not isinstance(grad, torch.Tensor):
                raise fail(
                    f"{where}: {what} is {describe(grad)} although {name} requires grad; expected "
                    f"a tensor of shape {tuple(inp.shape)}"
                )
            if name == "beta" and grad.shape != beta.shape and grad.shape == x.shape:
                raise fail(
                    f"{where}: {what} has x's shape {tuple(grad.shape)}, expected beta's shape "
                    f"{tuple(beta.shape)}: beta was broadcast against x, so sum its gradient "
                    "over the broadcast dims (Tensor.sum_to_size(beta.shape) does exactly this)"
                )
            if name == "beta" and grad.shape != beta.shape:
                raise fail(
                    f"{where}: {what} has shape {tuple(grad.shape)}, expected beta's shape "
                    f"{tuple(beta.shape)}: sum it over the dims where beta was broadcast against "
                    "x, and over nothing else"
                )
            if grad.shape != inp.shape:
                other = "beta" if name == "x" else "x"
                order = ""
                if grad.shape == (beta if name == "x" else x).shape:
                    order = f" ({other}'s shape: return (grad_x, grad_beta) in this order)"
                raise fail(
                    f"{where}: {what} has shape {tuple(grad.shape)}, expected "
                    f"{tuple(inp.shape)}, the shape of {name}{order}"
                )
            assert_tensor(grad, what=what, dtype=torch.float64, device=device, call=where)


def test_gradients_match_autograd_of_formula(learner, device, seed):
    """Gradients for x and beta equal autograd's of x * sigmoid(beta * x), for a random grad_out."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind)
        for j, dtype in enumerate((torch.float64, torch.float32)):
            offset = 10 * i + 3 * j
            x, beta = _inputs(seed, shapes, dtype=dtype, device=device, offset=offset)
            grad_out = _randn(seed, shapes[0], dtype=dtype, device=device, offset=offset + 2)
            expected, unweighted = _expected_grads(x, beta, grad_out)
            call = call_repr("scaled_swish", x, beta)
            _, got = _grads(learner.scaled_swish, x, beta, grad_out, call=call, learner=learner)
            for k, name in enumerate(NAMES):
                other = expected[1 - k]
                same_shape = other is not None and other.shape == expected[k].shape
                _compare_grad(
                    name,
                    got[k],
                    expected[k],
                    unweighted=unweighted[k],
                    other=other if same_shape else None,
                    call=call,
                )


def _numerical_vjp(
    fn: Callable[..., Any], inputs: list[torch.Tensor], v: torch.Tensor, k: int
) -> torch.Tensor:
    """Central finite differences of sum(v * fn(*inputs)) with respect to inputs[k]."""
    eps = 1e-6
    base = [t.detach().clone() for t in inputs]
    flat = base[k].reshape(-1)
    result = torch.zeros_like(flat)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + eps
            up = float((v * fn(*base)).sum())
            flat[i] = old - eps
            down = float((v * fn(*base)).sum())
            flat[i] = old
            result[i] = (up - down) / (2 * eps)
    return result.reshape(base[k].shape)


def _explain_gradcheck(learner: Any, x: torch.Tensor, beta: torch.Tensor, call: str) -> str:
    """Which input's analytic gradient disagrees with finite differences, and by how much."""
    apply = learner.ScaledSwish.apply
    v = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(7))
    v = v.to(x.device)
    _, analytic = _grads(apply, x, beta, v, call=call, learner=learner)
    problems = []
    for k, name in enumerate(NAMES):
        got = analytic[k]
        numeric = _numerical_vjp(apply, [x, beta], v, k)
        if got is None:
            problems.append(f"backward returned None for {name}")
            continue
        if got.shape != numeric.shape:
            problems.append(
                f"the gradient for {name} has shape {tuple(got.shape)}, expected "
                f"{tuple(numeric.shape)}"
            )
            continue
        gap = (got.detach().double().cpu() - numeric.double().cpu()).abs()
        worst = int(gap.reshape(-1).argmax())
        if float(gap.max()) > 1e-5 + 1e-3 * float(numeric.abs().max()):
            index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), gap.shape))
            problems.append(
                f"the gradient for {name} is off by up to {float(gap.max()):.3g} (at index "
                f"{index}: your backward gives {float(got.reshape(-1)[worst]):.6g}, finite "
                f"differences of your forward give {float(numeric.reshape(-1)[worst]):.6g})"
            )
    if not problems:
        return "its full Jacobian check failed although a random grad_out agreed"
    return "; ".join(problems)


def test_gradcheck(learner, device, seed):
    """torch.autograd.gradcheck passes in float64 for both inputs, with beta broadcast or not."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind, small=True)
        x, beta = _inputs(seed, shapes, dtype=torch.float64, device=device, offset=10 * i)
        call = (
            f"gradcheck(ScaledSwish.apply, (x, beta)) with x: {describe(x)}, beta: {describe(beta)}"
        )
        x_copy, beta_copy = x.detach().clone(), beta.detach().clone()
        try:
            ok = torch.autograd.gradcheck(
                learner.ScaledSwish.apply, (x, beta), raise_exception=False
            )
        except (RuntimeError, TypeError, ValueError):
            ok = False
        if not ok:
            inner = call_repr("ScaledSwish.apply", x_copy, beta_copy)
            detail = _explain_gradcheck(
                learner, x_copy.requires_grad_(), beta_copy.requires_grad_(), inner
            )
            raise fail(f"{call} failed: {detail}")


def test_inputs_without_grad(learner, device, seed):
    """Works when only x, only beta, or neither requires grad (backward may return None)."""
    rng = seed.python_random()
    for i, kind in enumerate(("channel", "channel4d", "scalar")):
        shapes = _shapes(rng, kind)
        for j, grads in enumerate(((True, False), (False, True))):
            offset = 10 * i + 3 * j
            x, beta = _inputs(
                seed, shapes, dtype=torch.float64, device=device, offset=offset, grads=grads
            )
            grad_out = _randn(
                seed, shapes[0], dtype=torch.float64, device=device, offset=offset + 2
            )
            expected, unweighted = _expected_grads(x, beta, grad_out)
            flags = f"(x.requires_grad={grads[0]}, beta.requires_grad={grads[1]})"
            call = call_repr("scaled_swish", x, beta) + f" {flags}"
            _, got = _grads(learner.scaled_swish, x, beta, grad_out, call=call, learner=learner)
            k = 0 if grads[0] else 1
            _compare_grad(
                NAMES[k], got[k], expected[k], unweighted=unweighted[k], other=None, call=call
            )
        x, beta = _inputs(
            seed, shapes, dtype=torch.float64, device=device, offset=10 * i, grads=(False, False)
        )
        call = call_repr("scaled_swish", x, beta) + " (neither requires grad)"
        out = learner.scaled_swish(x, beta)
        assert_tensor(out, shape=tuple(x.shape), dtype=torch.float64, device=device, call=call)
        assert_no_graph(out, call=call)
