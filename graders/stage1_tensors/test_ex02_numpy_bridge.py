"""Grader for 1.2: the NumPy bridge (shared memory and safe copies)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch

from pytorch_path.checks import assert_close, assert_tensor, call_repr, describe, fail

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


def _arrays(seed: Any, count: int) -> list[tuple[np.ndarray, str]]:
    """Random arrays (float64 first), some of them non-contiguous views, with a description."""
    rng = seed.python_random()
    gen = np.random.default_rng(seed.value)
    out = []
    for index in range(count):
        dtype = np.float64 if index == 0 else rng.choice(NP_DTYPES)
        kind = ["plain", "transposed", "strided"][index % 3] if index else "plain"
        ndim = rng.randint(2, 3) if kind != "plain" else rng.randint(1, 3)
        shape = _sizes(rng, ndim)
        if kind == "transposed":
            arr = _fill(gen, shape[::-1], dtype).T
            note = " (a transposed view, arr = base.T)"
        elif kind == "strided":
            arr = _fill(gen, (*shape[:-1], 2 * shape[-1]), dtype)[..., ::2]
            note = " (a strided view, arr = base[..., ::2])"
        else:
            arr = _fill(gen, shape, dtype)
            note = ""
        out.append((arr, f"with arr: {describe(arr)}{note}"))
    return out


def _tensor(seed: Any, device: torch.device, index: int) -> torch.Tensor:
    """A random tensor; the first two are float tensors that require grad (a leaf, a non-leaf)."""
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
        if not leaf:
            t = t * 1.0
    return t


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


def _check_tensor_from(out: Any, expected: torch.Tensor, arr: np.ndarray, call: str) -> None:
    """The tensor made from ``arr``: type, shape, dtype (with advice), CPU, values."""
    assert_tensor(out, shape=tuple(expected.shape), finite=False, call=call)
    if out.dtype != expected.dtype:
        raise fail(
            f"{call}; the result has dtype {out.dtype}, expected {expected.dtype} to match the "
            f"array's {arr.dtype}; torch.Tensor(arr), torch.FloatTensor and .float() always make "
            "float32, while torch.from_numpy and torch.tensor keep the array's dtype"
        )
    assert_close(out, expected, rtol=0, atol=0, call=call)


def _check_array(out: Any, expected: np.ndarray, call: str) -> np.ndarray:
    """An ndarray with the expected shape, dtype and values."""
    if type(out) is not np.ndarray:
        advice = ""
        if isinstance(out, torch.Tensor):
            advice = "; convert it with .numpy() (a tensor is not a NumPy array)"
        elif isinstance(out, (list, tuple)):
            advice = "; .tolist() gives Python lists, .numpy() gives an array"
        elif isinstance(out, (int, float, bool)):
            advice = "; .item() gives one Python number, .numpy() gives an array"
        elif out is None:
            advice = "; did you forget a return statement?"
        raise fail(f"{call}; the result should be a numpy.ndarray, got {describe(out)}{advice}")
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


def _check_untouched(t: torch.Tensor, before: torch.Tensor, grad: bool, call: str) -> None:
    """The input tensor keeps its values, requires_grad and device."""
    if t.requires_grad != grad:
        raise fail(
            f"{call}; afterwards t.requires_grad is {t.requires_grad}, it was {grad}: the "
            "function changed its input. .detach() gives a new tensor without touching t"
        )
    if t.device != before.device or not torch.equal(t.detach(), before):
        raise fail(f"{call}; the function changed the values or the device of its input t")


# ----------------------------------------------------------------------------- tensors from arrays


def test_share_from_numpy_shares_memory(learner, reference, seed):
    """share_from_numpy keeps shape and dtype, and shares memory with the array both ways."""
    rng = seed.python_random(1)
    for arr, where in _arrays(seed, 6):
        expected = reference.share_from_numpy(arr.copy())
        before = arr.copy()
        call = f"called share_from_numpy(arr) {where}"
        out = learner.share_from_numpy(arr)
        if not np.array_equal(arr, before):
            raise fail(f"{call}; the call changed arr; it must only wrap it")
        _check_tensor_from(out, expected, arr, call)
        idx = _index(rng, arr.shape)
        new = _fresh(arr[idx].item())
        arr[idx] = new
        if out[idx].item() != new:
            raise fail(
                f"{call}; the result does not share memory with arr: after arr{_at(idx)} = "
                f"{new!r}, result{_at(idx)} is still {out[idx].item()!r}. torch.tensor(arr), "
                "torch.Tensor(arr) and np.ascontiguousarray copy; wrap the array's own buffer "
                "instead"
            )
        idx = _index(rng, arr.shape)
        new = _fresh(arr[idx].item())
        out[idx] = new
        if arr[idx].item() != new:
            raise fail(
                f"{call}; the result does not share memory with arr: after result{_at(idx)} = "
                f"{new!r}, arr{_at(idx)} is still {arr[idx].item()!r}"
            )


def test_copy_from_numpy_is_independent(learner, reference, seed):
    """copy_from_numpy keeps shape and dtype, and owns its memory: later writes do not leak."""
    rng = seed.python_random(2)
    for arr, where in _arrays(seed, 6):
        expected = reference.copy_from_numpy(arr.copy())
        before = arr.copy()
        call = f"called copy_from_numpy(arr) {where}"
        out = learner.copy_from_numpy(arr)
        if not np.array_equal(arr, before):
            raise fail(f"{call}; the call changed arr; it must only read it")
        _check_tensor_from(out, expected, arr, call)
        idx = _index(rng, arr.shape)
        old = out[idx].item()
        new = _fresh(arr[idx].item())
        arr[idx] = new
        if out[idx].item() != old:
            raise fail(
                f"{call}; the result is not independent, it shares memory with arr: after "
                f"arr{_at(idx)} = {new!r}, result{_at(idx)} changed from {old!r} to "
                f"{out[idx].item()!r}. torch.from_numpy and torch.as_tensor share the array's "
                "memory; make an independent copy"
            )
        idx = _index(rng, arr.shape)
        old = arr[idx].item()
        out[idx] = _fresh(out[idx].item())
        if arr[idx].item() != old:
            raise fail(
                f"{call}; the result is not independent, it shares memory with arr: writing "
                f"result{_at(idx)} changed arr{_at(idx)} from {old!r} to {arr[idx].item()!r}"
            )


# ----------------------------------------------------------------------------- arrays from tensors


def test_to_numpy_values(learner, reference, device, seed):
    """to_numpy returns an np.ndarray with t's shape, dtype and values, even if t requires grad."""
    for index in range(6):
        t = _tensor(seed, device, index)
        before = t.detach().clone()
        grad = t.requires_grad
        expected = reference.to_numpy(before.clone())
        call = call_repr("to_numpy", t)
        out = learner.to_numpy(t)
        _check_array(out, expected, call)
        _check_untouched(t, before, grad, call)


def test_to_numpy_requires_grad(learner, reference, device, seed):
    """to_numpy works on a tensor that requires grad, and leaves it requiring grad."""
    for index in range(2):
        t = _tensor(seed, device, index)
        before = t.detach().clone()
        expected = reference.to_numpy(before.clone())
        call = call_repr("to_numpy", t)
        out = learner.to_numpy(t)
        _check_array(out, expected, call)
        _check_untouched(t, before, True, call)
        if t.grad is not None:
            raise fail(f"{call}; afterwards t.grad is set; converting must not run backward")


def test_to_numpy_is_independent(learner, device, seed):
    """The array from to_numpy is a copy: writing to it, or to t later, changes only that one."""
    rng = seed.python_random(3)
    for index in range(5):
        t = _tensor(seed, device, index)
        before = t.detach().clone()
        call = call_repr("to_numpy", t)
        out = learner.to_numpy(t)
        _check_array(out, before.cpu().numpy(), call)
        if not out.flags.writeable:
            raise fail(
                f"{call}; the returned array is read-only; return an independent, writable copy"
            )
        idx = _index(rng, tuple(t.shape))
        new = _fresh(out[idx].item())
        out[idx] = new
        if t.detach()[idx].item() != before[idx].item():
            raise fail(
                f"{call}; the array is not independent: after array{_at(idx)} = {new!r}, "
                f"t{_at(idx)} changed from {before[idx].item()!r} to {t.detach()[idx].item()!r}. "
                "On the CPU, t.numpy() and t.detach().numpy() share t's memory; return an "
                "independent copy"
            )
        idx = _index(rng, tuple(t.shape))
        old = out[idx].item()
        t.detach()[idx] = _fresh(t.detach()[idx].item())
        if out[idx].item() != old:
            raise fail(
                f"{call}; the array is not independent: writing t{_at(idx)} afterwards changed "
                f"array{_at(idx)} from {old!r} to {out[idx].item()!r}; return an independent copy"
            )


def test_numpy_view_of_shares_memory(learner, reference, seed):
    """numpy_view_of returns an np.ndarray sharing memory with the CPU tensor, both ways."""
    rng = seed.python_random(4)
    for index in range(5):
        t = _tensor(seed, torch.device("cpu"), index)
        if index == 2:
            t = t.detach().T if t.dim() > 1 else t.detach()[::2]
        before = t.detach().clone()
        expected = reference.numpy_view_of(before.clone())
        grad = t.requires_grad
        call = call_repr("numpy_view_of", t)
        if index == 2:
            call += " (t is a non-contiguous view)"
        out = learner.numpy_view_of(t)
        _check_array(out, expected, call)
        _check_untouched(t, before, grad, call)
        idx = _index(rng, tuple(t.shape))
        new = _fresh(out[idx].item())
        t.detach()[idx] = new
        if out[idx].item() != new:
            raise fail(
                f"{call}; the array does not share memory with t: after t{_at(idx)} = {new!r}, "
                f"array{_at(idx)} is still {out[idx].item()!r}. .clone(), .contiguous(), "
                "np.array() and .copy() make copies; take NumPy's view of t's own memory"
            )
        if not out.flags.writeable:
            raise fail(f"{call}; the returned array is read-only; NumPy's view of t is writable")
        idx = _index(rng, tuple(t.shape))
        new = _fresh(out[idx].item())
        out[idx] = new
        if t.detach()[idx].item() != new:
            raise fail(
                f"{call}; the array does not share memory with t: after array{_at(idx)} = {new!r}, "
                f"t{_at(idx)} is still {t.detach()[idx].item()!r}"
            )
