"""Grader for 1.7: view, reshape, permute and contiguity.

Inputs hold all-different values, so any element out of place shows; every result is
compared exactly with the reference solution's on the same input. The wire keeps a tensor's
strides, so a non-contiguous input reaches the learner's code as one; each scenario also
returns the input as it was afterwards, to catch in-place changes of its values, shape or
strides.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from typing import Any

import torch

from pytorch_path.checks import assert_close, assert_tensor, call_repr, fail
from pytorch_path.scenario import call_by_name, scenario

DTYPES = [torch.float32, torch.int64, torch.float64]
EXACT = {"rtol": 0.0, "atol": 0.0}


# ----------------------------------------------------------------------------- tests


def test_to_channels_last_values(learner, reference, device, seed):
    """to_channels_last moves the channel dim to the end: out[n, h, w, c] == x[n, c, h, w]."""
    rng = seed.python_random()
    for index in range(4):
        n, c, h, w = _sizes(rng, 4)
        dtype = DTYPES[index % len(DTYPES)]
        if index == 3:  # a non-contiguous input: the transpose of a (N, C, W, H) batch
            x = _data(seed, (n, c, w, h), dtype, device, offset=index).transpose(2, 3)
        else:
            x = _data(seed, (n, c, h, w), dtype, device, offset=index)
        want = reference.to_channels_last(x)
        call = call_repr("to_channels_last", x)
        got = learner.run(to_channels_last, x)
        out = got["out"]
        _check_tensor(out, want, call)
        if not _same(out, want) and _same(out, x.reshape(n, h, w, c)):
            raise fail(
                f"{call}; the shape is right but the values are x.reshape(N, H, W, C): reshape "
                "keeps the elements in their old order and only re-cuts it, so channels and "
                "pixels get mixed. Moving a dim needs permute"
            )
        assert_close(out, want, call=call, **EXACT)
        _unchanged("x", x, got["x_after"], call)


def test_flatten_features_contiguous(learner, reference, device, seed):
    """flatten_features turns (N, d1, d2, ...) into (N, d1*d2*...) for any number of dims."""
    for x in _flatten_cases(seed, device, contiguous=True):
        _check_flatten(learner, reference, x)


def test_flatten_features_non_contiguous(learner, reference, device, seed):
    """flatten_features also works on non-contiguous inputs (after permute, transpose, slicing)."""
    for x in _flatten_cases(seed, device, contiguous=False):
        if x.is_contiguous():
            raise fail("grader error: this input should be non-contiguous")
        _check_flatten(learner, reference, x)


def test_split_heads_values(learner, reference, device, seed):
    """split_heads(x, H) gives out[b, h, t, k] == x[b, t, h * Dh + k], shape (B, H, T, Dh)."""
    rng = seed.python_random(3)
    for index in range(4):
        b, t, h, dh = _heads_config(rng)
        dtype = DTYPES[index % len(DTYPES)]
        x = _data(seed, (b, t, h * dh), dtype, device, offset=100 + index)
        want = reference.split_heads(x, h)
        call = call_repr("split_heads", x, h)
        got = learner.run(split_heads, x, h)
        out = got["out"]
        _check_tensor(out, want, call)
        if not _same(out, want):
            if _same(out, x.reshape(b, h, t, dh)):
                raise fail(
                    f"{call}; the shape is right but the values are x.view(B, H, T, Dh), which "
                    "re-cuts the memory so that a 'head' mixes features of different positions. "
                    "Split D into (H, Dh) first (shape (B, T, H, Dh)), then swap dims 1 and 2"
                )
            if _same(out, x.reshape(b, t, dh, h).permute(0, 3, 1, 2)):
                raise fail(
                    f"{call}; the values split D as (Dh, H): head h should own the consecutive "
                    "features h*Dh to (h+1)*Dh - 1, so view the last dim as (H, Dh)"
                )
        assert_close(out, want, call=call, **EXACT)
        _unchanged("x", x, got["x_after"], call)


def test_merge_heads_after_split(learner, reference, device, seed):
    """merge_heads gives out[b, t, h*Dh + k] == x[b, h, t, k] on split_heads' transposed view."""
    rng = seed.python_random(4)
    for index in range(4):
        b, t, h, dh = _heads_config(rng)
        dtype = DTYPES[index % len(DTYPES)]
        y = _data(seed, (b, t, h * dh), dtype, device, offset=200 + index)
        x = reference.split_heads(y, h)
        if x.is_contiguous():
            raise fail("grader error: split_heads' output should be non-contiguous")
        _check_merge(learner, reference, x, " (a non-contiguous view, as split_heads returns)")
        out = learner.merge_heads(x)
        assert_close(out, y, what="merge_heads(split_heads(y, H))", **EXACT)


def test_merge_heads_contiguous(learner, reference, device, seed):
    """merge_heads works on a contiguous (B, H, T, Dh) input, like the output of attn @ v."""
    rng = seed.python_random(5)
    for index in range(3):
        b, t, h, dh = _heads_config(rng)
        dtype = DTYPES[index % len(DTYPES)]
        x = _data(seed, (b, h, t, dh), dtype, device, offset=300 + index)
        _check_merge(learner, reference, x)


def test_split_merge_round_trip(learner, device, seed):
    """merge_heads(split_heads(y, H)) == y and split_heads(merge_heads(z), H) == z."""
    rng = seed.python_random(6)
    for index in range(3):
        b, t, h, dh = _heads_config(rng)
        dtype = DTYPES[index % len(DTYPES)]
        y = _data(seed, (b, t, h * dh), dtype, device, offset=400 + index)
        split = learner.split_heads(y, h)
        assert_tensor(split, shape=(b, h, t, dh), call=call_repr("split_heads", y, h))
        back = learner.merge_heads(split)
        assert_close(back, y, what="merge_heads(split_heads(y, H))", **EXACT)
        z = _data(seed, (b, h, t, dh), dtype, device, offset=500 + index)
        merged = learner.merge_heads(z)
        assert_tensor(merged, shape=(b, t, h * dh), call=call_repr("merge_heads", z))
        again = learner.split_heads(merged.contiguous(), h)
        assert_close(again, z, what="split_heads(merge_heads(z), H)", **EXACT)


# ----------------------------------------------------------------------------- scenarios


@scenario
def to_channels_last(mod: Any, x: torch.Tensor) -> dict[str, Any]:
    """to_channels_last(x): the result, and x (values, shape, strides) afterwards."""
    return {"out": call_by_name(mod, "to_channels_last", x), "x_after": x}


@scenario
def flatten_features(mod: Any, x: torch.Tensor) -> dict[str, Any]:
    """flatten_features(x): the result, and x afterwards."""
    return {"out": call_by_name(mod, "flatten_features", x), "x_after": x}


@scenario
def split_heads(mod: Any, x: torch.Tensor, num_heads: int) -> dict[str, Any]:
    """split_heads(x, num_heads): the result, and x afterwards."""
    return {"out": call_by_name(mod, "split_heads", x, num_heads), "x_after": x}


@scenario
def merge_heads(mod: Any, x: torch.Tensor) -> dict[str, Any]:
    """merge_heads(x): the result, and x afterwards."""
    return {"out": call_by_name(mod, "merge_heads", x), "x_after": x}


# ----------------------------------------------------------------------------- helpers


def _sizes(rng, k: int) -> list[int]:
    """k different sizes, all >= 2, so a mixed-up dim changes the shape or the values."""
    return rng.sample(range(2, 8), k)


def _heads_config(rng) -> tuple[int, int, int, int]:
    b, t, h, dh = _sizes(rng, 4)
    return b, t, h, dh


def _data(seed, shape, dtype, device, offset=0) -> torch.Tensor:
    """All-different values (a shuffled 0..n-1), so any element out of place shows."""
    n = 1
    for s in shape:
        n *= s
    values = torch.randperm(n, generator=seed.generator(offset)).reshape(shape)
    return values.to(dtype=dtype, device=device)


def _layout(t: torch.Tensor) -> tuple:
    return tuple(t.shape), t.stride()


def _unchanged(name: str, before: torch.Tensor, after: Any, call: str) -> None:
    """Fail if the learner changed an input's values, shape or strides in place.

    Strides matter here (transpose_ keeps the values but not the layout), which
    ``checks.assert_unchanged`` does not look at.
    """
    if not isinstance(after, torch.Tensor) or _layout(after) != _layout(before):
        shown = _layout(after) if isinstance(after, torch.Tensor) else repr(after)
        raise fail(
            f"{call}; it changed its input {name} in place: its shape/strides went from "
            f"{_layout(before)} to {shown}. Use permute/transpose/reshape (which return new "
            "views) instead of in-place versions such as transpose_ or resize_"
        )
    if not torch.equal(after.cpu(), before.cpu()):
        raise fail(f"{call}; it changed the values of its input {name} in place")


def _same(out: Any, other: torch.Tensor) -> bool:
    return (
        isinstance(out, torch.Tensor)
        and tuple(out.shape) == tuple(other.shape)
        and torch.equal(out.cpu(), other.cpu())
    )


def _check_tensor(out, want, call: str) -> None:
    assert_tensor(out, shape=tuple(want.shape), dtype=want.dtype, device=want.device, call=call)


def _flatten_cases(seed, device, contiguous: bool) -> list[torch.Tensor]:
    rng = seed.python_random(1 if contiguous else 2)
    cases = []
    for index, ndim in enumerate((2, 3, 4, 5)):
        dims = _sizes(rng, ndim)
        dtype = DTYPES[index % len(DTYPES)]
        base = _data(seed, dims, dtype, device, offset=10 * index + (0 if contiguous else 5))
        if contiguous:
            cases.append(base)
        elif ndim == 2:
            cases.append(base.t())  # (d1, N) -> (N, d1)
        elif ndim == 3:
            cases.append(base.transpose(1, 2))
        elif ndim == 4:
            cases.append(base.permute(0, 2, 3, 1))  # channels-last view of an NCHW batch
        else:
            cases.append(base[:, :, ::2].permute(0, 4, 1, 3, 2))  # strided slice, then permute
    return cases


def _check_flatten(learner, reference, x: torch.Tensor) -> None:
    want = reference.flatten_features(x)
    call = call_repr("flatten_features", x)
    if not x.is_contiguous():
        call += " (a non-contiguous tensor)"
    got = learner.run(flatten_features, x)
    out = got["out"]
    _check_tensor(out, want, call)
    assert_close(out, want, call=call, **EXACT)
    _unchanged("x", x, got["x_after"], call)


def _check_merge(learner, reference, x: torch.Tensor, call_note: str = "") -> None:
    b, h, t, dh = x.shape
    want = reference.merge_heads(x)
    call = call_repr("merge_heads", x) + call_note
    got = learner.run(merge_heads, x)
    out = got["out"]
    _check_tensor(out, want, call)
    if not _same(out, want) and _same(out, x.reshape(b, t, h * dh)):
        raise fail(
            f"{call}; the shape is right but the values are x.reshape(B, T, H * Dh): the heads "
            "were merged without first moving T in front of H. Swap dims 1 and 2, then merge"
        )
    assert_close(out, want, call=call, **EXACT)
    _unchanged("x", x, got["x_after"], call)
