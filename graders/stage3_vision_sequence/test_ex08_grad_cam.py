"""Grader for 3.8: Grad-CAM by hand with hooks.

The heatmaps are compared with the reference's on small random CNNs (float64, BatchNorm
with random running statistics, Dropout in the head), each call on a freshly built copy of
the model. When they differ, the learner's map is compared with known-wrong variants
computed here from the same activations and gradients (no ReLU, weights from the
activations, the sum of all logits, ...) to name the mistake. Side effects are observed
where the learner's code runs (hooks left on any module, ``.grad`` written into the
parameters, the model's mode, BatchNorm statistics), and every such test also compares the
heatmaps with the reference's. A hand-built shape detector checks that the heatmap's peak
lands on the shape in images from ``pytorch_path.data.make_shapes_images``.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules import module as module_globals

from pytorch_path.checks import (
    assert_close,
    assert_no_graph,
    assert_tensor,
    describe,
    fail,
)
from pytorch_path.data import make_shapes_images
from pytorch_path.scenario import LearnerError, scenario

HOOK_DICTS = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")
GLOBAL_HOOKS = (
    "_global_forward_pre_hooks",
    "_global_forward_hooks",
    "_global_backward_pre_hooks",
    "_global_backward_hooks",
)
# (index in model.features, name shown to the learner)
LAYERS = ((0, "the first conv"), (3, "the second conv"), (4, "the ReLU after the second conv"))


def test_heatmap_matches_reference(learner, reference, device, seed):
    """The heatmap (N, h, w) equals relu(sum_k w_k A_k) scaled per sample, for several layers."""
    rng = seed.python_random()
    for index, (layer_index, _) in enumerate(rng.sample(LAYERS, len(LAYERS))):
        spec = _spec(seed, 10 + index, device)
        x = _input(seed, 20 + index, device)
        class_idx = rng.choice([None, rng.randrange(4)])
        _twin_run(learner, reference, spec, layer_index, x, class_idx, device)


def test_class_idx_selects_the_class(learner, reference, device, seed):
    """class_idx as an int, as a per-sample tensor, and None (the predicted class) are honoured."""
    rng = seed.python_random()
    spec = _spec(seed, 30, device)
    x = _input(seed, 31, device, n=4)
    layer_index = 0
    per_sample = torch.tensor(rng.sample(range(4), 4), device=device)
    choices = [rng.randrange(4), per_sample, None]
    choices.insert(1, (choices[0] + 1 + rng.randrange(3)) % 4)
    predicted = reference.run(heatmap, spec, x, None, layer_index=layer_index)["out"]
    for class_idx in choices:
        expected = reference.run(heatmap, spec, x, class_idx, layer_index=layer_index)["out"]
        call = _call_text(layer_index, x, class_idx)
        out = learner.run(heatmap, spec, x, class_idx, layer_index=layer_index)["out"]
        if (
            class_idx is not None
            and isinstance(out, torch.Tensor)
            and out.shape == expected.shape
            and not torch.allclose(expected, predicted, rtol=1e-4, atol=1e-5)
            and torch.allclose(out.detach().to(predicted), predicted, rtol=1e-4, atol=1e-5)
        ):
            raise fail(
                f"{call}; the heatmap is the one of the predicted class: class_idx was ignored "
                "(an int means that class for every sample, a tensor one class per sample)"
            )
        _compare(out, expected, spec, layer_index, x, class_idx, call=call, device=device)


def test_class_idx_defaults_to_the_prediction(learner, reference, device, seed):
    """grad_cam(model, layer, x) without class_idx explains each sample's predicted class."""
    layer_index = 3
    # a model and batch whose predicted classes differ between samples, so that no fixed
    # class gives the same maps (a few tries; the last one is used whatever it predicts)
    for offset in range(35, 135, 10):
        spec = _spec(seed, offset, device)
        x = _input(seed, offset + 1, device, n=6)
        expected = reference.run(heatmap, spec, x, None, layer_index=layer_index)["out"]
        fixed = [
            reference.run(heatmap, spec, x, c, layer_index=layer_index)["out"] for c in range(4)
        ]
        if not any(torch.allclose(expected, f, rtol=1e-4, atol=1e-5) for f in fixed):
            break
    call = (
        f"called grad_cam(model, model.features.{layer_index}, x) (class_idx left out) with "
        f"x: {describe(x)}"
    )
    out = learner.run(heatmap, spec, x, None, layer_index=layer_index, omit_class_idx=True)["out"]
    if isinstance(out, torch.Tensor) and out.shape == expected.shape:
        close = torch.allclose(out.detach().to(expected), expected, rtol=1e-4, atol=1e-5)
        if not close:
            raise fail(
                f"{call}; the heatmap is not the one of each sample's predicted class: "
                "class_idx defaults to None, which means the argmax of each sample's logits "
                "(def grad_cam(model, layer, x, class_idx=None))"
            )
    _compare(out, expected, spec, layer_index, x, None, call=call, device=device)


def test_hooks_are_removed(learner, reference, device, seed):
    """No hook is left on any module afterwards, also when the model's forward raises."""
    spec = _spec(seed, 40, device)
    x = _input(seed, 41, device)
    got = learner.run(hooks_left, spec, x, layer_indices=[0, 4], class_idx=1)
    for layer_index, run in zip((0, 4), got["runs"], strict=True):
        call = _call_text(layer_index, x, 1)
        _check_hooks(run["left"], call)
        # Not the hook count alone: the maps it made on the way are the reference's.
        expected = reference.run(heatmap, spec, x, 1, layer_index=layer_index)["out"]
        _compare(run["out"], expected, spec, layer_index, x, 1, call=call, device=device)
    boom = got["boom"]
    call = (
        f"{_call_text(3, x, 2)} on a model in train mode whose forward raises an "
        "error after the layer has run"
    )
    if not boom["raised"]:
        raise fail(
            f"{call}; grad_cam returned normally: let the model's error propagate (clean up in "
            "a finally block instead of catching the error)"
        )
    _check_hooks(boom["left"], call)
    if not all(boom["modes"]):
        raise fail(
            f"{call}; afterwards the model is left in eval mode: restore its previous mode "
            "(model.train(was_training)) in the finally block too"
        )


def test_parameter_grads_untouched(learner, reference, device, seed):
    """The model's .grad (None or a tensor) and weights are exactly as before the call."""
    spec = _spec(seed, 50, device)
    x = _input(seed, 51, device)
    model = _random_cnn(spec)  # the judge's own copy: the weights as they were built
    gen = seed.generator(52)
    grads = {
        name: torch.randn(p.shape, generator=gen, dtype=p.dtype).to(device)
        for i, (name, p) in enumerate(model.named_parameters())
        if i % 2 == 0
    }
    layers = [3, 0]
    got = learner.run(grads_after, spec, x, grads, layer_indices=layers)
    for layer_index, run in zip(layers, got["runs"], strict=True):
        call = _call_text(layer_index, x.clone().requires_grad_(), None)
        for name, p in model.named_parameters():
            if not torch.equal(run["weights"][name], p.detach()):
                raise fail(f"{call}; afterwards the weight {name} has changed; only read the model")
            grad, now = grads.get(name), run["grads"][name]
            if grad is None and now is not None:
                raise fail(
                    f"{call}; afterwards {name}.grad is {describe(now)} although it was None: "
                    "compute the gradient for the activations with torch.autograd.grad(score, "
                    "activations), which writes no .grad (backward() fills every parameter's)"
                )
            if grad is not None and (now is None or not torch.equal(now, grad)):
                state = "None" if now is None else "different values"
                raise fail(
                    f"{call}; afterwards {name}.grad holds {state}, but it held the caller's "
                    "gradient: leave .grad alone (no backward(), no zero_grad()); "
                    "torch.autograd.grad(score, activations) writes no .grad"
                )
        if run["x_has_grad"] or not run["x_requires_grad"]:
            raise fail(f"{call}; afterwards x.grad or x.requires_grad changed; leave x alone")
        expected = reference.run(heatmap, spec, x, None, layer_index=layer_index)["out"]
        _compare(run["out"], expected, spec, layer_index, x, None, call=call, device=device)


def test_runs_in_eval_mode_and_restores_it(learner, reference, device, seed):
    """The forward runs in eval mode; the model's mode and BatchNorm statistics are restored."""
    for index, mode in enumerate((True, False)):
        spec = _spec(seed, 60 + index, device)
        x = _input(seed, 62 + index, device)
        expected = reference.run(heatmap, spec, x, 1, layer_index=4, mode=mode)["out"]
        stats = _random_cnn(spec).state_dict()  # the judge's own copy
        call = f"{_call_text(4, x, 1)} on a model in {'train' if mode else 'eval'} mode"
        got = learner.run(heatmap, spec, x, 1, layer_index=4, mode=mode)
        if any(got["seen"]):
            raise fail(
                f"{call}; the model's forward ran in train mode (BatchNorm used the batch's "
                "statistics and updated them, Dropout dropped): call model.eval() before the "
                "forward pass"
            )
        if got["training"] != mode or any(m != mode for m in got["modes"]):
            raise fail(
                f"{call}; afterwards model.training is {got['training']}: restore the mode it "
                "had (remember model.training first, then model.train(was_training) in a "
                "finally)"
            )
        for key, value in got["state"].items():
            if key not in stats or not torch.equal(value, stats[key]):
                raise fail(f"{call}; afterwards the model's {key} has changed; only read the model")
        _compare(got["out"], expected, spec, 4, x, 1, call=call, device=device)


def test_zero_evidence_gives_zeros(learner, device, seed):
    """A class with no evidence (zero gradient, or all evidence negative) gets zeros, not NaN."""
    spec = _spec(seed, 70, device, tweak="no evidence")
    x = _input(seed, 71, device)
    cases = (
        (2, "class 2's logit does not depend on the layer, so every gradient is 0"),
        (3, "class 3's weights are all negative on non-negative activations, so the ReLU gives 0"),
    )
    for class_idx, why in cases:
        call = f"{_call_text(4, x, class_idx)} where {why}"
        out = learner.run(heatmap, spec, x, class_idx, layer_index=4)["out"]
        expected = torch.zeros(x.shape[0], 5, 4, dtype=x.dtype, device=device)
        if (
            isinstance(out, torch.Tensor)
            and out.shape == expected.shape
            and not bool(torch.isfinite(out.detach()).all())
        ):
            raise fail(
                f"{call}; the heatmap contains NaN or infinity: an all-zero map has maximum 0, so "
                "dividing by it gives 0/0; return zeros for such a sample"
            )
        _compare(out, expected, spec, 4, x, class_idx, call=call, device=device)


def test_scaling_divides_by_the_maximum(learner, reference, device, seed):
    """Each map is divided by its own maximum: the ratios between pixels are kept, no shift."""
    spec = _spec(seed, 75, device, tweak="positive")
    x = _input(seed, 76, device)
    expected = reference.run(heatmap, spec, x, 1, layer_index=4)["out"]
    if not bool((expected.amin(dim=(1, 2)) > 0).all()):  # the construction guarantees it
        raise fail("grader error: the scaling test expected a map without zeros")
    call = (
        f"{_call_text(4, x, 1)} where the map of class 1 is positive everywhere "
        "(so dividing by the maximum and min-max scaling differ)"
    )
    out = learner.run(heatmap, spec, x, 1, layer_index=4)["out"]
    _compare(out, expected, spec, 4, x, 1, call=call, device=device)


def test_frozen_model_under_no_grad(learner, reference, device, seed):
    """Works for a frozen model (requires_grad=False) called inside torch.no_grad()."""
    spec = _spec(seed, 80, device)
    x = _input(seed, 81, device)
    expected = reference.run(frozen_heatmap, spec, x, 0, layer_index=3)["out"]
    call = f"{_call_text(3, x, 0)} inside torch.no_grad(), all parameters frozen"
    try:
        got = learner.run(frozen_heatmap, spec, x, 0, layer_index=3)
    except LearnerError as exc:
        if exc.is_a("NotImplementedError") or not exc.is_a("RuntimeError"):
            raise
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else exc.type_name
        raise fail(
            f"{call} raised RuntimeError: {first}; run the forward inside "
            "torch.enable_grad() and feed it x.detach().requires_grad_() so that a graph "
            "reaches the layer even when no parameter requires grad"
        ) from None
    if not got["still_off"]:
        raise fail(f"{call}; afterwards grad mode is on: use `with torch.enable_grad():` blocks")
    if got["thawed"]:
        raise fail(f"{call}; afterwards some parameters require grad again; leave them frozen")
    _compare(got["out"], expected, spec, 3, x, 0, call=call, device=device)


def test_peak_lies_on_the_shape(learner, seed):
    """On shape images, the upsampled heatmap of the true class peaks inside the shape's box."""
    rng = seed.python_random()
    n, size = 40, 16
    images, labels, mask = make_shapes_images(n, size=size, noise=0.1, seed=rng.randrange(10**6))
    call = (
        f"called upsample_cam(grad_cam(model, model[0], x, class_idx=labels), ({size}, {size})) "
        f"with x: {describe(images)} from make_shapes_images, model a 5x5 template detector whose "
        "layer output is 8x8"
    )
    got = learner.run(shape_heatmaps, images, labels, size=(size, size))
    assert_tensor(got["cam"], what="the heatmap", shape=(n, 8, 8), dtype=torch.float32, call=call)
    up = got["up"]
    assert_tensor(up, what="the upsampled heatmap", shape=(n, size, size), call=call)
    flat = up.detach().reshape(n, -1).argmax(dim=1)
    rows, cols = flat // size, flat % size
    hits = 0
    for i in range(n):
        where = mask[i].nonzero()
        centre_r = (int(where[:, 0].min()) + int(where[:, 0].max())) // 2
        centre_c = (int(where[:, 1].min()) + int(where[:, 1].max())) // 2
        hits += abs(int(rows[i]) - centre_r) <= 2 and abs(int(cols[i]) - centre_c) <= 2
    if hits < 0.9 * n:
        raise fail(
            f"{call}; the peak lies inside the 5x5 box of the shape for {hits} of {n} images, "
            "expected at least 90%: the map should light up where the class's evidence is "
            "(check the channel weights, the ReLU, and that H and W are not swapped)"
        )


def test_upsample_cam(learner, reference, device, seed):
    """upsample_cam resizes (N, h, w) to (N, H, W) bilinearly with align_corners=False."""
    rng = seed.python_random()
    for index in range(3):
        n = rng.randint(2, 4)
        h, w = rng.sample(range(3, 8), 2)
        size = (rng.randint(9, 14), rng.randint(15, 20))
        if index == 1:
            size = (size[1], size[0])
        cam = torch.rand(n, h, w, generator=seed.generator(90 + index), dtype=_dtype(device))
        cam = cam.to(device)
        expected = reference.upsample_cam(cam, size)
        call = f"called upsample_cam(cam, size={size}) with cam: {describe(cam)}"
        got = learner.run(upsample, cam, size)
        out = got["out"]
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (n, 1, *size):
            raise fail(
                f"{call}; the result has shape {tuple(out.shape)}, expected {(n, *size)}: "
                "F.interpolate needs a channel dim, so add it before and remove it after"
            )
        assert_tensor(
            out, what="the upsampled heatmap", shape=(n, *size), dtype=cam.dtype, device=device,
            call=call,
        )  # fmt: skip
        try:
            assert_close(out, expected, what="the upsampled heatmap", call=call, **_tol(device))
        except AssertionError as exc:
            result = out.detach().to("cpu", torch.float64)
            for hint, fn in UPSAMPLE_VARIANTS.items():
                wrong = fn(cam, size).to("cpu", torch.float64)
                if torch.allclose(result, wrong, rtol=1e-5, atol=1e-6):
                    raise fail(f"{exc}; your result matches {hint}") from None
            raise
        if not torch.equal(got["cam_after"], cam):
            raise fail(f"{call} changed its input cam in place")


# ----------------------------------------------------------------------------- scenarios


@scenario
def heatmap(
    mod: Any,
    spec: dict[str, Any],
    x: torch.Tensor,
    class_idx: Any,
    *,
    layer_index: int,
    mode: bool = False,
    omit_class_idx: bool = False,
) -> dict[str, Any]:
    """grad_cam on a fresh model in mode ``mode``: the map, x afterwards, the modes it saw.

    With ``omit_class_idx`` the call leaves class_idx out, to use its default.
    """
    model = _random_cnn(spec).train(mode)
    seen: list[bool] = []
    handle = model.register_forward_pre_hook(lambda m, args: seen.append(m.training))
    layer = model.features[layer_index]
    try:
        if omit_class_idx:
            out = mod.grad_cam(model, layer, x)
        else:
            out = mod.grad_cam(model, layer, x, class_idx)
    finally:
        handle.remove()
    return {
        "out": out,
        "x_after": x.detach(),
        "x_requires_grad": x.requires_grad,
        "x_has_grad": x.grad is not None,
        "seen": seen,
        "training": model.training,
        "modes": [m.training for m in model.modules()],
        "state": model.state_dict(),
    }


@scenario
def hooks_left(
    mod: Any, spec: dict[str, Any], x: torch.Tensor, *, layer_indices: list[int], class_idx: int
) -> dict[str, Any]:
    """grad_cam at each layer, the hooks it left; then a call whose model's forward raises."""
    model = _random_cnn(spec)
    runs = []
    for layer_index in layer_indices:
        before = _hook_state(model)
        out = mod.grad_cam(model, model.features[layer_index], x, class_idx)
        runs.append({"out": out, "left": _hooks_added(before, model)})
    model.train()
    model.tripwire.armed = True
    before = _hook_state(model)
    raised = False
    try:
        mod.grad_cam(model, model.features[3], x, 2)
    except _Boom:
        raised = True
    return {
        "runs": runs,
        "boom": {
            "raised": raised,
            "left": _hooks_added(before, model),
            "modes": [m.training for m in model.modules()],
        },
    }


@scenario
def grads_after(
    mod: Any,
    spec: dict[str, Any],
    x: torch.Tensor,
    grads: dict[str, torch.Tensor],
    *,
    layer_indices: list[int],
) -> dict[str, Any]:
    """grad_cam with ``.grad`` preset on some parameters; the weights and .grad after each call."""
    model = _random_cnn(spec)
    for name, p in model.named_parameters():
        if name in grads:
            p.grad = grads[name]
    x_leaf = x.clone().requires_grad_()
    runs = []
    for layer_index in layer_indices:
        out = mod.grad_cam(model, model.features[layer_index], x_leaf, None)
        runs.append(
            {
                "out": out,
                "weights": {n: p.detach().clone() for n, p in model.named_parameters()},
                "grads": {
                    n: None if p.grad is None else p.grad.clone()
                    for n, p in model.named_parameters()
                },
                "x_has_grad": x_leaf.grad is not None,
                "x_requires_grad": x_leaf.requires_grad,
            }
        )
    return {"runs": runs}


@scenario
def frozen_heatmap(
    mod: Any, spec: dict[str, Any], x: torch.Tensor, class_idx: int, *, layer_index: int
) -> dict[str, Any]:
    """grad_cam on a frozen model inside torch.no_grad(); grad mode and requires_grad after."""
    model = _random_cnn(spec)
    model.requires_grad_(False)
    with torch.no_grad():
        out = mod.grad_cam(model, model.features[layer_index], x, class_idx)
        still_off = not torch.is_grad_enabled()
    return {
        "out": out,
        "still_off": still_off,
        "thawed": any(p.requires_grad for p in model.parameters()),
    }


@scenario
def shape_heatmaps(
    mod: Any, images: torch.Tensor, labels: torch.Tensor, *, size: tuple[int, int]
) -> dict[str, Any]:
    """grad_cam of the shape detector for the true classes, then upsample_cam to ``size``."""
    model = _shape_detector()
    cam = mod.grad_cam(model, model[0], images, labels)
    return {"cam": cam, "up": mod.upsample_cam(cam, size)}


@scenario
def upsample(mod: Any, cam: torch.Tensor, size: tuple[int, int]) -> dict[str, Any]:
    """upsample_cam(cam, size), and cam afterwards."""
    return {"out": mod.upsample_cam(cam, size), "cam_after": cam}


# ----------------------------------------------------------------------------- helpers


class _Boom(Exception):
    """Raised by the grader's model on purpose."""


class _Tripwire(nn.Module):
    """Passes its input through, or raises ``_Boom`` when armed."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.armed:
            raise _Boom("the model's forward failed on purpose (a test of the cleanup)")
        return x


def _dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5} if device.type == "mps" else {"rtol": 1e-6, "atol": 1e-4}


def _spec(seed: Any, offset: int, device: torch.device, *, tweak: str | None = None) -> dict:
    """What builds one random CNN, as data: the same model on both sides of the wire."""
    return {"seed": seed.value + offset, "device": device, "tweak": tweak}


def _random_cnn(spec: dict[str, Any], *, channels: int = 2, classes: int = 4) -> nn.Sequential:
    """conv-BN-ReLU-conv(stride 2)-ReLU features, then pool, Dropout and a Linear head."""
    gen = torch.Generator().manual_seed(int(spec["seed"]))
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=gen)))
    features = nn.Sequential(
        nn.Conv2d(channels, 5, 3, padding=1),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.Conv2d(5, 6, 3, stride=2, padding=1),
        nn.ReLU(),
    )
    model = nn.Sequential()
    model.add_module("features", features)
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module("tripwire", _Tripwire())
    model.add_module("dropout", nn.Dropout(0.5))
    model.add_module("head", nn.Linear(6, classes))
    with torch.no_grad():
        bn = features[1]
        bn.weight.copy_(0.5 + torch.rand(5, generator=gen))
        bn.bias.copy_(0.3 * torch.randn(5, generator=gen))
        bn.running_mean.copy_(0.2 * torch.randn(5, generator=gen))
        bn.running_var.copy_(0.5 + torch.rand(5, generator=gen))
        model.head.weight.mul_(100.0)  # raw maps of order 0.1-1: an eps in the scaling is fine
        if spec["tweak"] == "no evidence":
            model.head.weight[2].zero_()  # class 2 does not depend on the features at all
            model.head.weight[3].copy_(-model.head.weight[3].abs() - 0.1)  # every channel against
        elif spec["tweak"] == "positive":
            features[3].bias.add_(4.0)  # every activation of the layer is positive
            model.head.weight[1].copy_(model.head.weight[1].abs() + 10.0)  # and every weight
    device = spec["device"]
    return model.to(device=device, dtype=_dtype(torch.device(device))).eval()


def _input(seed: Any, offset: int, device: torch.device, n: int = 3) -> torch.Tensor:
    """(N, 2, 9, 7): N, C, H and W all differ."""
    return seed.randn(n, 2, 9, 7, dtype=_dtype(device), device=device, offset=offset)


def _call_text(layer_index: int, x: torch.Tensor, class_idx: Any) -> str:
    idx = class_idx if not isinstance(class_idx, torch.Tensor) else class_idx.tolist()
    return (
        f"called grad_cam(model, model.features.{layer_index}, x, class_idx={idx!r}) with x: "
        f"{describe(x)}"
    )


def _twin_run(
    learner: Any,
    reference: Any,
    spec: dict[str, Any],
    layer_index: int,
    x: torch.Tensor,
    class_idx: Any,
    device: torch.device,
) -> None:
    """Reference and learner each on a fresh copy of the model; compare the heatmaps."""
    expected = reference.run(heatmap, spec, x, class_idx, layer_index=layer_index)["out"]
    call = _call_text(layer_index, x, class_idx)
    got = learner.run(heatmap, spec, x, class_idx, layer_index=layer_index)
    _compare(got["out"], expected, spec, layer_index, x, class_idx, call=call, device=device)
    if not torch.equal(got["x_after"], x):
        raise fail(f"{call} changed x in place; leave the input as it was")
    if got["x_requires_grad"] or got["x_has_grad"]:
        raise fail(
            f"{call}; afterwards the caller's x requires grad: make your own leaf with "
            "x.detach().requires_grad_() instead of changing x"
        )


def _hook_state(model: nn.Module) -> dict[str, list[Any]]:
    state = {
        f"{name or 'model'}.{attr}": list(getattr(module, attr, {}).keys())
        for name, module in model.named_modules()
        for attr in HOOK_DICTS
    }
    for attr in GLOBAL_HOOKS:
        state[f"torch.nn.modules.module.{attr}"] = list(getattr(module_globals, attr, {}).keys())
    return state


def _hooks_added(before: dict[str, list[Any]], model: nn.Module) -> list[tuple[str, int]]:
    """(where, how many entries it holds) for each hook dict that changed since ``before``."""
    after = _hook_state(model)
    return [(key, len(after[key])) for key in after if after[key] != before.get(key, [])]


def _check_hooks(left: list[tuple[str, int]], call: str) -> None:
    if left:
        where = ", ".join(
            f"{key} holds {count} entr{'y' if count == 1 else 'ies'}" for key, count in left
        )
        raise fail(
            f"{call}; afterwards hooks are still registered ({where}): keep the handles that "
            "register_forward_hook / register_full_backward_hook return and call "
            "handle.remove() in a finally block, so they go even when something raises"
        )


def _compare(
    out: Any,
    expected: torch.Tensor,
    spec: dict[str, Any],
    layer_index: int,
    x: torch.Tensor,
    class_idx: Any,
    *,
    call: str,
    device: torch.device,
) -> None:
    """Type, shape, dtype, device, no graph, then values (with a diagnosis)."""
    if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[1] == 1:
        raise fail(
            f"{call}; the result has shape {tuple(out.shape)}, expected {tuple(expected.shape)}: "
            "sum over the channel dim, which leaves (N, h, w)"
        )
    assert_tensor(
        out, what="the heatmap", shape=tuple(expected.shape), dtype=expected.dtype,
        device=device, finite=True, call=call,
    )  # fmt: skip
    assert_no_graph(out, what="the heatmap", call=call)
    try:
        assert_close(out, expected, what="the heatmap", call=call, **_tol(device))
    except AssertionError as exc:
        raise fail(f"{exc}; {_diagnose(out, spec, layer_index, x, class_idx)}") from None


# ----------------------------------------------------------------------------- diagnosis


def _pieces(
    spec: dict[str, Any], layer_index: int, x: torch.Tensor, class_idx: Any, score: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's activations and the gradient of a score for them (eval mode, no .grad)."""
    model = _random_cnn(spec).eval()
    kept: list[torch.Tensor] = []
    handle = model.features[layer_index].register_forward_hook(lambda m, i, o: kept.append(o))
    try:
        with torch.enable_grad():
            logits = model(x.detach().clone().requires_grad_())
            n = logits.shape[0]
            if class_idx is None:
                idx = logits.argmax(dim=1)
            elif isinstance(class_idx, torch.Tensor):
                idx = class_idx.to(logits.device).long().reshape(-1).expand(n)
            else:
                idx = torch.full((n,), int(class_idx), device=logits.device, dtype=torch.long)
            if score == "all":
                target = logits.sum()
            elif score == "softmax":
                target = logits.softmax(dim=1).gather(1, idx[:, None]).sum()
            else:
                target = logits.gather(1, idx[:, None]).sum()
            (grads,) = torch.autograd.grad(target, kept[0])
    finally:
        handle.remove()
    return kept[0].detach(), grads.detach()


def _scale(cam: torch.Tensor, how: str = "max") -> torch.Tensor:
    if how == "none":
        return cam
    if how == "batch":
        peak = cam.amax()
        return cam / peak if bool(peak > 0) else cam
    low = cam.amin(dim=(1, 2), keepdim=True) if how == "minmax" else torch.zeros(())
    peak = cam.amax(dim=(1, 2), keepdim=True) - low.to(cam)
    return (cam - low.to(cam)) / torch.where(peak > 0, peak, torch.ones_like(peak))


VARIANTS: dict[str, str] = {
    "no_relu": (
        "your map equals Grad-CAM without the ReLU: apply relu to sum_k w_k * A_k before scaling "
        "(only evidence FOR the class is kept)"
    ),
    "activation_weights": (
        "your channel weights are the spatial means of the activations; Grad-CAM's weights "
        "w_k are the spatial means of the GRADIENTS of the class logit for the activations"
    ),
    "pixel_gradients": (
        "your map multiplies activations by gradients pixel by pixel; first average each "
        "channel's gradient over h and w into one weight w_k, then take sum_k w_k * A_k"
    ),
    "all_logits": (
        "your map is the one for the gradient of the sum of ALL logits; differentiate only the "
        "chosen class's logit of each sample, logits[i, class_i]"
    ),
    "softmax": (
        "your map is the one for the gradient of the softmax probability; Grad-CAM uses the "
        "raw logit of the class (before softmax)"
    ),
    "unscaled": "your map is right but not scaled: divide each sample's map by its own maximum",
    "minmax": (
        "your map is min-max scaled; divide each map by its maximum only (do not subtract the "
        "minimum)"
    ),
    "batch_max": (
        "your maps are divided by the largest value of the whole batch; scale each sample by "
        "its own maximum"
    ),
}


def _variant(
    mistake: str, spec: dict[str, Any], layer_index: int, x: torch.Tensor, class_idx: Any
) -> torch.Tensor:
    score = {"all_logits": "all", "softmax": "softmax"}.get(mistake, "class")
    acts, grads = _pieces(spec, layer_index, x, class_idx, score)
    if mistake == "activation_weights":
        weights = acts.mean(dim=(2, 3), keepdim=True)
    elif mistake == "pixel_gradients":
        weights = grads
    else:
        weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = (weights * acts).sum(dim=1)
    if mistake != "no_relu":
        cam = F.relu(cam)
    how = {"unscaled": "none", "minmax": "minmax", "batch_max": "batch"}.get(mistake, "max")
    return _scale(cam, how)


def _diagnose(
    out: torch.Tensor, spec: dict[str, Any], layer_index: int, x: torch.Tensor, class_idx: Any
) -> str:
    got = out.detach().to("cpu", torch.float64)
    for mistake, hint in VARIANTS.items():
        wrong = _variant(mistake, spec, layer_index, x, class_idx).to("cpu", torch.float64)
        if wrong.shape == got.shape and torch.allclose(got, wrong, rtol=1e-4, atol=1e-5):
            return hint
    return (
        "Grad-CAM is relu(sum_k w_k * A_k) with A the layer's output and w_k the mean over h "
        "and w of d(logit of the class)/dA_k, each map divided by its own maximum, all "
        "computed in eval mode"
    )


# ----------------------------------------------------------------------------- the shape detector


def _shape_detector() -> nn.Sequential:
    """Hand-set 5x5 template filters (square, cross, horizontal and vertical bar) + a head."""
    k, mid = 5, 2
    stencils = torch.zeros(4, k, k)
    stencils[0, 0, :] = stencils[0, -1, :] = stencils[0, :, 0] = stencils[0, :, -1] = 1
    stencils[1, mid, :] = stencils[1, :, mid] = 1
    stencils[2, mid, :] = 1
    stencils[3, :, mid] = 1
    conv = nn.Conv2d(1, 4, k, padding=mid)
    head = nn.Linear(4, 3)
    with torch.no_grad():
        conv.weight.copy_((2 * stencils - 1).unsqueeze(1))  # +1 on the shape, -1 around it
        conv.bias.copy_(-0.6 * stencils.sum(dim=(1, 2)))  # fire only on a good match
        head.weight.copy_(20 * torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]]))
        head.bias.zero_()
    features = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()


UPSAMPLE_VARIANTS: dict[str, Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]] = {
    "nearest-neighbour interpolation; use mode='bilinear'": lambda c, s: F.interpolate(
        c[:, None], size=s, mode="nearest"
    )[:, 0],
    "align_corners=True; use align_corners=False": lambda c, s: F.interpolate(
        c[:, None], size=s, mode="bilinear", align_corners=True
    )[:, 0],
    "bicubic interpolation; use mode='bilinear'": lambda c, s: F.interpolate(
        c[:, None], size=s, mode="bicubic", align_corners=False
    )[:, 0],
}
