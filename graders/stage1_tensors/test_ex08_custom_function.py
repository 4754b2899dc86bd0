"""Grader for 1.8: a custom autograd.Function (ScaledSwish) that passes gradcheck.

The learner's forward values and gradients are compared with plain autograd of the
formula ``x * sigmoid(beta * x)``, computed by the judge on the same inputs. Autograd
itself runs where the learner's code runs, so the scenarios report what it produced: the
result, the kind of its ``grad_fn`` node, the gradients for a random ``grad_out`` (never
ones, so a backward that forgets ``grad_out`` is caught), or the error backward raised.

``torch.autograd.gradcheck`` (float64) also runs inside a scenario; its verdict alone never
passes the test: the same scenario's result and gradients on the judge's inputs must equal
the reference solution's. When gradcheck fails, finite differences of the learner's own
forward say which input's gradient is wrong and by how much.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
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
    assert_unchanged,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import learner_attr, scenario

NAMES = ("x", "beta")
KINDS = ("channel", "scalar", "channel4d", "same", "vector")


# ----------------------------------------------------------------------------- tests


def test_is_an_autograd_function(learner, seed):
    """ScaledSwish subclasses torch.autograd.Function, and scaled_swish uses its backward."""
    x, beta = _inputs(seed, ((3, 4), (4,)), dtype=torch.float64, device="cpu", offset=0)
    got = learner.run(inspect_function, x, beta)
    if not got["is_function"]:
        raise fail(
            f"ScaledSwish is {got['described']}; make it a subclass of torch.autograd.Function"
        )
    expected = _formula(x, beta).detach()
    for name, result in zip(("scaled_swish", "ScaledSwish.apply"), got["calls"], strict=True):
        call = call_repr(name, x, beta)
        out = result["out"]
        assert_tensor(out, shape=(3, 4), dtype=torch.float64, device="cpu", call=call)
        _check_custom_node(result["node"], call)
        _assert_values(out, expected, what="the result", call=call)


def test_forward_values(learner, reference, device, seed):
    """The forward computes x * sigmoid(beta * x) in the inputs' dtype, beta broadcast against x."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind)
        for j, dtype in enumerate((torch.float32, torch.float64)):
            x, beta = _inputs(seed, shapes, dtype=dtype, device=device, offset=10 * i + 2 * j)
            via = "scaled_swish" if j == 0 else "ScaledSwish.apply"
            expected = reference.run(forward, x.detach(), beta.detach(), via=via)["out"]
            call = call_repr(via, x, beta)
            got = learner.run(forward, x, beta, via=via)
            _assert_values(got["out"], expected, what="the result", call=call)
            assert_unchanged(got["x_after"], x.detach(), what="its input x", call=call)
            assert_unchanged(got["beta_after"], beta.detach(), what="its input beta", call=call)


def test_backward_returns_input_shaped_grads(learner, device, seed):
    """backward returns (grad_x, grad_beta) in forward's order, each shaped like its own input."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind)
        x, beta = _inputs(seed, shapes, dtype=torch.float64, device=device, offset=10 * i)
        grad_out = _randn(seed, shapes[0], dtype=torch.float64, device=device, offset=10 * i + 5)
        call = call_repr("ScaledSwish.apply", x, beta)
        got = learner.run(backward_directly, x, beta, grad_out)
        _check_custom_node(got["node"], call)
        where = f"{call}, then ScaledSwish.backward(ctx, grad_out) called directly"
        result, described = got["result"], got["described"]
        if got["is_sequence"] and all(g is None for g in result[2:]):
            result, described = result[:2], described[:2]  # autograd tolerates trailing Nones
        if not got["is_sequence"] or len(result) != 2:
            raise fail(
                f"{where} returned {described if not got['is_sequence'] else describe(result)}; "
                "return a tuple (grad_x, grad_beta), one gradient per input of forward"
            )
        for name, grad, shown, inp in zip(NAMES, result, described, (x, beta), strict=True):
            what = f"the gradient for {name}"
            if not isinstance(grad, torch.Tensor):
                raise fail(
                    f"{where}: {what} is {shown} although {name} requires grad; expected "
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
        # The values too: backward called directly must give the formula's gradients.
        expected, unweighted = _formula_grads(x, beta, grad_out)
        _compare_grads(list(result), expected, unweighted, call=where)


def test_backward_returns_none_where_not_needed(learner, device, seed):
    """backward returns None for an input whose ctx.needs_input_grad is False, else a tensor."""
    rng = seed.python_random(1)
    for i, (kind, grads) in enumerate((("channel", (True, False)), ("scalar", (False, True)))):
        shapes = _shapes(rng, kind)
        offset = 60 + 10 * i
        x, beta = _inputs(
            seed, shapes, dtype=torch.float64, device=device, offset=offset, grads=grads
        )
        grad_out = _randn(seed, shapes[0], dtype=torch.float64, device=device, offset=offset + 5)
        flags = f"(x.requires_grad={grads[0]}, beta.requires_grad={grads[1]})"
        call = f"{call_repr('ScaledSwish.apply', x, beta)} {flags}"
        got = learner.run(backward_directly, x, beta, grad_out)
        _check_custom_node(got["node"], call)
        where = f"{call}, then ScaledSwish.backward(ctx, grad_out) called directly"
        result, described = got["result"], got["described"]
        if not got["is_sequence"] or len(result) < 2 or any(g is not None for g in result[2:]):
            raise fail(
                f"{where} returned {described if not got['is_sequence'] else describe(result)}; "
                "return a tuple (grad_x, grad_beta), one gradient per input of forward"
            )
        needed, skipped = (0, 1) if grads[0] else (1, 0)
        if result[skipped] is not None:
            name = NAMES[skipped]
            raise fail(
                f"{where}: the gradient for {name} is {described[skipped]}, expected None: "
                f"{name} does not require grad, so ctx.needs_input_grad[{skipped}] is False; "
                "check ctx.needs_input_grad and return None there instead of computing it"
            )
        expected, unweighted = _formula_grads(x, beta, grad_out)
        _compare_grad(
            NAMES[needed],
            result[needed],
            expected[needed],
            unweighted=unweighted[needed],
            other=None,
            call=where,
        )


def test_gradients_match_autograd_of_formula(learner, device, seed):
    """Gradients for x and beta equal autograd's of x * sigmoid(beta * x), for a random grad_out."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind)
        for j, dtype in enumerate((torch.float64, torch.float32)):
            offset = 10 * i + 3 * j
            x, beta = _inputs(seed, shapes, dtype=dtype, device=device, offset=offset)
            grad_out = _randn(seed, shapes[0], dtype=dtype, device=device, offset=offset + 2)
            expected, unweighted = _formula_grads(x, beta, grad_out)
            call = call_repr("scaled_swish", x, beta)
            got = _learner_grads(learner, x, beta, grad_out, call=call)
            head = f"{call}, then backward with a random grad_out"
            _compare_grads(got, expected, unweighted, call=head)


def test_gradcheck(learner, reference, device, seed):
    """gradcheck passes in float64 for both inputs, and the result and gradients are right."""
    rng = seed.python_random()
    for i, kind in enumerate(KINDS):
        shapes = _shapes(rng, kind, small=True)
        x, beta = _inputs(seed, shapes, dtype=torch.float64, device=device, offset=10 * i)
        v = _randn(seed, shapes[0], dtype=torch.float64, device=device, offset=10 * i + 7)
        call = (
            f"gradcheck(ScaledSwish.apply, (x, beta)) with x: {describe(x)}, beta: {describe(beta)}"
        )
        inner = call_repr("ScaledSwish.apply", x, beta)
        got = learner.run(gradcheck, x, beta, v)
        if not got["ok"]:
            raise fail(f"{call} failed: {_explain_gradcheck(got, x, inner)}")
        # gradcheck's verdict is the worker's word: the values it checked must be right too.
        want = reference.run(gradcheck, x, beta, v)
        assert_tensor(got["out"], shape=tuple(x.shape), dtype=x.dtype, device=x.device, call=inner)
        _check_custom_node(got["node"], inner)
        _assert_values(got["out"], want["out"], what="the result", call=inner)
        if got["backward_error"] is not None:
            raise _backward_error(got["backward_error"], inner)
        for name, g, e in zip(NAMES, got["grads"], want["grads"], strict=True):
            _assert_values(
                g,
                e,
                what=f"the gradient for {name} ({name}.grad)",
                call=f"{inner}, then backward with a random grad_out",
            )


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
            expected, unweighted = _formula_grads(x, beta, grad_out)
            flags = f"(x.requires_grad={grads[0]}, beta.requires_grad={grads[1]})"
            call = call_repr("scaled_swish", x, beta) + f" {flags}"
            got = _learner_grads(learner, x, beta, grad_out, call=call)
            k = 0 if grads[0] else 1
            _compare_grad(
                NAMES[k],
                got[k],
                expected[k],
                unweighted=unweighted[k],
                other=None,
                call=f"{call}, then backward with a random grad_out",
            )
        x, beta = _inputs(
            seed, shapes, dtype=torch.float64, device=device, offset=10 * i, grads=(False, False)
        )
        call = call_repr("scaled_swish", x, beta) + " (neither requires grad)"
        out = learner.run(forward, x, beta, via="scaled_swish")["out"]
        assert_tensor(out, shape=tuple(x.shape), dtype=torch.float64, device=device, call=call)
        assert_no_graph(out, call=call)
        _assert_values(out, _formula(x, beta), what="the result", call=call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def inspect_function(mod: Any, x: torch.Tensor, beta: torch.Tensor) -> dict[str, Any]:
    """Whether ScaledSwish is an autograd.Function; scaled_swish's and apply's results and nodes."""
    cls = learner_attr(mod, "ScaledSwish")
    is_function = isinstance(cls, type) and issubclass(cls, torch.autograd.Function)
    found: dict[str, Any] = {"is_function": is_function, "described": describe(cls), "calls": []}
    if is_function:
        for fn in (learner_attr(mod, "scaled_swish"), cls.apply):
            out = fn(x, beta)
            found["calls"].append({"out": out, "node": _node(out, cls)})
    return found


@scenario
def forward(mod: Any, x: torch.Tensor, beta: torch.Tensor, *, via: str) -> dict[str, Any]:
    """scaled_swish(x, beta) or ScaledSwish.apply(x, beta): the result, and the inputs after."""
    out = _function(mod, via)(x, beta)
    return {"out": out, "x_after": x.detach(), "beta_after": beta.detach()}


@scenario
def backward_directly(
    mod: Any, x: torch.Tensor, beta: torch.Tensor, grad_out: torch.Tensor
) -> dict[str, Any]:
    """ScaledSwish.backward(out.grad_fn, grad_out) called by hand, under no_grad."""
    cls = learner_attr(mod, "ScaledSwish")
    out = cls.apply(x, beta)
    node = _node(out, cls)
    found: dict[str, Any] = {"node": node, "result": None, "is_sequence": False, "described": ""}
    if node is None or not node["custom"]:
        return found
    with torch.no_grad():
        result = cls.backward(out.grad_fn, grad_out)
    is_sequence = isinstance(result, (tuple, list))
    found["is_sequence"] = is_sequence
    found["result"] = tuple(result) if is_sequence else result
    found["described"] = [describe(g) for g in result] if is_sequence else describe(result)
    return found


@scenario
def gradients(
    mod: Any, x: torch.Tensor, beta: torch.Tensor, grad_out: torch.Tensor, *, via: str
) -> dict[str, Any]:
    """The result, its node, and the gradients for x and beta of sum(grad_out * result)."""
    cls = learner_attr(mod, "ScaledSwish")
    out = _function(mod, via)(x, beta)
    node = _node(out, cls)
    found: dict[str, Any] = {"out": out, "node": node, "grads": [None, None]}
    found["backward_error"] = None
    if node is None or not node["custom"]:
        return found
    wanted = [t for t in (x, beta) if t.requires_grad]
    try:
        got = iter(torch.autograd.grad(out, wanted, grad_out, allow_unused=True))
    except RuntimeError as exc:
        found["backward_error"] = (str(exc).strip().splitlines() or ["RuntimeError"])[0]
        return found
    found["grads"] = [next(got) if t.requires_grad else None for t in (x, beta)]
    return found


@scenario
def gradcheck(mod: Any, x: torch.Tensor, beta: torch.Tensor, v: torch.Tensor) -> dict[str, Any]:
    """torch.autograd.gradcheck of ScaledSwish.apply, and its result and gradients for ``v``.

    When gradcheck fails, also finite differences of sum(v * apply(x, beta)) for each input.
    """
    apply = learner_attr(mod, "ScaledSwish").apply
    inputs = (x.detach().clone().requires_grad_(), beta.detach().clone().requires_grad_())
    error = None
    try:
        ok = bool(torch.autograd.gradcheck(apply, inputs, raise_exception=False))
    except (RuntimeError, TypeError, ValueError) as exc:
        ok = False
        error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    found = gradients(mod, x.requires_grad_(), beta.requires_grad_(), v, via="ScaledSwish.apply")
    found.update(ok=ok, error=error, numeric=None)
    if not ok and found["backward_error"] is None and isinstance(found["out"], torch.Tensor):
        found["numeric"] = [_numerical_vjp(apply, [x, beta], v, k) for k in range(2)]
    return found


# ----------------------------------------------------------------------------- helpers


def _function(mod: Any, via: str) -> Callable[..., Any]:
    """The learner's ``scaled_swish`` or ``ScaledSwish.apply``."""
    if via == "scaled_swish":
        return learner_attr(mod, "scaled_swish")
    return learner_attr(mod, "ScaledSwish").apply


def _node(out: Any, cls: Any) -> dict[str, Any] | None:
    """What ``out.grad_fn`` is: its class name, and whether it is ``cls``'s backward node."""
    node = getattr(out, "grad_fn", None) if isinstance(out, torch.Tensor) else None
    if node is None:
        return None
    forward_cls = getattr(type(node), "_forward_cls", None)
    return {
        "type": type(node).__name__,
        "custom": isinstance(node, BackwardCFunction) and forward_cls is cls,
    }


def _check_custom_node(node: dict[str, Any] | None, call: str) -> None:
    """The result's grad_fn must be the node of the learner's ScaledSwish."""
    if node is None:
        raise fail(
            f"{call}; the result has no grad_fn although the inputs require grad; return the "
            "result of ScaledSwish.apply(x, beta) itself"
        )
    if not node["custom"]:
        raise fail(
            f"{call}; the result's grad_fn is {node['type']}, expected ScaledSwishBackward: "
            "compute the result with ScaledSwish.apply(x, beta) so autograd calls your backward "
            "(instead of differentiating the formula itself), and return it unchanged"
        )


def _learner_grads(
    learner: Any, x: torch.Tensor, beta: torch.Tensor, grad_out: torch.Tensor, *, call: str
) -> list[torch.Tensor | None]:
    """The learner's result checked, then its gradients for x and beta (None where not asked)."""
    got = learner.run(gradients, x, beta, grad_out, via="scaled_swish")
    assert_tensor(got["out"], shape=tuple(x.shape), dtype=x.dtype, device=x.device, call=call)
    _check_custom_node(got["node"], call)
    if got["backward_error"] is not None:
        raise _backward_error(got["backward_error"], call)
    return got["grads"]


def _formula(x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The function, written with plain autograd-tracked torch operations."""
    return x * torch.sigmoid(beta * x)


def _formula_grads(
    x: torch.Tensor, beta: torch.Tensor, grad_out: torch.Tensor
) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None]]:
    """Gradients of the formula (plain autograd, in the judge) for grad_out and for ones."""
    results = []
    for weight in (grad_out, torch.ones_like(grad_out)):
        xs = x.detach().clone().requires_grad_(x.requires_grad)
        bs = beta.detach().clone().requires_grad_(beta.requires_grad)
        wanted = [t for t in (xs, bs) if t.requires_grad]
        got = iter(torch.autograd.grad(_formula(xs, bs), wanted, weight))
        results.append([next(got) if t.requires_grad else None for t in (xs, bs)])
    return results[0], results[1]


def _compare_grads(
    got: list[Any],
    expected: list[torch.Tensor | None],
    unweighted: list[torch.Tensor | None],
    *,
    call: str,
) -> None:
    """Compare both gradients (x's, then beta's) with the formula's."""
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
    head = call  # the call, then how backward was reached
    index = NAMES.index(name)
    if got is None:
        raise fail(
            f"{head}; backward returned None for {name} although {name} requires grad; return "
            f"None only when ctx.needs_input_grad[{index}] is False"
        )
    tol = _tolerances(expected.dtype)
    if (
        isinstance(got, torch.Tensor)
        and tuple(got.shape) == tuple(expected.shape)
        and got.dtype == expected.dtype
    ):
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


def _backward_error(text: str, call: str) -> Exception:
    """The failure for a RuntimeError that backward (or autograd checking it) raised."""
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


def _explain_gradcheck(got: dict[str, Any], x: torch.Tensor, call: str) -> str:
    """Which input's analytic gradient disagrees with finite differences, and by how much."""
    assert_tensor(got["out"], shape=tuple(x.shape), dtype=x.dtype, device=x.device, call=call)
    _check_custom_node(got["node"], call)
    if got["backward_error"] is not None:
        raise _backward_error(got["backward_error"], call)
    problems = []
    for k, name in enumerate(NAMES):
        analytic, numeric = got["grads"][k], got["numeric"][k]
        if analytic is None:
            problems.append(f"backward returned None for {name}")
            continue
        if analytic.shape != numeric.shape:
            problems.append(
                f"the gradient for {name} has shape {tuple(analytic.shape)}, expected "
                f"{tuple(numeric.shape)}"
            )
            continue
        gap = (analytic.detach().double().cpu() - numeric.double().cpu()).abs()
        worst = int(gap.reshape(-1).argmax())
        if float(gap.max()) > 1e-5 + 1e-3 * float(numeric.abs().max()):
            index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), gap.shape))
            problems.append(
                f"the gradient for {name} is off by up to {float(gap.max()):.3g} (at index "
                f"{index}: your backward gives {float(analytic.reshape(-1)[worst]):.6g}, finite "
                f"differences of your forward give {float(numeric.reshape(-1)[worst]):.6g})"
            )
    if not problems:
        detail = f" ({got['error']})" if got["error"] else ""
        return f"its full Jacobian check failed although a random grad_out agreed{detail}"
    return "; ".join(problems)


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
