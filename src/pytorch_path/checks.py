"""Assertion helpers that speak to a learner.

Every helper raises :class:`CheckFailure` (an ``AssertionError``) whose message
says what was expected, what came, and where to look, for example::

    called normalize(x) with x: Tensor(4, 3) float32 on cpu;
    the result has dtype torch.float64, expected torch.float32

Graders call these instead of bare ``assert`` so the learner's first line of
feedback is a sentence, not a traceback. Values are compared in float64 on the
CPU with functions captured when this module is imported, so patching
``torch.allclose`` from learner code changes nothing here (and
:func:`integrity_problems` reports that it happened).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

# Captured at import, before any learner code runs (see integrity_problems).
_isfinite = torch.isfinite
_isnan = torch.isnan
_isinf = torch.isinf
_abs = torch.abs
_argmax = torch.argmax
_as_tensor = torch.as_tensor
_Tensor = torch.Tensor
_ORIGINALS: dict[str, tuple[Any, str, Any]] = {}


def _remember(owner: Any, name: str) -> None:
    _ORIGINALS[f"{getattr(owner, '__name__', owner)}.{name}"] = (owner, name, getattr(owner, name))


for _name in (
    "allclose",
    "isclose",
    "equal",
    "isfinite",
    "isnan",
    "isinf",
    "abs",
    "argmax",
    "as_tensor",
    "where",
    "zeros_like",
):
    _remember(torch, _name)
for _name in (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__sub__",
    "__add__",
    "__mul__",
    "__invert__",
    "__and__",
    "__bool__",
    "__float__",
    "item",
    "tolist",
    "all",
    "any",
    "sum",
    "to",
    "detach",
    "reshape",
    "is_floating_point",
    "numel",
):
    _remember(torch.Tensor, _name)
_remember(torch.testing, "assert_close")


class CheckFailure(AssertionError):
    """A grader check failed. ``str()`` is the learner-facing message."""


def integrity_problems() -> list[str]:
    """Names of comparison functions that were replaced since this module was imported."""
    problems = [
        key
        for key, (owner, name, original) in _ORIGINALS.items()
        if getattr(owner, name, None) is not original
    ]
    for name in ("assert_close", "assert_tensor", "CheckFailure", "fail"):
        if globals().get(name) is not _OWN.get(name):
            problems.append(f"pytorch_path.checks.{name}")
    return problems


def fail(message: str) -> CheckFailure:
    """Build a :class:`CheckFailure`; ``raise fail("...")`` reads well in graders."""
    return CheckFailure(message)


# ----------------------------------------------------------------------------- describing


def describe(value: Any) -> str:
    """A short, learner-readable description of any value (never its full contents)."""
    if isinstance(value, _Tensor):
        shape = tuple(value.shape)
        kind = "Tensor" if type(value) is _Tensor else f"{type(value).__name__} (a Tensor subclass)"
        dtype = str(value.dtype).replace("torch.", "")
        grad = ", requires_grad" if value.requires_grad else ""
        return f"{kind}{shape} {dtype} on {value.device}{grad}"
    if isinstance(value, np.ndarray):
        return f"numpy.ndarray{tuple(value.shape)} {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))[:6]}"
    if value is None:
        return "None"
    from pytorch_path.scenario import Opaque

    if isinstance(value, Opaque):  # an object that could not cross the wire
        return f"a {value.type_name}"
    if isinstance(value, (bool, int, float, str)):
        text = repr(value)
        return f"{type(value).__name__} {text[:60]}"
    return f"a {type(value).__module__}.{type(value).__qualname__}"


def call_repr(fn: str, *args: Any, **kwargs: Any) -> str:
    """``called fn(Tensor(4, 3) float32 on cpu, dim=1)``: the call, for a failure message."""
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return f"called {fn}({', '.join(parts)})"


def _is_simple(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.device))


def _short(value: Any) -> str:
    if isinstance(value, (tuple, list)) and len(value) <= 8 and all(map(_is_simple, value)):
        return repr(tuple(value)) if isinstance(value, tuple) else repr(list(value))
    if _is_simple(value):
        return repr(value) if not isinstance(value, (torch.dtype, torch.device)) else str(value)
    return describe(value)


def _prefix(what: str, call: str | None) -> str:
    return f"{call}; {what}" if call else what


def _index(flat_index: int, shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat_index, tuple(shape))) if shape else ()


# ----------------------------------------------------------------------------- tensors


def assert_tensor(
    actual: Any,
    *,
    what: str = "the result",
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    finite: bool = True,
    call: str | None = None,
) -> torch.Tensor:
    """Check that ``actual`` is a plain ``torch.Tensor`` with this shape, dtype and device.

    Checks run in that order (type, shape, dtype, device, finiteness), so the
    learner hears about the first thing that is wrong. Returns ``actual``.
    """
    head = _prefix(what, call)
    if type(actual) is not _Tensor:
        if isinstance(actual, _Tensor):
            raise fail(
                f"{head} is a {type(actual).__name__}, a subclass of torch.Tensor; "
                "return a plain torch.Tensor"
            )
        advice = ""
        if isinstance(actual, np.ndarray):
            advice = "; build it with torch operations (or convert with torch.from_numpy)"
        elif isinstance(actual, (list, tuple)):
            advice = "; build it with torch operations (or torch.tensor / torch.stack)"
        elif isinstance(actual, (int, float)):
            advice = "; keep it as a tensor (do not call .item())"
        elif actual is None:
            advice = "; did you forget a return statement?"
        raise fail(f"{head} should be a torch.Tensor, got {describe(actual)}{advice}")
    if shape is not None:
        assert_shape(actual, shape, what=what, call=call)
    if dtype is not None and actual.dtype != dtype:
        raise fail(f"{head} has dtype {actual.dtype}, expected {dtype}")
    if device is not None:
        assert_on_device(actual, device, what=what, call=call)
    if finite:
        assert_finite(actual, what=what, call=call)
    return actual


def assert_shape(
    actual: torch.Tensor, shape: Sequence[int], *, what: str = "the result", call: str | None = None
) -> None:
    """Check ``actual.shape`` against ``shape``; the message shows both."""
    got = tuple(actual.shape)
    want = tuple(int(s) for s in shape)
    if got != want:
        hint = ""
        if sorted(got) == sorted(want):
            hint = " (same sizes in another order: check permute/transpose and which dim you used)"
        elif math.prod(got) == math.prod(want):
            hint = " (same number of elements: check view/reshape)"
        raise fail(f"{_prefix(what, call)} has shape {got}, expected {want}{hint}")


def _same_device(actual: torch.device, expected: torch.device) -> bool:
    if actual.type != expected.type:
        return False
    if expected.index is None or actual.index is None:
        return True
    return actual.index == expected.index


def assert_on_device(
    actual: Any,
    device: str | torch.device,
    *,
    what: str = "the result",
    call: str | None = None,
) -> None:
    """Check that a tensor, or every parameter and buffer of a module, is on ``device``."""
    expected = torch.device(device)
    head = _prefix(what, call)
    if isinstance(actual, torch.nn.Module):
        tensors = list(actual.named_parameters()) + list(actual.named_buffers())
        for name, tensor in tensors:
            if not _same_device(tensor.device, expected):
                raise fail(
                    f"{head}: {name} is on {tensor.device}, expected {expected}; "
                    "move the whole model with model.to(device)"
                )
        return
    if not isinstance(actual, _Tensor):
        raise fail(f"{head} should be a torch.Tensor, got {describe(actual)}")
    if not _same_device(actual.device, expected):
        raise fail(
            f"{head} is on {actual.device}, expected {expected}; create it on the right device "
            "(device=...) or move it with .to(device)"
        )


def assert_finite(
    actual: torch.Tensor, *, what: str = "the result", call: str | None = None
) -> None:
    """Check that a tensor holds no NaN or infinity; say where the first one is."""
    if actual.device.type == "meta" or not (actual.is_floating_point() or actual.is_complex()):
        return
    finite = _isfinite(actual.detach())
    if bool(finite.all()):
        return
    bad = (~finite).reshape(-1)
    count = int(bad.sum())
    first = int(_argmax(bad.to(torch.uint8)))
    value = actual.detach().reshape(-1)[first].item()
    kind = "NaN" if math.isnan(value) else "infinity"
    raise fail(
        f"{_prefix(what, call)} contains {kind} ({count} of {actual.numel()} values are not "
        f"finite, the first at index {_index(first, actual.shape)}); look for a division by zero, "
        "log of 0, or a value that grew without bound"
    )


def assert_close(
    actual: Any,
    expected: Any,
    *,
    what: str = "the result",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    check_dtype: bool = True,
    check_device: bool = True,
    equal_nan: bool = False,
    call: str | None = None,
) -> None:
    """Compare ``actual`` with the ``expected`` tensor (or number) computed by the reference.

    First the type, shape, dtype and device of ``actual`` are checked against
    ``expected``'s, then the values; a mismatch names the worst element, both
    values, and how many elements are off.
    """
    head = _prefix(what, call)
    if not isinstance(expected, _Tensor):
        assert_scalar_close(actual, float(expected), what=what, rtol=rtol, atol=atol, call=call)
        return
    assert_tensor(
        actual,
        what=what,
        shape=tuple(expected.shape),
        dtype=expected.dtype if check_dtype else None,
        device=expected.device if check_device else None,
        finite=not equal_nan and bool(_isfinite(expected.detach()).all())
        if expected.device.type != "meta" and expected.is_floating_point()
        else False,
        call=call,
    )
    if actual.device.type == "meta" or expected.device.type == "meta":
        return
    a = actual.detach().to("cpu", torch.float64 if not actual.is_complex() else torch.complex128)
    e = expected.detach().to("cpu", a.dtype)
    if a.numel() == 0:
        return
    same = _isinf(e) & (a == e)  # equal infinities (e.g. masked scores) match exactly
    if equal_nan:
        same = same | (_isnan(a) & _isnan(e))
    a = torch.where(same, torch.zeros_like(a), a)
    e = torch.where(same, torch.zeros_like(e), e)
    diff = _abs(a - e)
    tol = torch.where(_isinf(e), torch.zeros_like(e), rtol * _abs(e)) + atol
    off = ~(diff <= tol)
    count = int(off.sum())
    if count == 0:
        return
    excess = torch.where(off, diff - tol, torch.zeros_like(diff)).reshape(-1)
    worst = int(_argmax(excess))
    idx = _index(worst, a.shape)
    got_v = a.reshape(-1)[worst].item()
    want_v = e.reshape(-1)[worst].item()
    where = f" at index {idx}" if idx else ""
    raise fail(
        f"{head} has wrong values: {count} of {a.numel()} elements differ; the largest gap is"
        f"{where}: got {got_v:.6g}, expected {want_v:.6g} (tolerance rtol={rtol:g}, atol={atol:g})"
    )


def assert_scalar_close(
    actual: Any,
    expected: float,
    *,
    what: str = "the result",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    call: str | None = None,
) -> None:
    """Compare a Python number with ``expected``."""
    head = _prefix(what, call)
    if isinstance(actual, _Tensor):
        raise fail(
            f"{head} should be a Python number, got {describe(actual)}; use .item() to get one"
        )
    if isinstance(actual, bool) or not isinstance(actual, (int, float, np.floating, np.integer)):
        raise fail(f"{head} should be a Python number, got {describe(actual)}")
    value = float(actual)
    if not math.isfinite(value):
        raise fail(f"{head} is {value}, expected a finite number close to {expected:.6g}")
    if not abs(value - expected) <= atol + rtol * abs(expected):
        raise fail(f"{head} is {value:.6g}, expected {expected:.6g}")


def assert_python_float(actual: Any, *, what: str = "the result", call: str | None = None) -> float:
    """Check that ``actual`` is a finite Python ``float`` (not a tensor); return it."""
    head = _prefix(what, call)
    if isinstance(actual, _Tensor):
        raise fail(
            f"{head} should be a Python float, got {describe(actual)}; use .item(), which also "
            "lets the autograd graph go"
        )
    if type(actual) is not float:
        raise fail(f"{head} should be a Python float, got {describe(actual)}")
    if not math.isfinite(actual):
        raise fail(f"{head} is {actual}; expected a finite number")
    return actual


def assert_equal(
    actual: Any, expected: Any, *, what: str = "the result", call: str | None = None
) -> None:
    """Check exact equality of plain values (ints, strings, tuples, dtypes, devices)."""
    if actual != expected or type(actual) is not type(expected):
        raise fail(
            f"{_prefix(what, call)} is {actual!r} ({type(actual).__name__}), "
            f"expected {expected!r} ({type(expected).__name__})"
        )


# ----------------------------------------------------------------------------- autograd


def assert_no_graph(
    actual: Any,
    *,
    what: str = "the result",
    call: str | None = None,
    grad_fn: str | None = None,
) -> None:
    """Check that a tensor carries no autograd graph (no ``grad_fn``, no ``requires_grad``).

    ``grad_fn`` is the name of the node a scenario saw on the learner's tensor (the node
    itself does not cross the wire), or None when it had none.
    """
    if not isinstance(actual, _Tensor):
        raise fail(f"{_prefix(what, call)} should be a torch.Tensor, got {describe(actual)}")
    if actual.requires_grad or actual.grad_fn is not None or grad_fn is not None:
        fn = grad_fn or (type(actual.grad_fn).__name__ if actual.grad_fn is not None else "none")
        raise fail(
            f"{_prefix(what, call)} still tracks gradients (requires_grad=True, grad_fn={fn}); "
            "compute it under torch.no_grad() or torch.inference_mode(), or .detach() it"
        )


def assert_requires_grad(actual: Any, *, what: str = "the result", call: str | None = None) -> None:
    """Check that a tensor is part of an autograd graph (so gradients can reach its inputs)."""
    if not isinstance(actual, _Tensor):
        raise fail(f"{_prefix(what, call)} should be a torch.Tensor, got {describe(actual)}")
    if not actual.requires_grad:
        raise fail(
            f"{_prefix(what, call)} does not track gradients; something detached it from the "
            "graph (.detach(), .item(), .numpy(), torch.no_grad(), or a new torch.tensor(...))"
        )


def assert_grad_flows(
    params: torch.nn.Module | Iterable[torch.Tensor] | Mapping[str, torch.Tensor],
    *,
    what: str = "the model",
    allow_zero: bool = False,
) -> None:
    """Check that every parameter received a finite gradient (non-zero unless ``allow_zero``)."""
    named: list[tuple[str, torch.Tensor]]
    if isinstance(params, torch.nn.Module):
        named = list(params.named_parameters())
    elif isinstance(params, Mapping):
        named = list(params.items())
    else:
        named = [(f"tensor {i}", p) for i, p in enumerate(params)]
    if not named:
        raise fail(f"{what} has no parameters to receive gradients")
    for name, p in named:
        if not p.requires_grad:
            continue
        if p.grad is None:
            raise fail(
                f"{what}: {name} received no gradient (.grad is None); it is not connected to "
                "the loss, or backward() was not called"
            )
        assert_finite(p.grad, what=f"{what}: the gradient of {name}")
        if not allow_zero and bool((p.grad == 0).all()):
            raise fail(f"{what}: the gradient of {name} is all zeros; is it used in the forward?")


def assert_grads(
    grads: Mapping[str, torch.Tensor | None],
    *,
    what: str = "the model",
    allow_zero: bool = False,
) -> None:
    """Check the ``{name: grad}`` a scenario returns, as :func:`assert_grad_flows` does.

    ``.grad`` does not cross the wire, so scenarios send the gradients themselves: each must
    be present, finite, and non-zero unless ``allow_zero``.
    """
    if not grads:
        raise fail(f"{what} has no parameters to receive gradients")
    for name, grad in grads.items():
        if grad is None:
            raise fail(
                f"{what}: {name} received no gradient (.grad is None); it is not connected to "
                "the loss, or backward() was not called"
            )
        assert_tensor(grad, what=f"{what}: the gradient of {name}")
        if not allow_zero and bool((grad == 0).all()):
            raise fail(f"{what}: the gradient of {name} is all zeros; is it used in the forward?")


def states_close(
    a: Mapping[str, Any], b: Mapping[str, Any], *, rtol: float = 1e-5, atol: float = 1e-6
) -> bool:
    """Whether two state dicts have the same keys and close values.

    A predicate, e.g. for :func:`name_the_mistake`; use :func:`assert_state_dict_close`
    for a verdict.
    """
    if not isinstance(a, Mapping) or not isinstance(b, Mapping) or set(a) != set(b):
        return False
    for key, want in b.items():
        got = a[key]
        if isinstance(want, _Tensor):
            if not isinstance(got, _Tensor) or got.shape != want.shape:
                return False
            g = got.detach().to("cpu", torch.float64)
            e = want.detach().to("cpu", torch.float64)
            if not bool((_abs(g - e) <= atol + rtol * _abs(e)).all()):
                return False
        elif got != want:
            return False
    return True


def assert_loss_decreases(
    losses: Sequence[float],
    *,
    fraction: float,
    what: str = "the training loss",
) -> None:
    """Check that the last loss is below ``(1 - fraction)`` times the first, all finite."""
    values = list(losses)
    if len(values) < 2:
        raise fail(f"{what}: expected a loss for each step, got {len(values)} value(s)")
    for i, v in enumerate(values):
        if isinstance(v, _Tensor):
            raise fail(f"{what}: step {i} recorded {describe(v)}; record loss.item() instead")
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise fail(f"{what}: step {i} recorded {v!r}; expected a finite number")
    first, last = float(values[0]), float(values[-1])
    if not last <= (1.0 - fraction) * first:
        if last >= first:
            change = f"rose from {first:.4g} to {last:.4g}"
        else:
            change = (
                f"went from {first:.4g} to {last:.4g} (a {(first - last) / abs(first):.0%} drop)"
            )
        raise fail(
            f"{what} {change}; expected it to fall by at least {fraction:.0%}. Check the update "
            "direction, the learning rate, and that gradients are zeroed each step"
        )


def call_learner(
    fn: Callable[..., Any],
    *args: Any,
    call: str,
    hints: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    r"""Call learner code (``learner.fn`` or a bound ``learner.run``), explaining known errors.

    When the learner's exception is a ``RuntimeError`` (or ``TypeError``/``AttributeError``)
    whose text contains a key of ``hints``, the learner gets a failure naming the call, the
    error's first line and that key's advice. Every other error passes through unchanged,
    so the engine still reports the stub's ``NotImplementedError`` as "not started".
    """
    from pytorch_path.scenario import LearnerError

    try:
        return fn(*args, **kwargs)
    except LearnerError as exc:
        if exc.kind != "raised" or exc.is_a("NotImplementedError"):
            raise  # the stub, a file that did not load, a missing name, a dead worker
        advice = _hint_for(exc.message, hints)
        if advice is not None and exc.is_a("RuntimeError", "TypeError", "AttributeError"):
            first = exc.message.strip().splitlines()[0] if exc.message.strip() else exc.type_name
            where = ""
            if exc.last_frame is not None:
                where = f" (in {exc.last_frame.name}, line {exc.last_frame.lineno})"
            raise fail(f"{call} raised {exc.type_name}: {first}{where}; {advice}") from None
        raise


def _hint_for(text: str, hints: Mapping[str, str] | None) -> str | None:
    for needle, advice in (hints or {}).items():
        if needle in text:
            return advice
    return None


def expect_raises(
    fn: Callable[..., Any],
    exc: str | type[BaseException] | tuple[str | type[BaseException], ...],
    *args: Any,
    what: str,
    **kwargs: Any,
) -> Any:
    """Call ``fn`` and check that the learner's code raises ``exc`` (class names or classes).

    Returns the learner's error (a :class:`~pytorch_path.scenario.LearnerError`). A
    learner-facing failure if the call returns or raises something else.
    """
    from pytorch_path.scenario import LearnerError

    wanted = exc if isinstance(exc, tuple) else (exc,)
    names = tuple(e if isinstance(e, str) else e.__name__ for e in wanted)
    shown = " or ".join(names)
    try:
        fn(*args, **kwargs)
    except LearnerError as caught:
        if caught.kind != "raised" or caught.is_a("NotImplementedError"):
            raise  # the stub, a file that did not load, a missing name, a dead worker
        if caught.is_a(*names):
            return caught
        raise fail(f"{what}: expected {shown} to be raised, got {caught}") from None
    raise fail(f"{what}: expected {shown} to be raised, but the call returned normally")


# ----------------------------------------------------------------------------- shared kit


#: Default comparison tolerances per dtype (``rtol``, ``atol``).
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-7, 1e-10),
    torch.float32: (1e-5, 1e-6),
    torch.float16: (1e-3, 1e-3),
    torch.bfloat16: (1.6e-2, 1e-2),
}


def tolerance(
    dtype: torch.dtype = torch.float32, device: str | torch.device | None = None
) -> dict[str, float]:
    """``{"rtol": …, "atol": …}`` for comparing results of ``dtype`` computed on ``device``.

    Accelerators reorder reductions (and use TF32 on CUDA), so their float32 tolerance is
    wider than the CPU's. Use as ``assert_close(got, want, **tolerance(x.dtype, x.device))``.
    """
    rtol, atol = TOLERANCES.get(dtype, (0.0, 0.0))
    kind = torch.device(device).type if device is not None else "cpu"
    if kind in ("cuda", "mps") and dtype == torch.float32:
        rtol, atol = max(rtol, 1e-3), max(atol, 1e-4)
    return {"rtol": rtol, "atol": atol}


def assert_state_dict_close(
    actual: Any,
    expected: Mapping[str, Any],
    *,
    what: str = "the state dict",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    call: str | None = None,
) -> None:
    """Compare two state dicts: the same keys, then each tensor with :func:`assert_close`."""
    head = _prefix(what, call)
    if not isinstance(actual, Mapping):
        raise fail(f"{head} should be a dict of tensors (a state_dict), got {describe(actual)}")
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {sorted(map(str, missing))[:5]}")
        if extra:
            parts.append(f"unexpected {sorted(map(str, extra))[:5]}")
        raise fail(f"{head} has different keys: {'; '.join(parts)}")
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, _Tensor):
            assert_close(
                got, want, what=f"{what}[{key!r}]", rtol=rtol, atol=atol, call=call,
                check_device=False,
            )  # fmt: skip
        elif got != want:
            raise fail(f"{head}[{key!r}] is {got!r}, expected {want!r}")


def assert_unchanged(
    after: Any,
    before: Any,
    *,
    what: str = "the input",
    call: str | None = None,
    check_strides: bool = False,
    advice: str | None = None,
) -> None:
    """Check that an input came back from the learner's code as it was given (no in-place edit).

    ``after`` is the input as the scenario saw it once the learner's code returned; ``before``
    is the judge's own copy. ``check_strides`` also catches in-place layout changes
    (``transpose_``); ``advice`` replaces the default sentence after the semicolon.
    """
    if isinstance(before, Mapping):
        if isinstance(after, Mapping) and set(after) == set(before):
            for key in before:
                assert_unchanged(after[key], before[key], what=f"{what}[{key!r}]", call=call,
                                 check_strides=check_strides, advice=advice)  # fmt: skip
            return
        same = False
    elif isinstance(before, _Tensor):
        same = (
            isinstance(after, _Tensor)
            and after.shape == before.shape
            and after.dtype == before.dtype
            and (not check_strides or after.stride() == before.stride())
            and (
                after.device.type == "meta"
                or bool(
                    (after.detach().cpu() == before.detach().cpu()).all() | _both_nan(after, before)
                )
            )
        )
    else:
        same = after == before
    if not same:
        tail = advice or (
            "work on a copy (or build a new tensor) and leave the inputs as they were given"
        )
        raise fail(f"{_prefix(what, call)} was changed in place by your code; {tail}")


def _both_nan(a: torch.Tensor, b: torch.Tensor) -> Any:
    if not a.is_floating_point():
        return torch.zeros((), dtype=torch.bool)
    return (_isnan(a.detach().cpu()) & _isnan(b.detach().cpu())).all()


def name_the_mistake(
    got: Any,
    mistakes: Iterable[tuple[Any, str]],
    agree: Callable[[Any, Any], bool],
) -> str | None:
    r"""The advice of the first simulated mistake whose result ``agree``\s with ``got``.

    ``mistakes`` pairs what a known mistake produces (computed by the judge) with the
    sentence that names it; graders raise ``fail(f"{call}: {advice}")`` with the result.
    """
    for simulated, advice in mistakes:
        try:
            if agree(got, simulated):
                return advice
        except (TypeError, ValueError, RuntimeError, IndexError):
            continue
    return None


_OWN = {name: globals()[name] for name in ("assert_close", "assert_tensor", "CheckFailure", "fail")}


# ----------------------------------------------------------------------------- a simulated device


_DEVICE_GETTER = torch._C.TensorBase.__dict__["device"]
"""What ``tensor.device`` calls: the call :class:`SimulatedDevice` answers for far tensors."""


class SimulatedDevice(TorchFunctionMode):
    """Run learner code as if some tensors lived on a second device, simulated on the CPU.

    Computing on the real ``meta`` device imports ``torch._dynamo`` and sympy on first use
    (1-3 s), and a CPU-only machine has no other device, so graders check device placement
    with this mode: tensors marked *far* report device :data:`FAR` (``meta``) and really live
    on the CPU; a request for that device (``device="meta"``, ``.to("meta")``, ``.to(t)``
    with a far ``t``) is served on the CPU and its result marked far, as is everything
    computed from a far tensor unless it is moved to another device. An operation mixing a
    far tensor with a CPU tensor of one or more dims is recorded in :attr:`mixed` (a GPU would
    raise there); indexing with CPU index tensors and 0-dim CPU tensors are allowed, as on a
    GPU. Subclasses change what a far tensor reports (e.g. ``cuda:0``) or refuses.

    Use it inside a scenario: ``with SimulatedDevice([x]) as sim: out = fn(x)``, then
    ``sim.is_far(out)`` and ``sim.mixed``.
    """

    FAR = torch.device("meta")
    """The device a far tensor reports."""
    _INDEXING = frozenset({"__getitem__", "__setitem__", "index_put", "index_put_"})

    def __init__(self, far: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self._far: dict[int, torch.Tensor] = {}
        self.mixed: str | None = None
        """The first operation that mixed a far tensor with a CPU tensor (None if none)."""
        for t in far:
            self.mark(t)

    @staticmethod
    def names_far(value: Any) -> bool:
        """Whether ``value`` is a device (or its name) that means the simulated device."""
        try:
            return isinstance(value, (str, torch.device)) and torch.device(value).type == "meta"
        except (RuntimeError, TypeError):
            return False

    @staticmethod
    def names_device(value: Any) -> bool:
        """Whether ``value`` is a device or a device's name."""
        try:
            return isinstance(value, (str, torch.device)) and bool(torch.device(value).type)
        except (RuntimeError, TypeError):
            return False

    def mark(self, t: torch.Tensor) -> None:
        """Mark ``t`` as living on the simulated device."""
        self._far[id(t)] = t

    def is_far(self, t: Any) -> bool:
        """Whether ``t`` is a tensor on the simulated device."""
        return isinstance(t, torch.Tensor) and self._far.get(id(t)) is t

    def reads_far_device(self, func: Any, args: Sequence[Any]) -> bool:
        """Whether the call ``func(*args)`` reads the ``.device`` of a far tensor."""
        return getattr(func, "__self__", None) is _DEVICE_GETTER and self.is_far(args[0])

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        """Serve far requests on the CPU; mark the results; record mixing (see the class)."""
        kwargs = dict(kwargs or {})
        if getattr(func, "__self__", None) is _DEVICE_GETTER:
            return self.FAR if self.is_far(args[0]) else func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        wants_far = self.names_far(kwargs.get("device"))
        if wants_far:
            kwargs["device"] = "cpu"
        moved_near = False
        if name in ("to", "cpu") and args and isinstance(args[0], torch.Tensor):
            new_args = [args[0]]
            for a in args[1:]:
                if self.names_far(a):
                    wants_far, a = True, "cpu"
                elif self.names_device(a):
                    moved_near = True
                elif isinstance(a, torch.Tensor):
                    wants_far, moved_near = self.is_far(a), not self.is_far(a)
                new_args.append(a)
            args = tuple(new_args)
            moved_near = moved_near or name == "cpu" or ("device" in kwargs and not wants_far)
        inputs = list(_tensors_in(args)) + list(_tensors_in(kwargs))
        far_in = any(self.is_far(t) for t in inputs)
        near = [t for t in inputs if not self.is_far(t) and t.dim() > 0]
        mixing = far_in and near and name not in self._INDEXING and name not in ("to", "cpu")
        if mixing and self.mixed is None:
            self.mixed = name or repr(func)
        out = func(*args, **kwargs)
        if wants_far or (far_in and not moved_near):
            for t in _tensors_in(out):
                self.mark(t)
        return out


def _tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """The tensors in ``value`` and in the lists, tuples and dicts it nests."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors_in(item)


# ----------------------------------------------------------------------------- shuffled orders


def loader_orders(n: int, seed: int, epochs: int) -> list[list[int]]:
    """The order, epoch by epoch, in which a seeded shuffling DataLoader visits ``n`` samples.

    What ``DataLoader(dataset, shuffle=True, generator=torch.Generator().manual_seed(seed))``
    yields, iterated ``epochs`` times, as indices into ``dataset``: computed by the judge
    with its own DataLoader over ``range(n)``, so it follows torch's sampler (whose iterator
    also draws a base seed from the generator every epoch). The batch size does not change
    the order.
    """
    from torch.utils.data import DataLoader, TensorDataset

    indices: TensorDataset = TensorDataset(torch.arange(n))
    loader: DataLoader[tuple[torch.Tensor, ...]] = DataLoader(
        indices, batch_size=max(n, 1), shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    return [[int(i) for (batch,) in loader for i in batch] for _ in range(epochs)]
