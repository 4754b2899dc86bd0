"""Grader for 1.2: the NumPy bridge (shared memory and safe copies).

Memory sharing is observed inside a scenario: it writes to one side (the array or the
tensor) at indices and values the test chose, and reads the other side back. Those reads
are observations; every test also compares the result's values, taken right after the
call, with the reference's or the test's own. ``to_numpy`` on a GPU tensor is checked with
a second device simulated on the CPU (``pytorch_path.checks.SimulatedDevice``), where NumPy
refuses the tensor as it refuses a CUDA one.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch

from pytorch_path.checks import (
    SimulatedDevice,
    assert_close,
    assert_tensor,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import Opaque, scenario

NP_DTYPES = [np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_, np.float16]
TORCH_DTYPES = [
    torch.float64,
    torch.float32,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.bool,
    torch.float16,
]


# ----------------------------------------------------------------------------- tensors from arrays


def test_share_from_numpy_shares_memory(learner, reference, seed):
    """share_from_numpy keeps shape and dtype, and shares memory with the array both ways."""
    rng = seed.python_random(1)
    for base, kind, where in _arrays(seed, 6):
        arr = _array_view(base, kind)
        call = f"called share_from_numpy(arr) {where}"
        # Write arr[i] = a, read result[i]; then write result[j] = b, read arr[j].
        mirror = arr.copy()
        i = _index(rng, arr.shape)
        a = _fresh(mirror[i].item())
        mirror[i] = a
        j = _index(rng, arr.shape)
        b = _fresh(mirror[j].item())
        writes = [("arr", i, a), ("result", j, b)]
        expected = reference.run(tensor_from_array, "share_from_numpy", base, kind, writes)
        got = learner.run(tensor_from_array, "share_from_numpy", base, kind, writes)
        if got["arr_changed"]:
            raise fail(f"{call}; the call changed arr; it must only wrap it")
        _check_tensor_from(got["out"], expected["out"], arr, call)
        reads = _reads(got, 2, call)
        if reads[0] != a:
            raise fail(
                f"{call}; the result does not share memory with arr: after arr{_at(i)} = "
                f"{a!r}, result{_at(i)} is still {reads[0]!r}. torch.tensor(arr), "
                "torch.Tensor(arr) and np.ascontiguousarray copy; wrap the array's own buffer "
                "instead"
            )
        if reads[1] != b:
            raise fail(
                f"{call}; the result does not share memory with arr: after result{_at(j)} = "
                f"{b!r}, arr{_at(j)} is still {reads[1]!r}"
            )


def test_copy_from_numpy_is_independent(learner, reference, seed):
    """copy_from_numpy keeps shape and dtype, and owns its memory: later writes do not leak."""
    rng = seed.python_random(2)
    for base, kind, where in _arrays(seed, 6):
        arr = _array_view(base, kind)
        call = f"called copy_from_numpy(arr) {where}"
        # Write arr[i] = a, read result[i]; then write result[j] = b, read arr[j].
        mirror = arr.copy()
        i = _index(rng, arr.shape)
        a = _fresh(mirror[i].item())
        mirror[i] = a
        j = _index(rng, arr.shape)
        b = _fresh(mirror[j].item())
        writes = [("arr", i, a), ("result", j, b)]
        expected = reference.run(tensor_from_array, "copy_from_numpy", base, kind, writes)
        got = learner.run(tensor_from_array, "copy_from_numpy", base, kind, writes)
        if got["arr_changed"]:
            raise fail(f"{call}; the call changed arr; it must only read it")
        _check_tensor_from(got["out"], expected["out"], arr, call)
        reads = _reads(got, 2, call)
        old = arr[i].item()  # the copy keeps the value arr had when it was made
        if reads[0] != old:
            raise fail(
                f"{call}; the result is not independent, it shares memory with arr: after "
                f"arr{_at(i)} = {a!r}, result{_at(i)} changed from {old!r} to "
                f"{reads[0]!r}. torch.from_numpy and torch.as_tensor share the array's "
                "memory; make an independent copy"
            )
        old = mirror[j].item()
        if reads[1] != old:
            raise fail(
                f"{call}; the result is not independent, it shares memory with arr: writing "
                f"result{_at(j)} changed arr{_at(j)} from {old!r} to {reads[1]!r}"
            )


# ----------------------------------------------------------------------------- arrays from tensors


def test_to_numpy_values(learner, reference, device, seed):
    """to_numpy returns an np.ndarray with t's shape, dtype and values, even if t requires grad."""
    for index in range(6):
        t, leaf = _tensor(seed, device, index)
        call = call_repr("to_numpy", t)
        expected = reference.run(array_from_tensor, "to_numpy", t, leaf=leaf)
        got = learner.run(array_from_tensor, "to_numpy", t, leaf=leaf)
        _check_array(got, expected["out"], call)
        _check_untouched(got, t, call)


def test_to_numpy_requires_grad(learner, reference, device, seed):
    """to_numpy works on a tensor that requires grad, and leaves it requiring grad."""
    for index in range(2):
        t, leaf = _tensor(seed, device, index)
        call = call_repr("to_numpy", t)
        expected = reference.run(array_from_tensor, "to_numpy", t, leaf=leaf)
        got = learner.run(array_from_tensor, "to_numpy", t, leaf=leaf)
        _check_array(got, expected["out"], call)
        _check_untouched(got, t, call)
        if got["grad_set"]:
            raise fail(f"{call}; afterwards t.grad is set; converting must not run backward")


def test_to_numpy_from_another_device(learner, reference, seed):
    """to_numpy works on a tensor in device memory (a simulated GPU): it comes to the CPU first."""
    for index in range(2):
        t, leaf = _tensor(seed, torch.device("cpu"), index)
        call = call_repr("to_numpy", t).replace("on cpu", "on meta")
        call += " (t in device memory, as on a GPU; the device is simulated)"
        got = learner.run(to_numpy_far, t, leaf=leaf)
        if got["refused"] is not None:
            raise fail(
                f"{call} raised TypeError: {got['refused']} NumPy arrays live in host memory, so "
                "a tensor on a GPU must come to the CPU first: call .cpu() (after .detach()) "
                "before .numpy()"
            )
        expected = reference.run(to_numpy_far, t, leaf=leaf)
        _check_array(got, expected["out"], call)
        _check_array(got, t.detach().numpy(), call)  # the judge's own values of t


def test_to_numpy_is_independent(learner, device, seed):
    """The array from to_numpy is a copy: writing to it, or to t later, changes only that one."""
    rng = seed.python_random(3)
    for index in range(5):
        t, leaf = _tensor(seed, device, index)
        before = t.detach().cpu()
        call = call_repr("to_numpy", t)
        # Write array[i] = a, read t[i]; then write t[j] = b, read array[j].
        mirror = before.numpy().copy()
        i = _index(rng, tuple(t.shape))
        a = _fresh(mirror[i].item())
        mirror[i] = a
        j = _index(rng, tuple(t.shape))
        b = _fresh(before[j].item())
        writes = [("array", i, a), ("t", j, b)]
        got = learner.run(array_from_tensor, "to_numpy", t, leaf=leaf, writes=writes)
        _check_array(got, before.numpy(), call)  # the judge's own copy of t's values
        if not got["writeable"]:
            raise fail(
                f"{call}; the returned array is read-only; return an independent, writable copy"
            )
        reads = _reads(got, 2, call)
        if reads[0] != before[i].item():
            raise fail(
                f"{call}; the array is not independent: after array{_at(i)} = {a!r}, "
                f"t{_at(i)} changed from {before[i].item()!r} to {reads[0]!r}. "
                "On the CPU, t.numpy() and t.detach().numpy() share t's memory; return an "
                "independent copy"
            )
        old = mirror[j].item()
        if reads[1] != old:
            raise fail(
                f"{call}; the array is not independent: writing t{_at(j)} afterwards changed "
                f"array{_at(j)} from {old!r} to {reads[1]!r}; return an independent copy"
            )


def test_numpy_view_of_shares_memory(learner, reference, seed):
    """numpy_view_of returns an np.ndarray sharing memory with the CPU tensor, both ways."""
    rng = seed.python_random(4)
    for index in range(5):
        t, leaf = _tensor(seed, torch.device("cpu"), index)
        view = index == 2
        shown = _tensor_view(t, leaf, view)
        before = shown.detach().clone()
        call = call_repr("numpy_view_of", shown)
        if view:
            call += " (t is a non-contiguous view)"
        # Write t[i] = a, read array[i]; then write array[j] = b, read t[j].
        mirror = before.numpy().copy()
        i = _index(rng, tuple(shown.shape))
        a = _fresh(mirror[i].item())
        mirror[i] = a
        j = _index(rng, tuple(shown.shape))
        b = _fresh(mirror[j].item())
        writes = [("t", i, a), ("array", j, b)]
        args = ("numpy_view_of", t)
        expected = reference.run(array_from_tensor, *args, leaf=leaf, view=view, writes=writes)
        got = learner.run(array_from_tensor, *args, leaf=leaf, view=view, writes=writes)
        _check_array(got, expected["out"], call)
        _check_untouched(got, shown, call)
        reads = _reads(got, 1, call)
        if reads[0] != a:
            raise fail(
                f"{call}; the array does not share memory with t: after t{_at(i)} = {a!r}, "
                f"array{_at(i)} is still {reads[0]!r}. .clone(), .contiguous(), "
                "np.array() and .copy() make copies; take NumPy's view of t's own memory"
            )
        if not got["writeable"]:
            raise fail(f"{call}; the returned array is read-only; NumPy's view of t is writable")
        reads = _reads(got, 2, call)
        if reads[1] != b:
            raise fail(
                f"{call}; the array does not share memory with t: after array{_at(j)} = {b!r}, "
                f"t{_at(j)} is still {reads[1]!r}"
            )


# ----------------------------------------------------------------------------- scenarios


@scenario
def tensor_from_array(
    mod: Any, fn: str, base: np.ndarray, kind: str, writes: list[tuple[str, tuple, Any]]
) -> dict[str, Any]:
    """``fn(arr)`` on ``arr``, a view of ``base``; then each write and the other side's read.

    A write ``("arr", i, v)`` sets ``arr[i] = v`` and reads ``result[i]``; ``("result", i,
    v)`` sets ``result[i] = v`` and reads ``arr[i]``. ``out`` is the result as returned,
    before any write.
    """
    arr = _array_view(base, kind)
    before = arr.copy()
    out = getattr(mod, fn)(arr)
    report: dict[str, Any] = {
        "out": _snapshot(out),
        "arr_changed": not np.array_equal(arr, before),
        "reads": [],
        "error": None,
    }
    if isinstance(out, torch.Tensor) and tuple(out.shape) == arr.shape:
        try:
            for side, idx, value in writes:
                if side == "arr":
                    arr[idx] = value
                    report["reads"].append(out[idx].item())
                else:
                    out[idx] = value
                    report["reads"].append(arr[idx].item())
        except Exception as exc:  # e.g. a read-only result
            report["error"] = f"{type(exc).__name__}: {exc}"
    return report


@scenario
def array_from_tensor(
    mod: Any,
    fn: str,
    t: torch.Tensor,
    *,
    leaf: bool,
    view: bool = False,
    writes: list[tuple[str, tuple, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """``fn(t)``; t's state right after; then each write and the other side's read.

    ``t`` arrives as a leaf; ``leaf=False`` makes it an intermediate (``t * 1.0``) and
    ``view=True`` a non-contiguous view. A write ``("array", i, v)`` sets ``array[i] = v``
    and reads ``t[i]``; ``("t", i, v)`` sets ``t[i] = v`` and reads ``array[i]``.
    """
    given = t
    t = _tensor_view(t, leaf, view)
    out = getattr(mod, fn)(t)
    report: dict[str, Any] = {
        "out": _snapshot(out),
        "out_type": f"{type(out).__module__}.{type(out).__qualname__}",
        "writeable": bool(out.flags.writeable) if isinstance(out, np.ndarray) else None,
        "t_after": t.detach().clone(),
        "t_requires_grad": t.requires_grad,
        "grad_set": given.grad is not None,
        "reads": [],
        "error": None,
    }
    if isinstance(out, np.ndarray) and out.shape == tuple(t.shape):
        try:
            for side, idx, value in writes:
                if side == "array":
                    out[idx] = value
                    report["reads"].append(t.detach()[idx].item())
                else:
                    t.detach()[idx] = value
                    report["reads"].append(out[idx].item())
        except Exception as exc:  # e.g. a read-only array
            report["error"] = f"{type(exc).__name__}: {exc}"
    return report


@scenario
def to_numpy_far(mod: Any, t: torch.Tensor, *, leaf: bool) -> dict[str, Any]:
    """to_numpy(t) with t on a simulated device; whether NumPy refused it, as for a GPU tensor."""
    t = _tensor_view(t, leaf, False)
    report: dict[str, Any] = {"out": None, "out_type": "", "refused": None}
    with _SimulatedGPU([t]):
        try:
            out = mod.to_numpy(t)
        except TypeError as exc:
            if _REFUSAL not in str(exc):
                raise
            report["refused"] = str(exc)
            return report
    report["out"] = _snapshot(out)
    report["out_type"] = f"{type(out).__module__}.{type(out).__qualname__}"
    return report


# ----------------------------------------------------------------------------- inputs


def _sizes(rng: random.Random, ndim: int) -> tuple[int, ...]:
    """Distinct sizes between 2 and 7, so that mixed-up dims show."""
    return tuple(rng.sample(range(2, 8), ndim))


def _fill(gen: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    if dtype is np.bool_:
        return gen.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return gen.integers(0, 100, shape).astype(dtype)
    return gen.standard_normal(shape).astype(dtype)


def _arrays(seed: Any, count: int) -> list[tuple[np.ndarray, str, str]]:
    """(base, kind, description): random arrays (float64 first), some of them views of base."""
    rng = seed.python_random()
    gen = np.random.default_rng(seed.value)
    out = []
    for index in range(count):
        dtype = np.float64 if index == 0 else rng.choice(NP_DTYPES)
        kind = ["plain", "transposed", "strided"][index % 3] if index else "plain"
        ndim = rng.randint(2, 3) if kind != "plain" else rng.randint(1, 3)
        shape = _sizes(rng, ndim)
        if kind == "transposed":
            base = _fill(gen, shape[::-1], dtype)
            note = " (a transposed view, arr = base.T)"
        elif kind == "strided":
            base = _fill(gen, (*shape[:-1], 2 * shape[-1]), dtype)
            note = " (a strided view, arr = base[..., ::2])"
        else:
            base = _fill(gen, shape, dtype)
            note = ""
        out.append((base, kind, f"with arr: {describe(_array_view(base, kind))}{note}"))
    return out


def _array_view(base: np.ndarray, kind: str) -> np.ndarray:
    """The array the learner is given: ``base`` itself, ``base.T`` or ``base[..., ::2]``."""
    if kind == "transposed":
        return base.T
    if kind == "strided":
        return base[..., ::2]
    return base


def _tensor(seed: Any, device: torch.device, index: int) -> tuple[torch.Tensor, bool]:
    """A random leaf tensor and whether it stays a leaf (the first two require grad)."""
    rng = seed.python_random(index)
    if index == 0:
        dtype, grad, leaf = torch.float64, True, True
    elif index == 1:
        dtype, grad, leaf = torch.float32, True, False
    else:
        dtype = rng.choice(TORCH_DTYPES)
        grad = dtype.is_floating_point and rng.random() < 0.5
        leaf = rng.random() < 0.5
    if device.type == "mps" and dtype == torch.float64:
        dtype = torch.float32  # MPS has no float64
    shape = _sizes(rng, rng.randint(1, 3))
    if dtype == torch.bool:
        t = seed.rand(*shape, offset=index) < 0.5
    elif dtype.is_floating_point:
        t = seed.randn(*shape, offset=index).to(dtype)
    else:
        t = seed.randint(0, 100, shape, offset=index).to(dtype)
    t = t.to(device)
    if grad:
        t.requires_grad_(True)
    return t, leaf or not grad


def _tensor_view(t: torch.Tensor, leaf: bool, view: bool) -> torch.Tensor:
    """The tensor the learner is given: ``t``, an intermediate ``t * 1.0``, or a view."""
    if view:
        return t.detach().T if t.dim() > 1 else t.detach()[::2]
    if not leaf:
        return t * 1.0
    return t


def _snapshot(out: Any) -> Any:
    """The result as returned, copied so that later writes do not show in it."""
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, np.ndarray):
        return out.copy()
    return out


def _index(rng: random.Random, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(rng.randrange(size) for size in shape)


def _at(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, idx)) + "]"


def _fresh(value: Any) -> Any:
    """A value of the same kind that differs from ``value`` (exact in float16 too)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return (value + 37) % 100
    return math.floor(value) + 2.5


# ----------------------------------------------------------------------------- checks


def _reads(got: dict[str, Any], count: int, call: str) -> list[Any]:
    """The first ``count`` reads the scenario made, or a failure saying why a write failed."""
    reads = list(got["reads"])
    if len(reads) < count:
        why = got["error"] or "the result could not be indexed like the input"
        raise fail(f"{call}; writing to the result failed ({why})")
    return reads


def _check_tensor_from(out: Any, expected: torch.Tensor, arr: np.ndarray, call: str) -> None:
    """The tensor made from ``arr``: type, shape, dtype (with advice), CPU, values."""
    if isinstance(out, Opaque):
        raise fail(f"{call}; the result should be a torch.Tensor, got {describe(out)}")
    assert_tensor(out, shape=tuple(expected.shape), finite=False, call=call)
    if out.dtype != expected.dtype:
        raise fail(
            f"{call}; the result has dtype {out.dtype}, expected {expected.dtype} to match the "
            f"array's {arr.dtype}; torch.Tensor(arr), torch.FloatTensor and .float() always make "
            "float32, while torch.from_numpy and torch.tensor keep the array's dtype"
        )
    assert_close(out, expected, rtol=0, atol=0, call=call)


def _check_array(got: dict[str, Any], expected: np.ndarray, call: str) -> np.ndarray:
    """An ndarray with the expected shape, dtype and values (as returned, before any write)."""
    out = got["out"]
    if type(out) is not np.ndarray or got["out_type"] != "numpy.ndarray":
        advice = ""
        if isinstance(out, torch.Tensor):
            advice = "; convert it with .numpy() (a tensor is not a NumPy array)"
        elif isinstance(out, (list, tuple)):
            advice = "; .tolist() gives Python lists, .numpy() gives an array"
        elif isinstance(out, (int, float, bool)):
            advice = "; .item() gives one Python number, .numpy() gives an array"
        elif out is None:
            advice = "; did you forget a return statement?"
        shown = describe(out) if type(out) is not np.ndarray else f"a {got['out_type']}"
        raise fail(f"{call}; the result should be a numpy.ndarray, got {shown}{advice}")
    if out.shape != expected.shape:
        raise fail(f"{call}; the array has shape {out.shape}, expected {expected.shape}")
    if out.dtype != expected.dtype:
        raise fail(
            f"{call}; the array has dtype {out.dtype}, expected {expected.dtype} (the tensor's "
            "dtype has a NumPy twin; keep it, do not cast)"
        )
    if not np.array_equal(out, expected):
        wrong = int(np.sum(out != expected))
        raise fail(
            f"{call}; the array has wrong values: {wrong} of {expected.size} elements differ "
            "from the tensor's"
        )
    return out


def _check_untouched(got: dict[str, Any], t: torch.Tensor, call: str) -> None:
    """The input tensor keeps its values, requires_grad and device (as the judge gave it)."""
    grad = t.requires_grad
    if got["t_requires_grad"] != grad:
        raise fail(
            f"{call}; afterwards t.requires_grad is {got['t_requires_grad']}, it was {grad}: the "
            "function changed its input. .detach() gives a new tensor without touching t"
        )
    after = got["t_after"]
    if after.device != t.device or not torch.equal(after.cpu(), t.detach().cpu()):
        raise fail(f"{call}; the function changed the values or the device of its input t")


# ----------------------------------------------------------------------------- a simulated device
# A tensor in GPU memory is simulated on the CPU, with pytorch_path.checks.SimulatedDevice:
# tensors marked "far" report device 'meta' and really live on the CPU; everything computed
# from a far tensor is far too, unless it is moved to another device (.cpu(), .to('cpu')).
# _SimulatedGPU adds what CUDA does: NumPy refuses a far tensor (.numpy() without force=True,
# np.asarray, np.array), with the message a CUDA tensor gets.

_REFUSAL = "Use Tensor.cpu() to copy the tensor to host memory first"


class _SimulatedGPU(SimulatedDevice):
    """A simulated device whose tensors NumPy refuses, as it refuses a CUDA tensor."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        refused = name == "__array__" or (name == "numpy" and not (kwargs or {}).get("force"))
        if refused and args and self.is_far(args[0]):
            raise TypeError(f"can't convert meta device type tensor to numpy. {_REFUSAL}.")
        out = super().__torch_function__(func, types, args, kwargs)
        if args and out is args[0] and self.is_far(out) and _to_cpu(name, args, kwargs):
            return out.clone()  # a CPU tensor's .cpu() is itself; a GPU tensor's is a copy
        return out


def _to_cpu(name: str, args: Any, kwargs: Any) -> bool:
    """Whether a call is ``.cpu()``, or ``.to(...)`` naming a device other than the far one."""
    if name == "cpu":
        return True
    targets = [*args[1:], (kwargs or {}).get("device")]
    return name == "to" and any(
        SimulatedDevice.names_device(a) and not SimulatedDevice.names_far(a) for a in targets
    )
