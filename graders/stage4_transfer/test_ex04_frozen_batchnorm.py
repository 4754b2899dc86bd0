"""Grader for 4.4: frozen BatchNorm stays frozen while the head trains.

The model is the stage's pretrained backbone (``pytorch_path.data.make_backbone()`` with the
weights of ``data/backbone.pt``) with a new head, ``nn.Sequential(nn.Dropout(p),
nn.Linear(128, 5))``, whose weights the test draws; some blocks are frozen, sometimes with a
BatchNorm layer whose ``bias`` alone stays trainable, or one rebuilt with ``affine=False``.
A small zoo of layers (BatchNorm1d/2d/3d, SyncBatchNorm, a BatchNorm subclass, LayerNorm,
GroupNorm, InstanceNorm, ``affine=False`` layers in frozen, trainable and parameterless
parents) checks the rule on every kind of layer.

Scenarios build the model where the learner's code runs and send back data: the train/eval
flag of every module by name, outputs of two forward passes under seeds the test chose, and
for ``train_head`` the final state dict, the per-batch losses, and for each forward pass the
modules that were in eval mode. The judge compares the flags and the trained state with the
reference's twin run (same weights, batches, optimizer and seeds, so Dropout draws the same
masks), and the frozen layers' running statistics with its own copy of the initial model:
they must be bitwise unchanged. When the weights differ, the judge replays known mistakes
(gradients never cleared) through the same scenario to name the one that matches.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import functools
import math
import types
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, TensorDataset

from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    assert_unchanged,
    call_learner,
    describe,
    fail,
    states_close,
    tolerance,
)
from pytorch_path.data import (
    BACKBONE_FILE,
    backbone_images,
    load_digits,
    make_backbone,
    verify_file,
)
from pytorch_path.scenario import scenario

WIDTH = 128  # the backbone's feature width (fc.in_features)
CLASSES = 5  # digits 5..9 as labels 0..4
BODY = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")

_HINTS = {
    "same device": "move every batch to the device first: x, y = x.to(device), y.to(device)",
    "does not require grad and does not have a grad_fn": (
        "the loss has no graph: run the forward pass with autograd on (no torch.no_grad() "
        "around it) and call backward() on the loss tensor itself"
    ),
    "Expected more than 1 value per channel when training": (
        "a BatchNorm layer ran in train mode on a batch it cannot normalise; run one forward "
        "pass per batch, on the whole batch"
    ),
}

# ----------------------------------------------------------------------------- set_trainable_mode


def test_frozen_batchnorm_layers_go_to_eval(learner, reference, seed):
    """set_trainable_mode: frozen BatchNorm layers in eval mode, all other modules in train mode."""
    rng = seed.python_random()
    for trainable in (["fc"], ["layer4", "fc"], ["layer3.0.conv2", "fc"]):
        spec = _backbone_spec(rng, [{"trainable": trainable}], arrive=rng.choice(["eval", "train"]))
        got = learner.run(modes, spec)
        want = reference.run(modes, spec)
        call = (
            f"called set_trainable_mode(model) on the backbone with trainable {trainable} "
            f"(everything else frozen), the model arriving in {spec['arrive']} mode"
        )
        _check_modes(got, want, spec, call)


def test_unfrozen_batchnorm_returns_to_train_mode(learner, reference, seed):
    """A BatchNorm unfrozen since the last call (even its bias alone) is back in train mode."""
    rng = seed.python_random()
    bn = rng.choice(["layer2.0.bn1", "layer2.0.bn2", "layer2.0.downsample.1"])
    other = rng.choice(["layer1.0.bn1", "layer1.0.bn2"])
    stages = [
        {"trainable": ["fc"]},
        {"trainable": ["layer4", "fc"], "bias_only": [bn], "weight_only": [other]},
    ]
    spec = _backbone_spec(rng, stages, arrive="eval")
    got = learner.run(modes, spec)
    want = reference.run(modes, spec)
    call = (
        "called set_trainable_mode(model) with only fc trainable, then unfroze layer4, "
        f"{bn}.bias (its weight stays frozen) and {other}.weight, and called it again"
    )
    _check_modes(got, want, spec, call)


def test_every_kind_of_batchnorm(learner, reference, seed):
    """BatchNorm1d/2d/3d, SyncBatchNorm, subclasses and affine=False layers follow the rule."""
    rng = seed.python_random()
    for index in range(2):
        arrive = ("eval", "train")[index]
        spec = {
            "model": "zoo",
            "arrive": arrive,
            "stages": [{"trainable": rng.sample(["body", "partial", "conv"], 2)}]
            if index
            else [{"trainable": ["body", "partial"]}],
            "init_seed": rng.randint(0, 2**31 - 1),
        }
        got = learner.run(modes, spec)
        want = reference.run(modes, spec)
        call = (
            "called set_trainable_mode(model) on a model holding BatchNorm1d/2d/3d, "
            "SyncBatchNorm, a BatchNorm2d subclass, LayerNorm, GroupNorm, InstanceNorm2d and "
            f"affine=False BatchNorm layers (trainable: {spec['stages'][0]['trainable']}; "
            f"arriving in {arrive} mode)"
        )
        _check_modes(got, want, spec, call)


def test_dropout_drops_and_frozen_batchnorm_uses_running_stats(learner, reference, seed):
    """After set_trainable_mode two forward passes differ (Dropout) and equal a correct model's."""
    rng = seed.python_random()
    spec = _backbone_spec(
        rng, [{"trainable": ["layer4", "fc"]}], arrive="eval", head="bn_dropout", no_affine=True
    )
    x, _ = _digits(seed, 8, offset=1)
    seeds = [rng.randint(0, 2**31 - 1) for _ in range(2)]
    got = learner.run(forward_twice, spec, x, seeds)
    want = reference.run(forward_twice, spec, x, seeds)
    call = (
        f"called set_trainable_mode(model) (layer4 and the head trainable; the head is "
        f"BatchNorm1d(128, affine=False), Dropout(p={spec['p']}), Linear), then out = model(x) "
        f"twice under two seeds, x: {describe(x)}"
    )
    _check_modes(got, want, spec, call)
    out1, out2 = got["outs"]
    if torch.equal(out1, out2):
        raise fail(
            f"{call}; the two outputs are identical: Dropout is not dropping. Only the frozen "
            "BatchNorm layers go to eval mode; the head's Dropout stays in train mode"
        )
    tol = tolerance(torch.float32)
    for i in range(2):
        assert_close(
            got["outs"][i], want["outs"][i], what=f"forward pass {i + 1}'s output", call=call, **tol
        )
    initial = _initial_state(spec)
    for name in _frozen_batchnorm_names(spec):
        for buffer in ("running_mean", "running_var", "num_batches_tracked"):
            key = f"{name}.{buffer}"
            if not torch.equal(got["state"][key], initial[key]):
                raise fail(
                    f"{call}; {key} changed during the forward passes: the frozen BatchNorm "
                    f"layer {name} ran in train mode"
                )


# ----------------------------------------------------------------------------- train_head


def test_train_head_keeps_frozen_statistics(learner, reference, device, seed):
    """train_head: frozen BatchNorm buffers bitwise unchanged, every forward with them in eval."""
    rng = seed.python_random()
    spec = _backbone_spec(rng, [{"trainable": ["fc"]}], arrive="eval")
    twin = _train_twin(learner, reference, spec, seed, rng, device, offset=10)
    initial = _initial_state(spec)
    for key, value in initial.items():
        if key.startswith("fc."):
            continue
        if not torch.equal(twin.got["state"][key], value):
            what = "running statistic" if "running" in key or "num_batches" in key else "weight"
            raise fail(
                f"{twin.call}; afterwards the frozen {what} {key} has changed, expected it "
                "bitwise unchanged: call set_trainable_mode(model), not model.train(), so the "
                "frozen BatchNorm layers stay in eval mode"
            )
    for i, ((x, y), (x0, y0)) in enumerate(
        zip(twin.got["batches_after"], twin.batches, strict=True)
    ):
        assert_unchanged(x, x0, what=f"batch {i}'s x", call=twin.call)
        assert_unchanged(y, y0, what=f"batch {i}'s y", call=twin.call)
    _check_state(twin, device)


def test_train_head_updates_like_a_correct_loop(learner, reference, device, seed):
    """After one epoch the head (and an unfrozen block) equal a correct loop's; Dropout drops."""
    rng = seed.python_random()
    for index, trainable in enumerate((["fc"], ["layer4", "fc"])):
        spec = _backbone_spec(rng, [{"trainable": trainable}], arrive="eval")
        twin = _train_twin(learner, reference, spec, seed, rng, device, offset=20 + 10 * index)
        initial = _initial_state(spec)
        for key in ("fc.1.weight", "fc.1.bias"):
            if torch.equal(twin.got["state"][key], initial[key]):
                raise fail(
                    f"{twin.call}; afterwards {key} is unchanged: the head was never updated "
                    "(zero_grad, forward, loss, backward, then optimizer.step() for each batch)"
                )
        _check_state(twin, device)


def test_trainable_batchnorm_learns_its_statistics(learner, reference, device, seed):
    """An unfrozen block's BatchNorm updates its running statistics (DataLoader, device as str)."""
    rng = seed.python_random()
    spec = _backbone_spec(rng, [{"trainable": ["layer4", "fc"]}], arrive="eval")
    twin = _train_twin(
        learner, reference, spec, seed, rng, device, offset=40, loader_kind="dataloader",
        device_arg=str(device),
    )  # fmt: skip
    initial = _initial_state(spec)
    state = twin.got["state"]
    n_batches = len(twin.batches)
    tol = tolerance(torch.float32, device)
    for name in ("layer4.0.bn1", "layer4.0.bn2", "layer4.0.downsample.1"):
        count = int(state[f"{name}.num_batches_tracked"])
        start = int(initial[f"{name}.num_batches_tracked"])
        if count != start + n_batches:
            raise fail(
                f"{twin.call}; {name}.num_batches_tracked went from {start} to {count}, expected "
                f"{start + n_batches} (one per batch): layer4 is trainable, so its BatchNorm "
                "layers stay in train mode and learn running statistics"
            )
    for name in _frozen_batchnorm_names(spec):
        key = f"{name}.num_batches_tracked"
        if not torch.equal(state[key], initial[key]):
            raise fail(
                f"{twin.call}; {key} changed although {name} is frozen: it must stay in eval mode"
            )
    _check_state(twin, device)
    for name in ("layer4.0.bn1", "layer4.0.bn2", "layer4.0.downsample.1"):
        for buffer in ("running_mean", "running_var"):
            key = f"{name}.{buffer}"
            if torch.equal(state[key], initial[key]):
                raise fail(f"{twin.call}; {key} is unchanged: a trainable BatchNorm layer learns")
            assert_close(
                state[key], twin.want["state"][key], what=f"{key} after the epoch",
                call=twin.call, **tol,
            )  # fmt: skip


def test_train_head_returns_mean_loss_per_sample(learner, reference, device, seed):
    """The returned loss is a float: batch losses weighted by batch size, over all samples."""
    rng = seed.python_random()
    for index in range(2):
        spec = _backbone_spec(rng, [{"trainable": ["fc"]}], arrive="eval")
        twin = _train_twin(learner, reference, spec, seed, rng, device, offset=60 + 10 * index)
        _check_loss(twin, device)


# ----------------------------------------------------------------------------- scenarios


@scenario
def modes(mod: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """For each freezing stage: apply it, call set_trainable_mode, record every module's mode."""
    model = _build(spec)
    model.train(spec["arrive"] == "train")
    returned = []
    for stage in spec["stages"]:
        _apply_freezing(model, stage)
        result = mod.set_trainable_mode(model)
        returned.append(result is model)
    return {
        "training": _training_flags(model),
        "returned_model": returned,
        "returned": describe(result),
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
    }


@scenario
def forward_twice(
    mod: Any, spec: dict[str, Any], x: torch.Tensor, seeds: list[int]
) -> dict[str, Any]:
    """set_trainable_mode, then two forward passes under the given seeds (no update)."""
    model = _build(spec)
    model.train(spec["arrive"] == "train")
    _apply_freezing(model, spec["stages"][0])
    result = mod.set_trainable_mode(model)
    outs = []
    flags = _training_flags(model)
    with torch.no_grad():
        for s in seeds:
            torch.manual_seed(s)
            outs.append(model(x))
    return {
        "training": flags,
        "returned_model": [result is model],
        "returned": describe(result),
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "outs": outs,
        "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


@scenario
def training(
    mod: Any,
    spec: dict[str, Any],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch: int,
    opt: dict[str, float],
    run_seed: int,
    device: torch.device,
    device_arg: Any,
    loader_kind: str,
) -> dict[str, Any]:
    """train_head for one epoch on the test's model (arriving in eval mode), data and seed."""
    model = _build(spec).to(device)
    model.eval()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=opt["lr"], momentum=opt["momentum"])
    batches = _split(X, y, batch)
    loader: Iterable[Any] = batches
    if loader_kind == "dataloader":
        loader = DataLoader(TensorDataset(X, y), batch_size=batch, shuffle=False)
    watch = _Watch(model)
    loss_fn = _Loss()
    torch.manual_seed(run_seed)
    try:
        out = mod.train_head(model, loader, optimizer, loss_fn, device_arg)
    finally:
        watch.close()
    return {
        "out": out,
        "described": describe(out),
        "forwards": watch.records,
        "losses": loss_fn.records,
        "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "batches_after": batches if loader_kind == "list" else None,
    }


# ----------------------------------------------------------------------------- models


class _MyBatchNorm(nn.BatchNorm2d):
    """A BatchNorm2d subclass, as a library might define one."""


class _Zoo(nn.Module):
    """Every kind of normalisation layer, in frozen, trainable and parameterless parents."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.BatchNorm2d(4, affine=False)
        )
        self.body = nn.Sequential(
            nn.Linear(4, 4), nn.BatchNorm1d(4), nn.BatchNorm1d(4, affine=False)
        )
        self.bare = nn.Sequential(nn.BatchNorm1d(4, affine=False), nn.ReLU(), nn.Dropout(0.2))
        self.kinds = nn.ModuleDict(
            {
                "bn1d": nn.BatchNorm1d(4),
                "bn3d": nn.BatchNorm3d(4),
                "sync": nn.SyncBatchNorm(4),
                "sub": _MyBatchNorm(4),
                "ln": nn.LayerNorm(4),
                "gn": nn.GroupNorm(2, 4),
                "inorm": nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
                "drop": nn.Dropout(0.3),
            }
        )
        self.partial = nn.ModuleDict({"bias": nn.BatchNorm2d(4), "weight": nn.BatchNorm2d(4)})


def _zoo_freezing(stage: dict[str, Any]) -> dict[str, Any]:
    """The zoo's half-trainable layers: one with its bias alone trainable, one its weight."""
    if "partial" in stage["trainable"]:
        return {
            "trainable": [t for t in stage["trainable"] if t != "partial"],
            "bias_only": ["partial.bias"],
            "weight_only": ["partial.weight"],
        }
    return stage


@functools.lru_cache(maxsize=1)
def _pretrained() -> nn.Module:
    """The backbone with the shipped weights (checked against their sha256), built once.

    ``make_backbone()`` takes a while (torchvision first builds a full-width ResNet), so
    every model is a deep copy of this one.
    """
    model = make_backbone()
    state = torch.load(verify_file(BACKBONE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model


def _build(spec: dict[str, Any]) -> nn.Module:
    """The test's model, on the CPU, with the first freezing stage applied."""
    gen = torch.Generator().manual_seed(spec["init_seed"])
    if spec["model"] == "zoo":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec["init_seed"])
            model: nn.Module = _Zoo()
    else:
        model = copy.deepcopy(_pretrained())
        for name in spec.get("no_affine", ()):
            _drop_affine(model, name)
        layers: list[nn.Module] = []
        if spec["head"] == "bn_dropout":
            layers.append(nn.BatchNorm1d(WIDTH, affine=False))
        layers += [nn.Dropout(spec["p"]), nn.Linear(WIDTH, CLASSES)]
        head = nn.Sequential(*layers)
        with torch.no_grad():
            linear = head[-1]
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=gen) * 0.1)
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=gen) * 0.1)
        model.fc = head
    _apply_freezing(model, spec["stages"][0])
    return model


def _drop_affine(model: nn.Module, name: str) -> None:
    """Replace the BatchNorm2d ``name`` with an affine=False one holding the same statistics."""
    old = model.get_submodule(name)
    new = nn.BatchNorm2d(old.num_features, affine=False)
    new.load_state_dict(
        {k: v for k, v in old.state_dict().items() if k not in ("weight", "bias")}, strict=True
    )
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent), attr, new)


def _apply_freezing(model: nn.Module, stage: dict[str, Any]) -> None:
    """requires_grad per parameter: trainable prefixes, then half-trainable BatchNorm layers."""
    if isinstance(model, _Zoo):
        stage = _zoo_freezing(stage)
    for name, p in model.named_parameters():
        p.requires_grad_(any(_under(name, t) for t in stage["trainable"]))
    for name in stage.get("bias_only", ()):
        model.get_submodule(name).weight.requires_grad_(False)
        model.get_submodule(name).bias.requires_grad_(True)
    for name in stage.get("weight_only", ()):
        model.get_submodule(name).weight.requires_grad_(True)
        model.get_submodule(name).bias.requires_grad_(False)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _training_flags(model: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in model.named_modules()}


def _backbone_spec(
    rng: Any,
    stages: list[dict[str, Any]],
    *,
    arrive: str,
    head: str = "dropout",
    no_affine: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": "backbone",
        "stages": stages,
        "arrive": arrive,
        "head": head,
        "p": rng.choice([0.3, 0.5]),
        "init_seed": rng.randint(0, 2**31 - 1),
    }
    if no_affine:  # one affine=False BatchNorm in a frozen block, one in a trainable block
        spec["no_affine"] = [
            rng.choice(["layer2.0.bn2", "layer3.0.bn1"]),
            rng.choice(["layer4.0.bn1", "layer4.0.bn2"]),
        ]
    return spec


@functools.lru_cache(maxsize=1)
def _target_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Digits 5..9 (labels 0..4) as backbone inputs, pooled to 16x16 to keep the grader fast.

    The backbone takes any input of at least 16x16 (layer4 then sees 1x1); a quarter of the
    pixels is a quarter of the work on a CPU.
    """
    images, labels = load_digits()
    keep = labels >= 5
    return F.avg_pool2d(backbone_images(images[keep]), 2), labels[keep] - 5


def _digits(seed: Any, n: int, *, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = _target_digits()
    idx = torch.randperm(len(y), generator=seed.generator(offset))[:n]
    return X[idx].clone(), y[idx].clone()


def _split(X: torch.Tensor, y: torch.Tensor, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(X[i : i + batch].clone(), y[i : i + batch].clone()) for i in range(0, len(X), batch)]


def _initial_state(spec: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The judge's own copy of the model's state before any learner code ran."""
    return {k: v.detach().clone() for k, v in _build(spec).state_dict().items()}


def _frozen_batchnorm_names(spec: dict[str, Any]) -> list[str]:
    """BatchNorm layers of the backbone that the first freezing stage leaves frozen."""
    model = _build(spec)
    return [
        name
        for name, info in _describe_modules(model).items()
        if info["batchnorm"] and info["frozen"]
    ]


def _describe_modules(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Per module: its class, whether it is a BatchNorm layer, and why it is frozen or not."""
    parents = {}
    for pname, parent in model.named_modules():
        for cname, _ in parent.named_children():
            parents[f"{pname}.{cname}" if pname else cname] = parent
    out: dict[str, dict[str, Any]] = {}
    for name, m in model.named_modules():
        own = dict(m.named_parameters(recurse=False))
        info: dict[str, Any] = {
            "kind": type(m).__name__,
            "batchnorm": isinstance(m, _BatchNorm),
            "own": {k: p.requires_grad for k, p in own.items()},
        }
        if info["batchnorm"]:
            if own:
                info["frozen"] = not any(p.requires_grad for p in own.values())
            else:
                parent = parents.get(name)
                params = list(parent.parameters()) if parent is not None else []
                info["parent_params"] = len(params)
                info["parent_trainable"] = any(p.requires_grad for p in params)
                info["frozen"] = bool(params) and not info["parent_trainable"]
        out[name] = info
    return out


# ----------------------------------------------------------------------------- checking modes


def _check_modes(got: dict[str, Any], want: dict[str, Any], spec: dict[str, Any], call: str):
    if got["requires_grad"] != want["requires_grad"]:
        changed = [n for n, v in want["requires_grad"].items() if got["requires_grad"].get(n) != v]
        raise fail(
            f"{call}; afterwards requires_grad of {changed[:3]} has changed: set_trainable_mode "
            "only switches modes (train/eval); it must not freeze or unfreeze anything"
        )
    if not all(got["returned_model"]):
        raise fail(
            f"{call}; it returned {got['returned']}, expected the model itself (return model)"
        )
    model = _build(spec)
    for stage in spec["stages"]:
        _apply_freezing(model, stage)
    info = _describe_modules(model)
    wrong = [name for name, flag in want["training"].items() if got["training"].get(name) != flag]
    if wrong:
        name = min(wrong, key=lambda n: -1 if n == "" else _priority(info[n], want["training"][n]))
        problem = _mode_problem(name, info[name], got["training"].get(name), want["training"][name])
        more = (
            f" ({len(wrong) - 1} other modules are in the wrong mode too)" if len(wrong) > 1 else ""
        )
        raise fail(f"{call}; {problem}{more}")


def _priority(info: dict[str, Any], expected: bool) -> int:
    """Which wrong mode to report first: the one that matters most for training."""
    if info["batchnorm"]:
        return 0 if not expected else 1
    return {"Dropout": 2}.get(info["kind"], 3 if info["kind"].endswith("Norm") else 4)


def _mode_problem(name: str, info: dict[str, Any], actual: bool | None, expected: bool) -> str:
    shown = f"{name} ({info['kind']})" if name else f"the model itself ({info['kind']})"
    now = "train" if actual else "eval"
    if not expected:  # a frozen BatchNorm layer left in train mode
        if info["own"]:
            why = "none of its parameters requires grad"
        else:
            why = "it has no parameters (affine=False) and every parameter of its parent is frozen"
        return (
            f"{shown} is in train mode, expected eval mode: it is a frozen BatchNorm layer "
            f"({why}). In train mode it would overwrite its running statistics; after "
            "model.train(), call .eval() on every frozen BatchNorm layer (any subclass of "
            "torch.nn.modules.batchnorm._BatchNorm: BatchNorm1d/2d/3d, SyncBatchNorm, ...)"
        )
    head = f"{shown} is in {now} mode, expected train mode"
    if info["batchnorm"] and info["own"]:
        trainable = [k for k, v in info["own"].items() if v]
        verb = "require" if len(trainable) > 1 else "requires"
        return (
            f"{head}: its {' and '.join(trainable)} {verb} "
            "grad, so it is being trained and is not frozen; a BatchNorm layer is frozen only "
            "when none of its own parameters requires grad"
        )
    if info["batchnorm"]:
        if info.get("parent_params", 0) == 0:
            why = "its parent has no parameters at all, so it is not frozen"
        else:
            why = "its parent has trainable parameters, so it is trained along with them"
        return (
            f"{head}: it has no parameters (affine=False) and {why}. Such a layer follows the "
            "module that holds it: frozen only when that module has parameters and all are frozen"
        )
    if info["kind"] == "Dropout":
        return (
            f"{head}: only frozen BatchNorm layers go to eval mode; Dropout must keep dropping "
            "units while the head trains"
        )
    if info["kind"] in (
        "LayerNorm",
        "GroupNorm",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
    ):
        return (
            f"{head}: {info['kind']} is not a BatchNorm layer (not a subclass of "
            "torch.nn.modules.batchnorm._BatchNorm), so it stays in train mode"
        )
    return (
        f"{head}: only the frozen BatchNorm layers go to eval mode; every other module stays in "
        "train mode, frozen or not. Call model.train() first, then .eval() on each frozen "
        "BatchNorm layer alone (not on whole frozen blocks)"
    )


# ----------------------------------------------------------------------------- train_head helpers


class _Watch:
    """Records, at every forward pass of the model, the modules in eval mode (worker side)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.param = next(model.parameters())
        self.records: list[dict[str, Any]] = []
        self.handle = model.register_forward_pre_hook(self._pre)

    def close(self) -> None:
        self.handle.remove()

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        x = args[0] if args else None
        self.records.append(
            {
                "eval": sorted(n for n, m in self.model.named_modules() if not m.training),
                "grad": torch.is_grad_enabled(),
                "x_device": str(x.device) if isinstance(x, torch.Tensor) else "?",
                "model_device": str(self.param.device),
            }
        )


class _Loss:
    """Cross-entropy that records each batch's loss and size (worker side)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, int]] = []

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(logits, y)
        self.records.append((float(loss.detach()), int(y.shape[0])))
        return loss


class _Twin:
    """One twin run of train_head: the learner's answer, the reference's, and the inputs."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def _train_twin(
    learner: Any,
    reference: Any,
    spec: dict[str, Any],
    seed: Any,
    rng: Any,
    device: torch.device,
    *,
    offset: int,
    loader_kind: str = "list",
    device_arg: Any = None,
) -> _Twin:
    batch = rng.randint(6, 9)
    n_batches = rng.randint(2, 3)
    last = rng.randint(2, batch - 1)
    n = batch * (n_batches - 1) + last
    X, y = _digits(seed, n, offset=offset)
    options = {
        "batch": batch,
        "opt": {
            "lr": round(rng.uniform(0.02, 0.08), 3),
            "momentum": round(rng.uniform(0.5, 0.9), 2),
        },
        "run_seed": rng.randint(0, 2**31 - 1),
        "device": device,
        "device_arg": device if device_arg is None else device_arg,
        "loader_kind": loader_kind,
    }
    want = reference.run(training, spec, X, y, **options)
    trainable = spec["stages"][0]["trainable"]
    kind = "a list of (x, y) CPU batches" if loader_kind == "list" else "a DataLoader"
    call = (
        f"called train_head(model, loader, optimizer, loss_fn, {options['device_arg']!r}) with "
        f"{kind} ({n} samples in {n_batches} batches of {batch}, the last of {last}); the "
        f"backbone on {device} with trainable {trainable} and head Dropout(p={spec['p']}), "
        f"Linear(128, 5), arriving in eval mode; SGD(lr={options['opt']['lr']}, "
        f"momentum={options['opt']['momentum']}) over the trainable parameters"
    )
    got = call_learner(learner.run, training, spec, X, y, call=call, hints=_HINTS, **options)
    twin = _Twin(
        got=got, want=want, spec=spec, X=X, y=y, options=options, call=call,
        batches=_split(X, y, batch),
    )  # fmt: skip
    _check_forwards(twin)
    return twin


def _check_forwards(twin: _Twin) -> None:
    got, want, call = twin.got["forwards"], twin.want["forwards"], twin.call
    n = len(twin.batches)
    if len(got) != n:
        raise fail(f"{call}; the model ran {len(got)} forward passes, expected {n}: one per batch")
    expected_eval = set(want[0]["eval"])
    for i, record in enumerate(got):
        if record["x_device"] != record["model_device"]:
            raise fail(
                f"{call}; batch {i} reached the model on {record['x_device']}, the model is on "
                f"{record['model_device']}: move every batch with x, y = x.to(device), y.to(device)"
            )
        if not record["grad"]:
            raise fail(
                f"{call}; forward pass {i} ran with autograd off (torch.no_grad()); training "
                "needs the graph for loss.backward()"
            )
        now = set(record["eval"])
        if now == expected_eval:
            continue
        model = _build(twin.spec)
        info = _describe_modules(model)
        wrong = sorted(expected_eval ^ now)
        name = min(wrong, key=lambda n: _priority(info[n], n not in expected_eval))
        problem = _mode_problem(name, info[name], name not in now, name not in expected_eval)
        advice = ""
        if expected_eval - now and not now:
            advice = (
                " (every module was in train mode: call set_trainable_mode(model) at the start "
                "of train_head, not model.train())"
            )
        raise fail(f"{call}; during forward pass {i}, {problem}{advice}")


def _check_loss(twin: _Twin, device: torch.device) -> None:
    loss = assert_python_float(twin.got["out"], what="the returned loss", call=twin.call)
    want = float(twin.want["out"])
    tol = tolerance(torch.float32, device)
    if abs(loss - want) <= tol["atol"] + tol["rtol"] * abs(want):
        return
    records = twin.want["losses"]
    per_batch = sum(v for v, _ in records) / len(records)
    total = sum(v * k for v, k in records)
    guesses = (
        (per_batch, "the mean of the batch losses; weight each by its batch size (the last batch "
         "is smaller) and divide by the number of samples"),
        (sum(v for v, _ in records), "the sum of the batch losses; return the mean per sample"),
        (total, "the sum over samples; divide by the number of samples"),
        (records[-1][0], "the last batch's loss; return the mean over the whole epoch"),
    )  # fmt: skip
    for value, advice in guesses:
        if math.isclose(loss, value, rel_tol=1e-4, abs_tol=1e-6):
            raise fail(
                f"{twin.call}; the returned loss {loss:.6g} is {advice} (expected {want:.6g})"
            )
    raise fail(
        f"{twin.call}; the returned loss is {loss:.6g}, expected {want:.6g}: the sum of "
        "loss.item() * x.shape[0] over the batches, divided by the number of samples"
    )


def _check_state(twin: _Twin, device: torch.device) -> None:
    """The trained state equals the reference's; name the mistake when it does not."""
    tol = tolerance(torch.float32, device)
    got, want = twin.got["state"], twin.want["state"]
    if states_close(got, want, **tol):
        _check_loss(twin, device)
        return
    for wrong, advice in _MISTAKES.items():
        simulated = _replay(twin, wrong)
        if states_close(got, simulated, **tol):
            raise fail(f"{twin.call}; afterwards the weights are those of a loop that {advice}")
    for key, value in want.items():
        if key not in got or not torch.equal(got[key].to(value.dtype), value):
            assert_close(got.get(key), value, what=f"{key} after the epoch", call=twin.call, **tol)
    _check_loss(twin, device)


def _no_zero_grad(model, loader, optimizer, loss_fn, device):
    """train_head without optimizer.zero_grad(): the gradients pile up."""
    _set_mode(model)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss_fn(model(x), y).backward()
        optimizer.step()
    return 0.0


def _zero_grad_after_backward(model, loader, optimizer, loss_fn, device):
    """train_head with zero_grad() between backward() and step(): nothing is learned."""
    _set_mode(model)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss_fn(model(x), y).backward()
        optimizer.zero_grad()
        optimizer.step()
    return 0.0


def _set_mode(model: nn.Module) -> None:
    model.train()
    for name, info in _describe_modules(model).items():
        if info["batchnorm"] and info["frozen"]:
            model.get_submodule(name).eval()


_MISTAKES: dict[Callable[..., float], str] = {
    _no_zero_grad: (
        "never clears the gradients, so each step also applies the earlier batches' gradients: "
        "call optimizer.zero_grad() before each backward()"
    ),
    _zero_grad_after_backward: (
        "clears the gradients between backward() and step(), so the steps use no gradient: "
        "zero_grad(), forward, loss, backward(), then step()"
    ),
}


def _replay(twin: _Twin, wrong: Callable[..., float]) -> dict[str, torch.Tensor]:
    """The state a known-wrong train_head reaches on the same inputs (run by the judge)."""
    fake = types.SimpleNamespace(train_head=wrong)
    with torch.random.fork_rng(devices=[]):
        answer = training(fake, twin.spec, twin.X.clone(), twin.y.clone(), **twin.options)
    return answer["state"]
