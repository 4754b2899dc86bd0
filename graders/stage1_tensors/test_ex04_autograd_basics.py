"""Grader for 1.4: autograd with backward, accumulation and second derivatives.

Functions cannot cross to where the learner's code runs, so the scalar and elementwise
functions are named by index into tables of this file (``_SCALAR``, ``ELEMENTWISE``) and
rebuilt there from the constants the test drew. A tensor's ``.grad`` and ``grad_fn`` do
not cross either: scenarios set stale gradients themselves and report what became of the
caller's tensors (values, ``requires_grad``, ``.grad``) and the results' ``grad_fn``
names. The gradients themselves are compared with closed forms computed by the test.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pytorch_path.checks import assert_close, assert_no_graph, call_learner, describe, fail
from pytorch_path.scenario import scenario

Fn = Callable[[torch.Tensor], torch.Tensor]

# (label, f(t, c, m), df(t, c, m)): scalar functions of a tensor and their gradients.
_SCALAR: list[tuple[str, Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = [
    (
        "(c * sin({v})).sum()",
        lambda t, c, m: (c * torch.sin(t)).sum(),
        lambda t, c, m: c * torch.cos(t),
    ),
    ("({v}**3).mean()", lambda t, c, m: (t**3).mean(), lambda t, c, m: 3 * t**2 / t.numel()),
    (
        "(({v} @ m)**2).sum()",
        lambda t, c, m: ((t @ m) ** 2).sum(),
        lambda t, c, m: 2 * (t @ m) @ m.T,
    ),
    (
        "(c * exp({v} / 2)).sum()",
        lambda t, c, m: (c * torch.exp(t / 2)).sum(),
        lambda t, c, m: c * torch.exp(t / 2) / 2,
    ),
]

ELEMENTWISE: list[tuple[str, Fn, Fn]] = [
    ("torch.sin", torch.sin, lambda t: -torch.sin(t)),
    ("x**3", lambda t: t**3, lambda t: 6 * t),
    ("x**2", lambda t: t**2, lambda t: torch.full_like(t, 2.0)),
    ("x * sin(x)", lambda t: t * torch.sin(t), lambda t: 2 * torch.cos(t) - t * torch.sin(t)),
    ("torch.tanh", torch.tanh, lambda t: -2 * torch.tanh(t) * (1 - torch.tanh(t) ** 2)),
    ("exp(x / 2)", lambda t: torch.exp(t / 2), lambda t: torch.exp(t / 2) / 4),
]


# ----------------------------------------------------------------------------- grad_via_backward


def test_grad_via_backward_values(learner, device, seed):
    """grad_via_backward(f, x) returns the gradient of f at x as a plain tensor with no graph."""
    rng = seed.python_random()
    for index in range(4):
        shape = _shape(rng)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        c, m = _constants(seed, device, shape, 10 * index)
        label, _, df = _SCALAR[index]
        expected = df(x.clone(), c, m)
        call = (
            f"called grad_via_backward(f, x) with f(x) = {label.format(v='x')} and x: {describe(x)}"
        )
        got = learner.run(backward_grad, x, index, c, m)
        _not_none(got["out"], call)
        assert_close(got["out"], expected, what="the gradient", call=call, **_tol(device))
        _assert_no_graph(got, what="the gradient", call=call)


def test_grad_via_backward_leaves_x_alone(learner, device, seed):
    """grad_via_backward leaves x as it was: values, requires_grad, and no gradient written."""
    rng = seed.python_random()
    for index, mode in enumerate(("plain", "leaf", "stale grad", "plain", "leaf")):
        shape = _shape(rng)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        if mode != "plain":
            x.requires_grad_(True)
        stale = None
        if mode == "stale grad":
            stale = seed.randn(*shape, dtype=_dtype(device), device=device, offset=50 + index)
        c, m = _constants(seed, device, shape, 10 * index)
        label, _, df = _SCALAR[index % 4]
        expected = df(x.detach().clone(), c, m)
        call = (
            f"called grad_via_backward(f, x) with f(x) = {label.format(v='x')} and x: "
            f"{describe(x)}" + (" whose .grad already held a gradient" if stale is not None else "")
        )
        got = learner.run(backward_grad, x, index % 4, c, m, stale=stale)
        _not_none(got["out"], call)
        _check_untouched(got["x"], _state(x, stale), "x", call)
        assert_close(got["out"], expected, what="the gradient", call=call, **_tol(device))
        _assert_no_graph(got, what="the gradient", call=call)


# ----------------------------------------------------------------------------- two_step_grads


def test_two_step_grads(learner, device, seed):
    """two_step_grads shows one gradient, twice it after a second backward, then one again."""
    rng = seed.python_random()
    names = (
        "the first gradient (stale .grad cleared, then one backward pass)",
        "the second gradient (a second backward pass without clearing: twice the first)",
        "the third gradient (after clearing .grad and one more backward pass)",
    )
    for index in range(4):
        shape = _shape(rng)
        w = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        w.requires_grad_(True)
        stale = None
        if index % 2 == 0:
            stale = seed.randn(*shape, dtype=_dtype(device), device=device, offset=50 + index)
        c, m = _constants(seed, device, shape, 10 * index)
        case = (index + 1) % 4
        label, _, df = _SCALAR[case]
        g = df(w.detach().clone(), c, m)
        call = (
            f"called two_step_grads(w, loss_fn) with loss_fn(w) = {label.format(v='w')}, w: "
            f"{describe(w)}, w.grad {'holding a stale gradient' if stale is not None else 'None'}"
        )
        got = call_learner(
            learner.run,
            two_steps,
            w,
            case,
            c,
            m,
            stale=stale,
            call=call,
            hints={
                "second time": "backward() frees the graph it ran through: build a fresh loss "
                "with loss_fn(w) for each pass"
            },
        )
        out = got["out"]
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise fail(f"{call}; expected a tuple of three tensors, got {describe(out)}")
        for i, snap in enumerate(out):
            if not isinstance(snap, torch.Tensor):
                raise fail(f"{call}; {names[i]} should be a torch.Tensor, got {describe(snap)}")
        for i, j in got["shared"]:
            if j == "w.grad":
                raise fail(
                    f"{call}; {names[i]} is w.grad itself (or shares its memory), so it changes "
                    "whenever w.grad does; return a snapshot with w.grad.clone()"
                )
            raise fail(
                f"{call}; {names[i]} and {names[j]} are the same tensor in memory, so "
                "both show w.grad's latest value; return snapshots with w.grad.clone()"
            )
        for i, (snap, want, name) in enumerate(zip(out, (g, 2 * g, g), names, strict=True)):
            assert_close(snap, want, what=name, call=call, **_tol(device))
            _assert_no_graph(got, what=name, call=call, index=i)
        if not torch.equal(got["w"]["values"], w.detach()):
            raise fail(f"{call}; the values of w were changed; only w.grad should change")
        if got["w"]["grad"] is None:
            raise fail(f"{call}; on return w.grad is None; it should hold one backward's gradient")
        assert_close(
            got["w"]["grad"],
            g,
            what="w.grad on return (one backward pass's gradient)",
            call=call,
            **_tol(device),
        )


# ----------------------------------------------------------------------------- autograd.grad


def test_grad_via_autograd_grad_leaf(learner, device, seed):
    """grad_via_autograd_grad(output, x) returns d(output)/dx and writes no .grad (leaf x)."""
    rng = seed.python_random()
    for index in range(4):
        shape = _shape(rng)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        x.requires_grad_(True)
        stale = None
        if index % 2 == 1:
            stale = seed.randn(*shape, dtype=_dtype(device), device=device, offset=50 + index)
        c, m = _constants(seed, device, shape, 10 * index)
        case = (index + 2) % 4
        label, _, df = _SCALAR[case]
        expected = df(x.detach().clone(), c, m)
        call = (
            f"called grad_via_autograd_grad(output, x) with output = {label.format(v='x')}, "
            f"x: {describe(x)}"
            + (" whose .grad already held a gradient" if stale is not None else "")
        )
        got = learner.run(autograd_grad_of_leaf, x, case, c, m, stale=stale)
        _not_none(got["out"], call)
        assert_close(got["out"], expected, what="the gradient", call=call, **_tol(device))
        _assert_no_graph(got, what="the gradient", call=call)
        _check_untouched(got["x"], _state(x, stale), "x", call)


def test_grad_via_autograd_grad_intermediate(learner, device, seed):
    """grad_via_autograd_grad works for an intermediate tensor and leaves parameters' .grad None."""
    rng = seed.python_random()
    for index in range(3):
        batch, features = _shape(rng)
        hidden = features + 2
        inputs = seed.randn(batch, features, dtype=_dtype(device), device=device, offset=index)
        weight = seed.randn(
            features, hidden, dtype=_dtype(device), device=device, offset=20 + index
        )
        weight.requires_grad_(True)
        c = seed.randn(batch, hidden, dtype=_dtype(device), device=device, offset=40 + index)
        h = torch.tanh(inputs @ weight)
        expected = 2 * h.detach() * c
        call = (
            "called grad_via_autograd_grad(output, h) with h = tanh(inputs @ weight) "
            f"({describe(h)}, not a leaf) and output = (c * h**2).sum()"
        )
        got = learner.run(autograd_grad_of_intermediate, inputs, weight, c)
        if got["out"] is None:
            raise fail(
                f"{call} returned None: h is not a leaf, so backward() never fills h.grad; "
                "torch.autograd.grad(output, h) returns the gradient directly"
            )
        what = "the gradient with respect to h"
        assert_close(got["out"], expected, what=what, call=call, **_tol(device))
        _assert_no_graph(got, what=what, call=call)
        if got["weight_grad_set"]:
            raise fail(
                f"{call}; afterwards weight.grad is set: backward() wrote gradients into the "
                "parameters. torch.autograd.grad returns the gradient without touching any .grad"
            )


# ----------------------------------------------------------------------------- second derivative


def test_second_derivative(learner, device, seed):
    """second_derivative(f, x) returns f''(x) elementwise, with no graph, leaving x alone."""
    rng = seed.python_random()
    order = list(range(len(ELEMENTWISE)))
    rng.shuffle(order)
    for index, which in enumerate(order):
        shape = _shape(rng)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        if index % 3 == 1:
            x.requires_grad_(True)
        label, _, d2f = ELEMENTWISE[which]
        expected = d2f(x.detach().clone())
        call = f"called second_derivative(f, x) with f = {label} and x: {describe(x)}"
        got = call_learner(
            learner.run,
            second,
            x,
            which,
            call=call,
            hints={
                "does not require grad": "To differentiate a gradient again, the first "
                "torch.autograd.grad (or backward) needs create_graph=True so that the "
                "gradient itself has a graph"
            },
        )
        _not_none(got["out"], call)
        _check_untouched(got["x"], _state(x, None), "x", call)
        assert_close(
            got["out"], expected, what=f"the second derivative of {label}", call=call,
            **_tol(device),
        )  # fmt: skip
        _assert_no_graph(got, what="the second derivative", call=call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def backward_grad(
    mod: Any,
    x: torch.Tensor,
    case: int,
    c: torch.Tensor,
    m: torch.Tensor,
    *,
    stale: torch.Tensor | None = None,
) -> dict[str, Any]:
    """grad_via_backward(f, x) for the scalar function ``_SCALAR[case]``; x afterwards."""
    if stale is not None:
        x.grad = stale
    out = mod.grad_via_backward(_scalar_fn(case, c, m), x)
    return {"out": out, "grad_fn": _grad_fn(out), "x": _after(x)}


@scenario
def two_steps(
    mod: Any,
    w: torch.Tensor,
    case: int,
    c: torch.Tensor,
    m: torch.Tensor,
    *,
    stale: torch.Tensor | None = None,
) -> dict[str, Any]:
    """two_step_grads(w, loss_fn); which snapshots share memory (with each other, with w.grad)."""
    if stale is not None:
        w.grad = stale
    out = mod.two_step_grads(w, _scalar_fn(case, c, m))
    shared: list[tuple[int, int | str]] = []
    grad_fns: list[str | None] = []
    if isinstance(out, (tuple, list)) and len(out) == 3:
        snaps = list(out)
        grad_fns = [_grad_fn(s) for s in snaps]
        if all(isinstance(s, torch.Tensor) for s in snaps):
            for i in range(3):
                shared += [(i, j) for j in range(i + 1, 3) if _shares_memory(snaps[i], snaps[j])]
                if _shares_memory(snaps[i], w.grad):
                    shared.append((i, "w.grad"))
    return {"out": out, "grad_fns": grad_fns, "shared": shared, "w": _after(w)}


@scenario
def autograd_grad_of_leaf(
    mod: Any,
    x: torch.Tensor,
    case: int,
    c: torch.Tensor,
    m: torch.Tensor,
    *,
    stale: torch.Tensor | None = None,
) -> dict[str, Any]:
    """grad_via_autograd_grad(output, x) with output = ``_SCALAR[case]`` of the leaf x."""
    if stale is not None:
        x.grad = stale
    output = _scalar_fn(case, c, m)(x)
    out = mod.grad_via_autograd_grad(output, x)
    return {"out": out, "grad_fn": _grad_fn(out), "x": _after(x)}


@scenario
def autograd_grad_of_intermediate(
    mod: Any, inputs: torch.Tensor, weight: torch.Tensor, c: torch.Tensor
) -> dict[str, Any]:
    """grad_via_autograd_grad(output, h), h = tanh(inputs @ weight); whether weight.grad was set."""
    h = torch.tanh(inputs @ weight)
    output = (c * h**2).sum()
    out = mod.grad_via_autograd_grad(output, h)
    return {"out": out, "grad_fn": _grad_fn(out), "weight_grad_set": weight.grad is not None}


@scenario
def second(mod: Any, x: torch.Tensor, which: int) -> dict[str, Any]:
    """second_derivative(f, x) for the elementwise function ``ELEMENTWISE[which]``."""
    out = mod.second_derivative(ELEMENTWISE[which][1], x)
    return {"out": out, "grad_fn": _grad_fn(out), "x": _after(x)}


# ----------------------------------------------------------------------------- helpers


def _scalar_fn(case: int, c: torch.Tensor, m: torch.Tensor) -> Fn:
    f = _SCALAR[case][1]
    return lambda t: f(t, c, m)


def _grad_fn(value: Any) -> str | None:
    fn = getattr(value, "grad_fn", None) if isinstance(value, torch.Tensor) else None
    return type(fn).__name__ if fn is not None else None


def _after(t: torch.Tensor) -> dict[str, Any]:
    """What became of the caller's tensor: values, requires_grad, and its .grad (if a leaf)."""
    grad = t.grad.detach().clone() if t.is_leaf and t.grad is not None else None
    return {"values": t.detach().clone(), "requires_grad": t.requires_grad, "grad": grad}


def _shares_memory(a: torch.Tensor, b: torch.Tensor | None) -> bool:
    if b is None:
        return False
    return a is b or a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for exact derivative checks; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5} if device.type == "mps" else {}


def _shape(rng: Any) -> tuple[int, int]:
    rows = rng.randint(2, 5)
    cols = rng.randint(3, 7)
    while cols == rows:
        cols = rng.randint(3, 7)
    return rows, cols


def _constants(
    seed: Any, device: torch.device, shape: tuple[int, int], offset: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The constants c (shaped like x) and m (cols, rows + 1) of the scalar functions."""
    rows, cols = shape
    c = seed.randn(rows, cols, dtype=_dtype(device), device=device, offset=offset + 101)
    m = seed.randn(cols, rows + 1, dtype=_dtype(device), device=device, offset=offset + 102)
    return c, m


def _state(t: torch.Tensor, grad: torch.Tensor | None) -> dict[str, Any]:
    """The caller's tensor as the judge gave it (``grad``: the stale gradient set on it)."""
    return {"values": t.detach().clone(), "requires_grad": t.requires_grad, "grad": grad}


def _assert_no_graph(
    got: dict[str, Any], *, what: str, call: str, index: int | None = None
) -> None:
    """The result (or snapshot ``index``) carries no graph; the message names its grad_fn."""
    value = got["out"] if index is None else got["out"][index]
    fn = got["grad_fn"] if index is None else got["grad_fns"][index]
    assert_no_graph(value, what=what, call=call, grad_fn=fn)


def _check_untouched(after: dict[str, Any], before: dict[str, Any], name: str, call: str) -> None:
    """The caller's tensor keeps its values, its requires_grad and its .grad."""
    grad, now = before["grad"], after["grad"]  # the callers' tensors here are all leaves
    if grad is None and now is not None:
        raise fail(
            f"{call}; afterwards {name}.grad is set (it was None before the call): backward() "
            f"wrote a gradient into the caller's tensor. Differentiate a fresh copy "
            f"({name}.detach().clone().requires_grad_()) or use torch.autograd.grad"
        )
    if grad is not None and (
        now is None or now.shape != grad.shape or not torch.equal(now.cpu(), grad.cpu())
    ):
        raise fail(
            f"{call}; {name}.grad held an earlier gradient and your function changed it "
            f"(backward() adds into .grad); leave the caller's {name}.grad alone"
        )
    if after["requires_grad"] != before["requires_grad"]:
        raise fail(
            f"{call}; afterwards {name}.requires_grad is {after['requires_grad']}, it was "
            f"{before['requires_grad']}: your function switched gradient tracking on the "
            "caller's tensor; work on a copy"
        )
    if not torch.equal(after["values"].cpu(), before["values"].cpu()):
        raise fail(f"{call}; the values of {name} were changed in place; leave the input as it was")


def _not_none(out: Any, call: str) -> None:
    if out is None:
        raise fail(
            f"{call} returned None. Only leaf tensors get a .grad: x.clone() of a tensor that "
            "requires grad is not a leaf (its .grad stays None); use x.detach().clone()"
        )
