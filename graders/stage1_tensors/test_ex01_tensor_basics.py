"""Grader for 1.1: creating, describing and moving tensors."""

from __future__ import annotations

import pytest
import torch

from pytorch_path.checks import (
    assert_close,
    assert_equal,
    assert_on_device,
    assert_tensor,
    call_repr,
    describe,
    fail,
)

DTYPES = [torch.float32, torch.float64, torch.int64, torch.int32, torch.float16]


def test_arange_grid_values(learner, reference, device, seed):
    """arange_grid(rows, cols) counts 0, 1, 2, … row by row, with the dtype and device asked for."""
    rng = seed.python_random()
    for _ in range(4):
        rows, cols = rng.randint(1, 7), rng.randint(1, 7)
        while rows == cols:
            cols = rng.randint(1, 7)
        dtype = rng.choice(DTYPES)
        expected = reference.arange_grid(rows, cols, dtype=dtype, device=device)
        call = call_repr("arange_grid", rows, cols, dtype=dtype, device=device)
        out = learner.arange_grid(rows, cols, dtype=dtype, device=device)
        assert_close(out, expected, what="the result", call=call, rtol=0, atol=0)


def _random_tensor(seed, device, index):
    rng = seed.python_random(index)
    shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(0, 4)))
    dtype = rng.choice([torch.float32, torch.float64, torch.int64, torch.bool, torch.float16])
    t = torch.zeros(shape, dtype=dtype, device=device)
    if dtype.is_floating_point and rng.random() < 0.5:
        t.requires_grad_(True)
    return t


def test_describe_tensor(learner, reference, device, seed):
    """describe_tensor reports shape, dtype name, device, numel and requires_grad as values."""
    for index in range(6):
        t = _random_tensor(seed, device, index)
        expected = reference.describe_tensor(t.detach().clone().requires_grad_(t.requires_grad))
        call = call_repr("describe_tensor", t)
        out = learner.describe_tensor(t)
        if not isinstance(out, dict):
            raise fail(f"{call}; expected a dict, got {describe(out)}")
        if set(out) != set(expected):
            missing = sorted(set(expected) - set(out))
            extra = sorted(set(out) - set(expected))
            raise fail(f"{call}; the dict's keys are wrong: missing {missing}, unexpected {extra}")
        if not isinstance(out["shape"], tuple) or not all(type(s) is int for s in out["shape"]):
            raise fail(f"{call}; 'shape' should be a tuple of ints, got {out['shape']!r}")
        assert_equal(tuple(out["shape"]), expected["shape"], what="'shape'", call=call)
        for key in ("dtype", "device", "numel", "requires_grad"):
            assert_equal(out[key], expected[key], what=repr(key), call=call)


@pytest.mark.parametrize(
    ("cuda", "mps", "want"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
    ids=["cuda+mps", "cuda", "mps", "cpu-only"],
)
def test_pick_device_preference(learner, monkeypatch, cuda, mps, want):
    """pick_device prefers cuda, then mps, then cpu, and returns a torch.device."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    out = learner.pick_device()
    situation = (
        f"with cuda {'present' if cuda else 'absent'} and mps {'present' if mps else 'absent'}"
    )
    if not isinstance(out, torch.device):
        raise fail(
            f"pick_device() {situation} returned {describe(out)}; return torch.device({want!r})"
        )
    if out.type != want:
        raise fail(f"pick_device() {situation} returned {out}, expected {want}")


def test_move_to_tensor_and_model(learner, device, seed):
    """move_to moves a tensor and a whole model (parameters and buffers), returning the model."""
    x = seed.randn(3, 4)
    out = learner.move_to(x, device)
    assert_close(out, x.to(device), what="move_to(tensor)'s result")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    moved = learner.move_to(model, "meta")
    if moved is not model:
        raise fail(f"move_to(model, 'meta') returned {describe(moved)}; return the model itself")
    assert_on_device(model, "meta", what="after move_to(model, 'meta'), the model")


def test_move_to_nested(learner, seed):
    """move_to keeps dicts, lists and tuples (nested) and leaves non-tensors as they are."""
    batch = {
        "image": seed.randn(2, 3, 4, 4),
        "label": seed.randint(0, 10, (2,), offset=1),
        "meta": {"ids": [seed.randn(2), 7, "name"], "pair": (seed.rand(1), None)},
    }
    out = learner.move_to(batch, "meta")

    def walk(got, want, path):
        where = f"move_to(batch, 'meta'){path}"
        if isinstance(want, torch.Tensor):
            assert_tensor(got, what=where, shape=tuple(want.shape), dtype=want.dtype, device="meta")
            return
        if type(got) is not type(want):
            raise fail(f"{where} is {describe(got)}, expected {describe(want)}")
        if isinstance(want, dict):
            if set(got) != set(want):
                raise fail(f"{where} has keys {sorted(got)}, expected {sorted(want)}")
            for key in want:
                walk(got[key], want[key], f"{path}[{key!r}]")
        elif isinstance(want, (list, tuple)):
            if len(got) != len(want):
                raise fail(f"{where} has {len(got)} items, expected {len(want)}")
            for i, (g, w) in enumerate(zip(got, want, strict=True)):
                walk(g, w, f"{path}[{i}]")
        elif got != want:
            raise fail(f"{where} is {got!r}, expected {want!r} unchanged")

    walk(out, batch, "")
    for key in ("image", "label"):
        assert_on_device(batch[key], "cpu", what=f"the input batch[{key!r}] (it must not change)")
