"""Grader for 2.1: a custom nn.Module, an MLP of given sizes.

Twin runs: the test draws the weights (a state dict under the documented names
``layers.<i>.weight`` / ``.bias``) and the inputs; the learner's MLP and the reference's
load those weights and run on those inputs, and the outputs, gradients and counts are
compared. Every scenario also reports how the model is built (the parameters it
registered, modules hidden in plain lists, the state_dict keys and shapes), so a wrong
structure gets its own message before any value is compared.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import torch
import torchinfo
from torch import nn

from pytorch_path.checks import (
    assert_close,
    assert_grads,
    assert_tensor,
    assert_unchanged,
    describe,
    fail,
    tolerance,
)
from pytorch_path.scenario import LearnerError, scenario

ACTIVATIONS = ("relu", "tanh", "gelu")


# ----------------------------------------------------------------------------- structure


def test_forward_shapes(learner, device, seed):
    """MLP(sizes) maps (..., sizes[0]) to (..., sizes[-1]), keeping every leading batch dim."""
    rng = seed.python_random()
    cases = []
    for index in range(5):
        sizes = _sizes(rng)
        lead = (rng.randint(2, 6),) if index % 2 == 0 else (rng.randint(2, 4), rng.randint(5, 7))
        cases.append((sizes, seed.randn(*lead, sizes[0], device=device, offset=index)))
    outs = learner.run(fresh_forward, cases, device)
    for (sizes, x), got in zip(cases, outs, strict=True):
        _check_module(got, _mlp_call(sizes))
        call = f"called {_mlp_call(sizes)}(x) with x: {describe(x)}"
        assert_tensor(
            got["out"],
            what="the output",
            shape=(*x.shape[:-1], sizes[-1]),
            dtype=torch.float32,
            device=device,
            call=call,
        )


def test_parameters_registered(learner, reference, device, seed):
    """Every Linear layer's weight and bias is registered, under layers.<i>.weight / .bias."""
    rng = seed.python_random()
    dtype = _dtype(device)
    cases = []
    for index in range(4):
        sizes = _sizes(rng)
        x = seed.randn(rng.randint(3, 7), sizes[0], dtype=dtype, device=device, offset=index)
        cases.append((sizes, _weights(sizes, seed.value + index, dtype, device), x))
    got = learner.run(registered, cases, device, dtype)
    want = reference.run(registered, cases, device, dtype)
    for (sizes, _, x), mine, theirs in zip(cases, got, want, strict=True):
        built = _mlp_call(sizes)
        _check_structure(mine, sizes, built)
        for name, _shape, requires_grad in mine["params"]:
            if not requires_grad:
                raise fail(f"{built}: parameter {name} has requires_grad=False; it must train")
        if mine["buffers"]:
            raise fail(f"{built} has buffers {mine['buffers']}; an MLP of Linear layers has none")
        # Not the structure alone: the registered weights compute the reference's outputs.
        call = f"called {built}(x) in eval mode, with the test's weights loaded, x: {describe(x)}"
        assert_close(mine["out"], theirs["out"], what="the output", call=call,
                     **tolerance(dtype, device))  # fmt: skip


def test_to_moves_every_parameter(learner, reference, seed):
    """model.to('meta') moves every layer's weight and bias, and returns the model."""
    rng = seed.python_random()
    cases = []
    for index in range(3):
        sizes = _sizes(rng, min_len=3)
        x = seed.randn(rng.randint(3, 6), sizes[0], dtype=torch.float64, offset=index)
        cases.append((sizes, _weights(sizes, seed.value + index, torch.float64, "cpu"), x))
    got = learner.run(to_meta, cases, dropout=0.25)
    want = reference.run(to_meta, cases, dropout=0.25)
    for (sizes, _, _), mine, theirs in zip(cases, got, want, strict=True):
        built = _mlp_call(sizes, dropout=0.25)
        _check_module(mine, built)
        if not mine["returned_model"]:
            raise fail(f"{built}.to('meta') returned {mine['returned']}; it must return the model")
        for i, name, kind in mine["layer_devices"]:
            if kind != "meta":
                raise fail(
                    f"after {built}.to('meta'), model.layers[{i}].{name} is still on {kind}: "
                    ".to() only moves registered submodules; hold the layers in nn.ModuleList, "
                    "not a Python list"
                )
        _check_structure(mine["after"], sizes, built)
        for name, kind in mine["devices"]:
            if kind != "meta":
                raise fail(
                    f"after {built}.to('meta'), the model: {name} is on {kind}, expected meta; "
                    "move the whole model with model.to(device)"
                )
        call = f"called {built}(x) in eval mode on the CPU, with the test's weights loaded"
        assert_close(mine["out"], theirs["out"], what="the output", call=call,
                     **tolerance(torch.float64))  # fmt: skip


def test_invalid_arguments(learner, reference, seed):
    """MLP raises ValueError for < 2 sizes, an unknown activation, a dropout outside [0, 1)."""
    cases = (
        ([7], {}),
        ([], {}),
        ([3, 5], {"activation": "swish"}),
        ([3, 4, 5], {"dropout": 1.5}),
        ([3, 4, 5], {"dropout": -0.1}),
        ([3, 4, 5], {"dropout": 1.0}),
    )
    for sizes, kwargs in cases:
        built = _mlp_call(sizes, **kwargs)
        try:
            learner.MLP(sizes, **kwargs)
        except LearnerError as exc:
            if exc.is_a("ValueError"):
                continue
            if exc.is_a("NotImplementedError"):
                raise
            raise fail(
                f"{built} raised {exc.type_name}: {exc.message}; expected a ValueError that "
                "says what is wrong with the argument (check it before building anything)"
            ) from None
        raise fail(f"{built}: expected ValueError to be raised, but the call returned normally")
    # The boundaries that are allowed: two sizes, dropout=0.0, each activation name.
    for index, (sizes, kwargs) in enumerate(
        (([6, 2], {"activation": "gelu"}), ([3, 4, 5], {"dropout": 0.0, "activation": "tanh"}))
    ):
        built = _mlp_call(sizes, **kwargs)
        state = _weights(sizes, seed.value + index, torch.float64, "cpu")
        x = seed.randn(4, sizes[0], dtype=torch.float64, offset=index)
        try:
            got = learner.run(eval_forward, sizes, kwargs, state, x, "cpu", torch.float64)
        except LearnerError as exc:
            if not exc.is_a("ValueError"):
                raise
            raise fail(
                f"{built} raised ValueError: {exc.message}; these arguments are valid (at least "
                "two sizes, an activation among relu/tanh/gelu, 0 <= dropout < 1)"
            ) from None
        _check_structure(got, sizes, built)
        want = reference.run(eval_forward, sizes, kwargs, state, x, "cpu", torch.float64)
        call = f"called {built}(x) in eval mode, with the test's weights loaded"
        assert_close(got["out"], want["out"], what="the output", call=call,
                     **tolerance(torch.float64))  # fmt: skip


# ----------------------------------------------------------------------------- behaviour


def test_same_weights_same_outputs(learner, reference, device, seed):
    """Loaded with the same state_dict as the reference, the MLP computes the same outputs."""
    rng = seed.python_random()
    dtype = _dtype(device)
    for index, activation in enumerate((*ACTIVATIONS, rng.choice(ACTIVATIONS))):
        sizes = _sizes(rng, min_len=3)
        kw = {"activation": activation}
        state = _weights(sizes, seed.value + index, dtype, device)
        x = 2 * seed.randn(rng.randint(3, 9), sizes[0], dtype=dtype, device=device)
        built = _mlp_call(sizes, **kw)
        got = learner.run(eval_forward, sizes, kw, state, x, device, dtype)
        _check_structure(got, sizes, built)
        want = reference.run(eval_forward, sizes, kw, state, x, device, dtype)
        call = (
            f"called {built}(x) in eval mode, with the same weights as the reference loaded, "
            f"x: {describe(x)}"
        )
        assert_tensor(got["out"], what="the output", shape=tuple(want["out"].shape), call=call)
        assert_close(got["out"], want["out"], what="the output", call=call,
                     **tolerance(dtype, device))  # fmt: skip
        assert_unchanged(got["x_after"], x, what="the input x", call=call)


def test_no_activation_after_last_layer(learner, reference, device, seed):
    """The last Linear layer has no activation after it: with relu, outputs can be negative."""
    rng = seed.python_random()
    dtype = _dtype(device)
    for index in range(3):
        sizes = _sizes(rng, min_len=3)
        activation = "relu" if index < 2 else "tanh"
        kw = {"activation": activation}
        state = _weights(sizes, seed.value + 10 + index, dtype, device)
        x = 3 * seed.randn(16, sizes[0], dtype=dtype, device=device, offset=index)
        built = _mlp_call(sizes, **kw)
        got = learner.run(eval_forward, sizes, kw, state, x, device, dtype)
        _check_structure(got, sizes, built)
        expected = reference.run(eval_forward, sizes, kw, state, x, device, dtype)["out"]
        call = f"called {built}(x) in eval mode"
        out = assert_tensor(got["out"], what="the output", shape=tuple(expected.shape), call=call)
        out = out.detach()
        bounded = (out >= 0).all() if activation == "relu" else (out.abs() <= 1).all()
        outside = (expected < 0).any() if activation == "relu" else (expected.abs() > 1).any()
        if bool(bounded) and bool(outside):
            low, high = out.min().item(), out.max().item()
            raise fail(
                f"{call}; every output lies in [{low:.3g}, {high:.3g}], the range of "
                f"{activation}, but the reference gives values outside it: there is an "
                "activation after the last layer. Apply it after hidden layers only, so the "
                "output (e.g. logits) can take any value"
            )
        assert_close(out, expected, what="the output", call=call, **tolerance(dtype, device))


def test_dropout_train_and_eval(learner, reference, device, seed):
    """Dropout follows each hidden activation, acts in train mode only, never on the output."""
    rng = seed.python_random()
    dtype = _dtype(device)
    tol = tolerance(dtype, device)
    for index, (activation, p) in enumerate((("relu", 0.5), ("tanh", 0.3), ("relu", 0.0))):
        sizes = _sizes(rng, min_len=4)
        kw = {"activation": activation, "dropout": p}
        state = _weights(sizes, seed.value + 20 + index, dtype, device)
        x = seed.randn(rng.randint(20, 30), sizes[0], dtype=dtype, device=device)
        built = _mlp_call(sizes, **kw)
        seeds = (seed.value + 99, seed.value + 7)
        got = learner.run(dropout_modes, sizes, kw, state, x, device, dtype, seeds)
        _check_structure(got, sizes, built)
        want = reference.run(dropout_modes, sizes, kw, state, x, device, dtype, seeds)
        first, second = got["eval"]
        if not _equal(first, second):
            raise fail(
                f"called {built}(x) twice after model.eval(); the outputs differ: dropout "
                "is still active in eval mode. Use nn.Dropout registered on the module (or "
                "F.dropout(x, p, training=self.training)) so model.eval() switches it off"
            )
        eval_call = f"called {built}(x) in eval mode"
        assert_close(first, want["eval"][0], what="the output", call=eval_call, **tol)
        call = f"called {built}(x) in train mode"
        if p > 0:
            first, second = got["train"]
            if _equal(first, second):
                raise fail(
                    f"{call} twice; both outputs are identical: dropout is not active in "
                    f"train mode (dropout={p} must randomly zero hidden activations)"
                )
            out = assert_tensor(first, what="the output", call=call)
            zeros = (out.detach() == 0).double().mean().item()
            if zeros > 0.1:
                raise fail(
                    f"{call}; {zeros:.0%} of the outputs are exactly 0: dropout is applied "
                    "after the last layer. Apply it after hidden activations only"
                )
        assert_close(
            got["seeded"],
            want["seeded"],
            what="the output",
            call=(
                f"{call} right after torch.manual_seed(s), like the reference, which applies "
                "nn.Dropout(dropout) right after each hidden activation (same masks, same order)"
            ),
            **tol,
        )


def test_gradients_reach_every_parameter(learner, reference, device, seed):
    """Backward through the MLP fills .grad of every weight and bias, equal to the reference's."""
    rng = seed.python_random()
    dtype = _dtype(device)
    for index in range(2):
        sizes = _sizes(rng, min_len=3)
        kw = {"activation": ("tanh", "gelu")[index]}
        state = _weights(sizes, seed.value + 30 + index, dtype, device)
        x = seed.randn(rng.randint(3, 8), sizes[0], dtype=dtype, device=device)
        w = seed.randn(sizes[-1], dtype=dtype, device=device, offset=1)
        built = _mlp_call(sizes, **kw)
        got = learner.run(backward, sizes, kw, state, x, w, device, dtype)
        _check_structure(got, sizes, built)
        want = reference.run(backward, sizes, kw, state, x, w, device, dtype)
        after = f"after ({built}(x) * w).sum().backward()"
        assert_grads(got["grads"], what=f"{after}, the model")
        for name, grad in want["grads"].items():
            assert_close(got["grads"][name], grad, what=f"{name}.grad", call=after,
                         **tolerance(dtype, device))  # fmt: skip


# ----------------------------------------------------------------------------- counting


def test_count_parameters(learner, reference, seed):
    """count_parameters counts trainable values only, as torchinfo's trainable_params does."""
    rng = seed.python_random()
    a, b, c = rng.sample(range(3, 12), 3)
    specs = [("bn", a, b, c), ("frozen", a, b, c), ("stack", _sizes(rng, min_len=3))]
    got = learner.run(count_given, specs)
    want = reference.run(count_given, specs)
    for spec, mine, theirs in zip(specs, got, want, strict=True):
        model, d_in, label = _count_model(spec)
        flags = [p.requires_grad for p in model.parameters()]
        expected = torchinfo.summary(model, input_size=(2, d_in), verbose=0).trainable_params
        if expected != theirs["out"]:  # pragma: no cover - grader sanity
            raise fail(f"grader error: torchinfo and the reference disagree on {label}")
        call = f"called count_parameters(model) on {label}"
        out = mine["out"]
        if type(out) is not int:
            raise fail(
                f"{call}; got {mine['described']}, expected a Python int; sum p.numel() over "
                "the parameters (numel() is already an int)"
            )
        if out != expected:
            every = sum(p.numel() for p in model.parameters())
            with_buffers = sum(t.numel() for t in model.state_dict().values())
            tensors = sum(1 for p in model.parameters() if p.requires_grad)
            why = ""
            if out == every:
                why = "; that counts the frozen parameters too: skip those with requires_grad=False"
            elif out in (with_buffers, with_buffers - every + expected):
                why = (
                    "; that counts buffers (BatchNorm's running statistics) too: count "
                    "model.parameters(), not state_dict()"
                )
            elif out in (tensors, len(flags)):
                why = "; that counts parameter tensors: count their elements with p.numel()"
            raise fail(
                f"{call}; got {out}, expected {expected} (torchinfo's trainable_params){why}"
            )
        if mine["flags_after"] != flags:
            raise fail(f"{call}; it changed the parameters' requires_grad flags")


def test_count_matches_sizes(learner, seed):
    """count_parameters(MLP(sizes)) is the sum of (in + 1) * out over consecutive sizes."""
    rng = seed.python_random()
    cases = [_sizes(rng, min_len=2) for _ in range(3)]
    got = learner.run(count_own, cases, dropout=0.1)
    for sizes, mine in zip(cases, got, strict=True):
        expected = sum((a + 1) * b for a, b in pairwise(sizes))
        built = _mlp_call(sizes, dropout=0.1)
        _check_structure(mine, sizes, built)
        out = mine["out"]
        if out != expected or type(out) is not int:
            formula = " + ".join(f"({a}+1)*{b}" for a, b in pairwise(sizes))
            raise fail(
                f"called count_parameters({built}); got {mine['described']}, expected "
                f"{expected} = {formula}"
            )
        if mine["torchinfo"] != expected:
            raise fail(
                f"torchinfo.summary({built}) reports {mine['torchinfo']} trainable "
                f"parameters, expected {expected}; every layer must be a registered submodule"
            )


# ----------------------------------------------------------------------------- scenarios


@scenario
def fresh_forward(
    mod: Any, cases: list[tuple[list[int], torch.Tensor]], device: torch.device
) -> list[dict[str, Any]]:
    """For each (sizes, x): MLP(sizes).to(device)(x), with the weights it initialised itself."""
    results = []
    for sizes, x in cases:
        model = mod.MLP(list(sizes))
        if not isinstance(model, nn.Module):
            results.append(_structure(model))
            continue
        model.to(device)
        results.append({"module": True, "out": model(x)})
    return results


@scenario
def registered(
    mod: Any,
    cases: list[tuple[list[int], dict[str, torch.Tensor], torch.Tensor]],
    device: torch.device,
    dtype: torch.dtype,
) -> list[dict[str, Any]]:
    """For each (sizes, state, x): how MLP(sizes) is built, then its eval output on x."""
    results = []
    for sizes, state, x in cases:
        model, info = _loaded(mod, sizes, {}, state, device, dtype)
        if model is not None:
            info["out"] = model.eval()(x)
        results.append(info)
    return results


@scenario
def to_meta(
    mod: Any,
    cases: list[tuple[list[int], dict[str, torch.Tensor], torch.Tensor]],
    *,
    dropout: float,
) -> list[dict[str, Any]]:
    """For each case: the eval output on the CPU, then what model.to('meta') moved."""
    results = []
    for sizes, state, x in cases:
        model = mod.MLP(list(sizes), dropout=dropout)
        info = _structure(model)
        if not info["module"]:
            results.append(info)
            continue
        if _loadable(info, sizes):
            model.to(dtype=torch.float64)
            model.load_state_dict(state)
            info["out"] = model.eval()(x)
        moved = model.to("meta")
        info["returned_model"] = moved is model
        info["returned"] = describe(moved)
        layer_devices = []
        layers = getattr(model, "layers", None)
        if isinstance(layers, (list, tuple, nn.ModuleList, nn.Sequential)):
            for i, layer in enumerate(layers):
                if isinstance(layer, nn.Module):
                    for name, p in layer.named_parameters():
                        layer_devices.append((i, name, str(p.device)))
        info["layer_devices"] = layer_devices
        info["after"] = _structure(model)
        named = list(model.named_parameters()) + list(model.named_buffers())
        info["devices"] = [(name, str(t.device)) for name, t in named]
        results.append(info)
    return results


@scenario
def eval_forward(
    mod: Any,
    sizes: list[int],
    kw: dict[str, Any],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, Any]:
    """MLP(sizes, **kw) with ``state`` loaded, in eval mode, on x; and x afterwards."""
    model, info = _loaded(mod, sizes, kw, state, device, dtype)
    if model is not None:
        model.eval()
        info["out"] = model(x)
        info["x_after"] = x
    return info


@scenario
def dropout_modes(
    mod: Any,
    sizes: list[int],
    kw: dict[str, Any],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype,
    seeds: tuple[int, int],
) -> dict[str, Any]:
    """Two eval outputs, two train outputs after one seed, one train output after another."""
    model, info = _loaded(mod, sizes, kw, state, device, dtype)
    if model is None:
        return info
    with torch.no_grad():
        model.eval()
        info["eval"] = [model(x), model(x)]
        model.train()
        torch.manual_seed(seeds[0])
        info["train"] = [model(x), model(x)]
        torch.manual_seed(seeds[1])
        info["seeded"] = model(x)
    return info


@scenario
def backward(
    mod: Any,
    sizes: list[int],
    kw: dict[str, Any],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    w: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, Any]:
    """(model(x) * w).sum().backward() on a fresh, loaded model: every parameter's .grad."""
    model, info = _loaded(mod, sizes, kw, state, device, dtype)
    if model is None:
        return info
    (model(x) * w).sum().backward()
    info["grads"] = {name: p.grad for name, p in model.named_parameters()}
    return info


@scenario
def count_given(mod: Any, specs: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """count_parameters on models the grader builds; the requires_grad flags afterwards."""
    results = []
    for spec in specs:
        model, _, _ = _count_model(spec)
        out = mod.count_parameters(model)
        results.append(
            {
                "out": out,
                "described": describe(out),
                "flags_after": [p.requires_grad for p in model.parameters()],
            }
        )
    return results


@scenario
def count_own(mod: Any, cases: list[list[int]], *, dropout: float) -> list[dict[str, Any]]:
    """count_parameters(MLP(sizes, dropout=...)) and torchinfo's count of the same model."""
    results = []
    for sizes in cases:
        model = mod.MLP(list(sizes), dropout=dropout)
        info = _structure(model)
        if _loadable(info, sizes):
            out = mod.count_parameters(model)
            info["out"] = out
            info["described"] = describe(out)
            summary = torchinfo.summary(model, input_size=(2, sizes[0]), verbose=0)
            info["torchinfo"] = int(summary.trainable_params)
        results.append(info)
    return results


# ----------------------------------------------------------------------------- helpers


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for exact comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _sizes(rng: Any, *, min_len: int = 2, max_len: int = 5) -> list[int]:
    """Distinct sizes, so a transposed or shifted layer cannot go unnoticed."""
    return rng.sample(range(2, 13), rng.randint(min_len, max_len))


def _mlp_call(sizes: list[int], **kwargs: Any) -> str:
    args = ", ".join([repr(sizes)] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"MLP({args})"


def _expected_keys(sizes: list[int]) -> list[str]:
    return [f"layers.{i}.{kind}" for i in range(len(sizes) - 1) for kind in ("weight", "bias")]


def _weights(
    sizes: list[int], seed_value: int, dtype: torch.dtype, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """A state dict for MLP(sizes), drawn by the test: twice nn.Linear's initial spread.

    Wider weights than the default give more negative outputs and clearer differences.
    """
    gen = torch.Generator().manual_seed(seed_value)
    state = {}
    for i, (d_in, d_out) in enumerate(pairwise(sizes)):
        bound = 2.0 / math.sqrt(d_in)
        for kind, shape in (("weight", (d_out, d_in)), ("bias", (d_out,))):
            values = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
            state[f"layers.{i}.{kind}"] = (bound * values).to(device=device, dtype=dtype)
    return state


def _equal(a: Any, b: Any) -> bool:
    """Whether two outputs are the same tensor values (False for anything else)."""
    return (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.shape == b.shape
        and bool(torch.equal(a.detach(), b.detach()))
    )


def _check_module(info: dict[str, Any], built: str) -> None:
    """The learner's MLP(...) must build an nn.Module."""
    if not info["module"]:
        raise fail(f"{built} built {info['described']}; MLP must subclass nn.Module")


def _check_structure(info: dict[str, Any], sizes: list[int], built: str) -> None:
    """Judge the structure a scenario reported: registration, keys and shapes, then loading."""
    _check_module(info, built)
    if info["hidden"] is not None:
        name, kind = info["hidden"]
        raise fail(
            f"{built} keeps modules in a plain Python {kind} (self.{name}); PyTorch does not see "
            "modules inside plain lists: they are missing from parameters(), state_dict() and "
            "model.to(device). Hold them in nn.ModuleList"
        )
    params = info["params"]
    want = 2 * (len(sizes) - 1)
    if not params and info["layers_len"] == 0:
        raise fail(
            f"{built}: self.layers is an empty nn.ModuleList, expected {len(sizes) - 1} "
            f"Linear layer(s), one between each pair of consecutive sizes: layer i is "
            "nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)"
        )
    if not params:
        raise fail(
            f"{built}: model.parameters() is empty, expected {want} tensors (a weight and a bias "
            "per Linear layer); the layers are not registered: assign an nn.ModuleList to "
            "self.layers after calling super().__init__()"
        )
    if len(params) != want:
        raise fail(
            f"{built}: model.parameters() yields {len(params)} tensors, expected {want} "
            f"(a weight and a bias for each of the {len(sizes) - 1} Linear layers between "
            "consecutive sizes)"
        )
    keys = info["keys"]
    expected = _expected_keys(sizes)
    if set(keys) != set(expected):
        missing = [k for k in expected if k not in keys]
        extra = [k for k in keys if k not in expected]
        raise fail(
            f"{built}: state_dict() keys are {keys}, expected {expected} (missing {missing}, "
            f"unexpected {extra}); self.layers must be an nn.ModuleList holding only the "
            "Linear layers, with activations and dropout kept outside it"
        )
    for i, (d_in, d_out) in enumerate(pairwise(sizes)):
        for kind, shape in (("weight", (d_out, d_in)), ("bias", (d_out,))):
            got = tuple(info["shapes"][f"layers.{i}.{kind}"])
            if got != shape:
                raise fail(
                    f"{built}: layers.{i}.{kind} has shape {got}, expected {shape}: layer {i} is "
                    f"nn.Linear(sizes[{i}]={d_in}, sizes[{i + 1}]={d_out})"
                )
    if info.get("load_error"):
        raise fail(
            f"{built}: model.load_state_dict(state_dict) with the test's weights, under the "
            f"documented names, failed: {info['load_error']}; follow the documented names "
            "layers.0.weight, …"
        )


def _structure(model: Any) -> dict[str, Any]:
    """How a model is built, as data: registered parameters, keys, shapes, hidden modules."""
    if not isinstance(model, nn.Module):
        return {"module": False, "described": describe(model)}
    state = model.state_dict()
    layers = getattr(model, "layers", None)
    return {
        "module": True,
        "layers_len": len(layers) if isinstance(layers, nn.ModuleList) else None,
        "hidden": _hidden_modules(model),
        "params": [(n, tuple(p.shape), p.requires_grad) for n, p in model.named_parameters()],
        "buffers": [n for n, _ in model.named_buffers()],
        "keys": list(state),
        "shapes": {k: tuple(v.shape) for k, v in state.items()},
    }


def _hidden_modules(model: nn.Module) -> tuple[str, str] | None:
    """The name and type of a plain list/tuple/dict attribute that holds modules, if any."""
    internal = set(vars(nn.Module()))
    for name, value in vars(model).items():
        if name in internal:
            continue
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, (list, tuple, dict)) and any(isinstance(v, nn.Module) for v in items):
            return name, type(value).__name__
    return None


def _loadable(info: dict[str, Any], sizes: list[int]) -> bool:
    """Whether the reported structure is the documented one (so the test's weights fit)."""
    if not info["module"] or info["hidden"] is not None:
        return False
    keys = _expected_keys(sizes)
    if len(info["params"]) != len(keys) or set(info["keys"]) != set(keys):
        return False
    return all(
        tuple(info["shapes"][f"layers.{i}.weight"]) == (d_out, d_in)
        and tuple(info["shapes"][f"layers.{i}.bias"]) == (d_out,)
        for i, (d_in, d_out) in enumerate(pairwise(sizes))
    )


def _loaded(
    mod: Any,
    sizes: list[int],
    kw: dict[str, Any],
    state: dict[str, torch.Tensor],
    device: torch.device | str,
    dtype: torch.dtype,
) -> tuple[nn.Module | None, dict[str, Any]]:
    """MLP(sizes, **kw) moved to device and dtype with ``state`` loaded; None if it cannot be."""
    model = mod.MLP(list(sizes), **kw)
    info = _structure(model)
    if not _loadable(info, sizes):
        return None, info
    model.to(device=device, dtype=dtype)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        info["load_error"] = str(exc).splitlines()[0]
        return None, info
    return model, info


class _Stack(nn.Module):
    """Linear layers in ``self.layers`` (an MLP without activations), for counting."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def _count_model(spec: tuple[Any, ...]) -> tuple[nn.Module, int, str]:
    """(model, input features, label) of a counting case: buffers, frozen parameters."""
    kind = spec[0]
    if kind == "bn":
        _, a, b, c = spec
        model = nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Linear(b, c))
        return model, a, f"Sequential(Linear({a}, {b}), BatchNorm1d({b}), ReLU(), Linear({b}, {c}))"
    if kind == "frozen":
        _, a, b, c = spec
        model = nn.Sequential(nn.Linear(a, b), nn.Tanh(), nn.Linear(b, c))
        model[0].requires_grad_(False)
        label = f"Sequential(Linear({a}, {b}), Tanh(), Linear({b}, {c})) with layer 0 frozen"
        return model, a, label
    sizes = list(spec[1])
    stack = _Stack(sizes)
    last = len(sizes) - 2
    stack.layers[last].bias.requires_grad_(False)
    stack.layers[0].weight.requires_grad_(False)
    label = (
        f"a model holding Linear layers between sizes {sizes} in self.layers (like "
        f"{_mlp_call(sizes)}), with layers.0.weight and layers.{last}.bias frozen"
    )
    return stack, sizes[0], label
