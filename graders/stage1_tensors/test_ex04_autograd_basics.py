"""Grader for 1.4: autograd with backward, accumulation and second derivatives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pytorch_path.checks import assert_close, assert_no_graph, call_learner, describe, fail

Fn = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- helpers


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


def _scalar_cases(
    seed: Any, device: torch.device, shape: tuple[int, int], offset: int, v: str = "x"
) -> list[tuple[str, Fn, Fn]]:
    """(label, f, df) triples: scalar functions of a tensor and their closed-form gradients."""
    rows, cols = shape
    c = seed.randn(rows, cols, dtype=_dtype(device), device=device, offset=offset + 101)
    m = seed.randn(cols, rows + 1, dtype=_dtype(device), device=device, offset=offset + 102)
    n = rows * cols
    return [
        (f"(c * sin({v})).sum()", lambda t: (c * torch.sin(t)).sum(), lambda t: c * torch.cos(t)),
        (f"({v}**3).mean()", lambda t: (t**3).mean(), lambda t: 3 * t**2 / n),
        (f"(({v} @ m)**2).sum()", lambda t: ((t @ m) ** 2).sum(), lambda t: 2 * (t @ m) @ m.T),
        (
            f"(c * exp({v} / 2)).sum()",
            lambda t: (c * torch.exp(t / 2)).sum(),
            lambda t: c * torch.exp(t / 2) / 2,
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


def _state(t: torch.Tensor) -> tuple[torch.Tensor, bool, torch.Tensor | None]:
    grad = t.grad.detach().clone() if t.is_leaf and t.grad is not None else None
    return t.detach().clone(), t.requires_grad, grad


def _check_untouched(
    t: torch.Tensor, before: tuple[torch.Tensor, bool, torch.Tensor | None], name: str, call: str
) -> None:
    """The caller's tensor keeps its values, its requires_grad and its .grad."""
    values, requires_grad, grad = before
    if t.is_leaf:
        if grad is None and t.grad is not None:
            raise fail(
                f"{call}; afterwards {name}.grad is set (it was None before the call): backward() "
                f"wrote a gradient into the caller's tensor. Differentiate a fresh copy "
                f"({name}.detach().clone().requires_grad_()) or use torch.autograd.grad"
            )
        if grad is not None and (
            t.grad is None or t.grad.shape != grad.shape or not torch.equal(t.grad, grad)
        ):
            raise fail(
                f"{call}; {name}.grad held an earlier gradient and your function changed it "
                f"(backward() adds into .grad); leave the caller's {name}.grad alone"
            )
    if t.requires_grad != requires_grad:
        raise fail(
            f"{call}; afterwards {name}.requires_grad is {t.requires_grad}, it was {requires_grad}:"
            f" your function switched gradient tracking on the caller's tensor; work on a copy"
        )
    if not torch.equal(t.detach(), values):
        raise fail(f"{call}; the values of {name} were changed in place; leave the input as it was")


def _not_none(out: Any, call: str) -> None:
    if out is None:
        raise fail(
            f"{call} returned None. Only leaf tensors get a .grad: x.clone() of a tensor that "
            "requires grad is not a leaf (its .grad stays None); use x.detach().clone()"
        )


# ----------------------------------------------------------------------------- grad_via_backward


def test_grad_via_backward_values(learner, device, seed):
    """grad_via_backward(f, x) returns the gradient of f at x as a plain tensor with no graph."""
    rng = seed.python_random()
    for index in range(4):
        shape = _shape(rng)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        label, f, df = _scalar_cases(seed, device, shape, 10 * index)[index]
        expected = df(x.clone())
        call = f"called grad_via_backward(f, x) with f(x) = {label} and x: {describe(x)}"
        out = learner.grad_via_backward(f, x)
        _not_none(out, call)
        assert_close(out, expected, what="the gradient", call=call, **_tol(device))
        assert_no_graph(out, what="the gradient", call=call)


def test_grad_via_backward_leaves_x_alone(learner, device, seed):
    """grad_via_backward leaves x as it was: values, requires_grad, and no gradient written."""
    rng = seed.python_random()
    for index, mode in enumerate(("plain", "leaf", "stale grad", "plain", "leaf")):
        shape = _shape(rng)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        if mode != "plain":
            x.requires_grad_(True)
        if mode == "stale grad":
            x.grad = seed.randn(*shape, dtype=_dtype(device), device=device, offset=50 + index)
        label, f, df = _scalar_cases(seed, device, shape, 10 * index)[index % 4]
        expected = df(x.detach().clone())
        before = _state(x)
        call = f"called grad_via_backward(f, x) with f(x) = {label} and x: {describe(x)}" + (
            " whose .grad already held a gradient" if mode == "stale grad" else ""
        )
        out = learner.grad_via_backward(f, x)
        _not_none(out, call)
        _check_untouched(x, before, "x", call)
        assert_close(out, expected, what="the gradient", call=call, **_tol(device))
        assert_no_graph(out, what="the gradient", call=call)


# ----------------------------------------------------------------------------- two_step_grads


def _shares_memory(a: torch.Tensor, b: torch.Tensor | None) -> bool:
    if b is None:
        return False
    return a is b or a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


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
        w = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index).requires_grad_(
            True
        )
        stale = index % 2 == 0
        if stale:
            w.grad = seed.randn(*shape, dtype=_dtype(device), device=device, offset=50 + index)
        cases = _scalar_cases(seed, device, shape, 10 * index, v="w")
        label, loss_fn, df = cases[(index + 1) % 4]
        g = df(w.detach().clone())
        w_before = w.detach().clone()
        call = (
            f"called two_step_grads(w, loss_fn) with loss_fn(w) = {label}, w: {describe(w)}, "
            f"w.grad {'holding a stale gradient' if stale else 'None'}"
        )
        out = call_learner(
            learner.two_step_grads,
            w,
            loss_fn,
            call=call,
            hints={
                "second time": "backward() frees the graph it ran through: build a fresh loss "
                "with loss_fn(w) for each pass"
            },
        )
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise fail(f"{call}; expected a tuple of three tensors, got {describe(out)}")
        for i, snap in enumerate(out):
            if not isinstance(snap, torch.Tensor):
                raise fail(f"{call}; {names[i]} should be a torch.Tensor, got {describe(snap)}")
        for i in range(3):
            for j in range(i + 1, 3):
                if _shares_memory(out[i], out[j]):
                    raise fail(
                        f"{call}; {names[i]} and {names[j]} are the same tensor in memory, so "
                        "both show w.grad's latest value; return snapshots with w.grad.clone()"
                    )
            if _shares_memory(out[i], w.grad):
                raise fail(
                    f"{call}; {names[i]} is w.grad itself (or shares its memory), so it changes "
                    "whenever w.grad does; return a snapshot with w.grad.clone()"
                )
        for snap, want, name in zip(out, (g, 2 * g, g), names, strict=True):
            assert_close(snap, want, what=name, call=call, **_tol(device))
            assert_no_graph(snap, what=name, call=call)
        if not torch.equal(w.detach(), w_before):
            raise fail(f"{call}; the values of w were changed; only w.grad should change")
        if w.grad is None:
            raise fail(f"{call}; on return w.grad is None; it should hold one backward's gradient")
        assert_close(
            w.grad,
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
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index).requires_grad_(
            True
        )
        stale = index % 2 == 1
        if stale:
            x.grad = seed.randn(*shape, dtype=_dtype(device), device=device, offset=50 + index)
        label, f, df = _scalar_cases(seed, device, shape, 10 * index)[(index + 2) % 4]
        expected = df(x.detach().clone())
        output = f(x)
        before = _state(x)
        call = (
            f"called grad_via_autograd_grad(output, x) with output = {label}, x: {describe(x)}"
            + (" whose .grad already held a gradient" if stale else "")
        )
        out = learner.grad_via_autograd_grad(output, x)
        _not_none(out, call)
        assert_close(out, expected, what="the gradient", call=call, **_tol(device))
        assert_no_graph(out, what="the gradient", call=call)
        _check_untouched(x, before, "x", call)


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
        output = (c * h**2).sum()
        call = (
            "called grad_via_autograd_grad(output, h) with h = tanh(inputs @ weight) "
            f"({describe(h)}, not a leaf) and output = (c * h**2).sum()"
        )
        out = learner.grad_via_autograd_grad(output, h)
        if out is None:
            raise fail(
                f"{call} returned None: h is not a leaf, so backward() never fills h.grad; "
                "torch.autograd.grad(output, h) returns the gradient directly"
            )
        assert_close(
            out, expected, what="the gradient with respect to h", call=call, **_tol(device)
        )
        assert_no_graph(out, what="the gradient with respect to h", call=call)
        if weight.grad is not None:
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
        label, f, d2f = ELEMENTWISE[which]
        expected = d2f(x.detach().clone())
        before = _state(x)
        call = f"called second_derivative(f, x) with f = {label} and x: {describe(x)}"
        out = call_learner(
            learner.second_derivative,
            f,
            x,
            call=call,
            hints={
                "does not require grad": "To differentiate a gradient again, the first "
                "torch.autograd.grad (or backward) needs create_graph=True so that the "
                "gradient itself has a graph"
            },
        )
        _not_none(out, call)
        _check_untouched(x, before, "x", call)
        assert_close(
            out, expected, what=f"the second derivative of {label}", call=call, **_tol(device)
        )
        assert_no_graph(out, what="the second derivative", call=call)
