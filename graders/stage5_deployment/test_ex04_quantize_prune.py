"""Grader for 5.4: int8 weight quantization by hand, and L1 pruning.

``quantize_per_channel`` is held against torch's own quantizer, run by the judge: for the
scales the learner computed, ``q`` must equal ``torch.quantize_per_channel(w, scale, zeros,
0, torch.qint8).int_repr()`` (an element within float rounding of a half-way point may
round either way: torch multiplies by ``1 / scale``, the contract divides), and the scales
must equal ``max|w[c]| / 127`` as the judge computes it. Weights are drawn with a different
magnitude per channel, so a single per-tensor scale is visibly wrong; exact halves (with a
power-of-two scale, so that no rounding blurs them) check round-half-to-even; all-zero
channels check the 1.0 scale. ``dequantize`` gets judge-made ``(q, scale)`` of square and
non-square shapes, so a scale broadcast over the wrong dim shows.

``quantize_linear_layers`` runs on a nested model that also holds a Conv2d and a LayerNorm
(counted in neither size) and a Linear without bias; the judge recomputes every number of
the report. For accuracy, the judge trains a small classifier on the 8x8 digits itself,
builds its own copy whose Linear weights are ``q * scale`` from the learner's report, and
requires the test accuracy to stay within 2 percentage points of the float32 model's.

``prune_l1`` runs on a model with a Conv2d, a BatchNorm2d, a LayerNorm and two Linear
layers whose sizes make ``amount * numel`` land on halves (Python's ``round`` goes to the
even neighbour); the judge computes the expected weights itself (the ``round(amount * n)``
smallest ``|w|`` of each layer zeroed) and checks the state_dict, the parameter names and
the forward pre-hooks afterwards.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from pytorch_path.checks import (
    CheckFailure,
    assert_close,
    assert_python_float,
    assert_tensor,
    assert_unchanged,
    call_learner,
    call_repr,
    describe,
    fail,
)
from pytorch_path.data import digits_split
from pytorch_path.scenario import scenario

#: The most the int8 copy's test accuracy may fall below the float32 model's (a fraction).
MAX_ACCURACY_DROP = 0.02
#: The fp32 / int8 size ratio the test model must reach (it is about 3.6).
MIN_RATIO = 3.5
#: How close to a half-way point ``w / scale`` must be for either rounding to be accepted.
NEAR_HALF = 1e-4
_DEFAULT = "<default>"
_HINTS = {
    "must match the size of tensor": (
        "scale has shape (C,) and multiplies dim 0: reshape it to (C, 1, ..., 1) before "
        "multiplying or dividing (plain broadcasting lines it up with the last dim)"
    ),
}


# ----------------------------------------------------------------------------- quantize


def test_quantize_matches_torch_quantize_per_channel(learner, device, seed):
    """q equals torch.quantize_per_channel(...).int_repr(); scale = max|w[c]| / 127 per channel."""
    rng = seed.python_random(1)
    for index, shape in enumerate(_weight_shapes(rng)):
        w = _weight(seed, 10 + index, shape).to(device)
        call = call_repr("quantize_per_channel", w)
        got = call_learner(learner.run, quantize, w, call=call, hints=_HINTS)
        q, scale = _check_pair(got["out"], w, call)
        _check_scale(scale, w, call)
        _check_q(q, scale, w, call)
        assert_unchanged(got["weight_after"], w, what="weight", call=call)


def test_quantize_rounds_half_to_even(learner, seed):
    """Exact halves round to the even neighbour (0.5 -> 0, 2.5 -> 2, -1.5 -> -2), as torch does."""
    gen = seed.generator(2)
    halves = torch.tensor([0.5, 1.5, 2.5, 3.5, 4.5, 126.5, -0.5, -1.5, -2.5, -3.5, -125.5])
    rows = []
    for _ in range(3):
        k = int(torch.randint(-6, 4, (), generator=gen))  # scale = 2**k exactly
        row = torch.cat([torch.tensor([127.0]), halves[torch.randperm(len(halves), generator=gen)]])
        if bool(torch.rand((), generator=gen) < 0.5):
            row = -row  # the channel's max |w| may be negative
        rows.append(row * 2.0**k)
    w = torch.stack(rows)
    call = call_repr("quantize_per_channel", w) + " with w / scale landing exactly on halves"
    q, scale = _check_pair(
        call_learner(learner.run, quantize, w, call=call, hints=_HINTS)["out"], w, call
    )
    _check_scale(scale, w, call)
    want = _torch_int_repr(w, scale.cpu())
    if torch.equal(q.cpu(), want):
        return
    ratio = (w.double() / scale.double()[:, None]).cpu()
    if torch.equal(q.cpu(), torch.floor(ratio + 0.5).clamp(-127, 127).to(torch.int8)):
        how = "floor(x + 0.5) rounds every half up (-2.5 -> -2 but 2.5 -> 3)"
    elif torch.equal(q.cpu(), (ratio.sign() * (ratio.abs() + 0.5).floor()).to(torch.int8)):
        how = "you round halves away from zero (2.5 -> 3, -2.5 -> -3)"
    elif torch.equal(q.cpu(), ratio.trunc().to(torch.int8)):
        how = "the values are truncated toward zero (.to(torch.int8) without rounding first)"
    else:
        how = "the values are rounded another way"
    raise fail(
        f"{call}; q = {q[0].tolist()} for the first channel, expected {want[0].tolist()}: {how}; "
        "use torch.round, which rounds half to even like torch.quantize_per_channel"
    )


def test_quantize_gives_an_all_zero_channel_scale_one(learner, device, seed):
    """A channel that is all zeros gets scale 1.0 and q = 0: no division by zero, no NaN."""
    rng = seed.python_random(3)
    for index, shape in enumerate([(6, 5), (4, 3, 3, 3)]):
        w = _weight(seed, 30 + index, shape)
        zero_rows = sorted(rng.sample(range(shape[0]), 2))
        w[zero_rows] = 0.0
        w = w.to(device)
        call = f"{call_repr('quantize_per_channel', w)} where channels {zero_rows} are all zeros"
        got = call_learner(learner.run, quantize, w, call=call, hints=_HINTS)
        q, scale = _check_pair(got["out"], w, call, finite=False)
        zs = scale.detach().cpu()[zero_rows]
        if not bool(torch.isfinite(scale.detach().cpu()).all()) or bool((zs == 0).any()):
            raise fail(
                f"{call}; scale[{zero_rows}] is {zs.tolist()}: max|w[c]| / 127 is 0 for an "
                "all-zero channel, and dividing by it gives NaN; give such a channel scale 1.0"
            )
        others = [c for c in range(shape[0]) if c not in zero_rows]
        _check_scale(scale[others], w[others], call)
        if not torch.equal(zs, torch.ones(len(zero_rows))):
            raise fail(
                f"{call}; scale[{zero_rows}] is {zs.tolist()}, expected [1.0, 1.0]: the "
                "contract gives an all-zero channel exactly scale 1.0 (not a small epsilon)"
            )
        if bool((q.cpu()[zero_rows] != 0).any()):
            raise fail(f"{call}; q of the all-zero channels is not all 0")
        _check_scale(scale, w, call)
        _check_q(q, scale, w, call)


def test_quantize_leaves_a_parameter_alone(learner, seed):
    """Given an nn.Parameter, q and scale carry no autograd history and the weight is unchanged."""
    w = _weight(seed, 40, (5, 7))
    call = call_repr("quantize_per_channel", nn.Parameter(w.clone())) + " (an nn.Parameter)"
    got = call_learner(learner.run, quantize, w, as_parameter=True, call=call, hints=_HINTS)
    q, scale = _check_pair(got["out"], w, call)
    for name, value, node in (("q", q, got["q_grad_fn"]), ("scale", scale, got["scale_grad_fn"])):
        if value.requires_grad or node is not None:
            raise fail(
                f"{call}; {name} still tracks gradients (grad_fn={node}): a quantized weight "
                "keeps no autograd history; compute it under torch.no_grad() or from "
                "weight.detach()"
            )
    assert_unchanged(got["weight_after"], w, what="the weight", call=call)
    if not got["still_parameter"]:
        raise fail(f"{call}; afterwards the weight is no longer an nn.Parameter requiring grad")
    _check_scale(scale, w, call)
    _check_q(q, scale, w, call)


# ----------------------------------------------------------------------------- dequantize


def test_dequantize_scales_each_channel(learner, device, seed):
    """dequantize gives float32 q[c] * scale[c], the scale broadcast over every dim but dim 0."""
    rng = seed.python_random(5)
    c = rng.randint(4, 7)
    shapes = [(c, c), (c, c + 3), (c, 2, 3, 3), (c,)]
    for index, shape in enumerate(shapes):
        gen = seed.generator(50 + index)
        q = torch.randint(-127, 128, shape, generator=gen, dtype=torch.int8).to(device)
        scale = (0.001 + torch.rand(shape[0], generator=gen) * 0.05).to(device)
        call = call_repr("dequantize", q, scale)
        got = learner.run(dequantized, q, scale)
        want = q.float() * scale.reshape(-1, *([1] * (len(shape) - 1)))
        out = got["out"]
        assert_tensor(out, what="the result", shape=shape, device=device, call=call)
        if out.dtype != torch.float32:
            raise fail(f"{call}; the result has dtype {out.dtype}, expected torch.float32")
        try:
            assert_close(out, want, what="the result", call=call, rtol=1e-6, atol=0.0)
        except CheckFailure as exc:
            if len(shape) == 2 and shape[0] == shape[1]:
                columns = q.float() * scale
                if torch.allclose(out.detach().cpu(), columns.cpu(), rtol=1e-6, atol=0.0):
                    raise fail(
                        f"{exc}; you scaled the columns: q * scale broadcasts scale over the "
                        "last dim; reshape it to (C, 1, ..., 1) so scale[c] multiplies channel "
                        "c (dim 0)"
                    ) from None
            raise
        assert_unchanged(got["q_after"], q, what="q", call=call)
        assert_unchanged(got["scale_after"], scale, what="scale", call=call)


def test_round_trip_error_is_at_most_half_a_step(learner, device, seed):
    """dequantize(*quantize_per_channel(w)) is within scale[c] / 2 of w, element by element."""
    rng = seed.python_random(6)
    for index, shape in enumerate(_weight_shapes(rng)[:3]):
        w = _weight(seed, 60 + index, shape).to(device)
        call = f"called dequantize(*quantize_per_channel(w)) with w: {describe(w)}"
        back = call_learner(learner.run, round_trip, w, call=call, hints=_HINTS)
        assert_tensor(back, what="the result", shape=shape, dtype=torch.float32, device=device,
                      call=call)  # fmt: skip
        step = _judge_scale(w.cpu()).reshape(-1, *([1] * (len(shape) - 1)))
        err = (back.detach().cpu().double() - w.cpu().double()).abs()
        bound = step.double() / 2 * (1 + 1e-5) + 1e-12
        if not bool((err <= bound).all()):
            ratio = (err / step.double()).max().item()
            raise fail(
                f"{call}; an element is off by {ratio:.3g} scales, expected at most 0.5 "
                "(the rounding error): check the scale, the rounding and the broadcast over "
                "dim 0"
            )


# ----------------------------------------------------------------------------- a model


def test_quantize_linear_layers_reports_every_linear(learner, device, seed):
    """The report holds q, scale, max_error per Linear; byte counts as documented; model intact."""
    spec = _qnet_spec(seed.python_random(7))
    state = _random_state(_QNet(**spec), seed.generator(70))
    call = f"called quantize_linear_layers(model) on {_QNet.describe(spec)} on {device}"
    got = call_learner(
        learner.run, linear_report, spec, state, device=device, call=call, hints=_HINTS
    )
    report = got["report"]
    if not isinstance(report, dict):
        raise fail(f"{call}; returned {got['described']}, expected a dict")
    for key in ("layers", "fp32_bytes", "int8_bytes"):
        if key not in report:
            raise fail(f"{call}; the report has no key {key!r} (keys: {sorted(map(str, report))})")
    layers = report["layers"]
    names = _linear_names(spec)
    if not isinstance(layers, dict) or sorted(map(str, layers)) != names:
        shown = sorted(map(str, layers)) if isinstance(layers, dict) else describe(layers)
        extra = ""
        if isinstance(layers, dict) and "conv" in layers:
            extra = "; only nn.Linear layers are quantized here (the Conv2d is left as it is)"
        elif isinstance(layers, dict) and set(names) - set(map(str, layers)):
            extra = "; find every nn.Linear with model.named_modules(), nested ones included"
        raise fail(f"{call}; report['layers'] has keys {shown}, expected {names}{extra}")
    weights = {name: state[f"{name}.weight"] for name in names}
    for name, w in weights.items():
        entry = layers[name]
        where = f"{call}; report['layers'][{name!r}]"
        if not isinstance(entry, dict) or not {"q", "scale", "max_error"} <= set(entry):
            raise fail(f"{where} is {describe(entry)}, expected a dict with q, scale, max_error")
        q, scale = _check_pair((entry["q"], entry["scale"]), w.to(device), where)
        _check_scale(scale, w, where)
        _check_q(q, scale, w, where)
        error = assert_python_float(entry["max_error"], what="max_error", call=where)
        want = (q.cpu().float() * scale.detach().cpu()[:, None] - w).abs().max().item()
        if not abs(error - want) <= 1e-6 * want + 1e-9:
            raise fail(
                f"{where}; max_error is {error:.6g}, expected {want:.6g}: the largest "
                "|dequantize(q, scale) - weight| over the layer"
            )
    fp32, int8 = _judge_bytes(spec)
    _check_bytes(report, "fp32_bytes", fp32, spec, call)
    _check_bytes(report, "int8_bytes", int8, spec, call)
    assert fp32 / int8 >= MIN_RATIO  # the judge's own numbers: int8 storage is ~3.6x smaller
    _check_model_intact(got, state, call)


def test_int8_copy_keeps_the_accuracy(learner, seed):
    """A copy with weights q * scale from the report is within 2 points of float32 accuracy."""
    spec, state, (X, y) = _trained_classifier(seed.value % 1000)
    call = f"called quantize_linear_layers(model) on {_QNet.describe(spec)} trained on digits"
    cpu = torch.device("cpu")
    got = call_learner(learner.run, linear_report, spec, state, device=cpu, call=call, hints=_HINTS)
    report = got["report"]
    layers = report.get("layers") if isinstance(report, dict) else None
    names = _linear_names(spec)
    if not isinstance(layers, dict) or sorted(map(str, layers)) != names:
        raise fail(f"{call}; report['layers'] should have the keys {names}")
    copy_state = dict(state)
    for name in names:
        w = state[f"{name}.weight"]
        entry = layers[name] if isinstance(layers[name], dict) else {}
        where = f"{call}; report['layers'][{name!r}]"
        q, scale = _check_pair((entry.get("q"), entry.get("scale")), w, where)
        copy_state[f"{name}.weight"] = q.float() * scale.detach().float()[:, None]
    fp32 = _accuracy(spec, state, X, y)
    int8 = _accuracy(spec, copy_state, X, y)
    if not int8 >= fp32 - MAX_ACCURACY_DROP:
        raise fail(
            f"{call}; the float32 model is {fp32:.1%} accurate on {len(y)} held-out digits, the "
            f"copy with weights q * scale from your report only {int8:.1%}, more than "
            f"{MAX_ACCURACY_DROP:.0%} points less: check the scales and q channel by channel"
        )
    _check_model_intact(got, state, call)


# ----------------------------------------------------------------------------- pruning


def test_prune_zeroes_the_smallest_weights_of_each_layer(learner, device, seed):
    """Each Linear and Conv2d loses exactly round(amount * numel) of its smallest |w|; rest kept."""
    spec = _pnet_spec()
    for index, amount in enumerate((0.5, 0.3, 0.8)):
        state = _random_state(_PNet(**spec), seed.generator(80 + index))
        call = f"called prune_l1(model, amount={amount}) on {_PNet.DESCRIPTION}"
        got = learner.run(prune_run, spec, state, amount, device=device)
        _check_pruned(got, state, amount, call)


def test_prune_is_permanent(learner, seed):
    """After prune_l1: no weight_orig / weight_mask, no pre-hooks, the same model is returned."""
    spec = _pnet_spec()
    state = _random_state(_PNet(**spec), seed.generator(90))
    call = f"called prune_l1(model, amount=0.4) on {_PNet.DESCRIPTION}"
    got = learner.run(prune_run, spec, state, 0.4, device=torch.device("cpu"))
    leftovers = [k for k in got["keys"] if k.endswith(("_orig", "_mask"))]
    if leftovers or got["hooks"]:
        hooked = sorted(got["hooks"])
        raise fail(
            f"{call}; afterwards the model has state_dict keys {leftovers[:4]} and forward "
            f"pre-hooks on {hooked}: the pruning is only a mask re-applied before each forward. "
            "Call prune.remove(module, 'weight') after l1_unstructured to make the zeros part "
            "of weight itself"
        )
    want_params = sorted(name for name, _ in _PNet(**spec).named_parameters())
    if sorted(got["params"]) != want_params:
        raise fail(
            f"{call}; afterwards named_parameters() gives {got['params']}, expected "
            f"{want_params} (as before pruning)"
        )
    if not got["same_object"]:
        raise fail(f"{call}; returned {got['described']}; return model itself, pruned in place")
    _check_pruned(got, state, 0.4, call)


def test_prune_amount_bounds(learner, seed):
    """amount < 0 or >= 1 raises ValueError, model untouched; 0 leaves the weights; default 0.5."""
    spec = _pnet_spec()
    state = _random_state(_PNet(**spec), seed.generator(95))
    cpu = torch.device("cpu")
    for amount in (-0.1, 1.0, 1.5):
        call = f"called prune_l1(model, amount={amount}); amount must be in [0, 1)"
        got = learner.run(prune_refused, spec, state, amount)
        if got["error"] != "ValueError":
            outcome = (
                "but the call returned normally" if got["error"] is None else f"got {got['error']}"
            )
            raise fail(f"{call}: expected ValueError to be raised, {outcome}")
        after = got["state"]
        changed = [k for k, v in state.items() if k not in after or not torch.equal(after[k], v)]
        if changed:
            raise fail(
                f"{call}; it raised ValueError, but afterwards {changed} had changed: check "
                "amount before any layer is changed (prune.l1_unstructured itself accepts 1.0 "
                "and empties the layer)"
            )
    for amount in (0.0, 0.95, _DEFAULT):
        shown = "prune_l1(model)" if amount == _DEFAULT else f"prune_l1(model, amount={amount})"
        call = f"called {shown} on {_PNet.DESCRIPTION}"
        got = learner.run(prune_run, spec, state, amount, device=cpu)
        _check_pruned(got, state, 0.5 if amount == _DEFAULT else float(amount), call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def quantize(mod: Any, w: torch.Tensor, *, as_parameter: bool = False) -> dict[str, Any]:
    """quantize_per_channel(w) (w as an nn.Parameter if asked); the weight as it was left."""
    weight = nn.Parameter(w.clone()) if as_parameter else w
    out = mod.quantize_per_channel(weight)
    answer: dict[str, Any] = {"out": out, "weight_after": weight.detach().clone()}
    if as_parameter:
        answer["still_parameter"] = isinstance(weight, nn.Parameter) and weight.requires_grad
        pair = out if isinstance(out, tuple) and len(out) == 2 else (None, None)
        answer["q_grad_fn"] = _node(pair[0])
        answer["scale_grad_fn"] = _node(pair[1])
    return answer


@scenario
def dequantized(mod: Any, q: torch.Tensor, scale: torch.Tensor) -> dict[str, Any]:
    """dequantize(q, scale), and the inputs as they were left."""
    out = mod.dequantize(q, scale)
    return {"out": out, "q_after": q.clone(), "scale_after": scale.clone()}


@scenario
def round_trip(mod: Any, w: torch.Tensor) -> Any:
    """dequantize(*quantize_per_channel(w))."""
    q, scale = mod.quantize_per_channel(w)
    return mod.dequantize(q, scale)


@scenario
def linear_report(
    mod: Any, spec: dict[str, Any], state: dict[str, torch.Tensor], *, device: torch.device
) -> dict[str, Any]:
    """quantize_linear_layers on the test's model; the report and the model afterwards."""
    model = _QNet(**spec)
    model.load_state_dict(state)
    model.to(device)
    report = mod.quantize_linear_layers(model)
    return {
        "report": report,
        "described": describe(report),
        "state_after": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "params_after": {
            name: [type(p).__name__, str(p.dtype), p.requires_grad]
            for name, p in model.named_parameters()
        },
    }


@scenario
def prune_run(
    mod: Any,
    spec: dict[str, Any],
    state: dict[str, torch.Tensor],
    amount: Any,
    *,
    device: torch.device,
) -> dict[str, Any]:
    """prune_l1(model, amount) on the test's model (without amount for the default)."""
    model = _PNet(**spec)
    model.load_state_dict(state)
    model.to(device)
    out = mod.prune_l1(model) if amount == _DEFAULT else mod.prune_l1(model, amount=amount)
    sd = model.state_dict()
    return {
        "same_object": out is model,
        "described": describe(out),
        "keys": list(sd),
        "state": {k: v.detach().cpu().clone() for k, v in sd.items()},
        "params": [name for name, _ in model.named_parameters()],
        "hooks": {
            name: len(m._forward_pre_hooks)
            for name, m in model.named_modules()
            if m._forward_pre_hooks
        },
    }


@scenario
def prune_refused(
    mod: Any, spec: dict[str, Any], state: dict[str, torch.Tensor], amount: float
) -> dict[str, Any]:
    """prune_l1(model, amount) with an amount outside [0, 1): the error's name, the state after."""
    model = _PNet(**spec)
    model.load_state_dict(state)
    error = None
    try:
        mod.prune_l1(model, amount=amount)
    except NotImplementedError:
        raise
    except Exception as exc:  # the learner's: reported as data
        error = type(exc).__name__
    for module in model.modules():  # a mask left behind by prune: read the weights it holds
        if hasattr(module, "weight_orig"):
            prune.remove(module, "weight")
    return {
        "error": error,
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }


# ----------------------------------------------------------------------------- models


class _QNet(nn.Module):
    """[conv -> relu] -> flatten -> features (Linear, LayerNorm, ReLU, Linear, ReLU) -> head.

    The conv is left out with ``channels=0`` (tiny convolutions are slow to train on a CPU).
    """

    def __init__(self, channels: int, hidden: int, second: int, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3, padding=1) if channels else nn.Identity()
        self.features = nn.Sequential(
            nn.Linear(max(channels, 1) * 64, hidden),
            nn.LayerNorm(hidden),
            nn.ReLU(),
            nn.Linear(hidden, second, bias=False),
            nn.ReLU(),
        )
        self.head = nn.Linear(second, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(F.relu(self.conv(x)).flatten(1)))

    @staticmethod
    def describe(spec: dict[str, Any]) -> str:
        c, h, s, k = spec["channels"], spec["hidden"], spec["second"], spec["classes"]
        conv = f"conv: Conv2d(1, {c}, 3), " if c else ""
        return (
            f"a model ({conv}features: Sequential(Linear({max(c, 1) * 64}, {h}), "
            f"LayerNorm({h}), ReLU, Linear({h}, {s}, bias=False), ReLU), head: Linear({s}, {k}))"
        )


class _PNet(nn.Module):
    """Conv2d -> BatchNorm2d -> ReLU -> flatten -> block (Linear, LayerNorm, ReLU) -> Linear."""

    DESCRIPTION = (
        "a model (Conv2d(1, 3, 3), BatchNorm2d(3), ReLU, Flatten, Sequential(Linear(108, 7), "
        "LayerNorm(7), ReLU), Linear(7, 5))"
    )

    def __init__(self, hidden: int, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.block = nn.Sequential(nn.Linear(3 * 36, hidden), nn.LayerNorm(hidden), nn.ReLU())
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.block(F.relu(self.bn(self.conv(x))).flatten(1)))


_PRUNED = ("conv.weight", "block.0.weight", "out.weight")


def _pnet_spec() -> dict[str, Any]:
    """27, 756 and 35 weights: 0.5 * 27 and 0.5 * 35 are halves, which round() sends to even."""
    return {"hidden": 7, "classes": 5}


def _qnet_spec(rng: Any) -> dict[str, Any]:
    return {
        "channels": 2,
        "hidden": rng.choice((40, 48, 56)),
        "second": rng.choice((24, 32)),
        "classes": 10,
    }


def _linear_names(spec: dict[str, Any]) -> list[str]:
    return sorted(["features.0", "features.3", "head"])


def _judge_bytes(spec: dict[str, Any]) -> tuple[int, int]:
    """(fp32_bytes, int8_bytes) of the _QNet's Linear layers, counted by the judge."""
    fp32 = int8 = 0
    for module in _QNet(**spec).modules():
        if isinstance(module, nn.Linear):
            n, out = module.weight.numel(), module.out_features
            bias = 0 if module.bias is None else module.bias.numel()
            fp32 += 4 * n + 4 * bias
            int8 += n + 4 * out + 4 * bias
    return fp32, int8


def _random_state(model: nn.Module, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``model`` drawn anew (norm weights away from 1)."""
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value.clone()
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(value.shape, generator=gen)
        else:
            state[key] = torch.randn(value.shape, generator=gen) * 0.3
    return state


@functools.lru_cache(maxsize=4)
def _trained_classifier(
    value: int,
) -> tuple[dict[str, Any], dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """A _QNet trained by the judge on the digits (seeded), and the held-out test split."""
    split = digits_split(seed=value, val_fraction=0.0, test_fraction=0.25)
    X, y = split["train"]
    spec = {"channels": 0, "hidden": 48, "second": 32, "classes": 10}
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(value)
        torch.set_num_threads(1)  # tiny matrices: one thread is faster on a loaded machine
        try:
            model = _QNet(**spec)
            params = list(model.parameters())
            velocity = [torch.zeros_like(p) for p in params]
            # Full-batch SGD with momentum, by hand: torch.optim's first step imports
            # torch._dynamo (about 1 s). About 96% test accuracy.
            for _ in range(60):
                grads = torch.autograd.grad(F.cross_entropy(model(X), y), params)
                with torch.no_grad():
                    for p, v, g in zip(params, velocity, grads, strict=True):
                        v.mul_(0.9).add_(g)
                        p.sub_(0.1 * v)
        finally:
            torch.set_num_threads(threads)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return spec, state, split["test"]


def _accuracy(
    spec: dict[str, Any], state: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor
) -> float:
    model = _QNet(**spec)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


# ----------------------------------------------------------------------------- helpers


def _weight_shapes(rng: Any) -> list[tuple[int, ...]]:
    """A non-square and a square Linear weight, a Conv2d weight and a vector."""
    c = rng.randint(4, 9)
    return [(c, c + rng.randint(2, 9)), (c, c), (c, rng.randint(2, 4), 3, 3), (c,)]


def _weight(seed: Any, offset: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Normal weights, each channel at its own magnitude (from 0.01 to 3)."""
    gen = seed.generator(offset)
    magnitude = 10 ** (torch.rand(shape[0], generator=gen) * 2.5 - 2)
    w = torch.randn(shape, generator=gen)
    return w * magnitude.reshape(-1, *([1] * (len(shape) - 1)))


def _node(value: Any) -> str | None:
    node = getattr(value, "grad_fn", None)
    return None if node is None else type(node).__name__


def _judge_scale(w: torch.Tensor) -> torch.Tensor:
    amax = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    scale = amax / 127
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def _torch_int_repr(w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """torch's own symmetric per-channel int8 quantization of ``w`` with ``scale`` (judge-side)."""
    zeros = torch.zeros(w.shape[0], dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated; int_repr is the data
        quantized = torch.quantize_per_channel(
            w.detach().cpu().float(), scale.detach().cpu().double(), zeros, 0, torch.qint8
        )
        return quantized.int_repr()


def _check_pair(out: Any, w: torch.Tensor, call: str, *, finite: bool = True):
    """The (q, scale) pair: a tuple of two tensors, int8 of w's shape and float32 (C,)."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise fail(f"{call}; returned {describe(out)}, expected a tuple (q, scale)")
    q, scale = out
    shape = tuple(w.shape)
    assert_tensor(q, what="q", shape=shape, device=w.device, call=call)
    if q.dtype != torch.int8:
        raise fail(
            f"{call}; q has dtype {q.dtype}, expected torch.int8: after rounding and clamping, "
            "cast with .to(torch.int8)"
        )
    assert_tensor(scale, what="scale", device=w.device, finite=False, call=call)
    if tuple(scale.shape) != (shape[0],):
        if scale.numel() == 1:
            raise fail(
                f"{call}; scale has shape {tuple(scale.shape)}: one scale for the whole tensor; "
                f"per-channel quantization has one scale per output channel, shape ({shape[0]},)"
            )
        raise fail(
            f"{call}; scale has shape {tuple(scale.shape)}, expected ({shape[0]},): one float32 "
            "per output channel (reshape it to (C, 1, ...) only to divide)"
        )
    if scale.dtype != torch.float32:
        raise fail(f"{call}; scale has dtype {scale.dtype}, expected torch.float32")
    if finite:
        assert_tensor(scale, what="scale", call=call)
    return q, scale


def _check_scale(scale: torch.Tensor, w: torch.Tensor, call: str) -> None:
    """scale equals max|w[c]| / 127 (1.0 for a zero channel); known mistakes are named."""
    got = scale.detach().cpu()
    want = _judge_scale(w.cpu())
    if bool(torch.isfinite(got).all()) and torch.allclose(got, want, rtol=1e-6, atol=0.0):
        return
    amax = w.detach().cpu().abs().reshape(w.shape[0], -1).amax(dim=1)
    mistakes = (
        (torch.full_like(want, float(amax.max()) / 127), "one scale for the whole tensor "
         "(max over all of w); per-channel quantization takes the max of each channel, "
         "w[c], along dim 0"),
        (amax / 128, "max|w[c]| / 128; the symmetric int8 range is [-127, 127], so divide by 127"),
        (amax / 255, "max|w[c]| / 255; symmetric quantization divides max|w[c]| by 127"),
        (2 * amax / 255, "2 * max|w[c]| / 255 (an asymmetric range); divide max|w[c]| by 127"),
        (127 / amax, "127 / max|w[c]|, the inverse; scale = max|w[c]| / 127"),
        (amax, "max|w[c]| itself; divide it by 127"),
    )  # fmt: skip
    for simulated, advice in mistakes:
        finite = torch.isfinite(simulated)
        if bool((torch.isfinite(got) == finite).all()) and torch.allclose(
            got[finite], simulated[finite].float(), rtol=1e-5, atol=0.0
        ):
            raise fail(f"{call}; scale is {advice}")
    assert_close(scale, want.to(scale.device), what="scale", call=call, rtol=1e-6, atol=0.0)


def _check_q(q: torch.Tensor, scale: torch.Tensor, w: torch.Tensor, call: str) -> None:
    """q equals torch.quantize_per_channel(w, scale, 0, 0, qint8).int_repr() for these scales."""
    got = q.detach().cpu()
    want = _torch_int_repr(w, scale)
    diff = (got.int() - want.int()).abs()
    ratio = w.detach().cpu().double() / scale.detach().cpu().double().reshape(
        -1, *([1] * (w.dim() - 1))
    )
    near_half = ((ratio - ratio.floor()) - 0.5).abs() < NEAR_HALF
    bad = ~((diff == 0) | ((diff == 1) & near_half))
    if not bool(bad.any()):
        return
    if torch.equal(got, ratio.trunc().clamp(-127, 127).to(torch.int8)):
        raise fail(
            f"{call}; q holds w / scale truncated toward zero: round with torch.round before "
            "casting to int8 (.to(torch.int8) alone drops the fraction)"
        )
    if torch.equal(got, ratio.floor().clamp(-127, 127).to(torch.int8)):
        raise fail(f"{call}; q holds floor(w / scale): round to the nearest with torch.round")
    first = int(bad.reshape(-1).nonzero()[0])
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(first), w.shape))
    raise fail(
        f"{call}; q differs from torch.quantize_per_channel(w, scale, zeros, 0, torch.qint8)"
        f".int_repr() for your scales in {int(bad.sum())} of {w.numel()} elements; at index "
        f"{index} q is {int(got.reshape(-1)[first])}, expected {int(want.reshape(-1)[first])} "
        f"(w / scale = {ratio.reshape(-1)[first].item():.6g}): q = clamp(round(w[c] / "
        "scale[c]), -127, 127)"
    )


def _check_bytes(report: dict[str, Any], key: str, want: int, spec: dict[str, Any], call: str):
    got = report[key]
    if type(got) is not int:
        raise fail(f"{call}; report[{key!r}] is {describe(got)}, expected a Python int")
    if got == want:
        return
    fp32, int8 = _judge_bytes(spec)
    model = _QNet(**spec)
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    n_w = sum(m.weight.numel() for m in linear)
    n_b = sum(0 if m.bias is None else m.bias.numel() for m in linear)
    n_s = sum(m.out_features for m in linear)
    n_all = sum(p.numel() for p in model.parameters())
    others = n_all - n_w - n_b
    hints = {
        "int8_bytes": (
            (n_w + 4 * n_b, "the scales are missing: each output channel's float32 scale "
             "costs 4 bytes"),
            (n_w + n_s + 4 * n_b, "each scale counts 1 byte; a scale is a float32, 4 bytes"),
            (n_w + 4 * n_s + n_b, "the biases count 1 byte each; they stay float32, 4 bytes"),
            (n_w + 4 * n_s, "the biases are missing: they stay float32 and count 4 bytes each"),
            (int8 + 4 * others, "it counts parameters of other modules (Conv2d, LayerNorm); "
             "count the nn.Linear layers only"),
        ),
        "fp32_bytes": (
            (4 * n_w, "the biases are missing: count 4 bytes per bias element too"),
            (n_w + n_b, "it counts elements, not bytes: a float32 takes 4 bytes"),
            (fp32 + 4 * others, "it counts parameters of other modules (Conv2d, LayerNorm); "
             "count the nn.Linear layers only"),
        ),
    }  # fmt: skip
    for value, advice in hints[key]:
        if got == value:
            raise fail(f"{call}; report[{key!r}] is {got}, expected {want}: {advice}")
    raise fail(
        f"{call}; report[{key!r}] is {got}, expected {want} (the Linear layers hold {n_w} "
        f"weights, {n_s} output channels and {n_b} bias elements)"
    )


def _check_model_intact(got: dict[str, Any], state: dict[str, torch.Tensor], call: str) -> None:
    advice = (
        "quantize_linear_layers reports on the model and must not modify it: quantize "
        "module.weight.detach() and keep the result out of the model"
    )
    for name, (kind, dtype, requires_grad) in got["params_after"].items():
        if kind != "Parameter" or dtype != "torch.float32" or not requires_grad:
            raise fail(
                f"{call}; afterwards {name} is a {kind} of {dtype} (requires_grad="
                f"{requires_grad}), expected a float32 nn.Parameter: {advice}"
            )
    assert_unchanged(got["state_after"], state, what="the model's state_dict", call=call,
                     advice=advice)  # fmt: skip


def _expected_pruned(state: dict[str, torch.Tensor], amount: float) -> dict[str, torch.Tensor]:
    """The state with the round(amount * n) smallest |w| of each pruned weight set to 0."""
    want = {k: v.clone() for k, v in state.items()}
    for key in _PRUNED:
        w = want[key]
        k = round(amount * w.numel())
        if k:
            idx = torch.topk(w.abs().reshape(-1), k, largest=False).indices
            w.view(-1)[idx] = 0.0
    return want


def _globally_pruned(state: dict[str, torch.Tensor], amount: float) -> dict[str, torch.Tensor]:
    """Where the zeros would be with one threshold over all pruned layers together."""
    flat = torch.cat([state[key].abs().reshape(-1) for key in _PRUNED])
    k = round(amount * flat.numel())
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    if k:
        mask[torch.topk(flat, k, largest=False).indices] = True
    out, start = {}, 0
    for key in _PRUNED:
        n = state[key].numel()
        out[key] = mask[start : start + n].reshape(state[key].shape)
        start += n
    return out


def _check_pruned(
    got: dict[str, Any], state: dict[str, torch.Tensor], amount: float, call: str
) -> None:
    """Per layer: the number of zeros, which weights were zeroed, and nothing else touched."""
    after = got["state"]
    want = _expected_pruned(state, amount)
    for key in state:
        if key.endswith(("_orig", "_mask")):
            continue
        if key not in after:
            raise fail(
                f"{call}; afterwards the state_dict has no {key!r} (keys: {list(after)[:8]}): "
                "call prune.remove(module, 'weight') after l1_unstructured"
            )
    global_zeros = _globally_pruned(state, amount)
    for key in _PRUNED:
        w0, w = state[key], after[key]
        layer = key.rsplit(".", 1)[0]
        kind = "Conv2d" if key.startswith("conv") else "Linear"
        n, k = w0.numel(), round(amount * w0.numel())
        zeros = int((w == 0).sum())
        if zeros != k:
            if zeros == 0 and k:
                raise fail(
                    f"{call}; the {kind} {layer!r} has no zero weight: prune every nn.Linear "
                    "and every nn.Conv2d in model.modules()"
                )
            if all(torch.equal(after[j] == 0, global_zeros[j]) for j in _PRUNED):
                how = (
                    f"{k}: each layer is pruned by itself (l1_unstructured on each module), "
                    "not with one global threshold over all layers (global_unstructured)"
                )
            elif zeros in (int(amount * n), math.ceil(amount * n)):
                how = f"Python's round(amount * numel) = {k}, half to even"
            else:
                how = f"round(amount * numel) = {k}"
            raise fail(
                f"{call}; the {kind} {layer!r} has {zeros} zero weights of {n}, expected {how}"
            )
        if not torch.equal(w == 0, want[key] == 0):
            raise fail(
                f"{call}; the {kind} {layer!r} has the right number of zeros in the wrong "
                "places: L1 pruning zeroes the weights of smallest |w| (l1_unstructured, not "
                "random_unstructured)"
            )
        if not torch.equal(w, want[key]):
            raise fail(f"{call}; the {kind} {layer!r} kept weights have changed values")
    for key, value in state.items():
        if key in _PRUNED:
            continue
        if not torch.equal(after[key], value):
            raise fail(
                f"{call}; {key} has changed: prune only the weight of nn.Linear and nn.Conv2d "
                "layers; biases, BatchNorm and LayerNorm stay as they are"
            )
