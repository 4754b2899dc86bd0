"""Grader for 1.1: creating, describing and moving tensors.

``arange_grid``'s placement is checked under a simulated second device (see
``SimulatedDevice``), since really computing on 'meta' is slow to start, and
``describe_tensor`` is asked about a tensor on a simulated ``cuda:0``. ``pick_device`` is
graded in a scenario that fakes which accelerators are present, through every API the
contract names (``torch.cuda.is_available``, ``torch.backends.mps.is_available``,
``torch.accelerator.is_available`` / ``current_accelerator`` / ``device_count``), restoring
them afterwards. ``move_to`` on a model runs in a scenario that reports where the model's
parameters and buffers ended up, and the moved values.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from pytorch_path.checks import (
    SimulatedDevice,
    assert_close,
    assert_equal,
    assert_state_dict_close,
    assert_tensor,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import call_by_name, scenario

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


def test_arange_grid_on_requested_device(learner, reference, seed):
    """arange_grid creates the grid on the device it is given (a second device is simulated)."""
    rng = seed.python_random(1)
    for device in ("meta", torch.device("meta")):
        rows, cols = rng.randint(2, 5), rng.randint(6, 8)
        dtype = rng.choice(DTYPES)
        call = call_repr("arange_grid", rows, cols, dtype=dtype, device=device)
        got = learner.run(arange_grid_simulated, rows, cols, dtype=dtype, device=device)
        out = got["out"]
        assert_tensor(out, shape=(rows, cols), dtype=dtype, finite=False, call=call)
        if out.device.type == "meta":
            continue  # really made on meta (the simulation was bypassed): placed right, no values
        if not got["far"]:
            raise fail(
                f"{call}; the grid was made on {out.device}, not on the device it was given "
                "(meta); pass device=device to torch.arange (or move the result with .to(device))"
            )
        want = reference.run(arange_grid_simulated, rows, cols, dtype=dtype, device=device)["out"]
        assert_close(out, want, what="the result", call=call, rtol=0, atol=0)


def test_describe_tensor(learner, reference, device, seed):
    """describe_tensor reports shape, dtype name, device, numel and requires_grad as values."""
    for index in range(6):
        t = _random_tensor(seed, device, index)
        expected = reference.describe_tensor(t)
        call = call_repr("describe_tensor", t)
        out = learner.describe_tensor(t)
        _check_description(out, expected, call)


def test_describe_tensor_names_the_device_index(learner, reference, seed):
    """describe_tensor's 'device' is str(t.device), index included (on a simulated 'cuda:0')."""
    for index in range(2):
        t = _random_tensor(seed, torch.device("cpu"), 10 + index)
        call = call_repr("describe_tensor", t).replace("on cpu", "on cuda:0")
        call += " (a GPU tensor; the GPU is simulated)"
        expected = reference.run(describe_on_simulated_gpu, t)
        out = learner.run(describe_on_simulated_gpu, t)
        _check_description(out, expected, call)


@pytest.mark.parametrize(
    ("cuda", "mps", "want"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
    ids=["cuda+mps", "cuda", "mps", "cpu-only"],
)
def test_pick_device_preference(learner, cuda, mps, want):
    """pick_device prefers cuda, then mps, then cpu, and returns a torch.device."""
    # Availability is faked through torch.cuda, torch.backends.mps and torch.accelerator.
    out = learner.run(pick_device_with, cuda=cuda, mps=mps)
    situation = (
        f"with cuda {'present' if cuda else 'absent'} and mps {'present' if mps else 'absent'}"
    )
    if not isinstance(out, torch.device):
        raise fail(
            f"pick_device() {situation} returned {describe(out)}; return torch.device({want!r})"
        )
    if out.type != want:
        hint = ""
        if want == "cpu":
            hint = (
                "; torch.accelerator.current_accelerator() names the accelerator torch was "
                "built for even where none is present: pass check_available=True, or ask "
                "torch.accelerator.is_available() first"
            )
        raise fail(f"pick_device() {situation} returned {out}, expected {want}{hint}")


def test_move_to_tensor_and_model(learner, device, seed):
    """move_to moves a tensor and a whole model (parameters and buffers), returning the model."""
    x = seed.randn(3, 4)
    out = learner.move_to(x, device)
    assert_close(out, x.to(device), what="move_to(tensor)'s result")
    state = _model_state(seed)
    got = learner.run(move_model, state, device)
    for target in ("meta", str(device)):
        moved = got[target]
        shown = f"move_to(model, {target!r})"
        if not moved["is_model"]:
            raise fail(f"{shown} returned {moved['returned']}; return the model itself")
        for name, where in moved["devices"].items():
            if torch.device(where).type != torch.device(target).type:
                raise fail(
                    f"after {shown}, the model: {name} is on {where}, expected {target}; "
                    "move the whole model with model.to(device)"
                )
    # The values the learner's move produced, against the state the judge gave the model.
    want = {key: value.to(device) for key, value in state.items()}
    assert_state_dict_close(
        got[str(device)]["state"], want, what=f"after move_to(model, {str(device)!r}), the state"
    )
    for key, value in got[str(device)]["state"].items():
        assert_tensor(value, what=f"the moved state[{key!r}]", device=device, finite=False)


def test_move_to_nested(learner, seed):
    """move_to keeps dicts, lists and tuples (nested) and leaves non-tensors as they are."""
    batch = {
        "image": seed.randn(2, 3, 4, 4),
        "label": seed.randint(0, 10, (2,), offset=1),
        "meta": {"ids": [seed.randn(2), 7, "name"], "pair": (seed.rand(1), None)},
    }
    got = learner.run(move_batch, batch, "meta")
    _walk(got["out"], batch, "")
    for key in ("image", "label"):
        after = got["batch_after"][key]
        if not isinstance(after, torch.Tensor) or after.device.type != "cpu":
            where = after.device if isinstance(after, torch.Tensor) else describe(after)
            raise fail(
                f"after move_to(batch, 'meta'), the input batch[{key!r}] is on {where}, expected "
                "cpu (it must not change): build a new dict, list or tuple instead of assigning "
                "into the one you were given"
            )


# ----------------------------------------------------------------------------- scenarios


@scenario
def arange_grid_simulated(
    mod: Any, rows: int, cols: int, *, dtype: torch.dtype, device: Any
) -> dict[str, Any]:
    """arange_grid(rows, cols, dtype, device='meta') with 'meta' simulated; is the grid 'far'?"""
    with SimulatedDevice() as sim:
        out = call_by_name(mod, "arange_grid", rows, cols, dtype=dtype, device=device)
    return {"out": out, "far": sim.is_far(out)}


@scenario
def describe_on_simulated_gpu(mod: Any, t: torch.Tensor) -> Any:
    """describe_tensor(t) with t on a simulated GPU that calls itself cuda:0."""
    with _SimulatedGPU([t]):
        return call_by_name(mod, "describe_tensor", t)


@scenario
def pick_device_with(mod: Any, *, cuda: bool, mps: bool) -> Any:
    """pick_device() on a machine where cuda and mps are present or absent as asked.

    Every availability API a learner may ask is patched consistently and restored after.
    The build's accelerator (what ``current_accelerator()`` returns without checking) is
    cuda, or mps on an mps-only machine, as on real wheels.
    """
    built = torch.device("mps") if mps and not cuda else torch.device("cuda")
    present = cuda or mps

    def current_accelerator(check_available: bool = False) -> torch.device | None:
        if check_available and not present:
            return None
        return built

    patches = [
        (torch.cuda, "is_available", lambda: cuda),
        (torch.cuda, "device_count", lambda: 1 if cuda else 0),
        (torch.backends.mps, "is_available", lambda: mps),
        (torch.backends.mps, "is_built", lambda: mps),
        (torch.accelerator, "is_available", lambda: present),
        (torch.accelerator, "current_accelerator", current_accelerator),
        (torch.accelerator, "device_count", lambda: 1 if present else 0),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, fake in patches:
            setattr(owner, name, fake)
        return mod.pick_device()
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@scenario
def move_model(
    mod: Any, state: dict[str, torch.Tensor], device: torch.device
) -> dict[str, dict[str, Any]]:
    """move_to(model, 'meta') and move_to(model, device) on Linear + BatchNorm models.

    For each: whether the model itself came back, where its parameters and buffers are, and
    (off meta) its state_dict.
    """
    out: dict[str, dict[str, Any]] = {}
    for target in ("meta", str(device)):
        model = _model()
        model.load_state_dict(state)
        moved = mod.move_to(model, target)
        tensors = list(model.named_parameters()) + list(model.named_buffers())
        out[target] = {
            "is_model": moved is model,
            "returned": describe(moved),
            "devices": {name: str(t.device) for name, t in tensors},
            "state": None if target == "meta" else dict(model.state_dict()),
        }
    return out


@scenario
def move_batch(mod: Any, batch: dict[str, Any], device: str) -> dict[str, Any]:
    """move_to(batch, device), and the batch as it is afterwards."""
    out = mod.move_to(batch, device)
    return {"out": out, "batch_after": batch}


# ----------------------------------------------------------------------------- helpers


def _random_tensor(seed: Any, device: torch.device, index: int) -> torch.Tensor:
    """A zero tensor of random shape and dtype; the first requires grad, the second does not."""
    rng = seed.python_random(index)
    shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(0, 4)))
    dtype = rng.choice([torch.float32, torch.float64, torch.int64, torch.bool, torch.float16])
    grad = dtype.is_floating_point and rng.random() < 0.5
    if index < 2:
        dtype, grad = (torch.float32, True) if index == 0 else (torch.float64, False)
    t = torch.zeros(shape, dtype=dtype, device=device)
    if grad:
        t.requires_grad_(True)
    return t


def _check_description(out: Any, expected: dict[str, Any], call: str) -> None:
    """describe_tensor's dict: exactly the five keys, each the plain value expected."""
    if not isinstance(out, dict):
        raise fail(f"{call}; expected a dict, got {describe(out)}")
    if set(out) != set(expected):
        missing = sorted(set(expected) - set(out))
        extra = sorted(map(str, set(out) - set(expected)))
        raise fail(f"{call}; the dict's keys are wrong: missing {missing}, unexpected {extra}")
    if not isinstance(out["shape"], tuple) or not all(type(s) is int for s in out["shape"]):
        raise fail(f"{call}; 'shape' should be a tuple of ints, got {out['shape']!r}")
    assert_equal(tuple(out["shape"]), expected["shape"], what="'shape'", call=call)
    for key in ("dtype", "device", "numel", "requires_grad"):
        assert_equal(out[key], expected[key], what=repr(key), call=call)


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))


def _model_state(seed: Any) -> dict[str, torch.Tensor]:
    """A state for the test model with values drawn from the test's seed."""
    state = dict(_model().state_dict())
    for i, (key, value) in enumerate(sorted(state.items())):
        if value.is_floating_point():
            state[key] = seed.randn(*value.shape, offset=10 + i)
            if key.endswith("running_var"):
                state[key] = state[key].abs() + 0.5
        else:
            state[key] = torch.full_like(value, 3 + i)
    return state


def _walk(got: Any, want: Any, path: str) -> None:
    """Compare the moved batch with the input: same containers, tensors on meta, rest as is."""
    where = f"move_to(batch, 'meta'){path}"
    if isinstance(want, torch.Tensor):
        assert_tensor(got, what=where, shape=tuple(want.shape), dtype=want.dtype, device="meta")
        return
    if type(got) is not type(want):
        raise fail(f"{where} is {describe(got)}, expected {describe(want)}")
    if isinstance(want, dict):
        if set(got) != set(want):
            raise fail(f"{where} has keys {sorted(map(str, got))}, expected {sorted(want)}")
        for key in want:
            _walk(got[key], want[key], f"{path}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        if len(got) != len(want):
            raise fail(f"{where} has {len(got)} items, expected {len(want)}")
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _walk(g, w, f"{path}[{i}]")
    elif got != want:
        raise fail(f"{where} is {got!r}, expected {want!r} unchanged")


# ----------------------------------------------------------------------------- a simulated device
# Computing on the real 'meta' device loads sympy and torch's decompositions on first use
# (0.5-1.5 s), so arange_grid's placement is checked with a second device simulated on the
# CPU, pytorch_path.checks.SimulatedDevice: tensors marked "far" report device
# 'meta' and really live on the CPU; a request for device 'meta' (device=..., or .to('meta'))
# is served on the CPU and its result marked far, as is everything computed from a far tensor
# unless it is moved to another device. _SimulatedGPU's far tensors report 'cuda:0' instead,
# so that describe_tensor can be asked about a device with an index.


class _SimulatedGPU(SimulatedDevice):
    """The simulated device, calling itself ``cuda:0`` (a device with an index) instead."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if self.reads_far_device(func, args):
            return torch.device("cuda", 0)
        return super().__torch_function__(func, types, args, kwargs)
