"""Grader for 2.1: a custom nn.Module, an MLP of given sizes."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
import torchinfo
from torch import nn

from pytorch_path.checks import (
    assert_close,
    assert_grad_flows,
    assert_on_device,
    assert_tensor,
    describe,
    expect_raises,
    fail,
)

ACTIVATIONS = ("relu", "tanh", "gelu")


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for exact comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5} if device.type == "mps" else {"rtol": 1e-7, "atol": 1e-9}


def _sizes(rng: Any, *, min_len: int = 2, max_len: int = 5) -> list[int]:
    """Distinct sizes, so a transposed or shifted layer cannot go unnoticed."""
    return rng.sample(range(2, 13), rng.randint(min_len, max_len))


def _expected_keys(sizes: list[int]) -> list[str]:
    return [f"layers.{i}.{kind}" for i in range(len(sizes) - 1) for kind in ("weight", "bias")]


def _linear_count(sizes: list[int]) -> int:
    return sum((a + 1) * b for a, b in pairwise(sizes))


def _new(learner: Any, sizes: list[int], **kwargs: Any) -> nn.Module:
    args = ", ".join([repr(sizes)] + [f"{k}={v!r}" for k, v in kwargs.items()])
    model = learner.MLP(list(sizes), **kwargs)
    if not isinstance(model, nn.Module):
        raise fail(f"MLP({args}) built {describe(model)}; MLP must subclass nn.Module")
    return model


def _mlp_call(sizes: list[int], **kwargs: Any) -> str:
    args = ", ".join([repr(sizes)] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"MLP({args})"


def _hidden_modules(model: nn.Module) -> str | None:
    """The name of a plain list/tuple/dict attribute that holds modules, if any."""
    internal = set(vars(nn.Module()))
    for name, value in vars(model).items():
        if name in internal:
            continue
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, (list, tuple, dict)) and any(isinstance(v, nn.Module) for v in items):
            return name
    return None


def _check_registered(model: nn.Module, sizes: list[int], built: str) -> None:
    hidden = _hidden_modules(model)
    if hidden is not None:
        raise fail(
            f"{built} keeps modules in a plain Python {type(getattr(model, hidden)).__name__} "
            f"(self.{hidden}); PyTorch does not see modules inside plain lists: they are missing "
            "from parameters(), state_dict() and model.to(device). Hold them in nn.ModuleList"
        )
    params = list(model.parameters())
    want = 2 * (len(sizes) - 1)
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
    keys = list(model.state_dict())
    expected = _expected_keys(sizes)
    if set(keys) != set(expected):
        missing = [k for k in expected if k not in keys]
        extra = [k for k in keys if k not in expected]
        raise fail(
            f"{built}: state_dict() keys are {keys}, expected {expected} (missing {missing}, "
            f"unexpected {extra}); self.layers must be an nn.ModuleList holding only the "
            "Linear layers, with activations and dropout kept outside it"
        )
    state = model.state_dict()
    for i, (d_in, d_out) in enumerate(pairwise(sizes)):
        for kind, shape in (("weight", (d_out, d_in)), ("bias", (d_out,))):
            got = tuple(state[f"layers.{i}.{kind}"].shape)
            if got != shape:
                raise fail(
                    f"{built}: layers.{i}.{kind} has shape {got}, expected {shape}: layer {i} is "
                    f"nn.Linear(sizes[{i}]={d_in}, sizes[{i + 1}]={d_out})"
                )


def _twins(
    learner: Any, reference: Any, sizes: list[int], device: torch.device, seed_value: int, **kw: Any
) -> tuple[nn.Module, nn.Module]:
    """A reference MLP and a learner MLP holding the same weights (loaded by state_dict)."""
    torch.manual_seed(seed_value)
    ref = reference.MLP(list(sizes), **kw).to(device=device, dtype=_dtype(device))
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(2.0)  # wider weights: more negative outputs, clearer differences
    model = _new(learner, sizes, **kw)
    built = _mlp_call(sizes, **kw)
    _check_registered(model, sizes, built)
    model.to(device=device, dtype=_dtype(device))
    try:
        model.load_state_dict(ref.state_dict())
    except RuntimeError as exc:
        raise fail(
            f"{built}: model.load_state_dict(reference_state_dict) failed: "
            f"{str(exc).splitlines()[0]}; follow the documented names layers.0.weight, …"
        ) from exc
    return ref, model


# ----------------------------------------------------------------------------- structure


def test_forward_shapes(learner, device, seed):
    """MLP(sizes) maps (..., sizes[0]) to (..., sizes[-1]), keeping every leading batch dim."""
    rng = seed.python_random()
    for index in range(5):
        sizes = _sizes(rng)
        lead = (rng.randint(2, 6),) if index % 2 == 0 else (rng.randint(2, 4), rng.randint(5, 7))
        model = _new(learner, sizes).to(device)
        x = seed.randn(*lead, sizes[0], device=device, offset=index)
        call = f"called {_mlp_call(sizes)}(x) with x: {describe(x)}"
        out = model(x)
        assert_tensor(
            out,
            what="the output",
            shape=(*lead, sizes[-1]),
            dtype=torch.float32,
            device=device,
            call=call,
        )


def test_parameters_registered(learner, seed):
    """Every Linear layer's weight and bias is registered, under layers.<i>.weight / .bias."""
    rng = seed.python_random()
    for _ in range(4):
        sizes = _sizes(rng)
        model = _new(learner, sizes)
        built = _mlp_call(sizes)
        _check_registered(model, sizes, built)
        for name, p in model.named_parameters():
            if not p.requires_grad:
                raise fail(f"{built}: parameter {name} has requires_grad=False; it must train")
        if list(model.buffers()):
            names = [n for n, _ in model.named_buffers()]
            raise fail(f"{built} has buffers {names}; an MLP of Linear layers has none")


def test_to_moves_every_parameter(learner, seed):
    """model.to('meta') moves every layer's weight and bias, and returns the model."""
    rng = seed.python_random()
    for _ in range(3):
        sizes = _sizes(rng, min_len=3)
        model = _new(learner, sizes, dropout=0.25)
        built = _mlp_call(sizes, dropout=0.25)
        moved = model.to("meta")
        if moved is not model:
            raise fail(f"{built}.to('meta') returned {describe(moved)}; it must return the model")
        layers = getattr(model, "layers", None)
        if isinstance(layers, (list, tuple, nn.ModuleList, nn.Sequential)):
            for i, layer in enumerate(layers):
                if not isinstance(layer, nn.Module):
                    continue
                for name, p in layer.named_parameters():
                    if p.device.type != "meta":
                        raise fail(
                            f"after {built}.to('meta'), model.layers[{i}].{name} is still on "
                            f"{p.device}: .to() only moves registered submodules; hold the "
                            "layers in nn.ModuleList, not a Python list"
                        )
        _check_registered(model, sizes, built)
        assert_on_device(model, "meta", what=f"after {built}.to('meta'), the model")


def test_invalid_arguments(learner):
    """MLP raises ValueError for fewer than two sizes, an unknown activation, a bad dropout."""
    cases = (
        ([7], {}),
        ([], {}),
        ([3, 5], {"activation": "swish"}),
        ([3, 4, 5], {"dropout": 1.5}),
        ([3, 4, 5], {"dropout": -0.1}),
    )
    for sizes, kwargs in cases:
        built = _mlp_call(sizes, **kwargs)
        try:
            expect_raises(learner.MLP, ValueError, sizes, what=built, **kwargs)
        except (NotImplementedError, AssertionError):
            raise
        except Exception as exc:
            raise fail(
                f"{built} raised {type(exc).__name__}: {exc}; expected a ValueError that says "
                "what is wrong with the argument (check it before building anything)"
            ) from exc


# ----------------------------------------------------------------------------- behaviour


def test_same_weights_same_outputs(learner, reference, device, seed):
    """Loaded with the reference's state_dict, the MLP computes the same outputs (eval mode)."""
    rng = seed.python_random()
    for index, activation in enumerate((*ACTIVATIONS, rng.choice(ACTIVATIONS))):
        sizes = _sizes(rng, min_len=3)
        ref, model = _twins(
            learner, reference, sizes, device, seed.value + index, activation=activation
        )
        ref.eval()
        model.eval()
        x = 2 * seed.randn(rng.randint(3, 9), sizes[0], dtype=_dtype(device), device=device)
        x_before = x.clone()
        with torch.no_grad():
            expected = ref(x.clone())
        call = (
            f"called {_mlp_call(sizes, activation=activation)}(x) in eval mode, with the "
            f"reference's weights loaded, x: {describe(x)}"
        )
        out = model(x)
        assert_tensor(out, what="the output", shape=tuple(expected.shape), call=call)
        assert_close(out.detach(), expected, what="the output", call=call, **_tol(device))
        if not torch.equal(x, x_before):
            raise fail(f"{call}; the input x was changed in place")


def test_no_activation_after_last_layer(learner, reference, device, seed):
    """The last Linear layer has no activation after it: with relu, outputs can be negative."""
    rng = seed.python_random()
    for index in range(3):
        sizes = _sizes(rng, min_len=3)
        activation = "relu" if index < 2 else "tanh"
        ref, model = _twins(
            learner, reference, sizes, device, seed.value + 10 + index, activation=activation
        )
        x = 3 * seed.randn(16, sizes[0], dtype=_dtype(device), device=device, offset=index)
        with torch.no_grad():
            expected = ref.eval()(x)
            out = model.eval()(x)
        call = f"called {_mlp_call(sizes, activation=activation)}(x) in eval mode"
        assert_tensor(out, what="the output", shape=tuple(expected.shape), call=call)
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
        assert_close(out, expected, what="the output", call=call, **_tol(device))


def test_dropout_train_and_eval(learner, reference, device, seed):
    """Dropout follows each hidden activation, acts in train mode only, never on the output."""
    rng = seed.python_random()
    for index, (activation, p) in enumerate((("relu", 0.5), ("tanh", 0.3), ("relu", 0.0))):
        sizes = _sizes(rng, min_len=4)
        ref, model = _twins(
            learner,
            reference,
            sizes,
            device,
            seed.value + 20 + index,
            activation=activation,
            dropout=p,
        )
        built = _mlp_call(sizes, activation=activation, dropout=p)
        x = seed.randn(rng.randint(20, 30), sizes[0], dtype=_dtype(device), device=device)
        with torch.no_grad():
            expected_eval = ref.eval()(x)
            model.eval()
            first, second = model(x), model(x)
            if not torch.equal(first, second):
                raise fail(
                    f"called {built}(x) twice after model.eval(); the outputs differ: dropout "
                    "is still active in eval mode. Use nn.Dropout registered on the module (or "
                    "F.dropout(x, p, training=self.training)) so model.eval() switches it off"
                )
            eval_call = f"called {built}(x) in eval mode"
            assert_close(first, expected_eval, what="the output", call=eval_call, **_tol(device))
            model.train()
            ref.train()
            call = f"called {built}(x) in train mode"
            if p > 0:
                torch.manual_seed(seed.value + 99)
                first, second = model(x), model(x)
                if torch.equal(first, second):
                    raise fail(
                        f"{call} twice; both outputs are identical: dropout is not active in "
                        f"train mode (dropout={p} must randomly zero hidden activations)"
                    )
                zeros = (first == 0).double().mean().item()
                if zeros > 0.1:
                    raise fail(
                        f"{call}; {zeros:.0%} of the outputs are exactly 0: dropout is applied "
                        "after the last layer. Apply it after hidden activations only"
                    )
            torch.manual_seed(seed.value + 7)
            expected = ref(x)
            torch.manual_seed(seed.value + 7)
            out = model(x)
        assert_close(
            out,
            expected,
            what="the output",
            call=(
                f"{call} right after torch.manual_seed(s), like the reference, which applies "
                "nn.Dropout(dropout) right after each hidden activation (same masks, same order)"
            ),
            **_tol(device),
        )


def test_gradients_reach_every_parameter(learner, reference, device, seed):
    """Backward through the MLP fills .grad of every weight and bias, equal to the reference's."""
    rng = seed.python_random()
    for index in range(2):
        sizes = _sizes(rng, min_len=3)
        activation = ("tanh", "gelu")[index]
        ref, model = _twins(
            learner, reference, sizes, device, seed.value + 30 + index, activation=activation
        )
        x = seed.randn(rng.randint(3, 8), sizes[0], dtype=_dtype(device), device=device)
        w = seed.randn(sizes[-1], dtype=_dtype(device), device=device, offset=1)
        (ref(x) * w).sum().backward()
        (model(x) * w).sum().backward()
        built = _mlp_call(sizes, activation=activation)
        assert_grad_flows(model, what=f"after ({built}(x) * w).sum().backward(), the model")
        expected = dict(ref.named_parameters())
        for name, param in model.named_parameters():
            assert_close(
                param.grad,
                expected[name].grad,
                what=f"{name}.grad",
                call=f"after ({built}(x) * w).sum().backward()",
                **_tol(device),
            )


# ----------------------------------------------------------------------------- counting


def _count_cases(rng: Any, reference: Any) -> list[tuple[str, nn.Module, int]]:
    """(label, model, input features): models with buffers and with frozen parameters."""
    a, b, c = rng.sample(range(3, 12), 3)
    with_bn = nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Linear(b, c))
    frozen = nn.Sequential(nn.Linear(a, b), nn.Tanh(), nn.Linear(b, c))
    frozen[0].requires_grad_(False)
    sizes = _sizes(rng, min_len=3)
    mlp = reference.MLP(sizes)
    mlp.layers[-1].bias.requires_grad_(False)
    mlp.layers[0].weight.requires_grad_(False)
    last = len(sizes) - 2
    return [
        (f"Sequential(Linear({a}, {b}), BatchNorm1d({b}), ReLU(), Linear({b}, {c}))", with_bn, a),
        (f"Sequential(Linear({a}, {b}), Tanh(), Linear({b}, {c})) with layer 0 frozen", frozen, a),
        (f"{_mlp_call(sizes)} with layers.0.weight and layers.{last}.bias frozen", mlp, sizes[0]),
    ]


def test_count_parameters(learner, reference, seed):
    """count_parameters counts trainable values only, as torchinfo's trainable_params does."""
    rng = seed.python_random()
    for label, model, d_in in _count_cases(rng, reference):
        flags = [p.requires_grad for p in model.parameters()]
        expected = torchinfo.summary(model, input_size=(2, d_in), verbose=0).trainable_params
        if expected != reference.count_parameters(model):  # pragma: no cover - grader sanity
            raise fail(f"grader error: torchinfo and the reference disagree on {label}")
        call = f"called count_parameters(model) on {label}"
        out = learner.count_parameters(model)
        if type(out) is not int:
            raise fail(
                f"{call}; got {describe(out)}, expected a Python int; sum p.numel() over the "
                "parameters (numel() is already an int)"
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
        if [p.requires_grad for p in model.parameters()] != flags:
            raise fail(f"{call}; it changed the parameters' requires_grad flags")


def test_count_matches_sizes(learner, seed):
    """count_parameters(MLP(sizes)) is the sum of (in + 1) * out over consecutive sizes."""
    rng = seed.python_random()
    for _ in range(3):
        sizes = _sizes(rng, min_len=2)
        model = _new(learner, sizes, dropout=0.1)
        expected = _linear_count(sizes)
        built = _mlp_call(sizes, dropout=0.1)
        _check_registered(model, sizes, built)
        out = learner.count_parameters(model)
        if out != expected or type(out) is not int:
            formula = " + ".join(f"({a}+1)*{b}" for a, b in pairwise(sizes))
            raise fail(
                f"called count_parameters({built}); got {describe(out)}, expected {expected} "
                f"= {formula}"
            )
        summary = torchinfo.summary(model, input_size=(2, sizes[0]), verbose=0)
        if summary.trainable_params != expected:
            raise fail(
                f"torchinfo.summary({built}) reports {summary.trainable_params} trainable "
                f"parameters, expected {expected}; every layer must be a registered submodule"
            )
