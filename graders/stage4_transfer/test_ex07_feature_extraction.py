"""Grader for 4.7: feature extraction (torch.fx and a forward hook) and a linear probe.

The model is the stage's pretrained backbone (``pytorch_path.data.make_backbone()`` with the
weights of ``data/backbone.pt``), built afresh inside every scenario, and the inputs are
digits 5-9 as the backbone sees them (``backbone_images``). The judge computes the expected
features itself: a manual forward through the backbone's children up to the node (for
``avgpool``, ``torch.flatten(model.avgpool(model.layer4(...)), 1)``), or its own hook for a
node inside a block, in eval mode under ``torch.no_grad()``. When the learner's features
differ, they are compared with the train-mode features to say so.

Scenarios put the model in a mode chosen by the test (train mode with ``layer2`` frozen in
eval mode, for example) and watch every BatchNorm during the forward pass with pre-hooks
(its mode, whether grad mode was on); they send back the features, the training flag of
every module afterwards, which state-dict entries, ``requires_grad`` flags and ``.grad``
changed, and the hooks left behind. Those observations are only ever reasons to fail: every
test also compares the features with the judge's.

The probe is replayed by the judge (the documented recipe) on the same features and
compared weight by weight; known mistakes (no ``zero_grad``, a summed loss, one step too
many, momentum, ...) are simulated to name them.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules import module as module_globals
from torchvision.models import feature_extraction  # noqa: F401  (imported with the grader, not on the clock)

from pytorch_path import data
from pytorch_path.checks import (
    assert_close,
    assert_no_graph,
    assert_tensor,
    call_learner,
    describe,
    expect_raises,
    fail,
    name_the_mistake,
    tolerance,
)
from pytorch_path.scenario import LearnerError, learner_attr, scenario

FX, HOOK = "extract_with_fx", "extract_with_hook"
ARG = {FX: "node", HOOK: "module_name"}
#: fx node -> the name of the judge's own computation that gives the same tensor
FX_NODES = {
    "avgpool": "avgpool",
    "layer3": "layer3",
    "layer2.0.bn1": "layer2.0.bn1",
    "layer3.0.relu_1": "layer3",
    "flatten": "avgpool",
    "layer1": "layer1",
}
HOOK_NAMES = ("avgpool", "layer3", "maxpool", "layer1", "layer4.0.conv2")
#: BatchNorms whose output the next module (an nn.ReLU(inplace=True)) overwrites
OVERWRITTEN = ("bn1", "layer2.0.bn1", "layer4.0.bn1")
CHILDREN = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")
TRAIN = {"root": True, "eval": (), "train": (), "label": "in train mode"}
FROZEN_STAGE = {
    "root": True,
    "eval": ("layer2",),
    "train": (),
    "label": "in train mode with layer2 (and everything in it) in eval mode",
}
ODD_ONE_OUT = {
    "root": False,
    "eval": (),
    "train": ("layer4.0.bn2",),
    "label": "in eval mode with layer4.0.bn2 in train mode",
}
HOOK_DICTS = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")
GLOBAL_HOOKS = (
    "_global_forward_pre_hooks",
    "_global_forward_hooks",
    "_global_backward_pre_hooks",
    "_global_backward_hooks",
)
_HINTS = {
    "Inference tensors cannot be saved for backward": (
        "the features are inference tensors: compute them under torch.no_grad(), not "
        "torch.inference_mode()"
    ),
    "backward through the graph a second time": (
        "the features carry the graph that produced them: train on features.detach()"
    ),
}

# ----------------------------------------------------------------------------- extraction


def test_fx_features_match_a_manual_forward(learner, device, seed):
    """extract_with_fx gives the node's output, flattened: avgpool, layer3, nodes inside blocks."""
    rng = seed.python_random()
    for index, node in enumerate(rng.sample(sorted(FX_NODES), 3)):
        x = _images(seed, index, device)
        got = _extract(learner, x, FX, node, TRAIN)
        _check_features(got, x, FX, node, TRAIN)


def test_hook_features_match_a_manual_forward(learner, device, seed):
    """extract_with_hook gives the module's output flattened, also before an in-place ReLU."""
    rng = seed.python_random()
    for index, name in enumerate([*rng.sample(HOOK_NAMES, 2), rng.choice(OVERWRITTEN)]):
        x = _images(seed, 10 + index, device)
        got = _extract(learner, x, HOOK, name, TRAIN)
        _check_features(got, x, HOOK, name, TRAIN)


def test_fx_and_hook_agree(learner, device, seed):
    """The fx node and the hooked module of the same name give the same features."""
    rng = seed.python_random()
    for index, name in enumerate(rng.sample(["avgpool", "layer3", "layer1", "layer2.0.bn1"], 2)):
        x = _images(seed, 20 + index, device)
        by_fx = _extract(learner, x, FX, name, TRAIN)
        _check_features(by_fx, x, FX, name, TRAIN)
        by_hook = _extract(learner, x, HOOK, name, TRAIN)
        _check_features(by_hook, x, HOOK, name, TRAIN)
        assert_close(
            by_hook["out"], by_fx["out"], what=f"extract_with_hook's feature matrix at {name!r}",
            call=f"compared with extract_with_fx(model, x, node={name!r}) on the same x",
            **_feature_tol(x),
        )  # fmt: skip


def test_default_is_avgpool(learner, device, seed):
    """Without a name, both functions return the avgpool features (N, 128)."""
    for index, fn in enumerate((FX, HOOK)):
        x = _images(seed, 30 + index, device)
        got = _extract(learner, x, fn, None, TRAIN)
        _check_features(got, x, fn, None, TRAIN)


def test_training_flags_are_restored(learner, device, seed):
    """The forward runs in eval mode; afterwards every module has its own training flag back."""
    for index, setup in enumerate((FROZEN_STAGE, ODD_ONE_OUT)):
        for fn, name in ((FX, "layer3"), (HOOK, "avgpool")):
            x = _images(seed, 40 + index, device)
            got = _extract(learner, x, fn, name, setup)
            _check_features(got, x, fn, name, setup)


def test_no_graph_and_model_untouched(learner, device, seed):
    """No graph even when x and the weights require grad; weights, stats, .grad, flags unchanged."""
    setup = {
        **TRAIN,
        "frozen": ("layer1",),
        "grads": ("fc.weight", "layer4.0.conv1.weight"),
        "label": "in train mode, layer1 frozen (requires_grad=False), .grad preset on fc.weight "
        "and layer4.0.conv1.weight, x a leaf that requires grad",
    }
    for index, (fn, name) in enumerate(((FX, "layer4.0.bn1"), (HOOK, "layer4"))):
        x = _images(seed, 50 + index, device)
        got = _extract(learner, x, fn, name, setup, leaf=True)
        _check_features(got, x, fn, name, setup)
        if got["x_grad"]:
            raise fail(f"{_call(fn, name, x, setup)}; afterwards x.grad is set; leave x alone")


def test_rows_follow_the_samples(learner, device, seed):
    """Row i comes from x[i] alone: a permuted batch gives permuted rows, one image its own row."""
    gen = seed.generator(60)
    for index, (fn, name) in enumerate(((FX, "avgpool"), (HOOK, "layer3"))):
        x = _images(seed, 61 + index, device, n=8)
        perm = torch.randperm(x.shape[0], generator=gen).to(device)
        expected = _expected(x, name)
        for label, batch, rows in (
            ("a permuted batch x[perm]", x[perm], expected[perm]),
            ("a single image x[:1]", x[:1], expected[:1]),
        ):
            call = f"{_call(fn, name, batch, TRAIN)} ({label})"
            try:
                got = learner.run(extract, batch, function=fn, name=name, setup=TRAIN)
            except LearnerError as exc:
                if exc.is_a("ValueError") and "Expected more than 1 value" in exc.message:
                    raise fail(
                        f"{call} raised ValueError: {exc.message.splitlines()[0]}; the forward "
                        "ran in train mode, where BatchNorm needs more than one sample: call "
                        "model.eval() (the extractor's .eval()) before it"
                    ) from None
                raise
            _check_features(got, batch, fn, name, TRAIN, expected=rows, call=call)


def test_hook_is_removed_also_when_the_forward_raises(learner, device, seed):
    """No hook is left on any module, also after a forward pass that raises (which propagates)."""
    x = _images(seed, 70, device)
    got = learner.run(hooks_and_boom, x, names=["avgpool", "layer2.0.bn1"], setup=FROZEN_STAGE)
    for name, run in zip(("avgpool", "layer2.0.bn1"), got["runs"], strict=True):
        _check_features(run, x, HOOK, name, FROZEN_STAGE)
    boom = got["boom"]
    call = (
        f"{_call(HOOK, 'avgpool', x, FROZEN_STAGE)}, with layer4 replaced by a module whose "
        "forward raises an error"
    )
    if not boom["raised"]:
        raise fail(
            f"{call}; the function returned {boom['returned']} instead of letting the model's "
            "error propagate: remove the hook in a finally block, do not catch the error"
        )
    _check_hooks(boom["hooks_left"], call)
    _check_flags(boom["flags"], _flags_of(FROZEN_STAGE, tripwire=True), call)


def test_unknown_names_raise(learner, device, seed):
    """An unknown node raises ValueError, an unknown module AttributeError; nothing is changed."""
    x = _images(seed, 80, device)
    cases = (
        (FX, "layer5", "ValueError", "create_feature_extractor raises it"),
        (HOOK, "layer5", "AttributeError", "get_submodule raises it"),
        (HOOK, "fc.weight", "AttributeError", "get_submodule raises it: a weight is no module"),
    )
    for fn, name, error, why in cases:
        call = _call(fn, name, x, FROZEN_STAGE)
        got = learner.run(bad_name, x, function=fn, name=name, setup=FROZEN_STAGE)
        expect_raises(_reraise, error, got["error"], what=f"{call} ({why})")
        _check_hooks(got["hooks_left"], call)
        _check_flags(got["flags"], _flags_of(FROZEN_STAGE), f"{call}, which raised {error}")
        # the model still works afterwards: a valid name on the same model gives the features
        _check_features(got["after"], x, fn, "avgpool", FROZEN_STAGE)


# ----------------------------------------------------------------------------- the probe


def test_probe_matches_the_recipe(learner, device, seed):
    """linear_probe's weights equal full-batch SGD with cross-entropy from the seeded layer."""
    rng = seed.python_random()
    for index in range(3):
        spec = _probe_spec(rng)
        feats, labels = _probe_data(seed, 90 + index, spec, device)
        options = {"epochs": rng.randint(15, 40), "lr": rng.choice([0.05, 0.3, 0.5]),
                   "seed": rng.randrange(1, 10**6)}  # fmt: skip
        _check_probe(learner, feats, labels, spec["classes"], options)


def test_probe_defaults(learner, device, seed):
    """Without options, linear_probe trains 100 steps with lr=0.1 from torch.manual_seed(0)."""
    spec = _probe_spec(seed.python_random())
    feats, labels = _probe_data(seed, 100, spec, device)
    _check_probe(learner, feats, labels, spec["classes"], {})


def test_probe_starts_from_the_seeded_layer(learner, device, seed):
    """With epochs=0 the layer is nn.Linear(D, C) right after torch.manual_seed(seed)."""
    rng = seed.python_random()
    spec = _probe_spec(rng)
    feats, labels = _probe_data(seed, 110, spec, device)
    for s in (rng.randrange(1, 10**6), 0):
        _check_probe(learner, feats, labels, spec["classes"], {"epochs": 0, "seed": s})


def test_probe_trains_on_detached_features(learner, device, seed):
    """Features that require grad or carry a graph get no gradient and are not modified."""
    rng = seed.python_random()
    spec = _probe_spec(rng)
    feats, labels = _probe_data(seed, 120, spec, device)
    for kind in ("leaf", "graph"):
        _check_probe(learner, feats, labels, spec["classes"], {"epochs": 7}, kind=kind)


def test_probe_on_backbone_features(learner, device, seed):
    """A probe on the avgpool features of digits 5-9 gets at least 60% of held-out digits right."""
    (train_x, train_y), (test_x, test_y) = _digit_features(seed, device)
    got = _check_probe(learner, train_x, train_y, 5, {})
    logits = test_x @ got["weight"].to(test_x).T + got["bias"].to(test_x)
    accuracy = float((logits.argmax(dim=1) == test_y).float().mean())
    if accuracy < 0.6:
        raise fail(
            f"{_probe_call(train_x, train_y, 5, {})} on the avgpool features of 30 digits per "
            f"class; the probe classifies {accuracy:.0%} of 150 held-out digits correctly, "
            "expected at least 60%"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def extract(
    mod: Any,
    x: torch.Tensor,
    *,
    function: str,
    name: str | None,
    setup: dict[str, Any],
    leaf: bool = False,
) -> dict[str, Any]:
    """One call of ``function`` on a fresh backbone set up as ``setup``: features and traces."""
    model = _backbone(x.device, x.dtype)
    _apply_setup(model, setup)
    if leaf:
        x = x.detach().clone().requires_grad_(True)
    watch = _Watch(model)
    try:
        out = _call_extract(mod, model, x, function, name)
        return {**_report(out, watch), "x_grad": leaf and x.grad is not None}
    finally:
        watch.close()


@scenario
def hooks_and_boom(
    mod: Any, x: torch.Tensor, *, names: list[str], setup: dict[str, Any]
) -> dict[str, Any]:
    """extract_with_hook for each name, then once with a layer4 that raises."""
    model = _backbone(x.device, x.dtype)
    _apply_setup(model, setup)
    runs = []
    for name in names:
        watch = _Watch(model)
        try:
            runs.append(_report(_call_extract(mod, model, x, HOOK, name), watch))
        finally:
            watch.close()
    model.layer4 = _Tripwire()
    model.layer4.train(setup["root"])
    before = _hook_state(model)
    raised, returned = False, None
    try:
        returned = describe(_call_extract(mod, model, x, HOOK, "avgpool"))
    except _Boom:
        raised = True
    return {
        "runs": runs,
        "boom": {
            "raised": raised,
            "returned": returned,
            "hooks_left": _hooks_added(before, model),
            "flags": _flags(model),
        },
    }


@scenario
def bad_name(
    mod: Any, x: torch.Tensor, *, function: str, name: str, setup: dict[str, Any]
) -> dict[str, Any]:
    """``function`` with a name the model does not have: the error as data, then a valid call."""
    model = _backbone(x.device, x.dtype)
    _apply_setup(model, setup)
    fn = learner_attr(mod, function)  # a missing name is reported as such, not caught below
    before = _hook_state(model)
    error: dict[str, Any] | None = None
    try:
        fn(model, x, **{ARG[function]: name})
    except Exception as exc:  # the learner's error, as data
        if isinstance(exc, NotImplementedError):
            raise
        error = {"type": type(exc).__name__, "message": str(exc)[:300],
                 "mro": [c.__name__ for c in type(exc).__mro__]}  # fmt: skip
    result = {"error": error, "hooks_left": _hooks_added(before, model), "flags": _flags(model)}
    watch = _Watch(model)
    try:
        result["after"] = _report(_call_extract(mod, model, x, function, "avgpool"), watch)
    finally:
        watch.close()
    return result


@scenario
def probe(
    mod: Any,
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    options: dict[str, Any],
    kind: str = "plain",
) -> dict[str, Any]:
    """linear_probe on the features (plain, a leaf that requires grad, or with a graph)."""
    base = features.detach().clone()
    if kind == "leaf":
        feats = base.requires_grad_(True)
    elif kind == "graph":
        base.requires_grad_(True)
        feats = base * 1.0
    else:
        feats = base
    layer = learner_attr(mod, "linear_probe")(feats, labels, num_classes, **options)
    info: dict[str, Any] = {
        "described": describe(layer),
        "is_linear": isinstance(layer, nn.Linear),
        "features_after": feats.detach().clone(),
        "features_grad": base.grad is not None,
    }
    if isinstance(layer, nn.Linear):
        info.update(
            in_features=layer.in_features,
            out_features=layer.out_features,
            weight=layer.weight.detach().clone(),
            bias=None if layer.bias is None else layer.bias.detach().clone(),
        )
    return info


# ----------------------------------------------------------------------------- the backbone


@functools.lru_cache(maxsize=1)
def _pretrained() -> nn.Module:
    """The pretrained backbone, built once per process; only ever copied, never handed out."""
    model = data.make_backbone()
    path = data.verify_file(data.BACKBONE_FILE)
    model.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
    return model


def _backbone(device: torch.device, dtype: torch.dtype) -> nn.Module:
    """A fresh copy of the pretrained backbone on ``device``, in ``dtype``, in train mode."""
    return copy.deepcopy(_pretrained()).to(device=device, dtype=dtype).train()


@functools.lru_cache(maxsize=8)
def _judge_model(device: torch.device, dtype: torch.dtype, train: bool) -> nn.Module:
    """The judge's own backbone (eval or train mode), used under no_grad only."""
    return _backbone(device, dtype).train(train)


@functools.lru_cache(maxsize=1)
def _digits_5_to_9() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = data.load_digits()
    keep = labels >= 5
    return data.backbone_images(images[keep]), labels[keep] - 5


def _images(seed: Any, offset: int, device: torch.device, n: int = 6) -> torch.Tensor:
    """``n`` digits 5-9 as backbone inputs (n, 3, 32, 32), chosen under the test's seed."""
    images, _ = _digits_5_to_9()
    idx = torch.randperm(len(images), generator=seed.generator(offset))[:n]
    return images[idx].to(device)


def _apply_setup(model: nn.Module, setup: dict[str, Any]) -> None:
    model.train(setup["root"])
    for name in setup["eval"]:
        model.get_submodule(name).eval()
    for name in setup["train"]:
        model.get_submodule(name).train()
    for name in setup.get("frozen", ()):
        model.get_submodule(name).requires_grad_(False)
    for name in setup.get("grads", ()):
        p = model.get_parameter(name)
        p.grad = torch.full_like(p, 0.25)


def _flags(model: nn.Module) -> dict[str, bool]:
    return {name or "model": m.training for name, m in model.named_modules()}


def _flags_of(setup: dict[str, Any], *, tripwire: bool = False) -> dict[str, bool]:
    """The training flags the judge's own backbone has once ``setup`` is applied."""
    model = copy.deepcopy(_pretrained())
    if tripwire:
        model.layer4 = _Tripwire()
    _apply_setup(model, {**setup, "frozen": (), "grads": ()})
    return _flags(model)


def _call_extract(mod: Any, model: nn.Module, x: torch.Tensor, fn: str, name: str | None) -> Any:
    function = learner_attr(mod, fn)
    if name is None:
        return function(model, x)
    return function(model, x, **{ARG[fn]: name})


class _Watch:
    """Records, for each BatchNorm call, its mode and whether grad/inference mode was on."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.seen: list[tuple[str, bool, bool, bool]] = []
        self.handles = [
            m.register_forward_pre_hook(functools.partial(self._record, name))
            for name, m in model.named_modules()
            if isinstance(m, nn.BatchNorm2d)
        ]
        self.hooks = _hook_state(model)
        self.flags = _flags(model)
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.requires = {n: p.requires_grad for n, p in model.named_parameters()}
        self.grads = {
            n: None if p.grad is None else p.grad.detach().clone()
            for n, p in model.named_parameters()
        }

    def _record(self, name: str, module: nn.Module, args: Any) -> None:
        self.seen.append(
            (name, module.training, torch.is_grad_enabled(), torch.is_inference_mode_enabled())
        )

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def _report(out: Any, watch: _Watch) -> dict[str, Any]:
    """The features and what changed on the model since ``watch`` started."""
    model = watch.model
    state = model.state_dict()
    is_tensor = isinstance(out, torch.Tensor)
    return {
        "out": out.detach().clone() if is_tensor else out,
        "grad_fn": type(out.grad_fn).__name__ if is_tensor and out.grad_fn is not None else None,
        "requires_grad": bool(is_tensor and out.requires_grad),
        "inference": bool(is_tensor and out.is_inference()),
        "seen": watch.seen,
        "hooks_left": _hooks_added(watch.hooks, model),
        "flags": _flags(model),
        "state_changed": [
            k for k, v in watch.state.items() if k not in state or not torch.equal(state[k], v)
        ],
        "requires_changed": [
            n for n, p in model.named_parameters() if p.requires_grad != watch.requires.get(n)
        ],
        "grads_changed": [
            n
            for n, p in model.named_parameters()
            if (p.grad is None) != (watch.grads.get(n) is None)
            or (p.grad is not None and not torch.equal(p.grad, watch.grads[n]))
        ],
    }


def _hook_state(model: nn.Module) -> dict[str, list[Any]]:
    state = {
        f"{name or 'model'}.{attr}": list(getattr(m, attr, {}).keys())
        for name, m in model.named_modules()
        for attr in HOOK_DICTS
    }
    for attr in GLOBAL_HOOKS:
        state[f"torch.nn.modules.module.{attr}"] = list(getattr(module_globals, attr, {}).keys())
    return state


def _hooks_added(before: dict[str, list[Any]], model: nn.Module) -> list[tuple[str, int]]:
    after = _hook_state(model)
    return [(k, len(after[k])) for k in after if after[k] != before.get(k, [])]


class _Boom(Exception):
    """Raised by the grader's model on purpose."""


class _Tripwire(nn.Module):
    """Stands in for a layer whose forward fails."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise _Boom("the model's forward failed on purpose (a test of the cleanup)")


# ----------------------------------------------------------------------------- judging features


def _expected(x: torch.Tensor, name: str | None, *, train: bool = False) -> torch.Tensor:
    """The judge's own features at ``name`` (an fx node or a module), eval mode unless ``train``."""
    target = FX_NODES.get(name or "avgpool", name or "avgpool")
    model = _judge_model(x.device, x.dtype, train)
    if train:  # train mode updates the running statistics: a fresh copy each time
        model = copy.deepcopy(model)
    with torch.no_grad():
        if target in CHILDREN:  # a manual forward through the children, up to the node
            h = x
            for child in CHILDREN:
                h = getattr(model, child)(h)
                if child == target:
                    break
            return torch.flatten(h, 1)
        kept: list[torch.Tensor] = []
        handle = model.get_submodule(target).register_forward_hook(
            lambda m, i, o: kept.append(o.clone())  # a copy: an in-place ReLU may follow
        )
        try:
            model(x)
        finally:
            handle.remove()
        return torch.flatten(kept[0], 1)


def _call(fn: str, name: str | None, x: torch.Tensor, setup: dict[str, Any]) -> str:
    arg = "" if name is None else f", {ARG[fn]}={name!r}"
    return (
        f"called {fn}(model, x{arg}) with x: {describe(x)}, the pretrained backbone "
        f"{setup['label']}"
    )


def _extract(
    learner: Any,
    x: torch.Tensor,
    fn: str,
    name: str | None,
    setup: dict[str, Any],
    *,
    leaf: bool = False,
) -> dict[str, Any]:
    return call_learner(
        learner.run, extract, x, call=_call(fn, name, x, setup), hints=_HINTS, function=fn,
        name=name, setup=setup, leaf=leaf,
    )  # fmt: skip


def _check_features(
    got: dict[str, Any],
    x: torch.Tensor,
    fn: str,
    name: str | None,
    setup: dict[str, Any],
    *,
    expected: torch.Tensor | None = None,
    call: str | None = None,
) -> None:
    """Type, shape, graph, mode, then values against the judge's features; then the side effects."""
    call = call or _call(fn, name, x, setup)
    want = _expected(x, name) if expected is None else expected
    out = got["out"]
    if isinstance(out, dict):
        raise fail(
            f"{call}; the result is a dict (keys {sorted(map(str, out))}): the extractor "
            "returns {'features': tensor}; return that tensor, flattened to (N, D)"
        )
    if isinstance(out, torch.Tensor) and out.dim() > 2 and out[0].numel() == want.shape[1]:
        raise fail(
            f"{call}; the result has shape {tuple(out.shape)}, expected {tuple(want.shape)}: "
            "flatten each sample's features with torch.flatten(out, 1)"
        )
    assert_tensor(
        out, what="the feature matrix", shape=tuple(want.shape), dtype=x.dtype, device=x.device,
        call=call,
    )  # fmt: skip
    if got["inference"]:
        raise fail(
            f"{call}; the features are an inference tensor (made under torch.inference_mode()): "
            "a probe cannot train on them; use torch.no_grad() instead"
        )
    if got["grad_fn"] is not None or got["requires_grad"]:
        raise fail(
            f"{call}; the features still track gradients (requires_grad=True, "
            f"grad_fn={got['grad_fn']}): run the forward pass under torch.no_grad()"
        )
    assert_no_graph(out, what="the feature matrix", call=call)
    trained = [n for n, training, _, _ in got["seen"] if training]
    if trained:
        raise fail(
            f"{call}; during the forward pass {trained[0]} (and {len(trained) - 1} other "
            "BatchNorm calls) ran in train mode, using the batch's statistics and updating "
            "its running ones: put the model (for fx: the extractor, which shares the "
            "model's modules) in eval mode before the forward"
        )
    graded = [n for n, _, grad_on, _ in got["seen"] if grad_on]
    if graded:
        raise fail(
            f"{call}; the forward pass ran with grad mode on ({graded[0]} saw "
            "torch.is_grad_enabled() True): run it under torch.no_grad()"
        )
    tol = _feature_tol(x)
    try:
        assert_close(out, want, what="the feature matrix", call=call, **tol)
    except AssertionError as exc:
        advice = "the features are the node's output in eval mode, torch.flatten(out, 1)"
        if expected is None:
            train = _expected(x, name, train=True)
            if torch.allclose(out.to(train), train, **tol):
                advice = "they are the features of a forward pass in TRAIN mode: call eval() first"
            elif torch.allclose(out.to(want), F.relu(want), **tol):
                advice = (
                    "they are the module's output after the ReLU that follows it: that ReLU "
                    "works in place and overwrote the tensor your hook kept; keep a copy, "
                    "output.clone()"
                )
        raise fail(f"{exc}; {advice}") from None
    _check_hooks(got["hooks_left"], call)
    if got["state_changed"]:
        raise fail(
            f"{call}; afterwards the model's {got['state_changed'][0]} (and "
            f"{len(got['state_changed']) - 1} more state-dict entries) changed: extraction "
            "only reads the model"
        )
    if got["requires_changed"]:
        raise fail(
            f"{call}; afterwards requires_grad of {got['requires_changed'][0]} changed: leave the "
            "parameters alone (torch.no_grad() is all it takes)"
        )
    if got["grads_changed"]:
        raise fail(f"{call}; afterwards {got['grads_changed'][0]}.grad changed: leave .grad alone")
    _check_flags(got["flags"], _flags_of(setup), call)


def _feature_tol(x: torch.Tensor) -> dict[str, float]:
    """float32 convolutions give slightly different bits for other batch sizes and algorithms."""
    base = tolerance(x.dtype, x.device)
    return {"rtol": max(base["rtol"], 1e-4), "atol": max(base["atol"], 1e-5)}


def _check_flags(flags: dict[str, bool], want: dict[str, bool], call: str) -> None:
    off = [name for name, mode in want.items() if flags.get(name) != mode]
    if not off:
        return
    mode = {True: "train", False: "eval", None: "no"}
    first = off[0]
    raise fail(
        f"{call}; afterwards {len(off)} of {len(want)} modules have another training flag "
        f"than before: {first} is in {mode[flags.get(first)]} mode, it was in "
        f"{mode[want[first]]} mode. Give every module its own training flag back: record "
        "{name: m.training for name, m in model.named_modules()} before anything else "
        "(create_feature_extractor itself calls model.train(...), so before building the "
        "extractor) and set each one back in a finally block; model.train(was_training) sets "
        "them all alike"
    )


def _check_hooks(left: list[tuple[str, int]], call: str) -> None:
    if left:
        where = ", ".join(f"{k} holds {n} entr{'y' if n == 1 else 'ies'}" for k, n in left)
        raise fail(
            f"{call}; afterwards hooks are still registered ({where}): keep the handle that "
            "register_forward_hook returns and call handle.remove() in a finally block, so the "
            "hook goes even when the forward raises"
        )


def _reraise(error: dict[str, Any] | None) -> None:
    """Raise the learner's error that a scenario sent back as data (for expect_raises)."""
    if error is not None:
        raise LearnerError(error["type"], error["message"], mro=tuple(error["mro"]))


# ----------------------------------------------------------------------------- judging probes


def _probe_spec(rng: Any) -> dict[str, int]:
    while True:
        spec = {"n": rng.randint(24, 40), "d": rng.randint(6, 14), "classes": rng.randint(3, 5)}
        if len(set(spec.values())) == 3:
            return spec


def _probe_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _probe_data(
    seed: Any, offset: int, spec: dict[str, int], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clustered features (so that training makes progress) and their labels."""
    gen = seed.generator(offset)
    labels = torch.arange(spec["n"]) % spec["classes"]
    labels = labels[torch.randperm(spec["n"], generator=gen)]
    centres = 2.0 * torch.randn(spec["classes"], spec["d"], generator=gen, dtype=torch.float64)
    noise = torch.randn(spec["n"], spec["d"], generator=gen, dtype=torch.float64)
    feats = centres[labels] + noise
    return feats.to(device=device, dtype=_probe_dtype(device)), labels.to(device)


@functools.lru_cache(maxsize=4)
def _digit_features_cached(value: int, device: str) -> tuple[tuple[torch.Tensor, ...], ...]:
    images, labels = _digits_5_to_9()
    gen = torch.Generator().manual_seed(value)
    order = torch.randperm(len(labels), generator=gen)
    train = torch.cat([order[labels[order] == c][:30] for c in range(5)])
    test = torch.cat([order[labels[order] == c][30:60] for c in range(5)])
    feats = _expected(images[torch.cat([train, test])].to(device), "avgpool")
    return (feats[: len(train)], labels[train].to(device)), (
        feats[len(train) :], labels[test].to(device),
    )  # fmt: skip


def _digit_features(seed: Any, device: torch.device) -> Any:
    return _digit_features_cached(seed.value, str(device))


def _recipe(
    features: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    *,
    epochs: int = 100,
    lr: float = 0.1,
    seed: int = 0,
    mistake: str | None = None,
) -> dict[str, torch.Tensor]:
    """The documented probe (or one known mistake), run by the judge: the final weight and bias."""
    feats = features.detach()
    torch.manual_seed(seed if mistake != "seed_ignored" else 0)
    layer = nn.Linear(feats.shape[1], classes).to(device=feats.device, dtype=feats.dtype)
    if mistake == "momentum":
        opt: torch.optim.Optimizer = torch.optim.SGD(layer.parameters(), lr=lr, momentum=0.9)
    elif mistake == "adam":
        opt = torch.optim.Adam(layer.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(layer.parameters(), lr=0.1 if mistake == "lr_ignored" else lr)
    steps = epochs + {"extra_step": 1, "missing_step": -1}.get(mistake or "", 0)
    for _ in range(max(steps, 0)):
        if mistake != "no_zero_grad":
            opt.zero_grad()
        out = layer(feats)
        loss = F.cross_entropy(out, labels, reduction="sum" if mistake == "sum" else "mean")
        loss.backward()
        opt.step()
    return {"weight": layer.weight.detach(), "bias": layer.bias.detach()}


_PROBE_MISTAKES = (
    ("no_zero_grad", "the gradients are never cleared: call optimizer.zero_grad() every step"),
    (
        "sum",
        "the loss is summed over the samples: use F.cross_entropy's default mean (the sum makes "
        "each step N times larger)",
    ),
    ("extra_step", "it takes one step more than epochs: exactly `epochs` steps"),
    ("missing_step", "it takes one step fewer than epochs: exactly `epochs` steps"),
    ("momentum", "SGD uses momentum: plain torch.optim.SGD(layer.parameters(), lr=lr)"),
    ("adam", "the optimizer is Adam: use plain torch.optim.SGD(layer.parameters(), lr=lr)"),
    ("lr_ignored", "lr=0.1 was used whatever lr was given: pass lr to the optimizer"),
    ("seed_ignored", "torch.manual_seed(0) was used whatever seed was given: seed with `seed`"),
)


def _probe_call(features: torch.Tensor, labels: torch.Tensor, classes: int, options: dict) -> str:
    opts = "".join(f", {k}={v!r}" for k, v in options.items())
    return (
        f"called linear_probe(features, labels, {classes}{opts}) with features: "
        f"{describe(features)}, labels: {describe(labels)}"
    )


def _check_probe(
    learner: Any,
    features: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    options: dict[str, Any],
    *,
    kind: str = "plain",
) -> dict[str, Any]:
    """Run the learner's probe; compare the layer with the judge's recipe; name the mistake."""
    call = _probe_call(features, labels, classes, options)
    if kind == "leaf":
        call += "; the features require grad (a leaf)"
    elif kind == "graph":
        call += "; the features carry a graph (features = leaf * 1.0)"
    got = call_learner(
        learner.run, probe, features, labels, classes, call=call, hints=_HINTS, options=options,
        kind=kind,
    )  # fmt: skip
    if not got["is_linear"]:
        raise fail(f"{call}; returned {got['described']}, expected the trained nn.Linear")
    d = features.shape[1]
    if (got["in_features"], got["out_features"]) != (d, classes):
        raise fail(
            f"{call}; the layer is nn.Linear({got['in_features']}, {got['out_features']}), "
            f"expected nn.Linear({d}, {classes})"
        )
    if got["bias"] is None:
        raise fail(f"{call}; the layer has no bias: nn.Linear(D, num_classes) keeps its bias")
    if got["features_grad"]:
        raise fail(
            f"{call}; afterwards the features have a .grad: gradients flowed back into them; "
            "train on features.detach()"
        )
    if not torch.equal(got["features_after"].cpu(), features.detach().cpu()):
        raise fail(f"{call}; the features were changed in place; leave them as they were")
    want = _recipe(features, labels, classes, **options)
    tol = _probe_tol(features)
    for key in ("weight", "bias"):
        assert_tensor(
            got[key], what=f"the layer's {key}", shape=tuple(want[key].shape),
            dtype=features.dtype, device=features.device, call=call,
        )  # fmt: skip
    close = all(torch.allclose(got[k].to(want[k]), want[k], **tol) for k in ("weight", "bias"))
    if close:
        return got
    if options.get("epochs") == 0:
        advice = (
            "with epochs=0 the layer is the one nn.Linear(D, num_classes) builds on the CPU "
            "right after torch.manual_seed(seed), moved to the features' device and dtype"
        )
    else:
        simulated = (
            (_recipe(features, labels, classes, **options, mistake=m), advice)
            for m, advice in _PROBE_MISTAKES
        )
        named = name_the_mistake(
            got, simulated, lambda g, s: all(torch.allclose(g[k].to(s[k]), s[k], **tol) for k in s)
        )
        advice = (
            f"your layer matches a probe where {named}"
            if named
            else "follow the recipe: torch.manual_seed(seed), nn.Linear on the CPU, "
            ".to(features), SGD(lr=lr), then `epochs` times zero_grad, F.cross_entropy on all "
            "samples, backward, step"
        )
    for key in ("weight", "bias"):
        try:
            assert_close(got[key], want[key], what=f"the layer's {key}", call=call, **tol)
        except AssertionError as exc:
            raise fail(f"{exc}; {advice}") from None
    raise fail(f"{call}; {advice}")


def _probe_tol(features: torch.Tensor) -> dict[str, float]:
    if features.dtype == torch.float64:
        return {"rtol": 1e-7, "atol": 1e-9}
    base = tolerance(features.dtype, features.device)
    return {"rtol": max(base["rtol"], 1e-4), "atol": max(base["atol"], 1e-5)}
