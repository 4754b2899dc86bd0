"""Grader for 4.3: model surgery, a new head and a one-channel stem.

The models are small ResNet-shaped nets built here (children ``conv1``, ``bn1``, ``relu``,
``layer``, ``avgpool``, ``fc``) whose ``fc.in_features`` and ``conv1`` settings (kernel,
stride, padding, dilation, padding mode, bias) are drawn at random, so nothing can be
hard-coded, and the pretrained backbone of ``data/backbone.pt`` on real digits.

``replace_head``: the new head's structure, sizes, device and dtype are compared with the
reference's; its initialisation is judged from the learner's own weights (a wide head of
about 200,000 weights: the sample std against ``sqrt(2 / in_features)``, the mean, the
share beyond two standard deviations, which tells a normal from a uniform draw); its output
in eval mode must equal ``features @ W.T + b`` computed by the judge from the features the
head received. ``adapt_first_conv``: the adapted model's output on grey images must equal
the old model's output on the same images repeated on three channels (computed before the
surgery, by the reference), and the new conv's settings and weights must be the reference's.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path import data
from pytorch_path.checks import (
    assert_close,
    assert_unchanged,
    describe,
    fail,
    tolerance,
)
from pytorch_path.scenario import LearnerError, scenario

#: The head's sample std must be within this fraction of sqrt(2 / in_features).
STD_TOLERANCE = 0.03
#: Tolerance of the grey-vs-RGB comparison (float32), as the contract states it.
GREY_TOL = {"rtol": 1e-4, "atol": 1e-5}
#: conv1 settings the nets are built with (one is drawn per net).
CONV_SETTINGS: tuple[dict[str, Any], ...] = (
    {"kernel_size": 7, "stride": 2, "padding": 3, "dilation": 1, "bias": False,
     "padding_mode": "zeros"},
    {"kernel_size": (3, 5), "stride": (2, 1), "padding": (1, 2), "dilation": 1, "bias": True,
     "padding_mode": "zeros"},
    {"kernel_size": 3, "stride": 2, "padding": 2, "dilation": 2, "bias": True,
     "padding_mode": "reflect"},
    {"kernel_size": 3, "stride": 1, "padding": "same", "dilation": 1, "bias": False,
     "padding_mode": "circular"},
    {"kernel_size": 5, "stride": 3, "padding": (2, 1), "dilation": (1, 2), "bias": True,
     "padding_mode": "replicate"},
)  # fmt: skip
_SETTINGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
             "groups", "padding_mode", "bias")  # fmt: skip


# ----------------------------------------------------------------------------- replace_head


@pytest.mark.points(2)
def test_head_sizes_and_output(learner, reference, seed):
    """The new head maps model.fc.in_features to num_classes; eval output is features @ W.T + b."""
    rng = seed.python_random()
    for index in range(3):
        spec = _spec(rng)
        num_classes = rng.choice([k for k in range(2, 13) if k != 5])
        x = seed.randn(4, 3, 12, 12, offset=index)
        call = f"called replace_head(model, {num_classes}) on a model whose fc is {_fc_text(spec)}"
        got = _run(learner, head_facts, spec, num_classes, {}, x, call=call)
        want = reference.run(head_facts, spec, num_classes, {}, x)
        _check_head(got, want, call, dropout=0.0)


@pytest.mark.points(2)
def test_head_initialisation(learner, seed):
    """Weights ~ kaiming_normal_(fan_in, relu): normal, mean 0, std sqrt(2/in); bias zero."""
    rng = seed.python_random(1)
    for dropout in (0.0, round(rng.uniform(0.1, 0.6), 3)):
        in_features = rng.randrange(600, 800)
        num_classes = rng.randrange(250, 320)
        kwargs = {"dropout": dropout} if dropout else {}
        shown = f", dropout={dropout}" if dropout else ""
        call = (
            f"called replace_head(model, {num_classes}{shown}) on a model whose fc is "
            f"Linear({in_features}, 5)"
        )
        got = _run(learner, wide_head, in_features, num_classes, kwargs, call=call)
        linear = _linear_of(got, call, dropout=dropout)
        _check_init(linear, in_features, num_classes, call)


def test_dropout_head(learner, reference, seed):
    """dropout > 0 gives Sequential(Dropout(p), Linear); the default and 0.0 give a plain Linear."""
    rng = seed.python_random(2)
    spec = _spec(rng)
    p = round(rng.uniform(0.05, 0.9), 3)
    x = seed.randn(3, 3, 12, 12, offset=10)
    for kwargs in ({"dropout": p}, {}, {"dropout": 0.0}, {"dropout": 0.99}):
        shown = "".join(f", dropout={v}" for v in kwargs.values())
        call = f"called replace_head(model, 6{shown}) on a model whose fc is {_fc_text(spec)}"
        got = _run(learner, head_facts, spec, 6, kwargs, x, call=call)
        want = reference.run(head_facts, spec, 6, kwargs, x)
        _check_head(got, want, call, dropout=kwargs.get("dropout", 0.0))


def test_replace_head_again(learner, reference, seed):
    """replace_head works again on a head it built (Sequential(Dropout, Linear))."""
    rng = seed.python_random(3)
    spec = _spec(rng)
    x = seed.randn(3, 3, 12, 12, offset=20)
    steps = [(7, {"dropout": 0.3}), (4, {}), (3, {"dropout": 0.5}), (2, {"dropout": 0.2})]
    call = (
        f"called replace_head(model, 7, dropout=0.3), then (4), (3, dropout=0.5) and "
        f"(2, dropout=0.2) on a model whose fc is {_fc_text(spec)}"
    )
    got = _run(learner, head_again, spec, steps, x, call=call)
    want = reference.run(head_again, spec, steps, x)
    _check_head(got, want, call, dropout=0.2)


def test_head_validation(learner, seed):
    """num_classes >= 1 and 0 <= dropout < 1 (0 and 1 are the boundaries); the model unchanged."""
    rng = seed.python_random(4)
    spec = _spec(rng)
    cases = (
        (0, {}, True),
        (-3, {}, True),
        (1, {}, False),
        (3, {"dropout": 1.0}, True),
        (3, {"dropout": 1.5}, True),
        (3, {"dropout": -0.01}, True),
        (3, {"dropout": 0.0}, False),
        (3, {"dropout": 0.999}, False),
    )
    for num_classes, kwargs, refused in cases:
        shown = "".join(f", dropout={v}" for v in kwargs.values())
        call = f"called replace_head(model, {num_classes}{shown})"
        got = _run(learner, head_error, spec, num_classes, kwargs, call=call)
        if refused:
            rule = "num_classes >= 1" if num_classes < 1 else "0 <= dropout < 1"
            if got["raised"] is None:
                raise fail(f"{call}; it returned normally, expected ValueError ({rule})")
            if got["raised"] != "ValueError":
                raise fail(
                    f"{call}; raised {got['raised']}: {got['message']}; expected ValueError "
                    f"({rule})"
                )
            if not got["unchanged"]:
                raise fail(
                    f"{call}; raised ValueError, but only after replacing model.fc: check the "
                    "arguments first"
                )
        elif got["raised"] is not None:
            raise fail(
                f"{call}; raised {got['raised']}: {got['message']}; that value is allowed "
                "(num_classes >= 1, 0 <= dropout < 1)"
            )


def test_head_device_and_dtype(learner, reference, device, seed):
    """The new head is on the old head's device and in its dtype, and it trains."""
    rng = seed.python_random(5)
    spec = _spec(rng)
    dtype = torch.float32 if device.type == "mps" else torch.float64
    x = seed.randn(3, 3, 12, 12, dtype=dtype, device=device, offset=30)
    for kwargs in ({}, {"dropout": 0.25}):
        shown = "".join(f", dropout={v}" for v in kwargs.values())
        call = (
            f"called replace_head(model, 4{shown}) on a model on {device} in {dtype} whose "
            "parameters were all frozen"
        )
        got = _run(learner, head_facts, spec, 4, kwargs, x, freeze=True, call=call)
        want = reference.run(head_facts, spec, 4, kwargs, x, freeze=True)
        _check_head(got, want, call, dropout=kwargs.get("dropout", 0.0), device=device)


def test_head_on_meta(learner, seed):
    """On the meta device (no memory), the new head is on meta too."""
    spec = _spec(seed.python_random(6))
    call = "called replace_head(model, 3) on a model on the meta device"
    got = _run(learner, head_on_meta, spec, call=call)
    if got["devices"] != ["meta"]:
        raise fail(
            f"{call}; the new head's parameters are on {got['devices']}, expected meta: create "
            "it with device=old.weight.device (and dtype=old.weight.dtype)"
        )
    if got["shape"] != [3, spec["width"]]:
        raise fail(f"{call}; the new head's weight has shape {got['shape']}, expected (3, "
                   f"{spec['width']})")  # fmt: skip


# ----------------------------------------------------------------------------- adapt_first_conv


@pytest.mark.points(2)
def test_grey_input_gives_the_rgb_output(learner, reference, seed):
    """Adapted to 1 channel, the model gives on x what it gave on x.repeat(1, 3, 1, 1)."""
    rng = seed.python_random(7)
    for index, settings in enumerate(rng.sample(CONV_SETTINGS, len(CONV_SETTINGS))):
        spec = _spec(rng, conv=settings)
        x = seed.rand(3, 1, 13, 11, offset=40 + index)
        call = f"called adapt_first_conv(model) on a model whose conv1 is {_conv_text(spec)}"
        got = _run(learner, conv_facts, spec, x, call=call)
        want = reference.run(conv_facts, spec, x)
        _check_conv(got, want, call)


def test_pretrained_backbone_on_grey_digits(learner, reference, seed):
    """The pretrained backbone, adapted, predicts grey digits as it predicted them in RGB."""
    images, _ = data.load_digits()
    idx = torch.randperm(len(images), generator=seed.generator(50))[:16]
    grey = data.backbone_images(images[idx])[:, :1].contiguous()
    call = "called adapt_first_conv(backbone) on the pretrained backbone, then backbone(grey)"
    got = _run(learner, backbone_grey, grey, call=call)
    want = reference.run(backbone_grey, grey)
    _check_conv(got, want, call)
    if not torch.equal(got["grey"].argmax(1), want["rgb"].argmax(1)):
        raise fail(f"{call}; the predicted classes changed")


def test_adapt_validation(learner):
    """conv1 must have 3 input channels and groups=1 (ValueError otherwise, model unchanged)."""
    for in_channels, groups in ((1, 1), (4, 1), (3, 3), (2, 1)):
        call = (
            f"called adapt_first_conv(model) on a model whose conv1 has in_channels="
            f"{in_channels}, groups={groups}"
        )
        got = _run(learner, adapt_error, in_channels, groups, call=call)
        if got["raised"] is None:
            raise fail(
                f"{call}; it returned normally, expected ValueError: only a conv1 with 3 input "
                "channels and groups=1 can be adapted (check model.conv1.in_channels)"
            )
        if got["raised"] != "ValueError":
            raise fail(f"{call}; raised {got['raised']}: {got['message']}; expected ValueError")
        if not got["unchanged"]:
            raise fail(f"{call}; raised ValueError, but only after changing model.conv1")


def test_adapt_on_device(learner, reference, device, seed):
    """On any device and dtype, the new conv is on the old conv's device and in its dtype."""
    rng = seed.python_random(8)
    dtype = torch.float32 if device.type == "mps" else torch.float64
    spec = _spec(rng, conv=CONV_SETTINGS[1])
    x = seed.rand(2, 1, 13, 11, dtype=dtype, device=device, offset=60)
    call = (
        f"called adapt_first_conv(model) on a model on {device} in {dtype} whose conv1 is "
        f"{_conv_text(spec)}"
    )
    got = _run(learner, conv_facts, spec, x, call=call)
    want = reference.run(conv_facts, spec, x)
    _check_conv(got, want, call, device=device)


# ----------------------------------------------------------------------------- scenarios


@scenario
def head_facts(
    mod: Any,
    spec: dict[str, Any],
    num_classes: int,
    kwargs: dict[str, float],
    x: torch.Tensor,
    *,
    freeze: bool = False,
) -> dict[str, Any]:
    """replace_head on a fresh net on x's device and dtype; the head and outputs as data."""
    model = _net(spec).to(device=x.device, dtype=x.dtype)
    if freeze:
        model.requires_grad_(False)
    rest_before = _rest(model)
    returned = mod.replace_head(model, num_classes, **kwargs)
    return {**_head_facts(model, x), "same": returned is model, "returned": describe(returned),
            "rest_before": rest_before, "rest_after": _rest(model)}  # fmt: skip


@scenario
def head_again(
    mod: Any, spec: dict[str, Any], steps: list[tuple[int, dict[str, float]]], x: torch.Tensor
) -> dict[str, Any]:
    """replace_head several times in a row on the same net."""
    model = _net(spec)
    rest_before = _rest(model)
    returned: Any = model
    for num_classes, kwargs in steps:
        returned = mod.replace_head(model, num_classes, **kwargs)
    return {**_head_facts(model, x), "same": returned is model, "returned": describe(returned),
            "rest_before": rest_before, "rest_after": _rest(model)}  # fmt: skip


@scenario
def wide_head(
    mod: Any, in_features: int, num_classes: int, kwargs: dict[str, float]
) -> dict[str, Any]:
    """replace_head on a model whose fc is Linear(in_features, 5): the new head's tensors."""
    model = _Wide(in_features)
    mod.replace_head(model, num_classes, **kwargs)
    return _head_structure(model.fc)


@scenario
def head_error(
    mod: Any, spec: dict[str, Any], num_classes: int, kwargs: dict[str, float]
) -> dict[str, Any]:
    """replace_head with arguments that may be refused: what it raised; is fc untouched?"""
    model = _net(spec)
    old = model.fc
    weight = old.weight.detach().clone()
    try:
        mod.replace_head(model, num_classes, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:
        unchanged = model.fc is old and torch.equal(old.weight.detach(), weight)
        return {"raised": type(exc).__name__, "message": str(exc)[:300], "unchanged": unchanged}
    return {"raised": None, "message": "", "unchanged": False}


@scenario
def head_on_meta(mod: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """replace_head on a net on the meta device."""
    model = _net(spec).to("meta")
    mod.replace_head(model, 3)
    linear = model.fc[-1] if isinstance(model.fc, nn.Sequential) else model.fc
    return {
        "devices": sorted({p.device.type for p in model.fc.parameters()}),
        "shape": list(getattr(linear, "weight", torch.empty(0)).shape),
    }


@scenario
def conv_facts(mod: Any, spec: dict[str, Any], x: torch.Tensor) -> dict[str, Any]:
    """The net's output on x repeated to RGB, then adapt_first_conv and its output on x."""
    model = _net(spec).to(device=x.device, dtype=x.dtype).eval()
    return _adapt_and_run(mod, model, x)


@scenario
def backbone_grey(mod: Any, grey: torch.Tensor) -> dict[str, Any]:
    """The pretrained backbone: output on RGB, then adapt_first_conv and its output on grey."""
    model = data.make_backbone()
    path = data.verify_file(data.BACKBONE_FILE)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return _adapt_and_run(mod, model.eval(), grey)


@scenario
def adapt_error(mod: Any, in_channels: int, groups: int) -> dict[str, Any]:
    """adapt_first_conv on a conv1 that cannot be adapted."""
    model = _net({"width": 8, "c1": 6, "conv": CONV_SETTINGS[0], "in_channels": in_channels,
                  "groups": groups})  # fmt: skip
    old = model.conv1
    weight = old.weight.detach().clone()
    try:
        mod.adapt_first_conv(model)
    except NotImplementedError:
        raise
    except Exception as exc:
        unchanged = model.conv1 is old and torch.equal(old.weight.detach(), weight)
        return {"raised": type(exc).__name__, "message": str(exc)[:300], "unchanged": unchanged}
    return {"raised": None, "message": "", "unchanged": False}


# ----------------------------------------------------------------------------- helpers: models


class _Net(nn.Module):
    """A small ResNet-shaped net: conv1 -> bn1 -> relu -> layer -> relu -> avgpool -> fc."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        conv = dict(spec["conv"])
        c1, width = spec["c1"], spec["width"]
        self.conv1 = nn.Conv2d(spec.get("in_channels", 3), c1, groups=spec.get("groups", 1), **conv)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu = nn.ReLU()
        self.layer = nn.Conv2d(c1, width, 3, padding=1, bias=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.avgpool(self.relu(self.layer(h)))
        return self.fc(torch.flatten(h, 1))


class _Wide(nn.Module):
    """Only a wide head: enough to judge an initialisation from 200,000 weights."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, 5)


def _net(spec: dict[str, Any]) -> _Net:
    """The net of ``spec``, its weights (and BatchNorm statistics) drawn from spec['seed']."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.get("seed", 0))
        model = _Net(spec)
        with torch.no_grad():
            model.bn1.running_mean.normal_(0.0, 0.2)
            model.bn1.running_var.uniform_(0.5, 1.5)
            model.bn1.weight.uniform_(0.5, 1.5)
            model.bn1.bias.normal_(0.0, 0.2)
    return model


def _spec(rng: Any, *, conv: dict[str, Any] | None = None) -> dict[str, Any]:
    width = rng.choice([w for w in range(20, 45) if w not in (32,)])
    return {
        "width": width,
        "c1": rng.randrange(5, 12),
        "conv": dict(conv if conv is not None else rng.choice(CONV_SETTINGS)),
        "seed": rng.randrange(2**31),
    }


def _fc_text(spec: dict[str, Any]) -> str:
    return f"Linear({spec['width']}, 5)"


def _conv_text(spec: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in spec["conv"].items())
    return f"Conv2d(3, {spec['c1']}, {args})"


def _rest(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}


def _head_structure(head: Any) -> dict[str, Any]:
    """The head as data: its layers, and the facts of its Linear."""
    layers = list(head) if isinstance(head, nn.Sequential) else [head]
    answer: dict[str, Any] = {
        "head_type": type(head).__name__,
        "layers": [type(m).__name__ for m in layers],
        "dropout_p": [float(m.p) for m in layers if isinstance(m, nn.Dropout)],
        "linear": None,
    }
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    if linears:
        lin = linears[-1]
        answer["linear"] = {
            "in_features": lin.in_features,
            "out_features": lin.out_features,
            "weight": lin.weight.detach(),
            "bias": None if lin.bias is None else lin.bias.detach(),
            "requires_grad": all(p.requires_grad for p in lin.parameters()),
        }
    return answer


def _head_facts(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """The head's structure, and in eval mode the features it received and the output."""
    facts = _head_structure(model.fc)
    seen: list[torch.Tensor] = []
    handle = model.fc.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    model.eval()
    try:
        with torch.no_grad():
            facts["out"] = model(x)
        facts["forward_error"] = None
    except RuntimeError as exc:
        facts["out"] = None
        facts["forward_error"] = str(exc).strip().splitlines()[0]
    finally:
        handle.remove()
    facts["features"] = seen[0] if seen else None
    return facts


def _adapt_and_run(mod: Any, model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    with torch.no_grad():
        rgb = model(x.repeat(1, 3, 1, 1))
    old_weight = model.conv1.weight  # the tensor itself: it must keep its values
    returned = mod.adapt_first_conv(model)
    conv = model.conv1
    facts: dict[str, Any] = {"same": returned is model, "returned": describe(returned),
                             "rgb": rgb, "old_weight_after": old_weight.detach()}  # fmt: skip
    if not isinstance(conv, nn.Conv2d):
        return {**facts, "conv": None, "conv_type": describe(conv)}
    facts["conv"] = {
        **{k: getattr(conv, k) for k in _SETTINGS if k != "bias"},
        "bias": conv.bias is not None,
        "weight": conv.weight.detach(),
        "bias_value": None if conv.bias is None else conv.bias.detach(),
        "parameters": all(isinstance(p, nn.Parameter) and p.requires_grad
                          for p in (conv.weight, conv.bias) if p is not None),
    }  # fmt: skip
    try:
        with torch.no_grad():
            facts["grey"] = model(x)
        facts["forward_error"] = None
    except RuntimeError as exc:
        facts["grey"] = None
        facts["forward_error"] = str(exc).strip().splitlines()[0]
    return facts


# ----------------------------------------------------------------------------- helpers: verdicts


def _run(side: Any, fn: Any, *args: Any, call: str, **kwargs: Any) -> Any:
    try:
        return side.run(fn, *args, **kwargs)
    except LearnerError as exc:
        if exc.kind != "raised" or exc.is_a("NotImplementedError"):
            raise
        text = exc.message.strip().splitlines()[0] if exc.message.strip() else exc.type_name
        if "leaf Variable that requires grad" in text:
            raise fail(
                f"{call} raised {exc.type_name}: {text}; copy into a parameter inside "
                "`with torch.no_grad():`"
            ) from None
        raise


def _linear_of(got: dict[str, Any], call: str, *, dropout: float) -> dict[str, Any]:
    """The Linear of the learner's head, after checking the head's structure."""
    layers = got["layers"]
    if dropout > 0:
        if layers != ["Dropout", "Linear"] or got["head_type"] != "Sequential":
            hint = ""
            if layers == ["Linear", "Dropout"]:
                hint = (
                    ": Dropout first, on the features: nn.Sequential(nn.Dropout(p), "
                    "nn.Linear(...)); dropout after the last layer would zero some logits"
                )
            raise fail(
                f"{call}; model.fc is {got['head_type']} of {layers}, expected "
                f"Sequential(Dropout({dropout}), Linear){hint}"
            )
        if abs(got["dropout_p"][0] - dropout) > 1e-12:
            raise fail(f"{call}; the Dropout has p={got['dropout_p'][0]}, expected {dropout}")
    elif got["head_type"] != "Linear":
        raise fail(
            f"{call}; model.fc is {got['head_type']} of {layers}, expected a plain nn.Linear: "
            "with dropout=0 (the default) there is no nn.Dropout at all"
        )
    linear = got["linear"]
    if linear is None:
        raise fail(f"{call}; the new head holds no nn.Linear ({layers})")
    return linear


def _check_head(
    got: dict[str, Any],
    want: dict[str, Any],
    call: str,
    *,
    dropout: float,
    device: torch.device | None = None,
) -> None:
    if not got["same"]:
        raise fail(f"{call}; it returned {got['returned']}, expected the model itself")
    linear = _linear_of(got, call, dropout=dropout)
    expected = want["linear"]
    if linear["in_features"] != expected["in_features"]:
        raise fail(
            f"{call}; the new head has in_features={linear['in_features']}, expected "
            f"{expected['in_features']}: read it from the old head (model.fc.in_features), "
            "never hard-code it"
        )
    if linear["out_features"] != expected["out_features"]:
        raise fail(
            f"{call}; the new head has out_features={linear['out_features']}, expected "
            f"{expected['out_features']} (num_classes)"
        )
    weight, bias = linear["weight"], linear["bias"]
    if bias is None:
        raise fail(f"{call}; the new head has no bias; nn.Linear(in_features, num_classes)")
    where = want["linear"]["weight"]
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor.dtype != where.dtype or tensor.device.type != where.device.type:
            raise fail(
                f"{call}; the new head's {name} is {describe(tensor)}, expected "
                f"{str(where.dtype).replace('torch.', '')} on {where.device}: build it with "
                "device=old.weight.device, dtype=old.weight.dtype (the old head's)"
            )
    if not linear["requires_grad"]:
        raise fail(
            f"{call}; the new head's parameters do not require grad: the new head is what "
            "trains, so leave it trainable"
        )
    if not torch.equal(bias.detach().cpu(), torch.zeros_like(bias.detach().cpu())):
        raise fail(f"{call}; the new head's bias is not zero: nn.init.zeros_(linear.bias)")
    if got["forward_error"] is not None:
        raise fail(f"{call}; then model(x) raised RuntimeError: {got['forward_error']}")
    for key, value in want["rest_before"].items():
        assert_unchanged(
            got["rest_after"].get(key), value, what=f"the model's {key}", call=call,
            advice="replace_head changes model.fc only",
        )  # fmt: skip
    out, features = got["out"], got["features"]
    if features is None:
        raise fail(f"{call}; model(x) in eval mode did not call model.fc")
    # The judge's own forward of the head from what the head received.
    expected_out = F.linear(features.double(), weight.double(), bias.double()).to(features.dtype)
    tol = tolerance(features.dtype, device) if device is not None else tolerance(features.dtype)
    assert_close(
        out, expected_out, what="model(x) in eval mode", call=call, **tol,
    )  # fmt: skip
    assert_close(
        got["features"], want["features"], what="the features reaching the head", call=call,
        **tol,
    )  # fmt: skip


def _check_init(linear: dict[str, Any], in_features: int, num_classes: int, call: str) -> None:
    weight = linear["weight"].detach().double().cpu()
    if tuple(weight.shape) != (num_classes, in_features):
        raise fail(
            f"{call}; the new head's weight has shape {tuple(weight.shape)}, expected "
            f"({num_classes}, {in_features})"
        )
    bias = linear["bias"]
    if bias is None or not torch.equal(bias.detach().cpu(), torch.zeros_like(bias.detach().cpu())):
        raise fail(f"{call}; the new head's bias is not exactly zero: nn.init.zeros_(linear.bias)")
    target = math.sqrt(2.0 / in_features)
    std, mean = float(weight.std()), float(weight.mean())
    ratio = std / target
    if abs(ratio - 1.0) > STD_TOLERANCE:
        known = {
            "nn.Linear's default initialisation (kaiming_uniform_ with a=sqrt(5), std "
            "1/sqrt(3 * fan_in))": 1.0 / math.sqrt(6.0),
            "mode='fan_out' (fan_out is num_classes here)": math.sqrt(in_features / num_classes),
            "nonlinearity='linear' (gain 1 instead of sqrt(2))": 1.0 / math.sqrt(2.0),
            "xavier_normal_ (std sqrt(2 / (fan_in + fan_out)))": math.sqrt(
                in_features / (in_features + num_classes)
            ),
        }
        guess = next((k for k, r in known.items() if abs(ratio - r) < 0.05), None)
        why = f"; that is {guess}" if guess else ""
        raise fail(
            f"{call}; the new weights have std {std:.4g}, expected sqrt(2 / in_features) = "
            f"{target:.4g} (within {STD_TOLERANCE:.0%}){why}. Use nn.init.kaiming_normal_("
            "weight, mode='fan_in', nonlinearity='relu')"
        )
    if abs(mean) > 0.02 * target:
        raise fail(f"{call}; the new weights have mean {mean:.3g}, expected about 0")
    beyond = float((weight.abs() > 2.0 * target).double().mean())
    if not 0.035 <= beyond <= 0.057:
        raise fail(
            f"{call}; {beyond:.2%} of the new weights lie beyond two standard deviations; a "
            "normal distribution puts 4.6% there (a uniform one none): use kaiming_normal_, "
            "not kaiming_uniform_"
        )


def _check_conv(
    got: dict[str, Any], want: dict[str, Any], call: str, *, device: torch.device | None = None
) -> None:
    if not got["same"]:
        raise fail(f"{call}; it returned {got['returned']}, expected the model itself")
    assert_unchanged(
        got["old_weight_after"], want["old_weight_after"], what="the old conv1.weight", call=call,
        advice="build the new weight as a new tensor (old.weight.sum(dim=1, keepdim=True))",
    )  # fmt: skip
    conv, expected = got["conv"], want["conv"]
    if conv is None:
        raise fail(f"{call}; model.conv1 is {got['conv_type']}, expected an nn.Conv2d")
    for key in _SETTINGS:
        if conv[key] != expected[key]:
            raise fail(
                f"{call}; the new conv1 has {key}={conv[key]!r}, expected {expected[key]!r}"
                + ("" if key == "in_channels" else ": copy it from the old conv1")
            )
    weight, want_weight = conv["weight"], expected["weight"]
    if weight.dtype != want_weight.dtype or weight.device.type != want_weight.device.type:
        raise fail(
            f"{call}; the new conv1.weight is {describe(weight)}, expected "
            f"{str(want_weight.dtype).replace('torch.', '')} on {want_weight.device}: build it "
            "with device=old.weight.device, dtype=old.weight.dtype"
        )
    if not conv["parameters"]:
        raise fail(f"{call}; the new conv1's weight and bias must be trainable nn.Parameters")
    tol = tolerance(want_weight.dtype, device)
    if weight.shape == want_weight.shape:
        old = want["old_weight_after"].detach().double().cpu()
        mean = old.mean(dim=1, keepdim=True)
        first = old[:, :1]
        w = weight.detach().double().cpu()
        if not torch.allclose(w, want_weight.detach().double().cpu(), **tol):
            if torch.allclose(w, mean, **tol):
                raise fail(
                    f"{call}; the new weight is the mean of the old one over the input channels; "
                    "a grey image repeated on 3 channels feeds all three, so their weights add "
                    "up: old.weight.sum(dim=1, keepdim=True)"
                )
            if torch.allclose(w, first, **tol):
                raise fail(
                    f"{call}; the new weight is the old one's first input channel only; the "
                    "three channels' weights add up: old.weight.sum(dim=1, keepdim=True)"
                )
    assert_close(weight, want_weight, what="the new conv1.weight", call=call, **tol)
    if expected["bias"]:
        assert_close(conv["bias_value"], expected["bias_value"], what="the new conv1.bias",
                     call=call, **tol)  # fmt: skip
    if got["forward_error"] is not None:
        raise fail(f"{call}; then model(grey) raised RuntimeError: {got['forward_error']}")
    grey_tol = GREY_TOL if device is None else {
        k: max(v, tolerance(want_weight.dtype, device)[k]) for k, v in GREY_TOL.items()
    }  # fmt: skip
    assert_close(
        got["grey"], want["rgb"], what="model(x) on grey x, against the old model on "
        "x.repeat(1, 3, 1, 1)", call=call, **grey_tol,
    )  # fmt: skip
