"""Grader for 4.5: discriminative learning rates with parameter groups.

``layerwise_lrs`` is compared with ``base_lr * decay**i``, computed here, for random rates,
decays and names. ``param_groups`` runs on the stage's backbone (some blocks frozen) and on
a small model whose children are named ``fc``, ``fc2``, ``layer1`` and ``layer10`` (where a
plain ``str.startswith`` puts a parameter in two groups); the scenario turns the groups into
data (each group's name, lr, its keys, and its parameters named by *identity* with the
model's own), which the judge compares with the reference's and with the rule. The
validation errors must be ValueErrors whose message names the parameter or key at fault.

``make_scheduler`` drives an AdamW over three parameter groups with different learning
rates for ``total_steps + 2`` steps; every group's lr at every step is compared with the
warmup-then-cosine formula computed here, and with what the usual mistakes give (warmup one
step ahead, cosine over ``total_steps``, no floor after the end) to name them. An end-to-end
run (layerwise_lrs, param_groups, AdamW, make_scheduler, four training steps on digits)
must match the reference's learning rates and weights, with constant ratios between groups.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    assert_close,
    assert_state_dict_close,
    call_learner,
    call_repr,
    describe,
    expect_raises,
    fail,
    tolerance,
)
from pytorch_path.data import (
    BACKBONE_FILE,
    backbone_images,
    load_digits,
    make_backbone,
    verify_file,
)
from pytorch_path.scenario import LearnerError, scenario

DEFAULT_NAMES = ("fc", "layer4", "layer3", "layer2", "layer1", "stem")
DEFAULT_ALIASES = {"stem": ("conv1", "bn1")}
LR_TOL = {"rtol": 1e-7, "atol": 1e-15}  # learning rates: any formula, same value

# ----------------------------------------------------------------------------- layerwise_lrs


def test_layerwise_lrs_decay_from_the_head(learner, seed):
    """names[i] gets base_lr * decay**i, head first; the default names are the backbone's parts."""
    rng = seed.python_random()
    cases: list[tuple[float, float, Any]] = [
        (10 ** rng.uniform(-4, -1), rng.uniform(0.3, 0.9), None),
        (10 ** rng.uniform(-4, -1), 1.0, None),
        (
            10 ** rng.uniform(-3, 0),
            rng.uniform(0.1, 0.9),
            rng.sample(["head", "b3", "b2", "b1"], 4),
        ),
        (10 ** rng.uniform(-3, 0), rng.uniform(0.1, 0.9), ("only",)),
    ]
    for base_lr, decay, names in cases:
        valid = "these arguments are valid (base_lr > 0, 0 < decay <= 1)"
        if names is None:
            call = call_repr("layerwise_lrs", base_lr, decay)
            got = _accepts(learner.layerwise_lrs, base_lr, decay, call=call, valid=valid)
            names = DEFAULT_NAMES
        else:
            call = call_repr("layerwise_lrs", base_lr, decay, names=names)
            got = _accepts(
                learner.layerwise_lrs, base_lr, decay, names=names, call=call, valid=valid
            )
        want = {name: base_lr * decay**i for i, name in enumerate(names)}
        if not isinstance(got, dict):
            raise fail(f"{call} returned {describe(got)}, expected a dict {{name: lr}}")
        if list(got) != list(want):
            raise fail(
                f"{call} returned the keys {list(got)}, expected {list(want)}: one entry per "
                "name, in the order of names (the default is " + repr(DEFAULT_NAMES) + ")"
            )
        for i, (name, lr) in enumerate(want.items()):
            value = got[name]
            if type(value) is not float:
                raise fail(f"{call}: the lr of {name!r} is {describe(value)}, expected a float")
            if math.isclose(value, lr, rel_tol=1e-9):
                continue
            n = len(want)
            if math.isclose(value, base_lr * decay ** (n - 1 - i), rel_tol=1e-9):
                advice = (
                    f"the order is reversed: names[0] ({names[0]!r}, the head) gets base_lr and "
                    f"the last name the smallest rate"
                )
            elif math.isclose(value, base_lr * decay ** (i + 1), rel_tol=1e-9):
                advice = "the exponent is one too large: names[0] gets base_lr * decay**0"
            elif math.isclose(value, base_lr / decay**i, rel_tol=1e-9):
                advice = "the rates grow; multiply by decay**i, do not divide"
            else:
                advice = "names[i] gets base_lr * decay**i"
            raise fail(f"{call}: the lr of {name!r} is {value:.6g}, expected {lr:.6g}; {advice}")


def test_layerwise_lrs_validates_its_arguments(learner, seed):
    """base_lr > 0, 0 < decay <= 1, names non-empty and distinct: ValueError on both sides."""
    rng = seed.python_random()
    decay = rng.uniform(0.2, 0.9)
    lr = 10 ** rng.uniform(-4, -1)
    for base_lr in (0.0, -lr):
        expect_raises(
            learner.layerwise_lrs, "ValueError", base_lr, decay,
            what=call_repr("layerwise_lrs", base_lr, decay) + " (base_lr must be > 0)",
        )  # fmt: skip
    for bad in (0.0, -decay, 1.0 + 1e-9, 1.0 + decay):
        expect_raises(
            learner.layerwise_lrs, "ValueError", lr, bad,
            what=call_repr("layerwise_lrs", lr, bad) + " (decay must satisfy 0 < decay <= 1)",
        )  # fmt: skip
    for names in ((), ("fc", "layer4", "fc")):
        expect_raises(
            learner.layerwise_lrs, "ValueError", lr, decay, names=names,
            what=call_repr("layerwise_lrs", lr, decay, names=names)
            + " (names must be at least one distinct name)",
        )  # fmt: skip
    for base_lr, ok_decay in ((1e-12, decay), (lr, 1.0), (lr, 1e-9)):
        call = call_repr("layerwise_lrs", base_lr, ok_decay)
        got = _accepts(
            learner.layerwise_lrs, base_lr, ok_decay, call=call,
            valid="base_lr > 0 and 0 < decay <= 1 allow it",
        )  # fmt: skip
        want = {name: base_lr * ok_decay**i for i, name in enumerate(DEFAULT_NAMES)}
        if not isinstance(got, dict) or list(got) != list(want):
            raise fail(f"{call} returned {describe(got)}, expected {want}")
        for name, value in want.items():
            assert_close(got[name], value, what=f"the lr of {name!r}", call=call, rtol=1e-9)


# ----------------------------------------------------------------------------- param_groups


def test_param_groups_split_the_backbone(learner, reference, seed):
    """One group per key, in order, with its lr and name; stem = conv1 + bn1 by default."""
    rng = seed.python_random()
    cases = [
        ([], DEFAULT_NAMES),
        (["conv1", "bn1", "layer1.0.conv1"], ("fc", "layer4", "layer3", "layer2", "layer1")),
    ]
    for frozen, names in cases:
        lrs = _lrs(rng, names)
        spec = {"model": "backbone", "frozen": frozen}
        call = f"called param_groups(model, {_short_lrs(lrs)}) on the backbone" + (
            f" with {frozen} frozen" if frozen else " (every parameter trainable)"
        )
        valid = "every trainable parameter matches exactly one key" + (
            "; frozen parameters are left out and need no key" if frozen else ""
        )
        got = _accepts(learner.run, groups_of, spec, lrs, call=call, valid=valid)
        want = reference.run(groups_of, spec, lrs)
        _check_groups(got, want, spec, lrs, DEFAULT_ALIASES, call)


def test_param_groups_match_whole_name_components(learner, reference, seed):
    """'layer1' is not a prefix of 'layer10.weight', 'fc' not of 'fc2.bias'; exact names match."""
    rng = seed.python_random()
    keys = ["layer10", "layer1", "fc2", "fc.weight", "fc.bias"]
    rng.shuffle(keys)
    lrs = _lrs(rng, keys)
    spec = {"model": "named", "frozen": []}
    call = (
        f"called param_groups(model, {_short_lrs(lrs)}, aliases={{}}) on a model whose children "
        "are fc, fc2, layer1 and layer10 (nn.Linear each)"
    )
    valid = (
        "each parameter matches exactly one key as whole name components: 'layer1' does not "
        "match 'layer10.weight' (name == prefix or name.startswith(prefix + '.'))"
    )
    got = _accepts(learner.run, groups_of, spec, lrs, aliases={}, call=call, valid=valid)
    want = reference.run(groups_of, spec, lrs, aliases={})
    _check_groups(got, want, spec, lrs, {}, call)


def test_param_groups_with_custom_aliases(learner, reference, seed):
    """aliases given replace the default ones; a key covers every prefix it is given."""
    rng = seed.python_random()
    aliases = {
        "head": ("fc",),
        "top": ("layer3", "layer4"),
        "bottom": ("conv1", "layer1", "layer2"),
        "bn": ("bn1",),
        "unused": ("nothing",),
    }
    keys = ["head", "top", "bottom", "bn"]
    rng.shuffle(keys)
    lrs = _lrs(rng, keys)
    spec = {"model": "backbone", "frozen": []}
    call = f"called param_groups(model, {_short_lrs(lrs)}, aliases={aliases}) on the backbone"
    valid = (
        "with these aliases every parameter matches exactly one key (the given aliases replace "
        "the default ones; 'unused' is not a key of lrs, so its alias is ignored)"
    )
    got = _accepts(learner.run, groups_of, spec, lrs, aliases=aliases, call=call, valid=valid)
    want = reference.run(groups_of, spec, lrs, aliases=aliases)
    _check_groups(got, want, spec, lrs, aliases, call)


def test_param_groups_errors_name_the_culprit(learner, seed):
    """A parameter in no group or in two, or a key with nothing to match: ValueError naming it."""
    rng = seed.python_random()
    everything = {"model": "backbone", "frozen": []}
    stem_frozen = {"model": "backbone", "frozen": ["conv1", "bn1"]}
    missing = rng.choice(["layer2", "layer3", "layer1"])
    names = [n for n in DEFAULT_NAMES if n != missing]
    cases = [
        (
            everything, _lrs(rng, names), None, [f"{missing}.0.conv1.weight"],
            f"{missing}.0.conv1.weight matches no key",
        ),
        (
            everything, _lrs(rng, [*DEFAULT_NAMES, "head"]),
            {"stem": ("conv1", "bn1"), "head": ("fc",)},
            ["fc.weight", "head"], "fc.weight matches both 'fc' and 'head'",
        ),
        (
            everything, _lrs(rng, [*DEFAULT_NAMES, "layer5"]), None, ["layer5"],
            "the key 'layer5' matches no parameter",
        ),
        (
            stem_frozen, _lrs(rng, DEFAULT_NAMES), None, ["stem"],
            "the key 'stem' matches only frozen parameters (conv1 and bn1 are frozen)",
        ),
    ]  # fmt: skip
    for spec, lrs, aliases, named, why in cases:
        shown = "" if aliases is None else f", aliases={aliases}"
        what = (
            f"called param_groups(model, {_short_lrs(lrs)}{shown}) on the backbone"
            + (f" with {spec['frozen']} frozen" if spec["frozen"] else "")
            + f": {why}"
        )
        error = expect_raises(learner.run, "ValueError", groups_of, spec, lrs, aliases=aliases,
                              what=what)  # fmt: skip
        absent = [n for n in named if n not in error.message]
        if absent:
            raise fail(
                f"{what}; the ValueError says {error.message!r}, which does not name "
                f"{' and '.join(repr(a) for a in absent)}: say which parameter or key is at fault"
            )
    # aliases={} switches the default off: "stem" no longer covers conv1 and bn1.
    lrs = _lrs(rng, DEFAULT_NAMES)
    expect_raises(
        learner.run, "ValueError", groups_of, everything, lrs, aliases={},
        what=f"called param_groups(model, {_short_lrs(lrs)}, aliases={{}}) on the backbone: with "
        "no aliases the key 'stem' matches nothing and conv1.weight no key",
    )  # fmt: skip


# ----------------------------------------------------------------------------- make_scheduler


@pytest.mark.points(2)
def test_scheduler_warms_up_then_decays(learner, reference, seed):
    """lr = group lr * m(s): s/W during warmup, then cosine from 1 to 0 at total_steps, then 0."""
    rng = seed.python_random()
    total = rng.randint(7, 12)
    cases = [
        (total, rng.randint(2, total // 2)),
        (rng.randint(5, 9), None),  # the default, no warmup
        (rng.randint(4, 8), 0),
        (1, 0),
        (total, total - 1),
        (rng.randint(3, 6), 1),
    ]
    base = [10 ** rng.uniform(-4, -2) for _ in range(3)]
    for total_steps, warmup in cases:
        call = _scheduler_call(total_steps, warmup)
        call += f" on an AdamW with three groups (lr {', '.join(f'{b:.3g}' for b in base)})"
        got = _accepts(learner.run, schedule, base, total_steps, warmup, call=call,
                       valid="total_steps >= 1 and 0 <= warmup_steps < total_steps")  # fmt: skip
        want = reference.run(schedule, base, total_steps, warmup)
        _check_schedule(got, want, base, total_steps, warmup or 0, call)


def test_scheduler_validates_its_arguments(learner, seed):
    """total_steps >= 1 and 0 <= warmup_steps < total_steps: ValueError just outside."""
    rng = seed.python_random()
    total = rng.randint(3, 9)
    base = [1e-3, 1e-4]
    bad = [(0, None), (-total, None), (total, -1), (total, total), (total, total + 1)]
    for total_steps, warmup in bad:
        expect_raises(
            learner.run, "ValueError", schedule, base, total_steps, warmup,
            what=_scheduler_call(total_steps, warmup)
            + " (total_steps >= 1 and 0 <= warmup_steps < total_steps)",
        )  # fmt: skip
    for total_steps, warmup in ((1, None), (total, total - 1), (total, 0)):
        call = _scheduler_call(total_steps, warmup)
        valid = "total_steps >= 1 and 0 <= warmup_steps < total_steps allow it"
        got = _accepts(learner.run, schedule, base, total_steps, warmup, call=call, valid=valid)
        _check_schedule(got, None, base, total_steps, warmup or 0, call)


# ----------------------------------------------------------------------------- end to end


@pytest.mark.points(2)
def test_fine_tuning_with_discriminative_lrs(learner, reference, seed):
    """layerwise_lrs + param_groups + AdamW + make_scheduler: a twin run's lrs and weights."""
    rng = seed.python_random()
    base_lr = round(10 ** rng.uniform(-3.3, -2.5), 6)
    decay = round(rng.uniform(0.3, 0.8), 3)
    total, warmup = 4, rng.randint(1, 2)
    X, y = _digits(seed, 4 * 6, offset=5)
    opts = {"base_lr": base_lr, "decay": decay, "total": total, "warmup": warmup,
            "weight_decay": 0.01, "init_seed": rng.randint(0, 2**31 - 1)}  # fmt: skip
    want = reference.run(fine_tune, opts, X, y)
    call = (
        f"called lrs = layerwise_lrs({base_lr}, {decay}); optimizer = torch.optim.AdamW("
        f"param_groups(model, lrs), weight_decay=0.01); scheduler = make_scheduler(optimizer, "
        f"{total}, {warmup}) on the backbone, then {total} training steps of 6 digits each "
        "(optimizer.step(), then scheduler.step())"
    )
    got = call_learner(learner.run, fine_tune, opts, X, y, call=call)
    if got["names"] != list(DEFAULT_NAMES):
        raise fail(
            f"{call}; the optimizer's groups are named {got['names']}, expected "
            f"{list(DEFAULT_NAMES)} (one group per key of lrs, in order)"
        )
    lrs = torch.tensor(got["lrs"], dtype=torch.float64)
    expected = torch.tensor(want["lrs"], dtype=torch.float64)
    formula = torch.tensor(
        [[base_lr * decay**i * _m(s, total, warmup) for i in range(6)] for s in range(total)],
        dtype=torch.float64,
    )
    assert_close(lrs, formula, what="the lr of each group (columns) at each step (rows)",
                 call=call, **LR_TOL)  # fmt: skip
    assert_close(lrs, expected, what="the lrs", call=call, **LR_TOL)
    for s in range(total):
        if lrs[s, 0] > 0:
            ratios = lrs[s] / lrs[s, 0]
            assert_close(
                ratios, torch.tensor([decay**i for i in range(6)], dtype=torch.float64),
                what=f"the ratios lr(group) / lr(fc) at step {s}", call=call, rtol=1e-9,
            )  # fmt: skip
    assert_state_dict_close(
        got["state"], want["state"], what="the model after training", call=call,
        **tolerance(torch.float32),
    )  # fmt: skip


# ----------------------------------------------------------------------------- scenarios


@scenario
def groups_of(
    mod: Any, spec: dict[str, Any], lrs: dict[str, float], *, aliases: Any = "default"
) -> dict[str, Any]:
    """param_groups on the test's model; the groups as data (parameters named by identity)."""
    model = _model(spec)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    if aliases == "default":
        groups = mod.param_groups(model, lrs)
    else:
        groups = mod.param_groups(model, lrs, aliases=aliases)
    answer: dict[str, Any] = {
        "described": describe(groups),
        "groups": None,
        "flags_kept": flags == {n: p.requires_grad for n, p in model.named_parameters()},
    }
    if isinstance(groups, list) and all(isinstance(g, dict) for g in groups):
        answer["groups"] = [_group_data(model, g) for g in groups]
        try:
            optimizer = torch.optim.AdamW(groups, lr=1.0)
            answer["optimizer"] = [(g.get("name"), g["lr"]) for g in optimizer.param_groups]
        except (TypeError, ValueError) as exc:
            answer["optimizer"] = f"{type(exc).__name__}: {exc}"
    return answer


@scenario
def schedule(mod: Any, base: list[float], total_steps: int, warmup: int | None) -> dict[str, Any]:
    """make_scheduler on an AdamW with one group per base lr; every group's lr at each step."""
    gen = torch.Generator().manual_seed(len(base) * 1000 + total_steps)
    params = [nn.Parameter(torch.randn(3, generator=gen)) for _ in base]
    optimizer = torch.optim.AdamW(
        [{"params": [p], "lr": lr} for p, lr in zip(params, base, strict=True)], lr=1.0
    )
    if warmup is None:
        scheduler = mod.make_scheduler(optimizer, total_steps)
    else:
        scheduler = mod.make_scheduler(optimizer, total_steps, warmup)
    answer: dict[str, Any] = {
        "type": type(scheduler).__name__,
        "is_lambda_lr": isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR),
        "same_optimizer": getattr(scheduler, "optimizer", None) is optimizer,
        "lrs": [],
    }
    if not answer["is_lambda_lr"] or not answer["same_optimizer"]:
        return answer
    for _ in range(total_steps + 2):
        answer["lrs"].append([float(g["lr"]) for g in optimizer.param_groups])
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        optimizer.step()
        scheduler.step()
    return answer


@scenario
def fine_tune(mod: Any, opts: dict[str, Any], X: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """The three functions together on the backbone, then a few AdamW steps."""
    model = _model({"model": "backbone", "frozen": [], "init_seed": opts["init_seed"]})
    lrs = mod.layerwise_lrs(opts["base_lr"], opts["decay"])
    optimizer = torch.optim.AdamW(
        mod.param_groups(model, lrs), lr=1.0, weight_decay=opts["weight_decay"]
    )
    scheduler = mod.make_scheduler(optimizer, opts["total"], opts["warmup"])
    model.train()
    record = []
    batch = len(X) // opts["total"]
    for s in range(opts["total"]):
        record.append([float(g["lr"]) for g in optimizer.param_groups])
        x, t = X[s * batch : (s + 1) * batch], y[s * batch : (s + 1) * batch]
        optimizer.zero_grad()
        F.cross_entropy(model(x), t).backward()
        optimizer.step()
        scheduler.step()
    return {
        "names": [g.get("name") for g in optimizer.param_groups],
        "lrs": record,
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }


# ----------------------------------------------------------------------------- helpers


def _accepts(fn: Any, *args: Any, call: str, valid: str, **kwargs: Any) -> Any:
    """Call learner code on valid arguments; a ValueError there is the learner's mistake."""
    try:
        return call_learner(fn, *args, call=call, **kwargs)
    except LearnerError as exc:
        if exc.kind == "raised" and exc.is_a("ValueError"):
            raise fail(f"{call} raised ValueError: {exc.message}; but {valid}") from None
        raise


def _scheduler_call(total_steps: int, warmup: int | None) -> str:
    args = f"{total_steps}" if warmup is None else f"{total_steps}, {warmup}"
    return f"called make_scheduler(optimizer, {args})"


class _Named(nn.Module):
    """Children whose names are prefixes of each other's as strings (fc/fc2, layer1/layer10)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.fc2 = nn.Linear(2, 2)
        self.layer1 = nn.Linear(3, 3)
        self.layer10 = nn.Linear(3, 3)


@functools.lru_cache(maxsize=1)
def _pretrained() -> nn.Module:
    """The backbone with the shipped weights (checked against their sha256), built once."""
    model = make_backbone()
    state = torch.load(verify_file(BACKBONE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model


def _model(spec: dict[str, Any]) -> nn.Module:
    if spec["model"] == "named":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model: nn.Module = _Named()
    else:
        model = copy.deepcopy(_pretrained())
        if "init_seed" in spec:  # a new head for digits 5..9
            gen = torch.Generator().manual_seed(spec["init_seed"])
            with torch.no_grad():
                model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=gen) * 0.1)
                model.fc.bias.zero_()
    for name, p in model.named_parameters():
        if any(name == f or name.startswith(f + ".") for f in spec["frozen"]):
            p.requires_grad_(False)
    return model


def _group_data(model: nn.Module, group: dict[str, Any]) -> dict[str, Any]:
    names = {id(p): n for n, p in model.named_parameters()}
    params = group.get("params")
    listed = (
        [names.get(id(p), f"<{describe(p)}, not one of the model's parameters>") for p in params]
        if isinstance(params, (list, tuple))
        else describe(params)
    )
    return {
        "keys": sorted(map(str, group)),
        "name": group.get("name"),
        "lr": group.get("lr"),
        "params": listed,
        "params_type": type(params).__name__,
    }


def _lrs(rng: Any, keys: Any) -> dict[str, float]:
    return {k: round(10 ** rng.uniform(-5, -2), 8) for k in keys}


def _short_lrs(lrs: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k!r}: {v:.3g}" for k, v in lrs.items()) + "}"


def _expected_groups(
    spec: dict[str, Any], lrs: dict[str, float], aliases: dict[str, Any]
) -> dict[str, list[str]]:
    """The judge's own grouping: the parameter names of each key, by the documented rule."""
    model = _model(spec)
    groups: dict[str, list[str]] = {k: [] for k in lrs}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        for key in lrs:
            if any(name == q or name.startswith(q + ".") for q in (key, *aliases.get(key, ()))):
                groups[key].append(name)
    return groups


def _check_groups(
    got: dict[str, Any],
    want: dict[str, Any],
    spec: dict[str, Any],
    lrs: dict[str, float],
    aliases: dict[str, Any],
    call: str,
) -> None:
    if got["groups"] is None:
        raise fail(f"{call} returned {got['described']}, expected a list of dicts (one per key)")
    if not got["flags_kept"]:
        raise fail(f"{call}; afterwards some requires_grad flags changed: do not touch them")
    groups = got["groups"]
    if len(groups) != len(lrs):
        raise fail(f"{call} returned {len(groups)} groups, expected {len(lrs)}: one per key of lrs")
    expected = _expected_groups(spec, lrs, aliases)
    model = _model(spec)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    for index, (group, key) in enumerate(zip(groups, lrs, strict=True)):
        where = f"{call}; group {index}"
        if group["keys"] != ["lr", "name", "params"]:
            raise fail(
                f"{where} has the keys {group['keys']}, expected exactly 'params', 'lr' and "
                "'name' (the optimizer fills in the rest)"
            )
        if group["name"] != key:
            raise fail(
                f"{where} is named {group['name']!r}, expected {key!r}: the groups come in the "
                "order of lrs' keys, each with its key as 'name'"
            )
        if group["lr"] != lrs[key] or type(group["lr"]) is not float:
            raise fail(f"{where} ({key!r}) has lr {describe(group['lr'])}, expected {lrs[key]!r}")
        if group["params_type"] != "list":
            raise fail(f"{where} ({key!r}): 'params' is a {group['params_type']}, expected a list")
        names = group["params"]
        strangers = [n for n in names if n.startswith("<")]
        if strangers:
            raise fail(
                f"{where} ({key!r}) holds {strangers[0]}: put the model's own parameters in "
                "the group (from model.named_parameters()), not copies or detached tensors"
            )
        cold = [n for n in names if n in frozen]
        if cold:
            raise fail(
                f"{where} ({key!r}) holds {cold[0]}, whose requires_grad is False: frozen "
                "parameters stay out of every group"
            )
        if names != expected[key]:
            extra = [n for n in names if n not in expected[key]]
            lost = [n for n in expected[key] if n not in names]
            if extra:
                problem = (
                    f"it holds {extra[0]}, which {key!r} (prefixes "
                    f"{[key, *aliases.get(key, ())]}) does not match as a whole name component"
                    " (name == prefix or name.startswith(prefix + '.'))"
                )
            elif lost:
                problem = f"it lacks {lost[0]}, which {key!r} matches"
            else:
                problem = "its parameters are not in model.named_parameters() order"
            raise fail(f"{where} ({key!r}): {problem}")
    if want["groups"] != groups:  # the reference's answer, as a last word
        raise fail(f"{call} returned {groups}, expected {want['groups']}")
    if isinstance(got.get("optimizer"), str):
        raise fail(f"{call}; torch.optim.AdamW(groups) failed: {got['optimizer']}")


def _m(s: int, total: int, warmup: int, mistake: str = "") -> float:
    """The documented multiplier (or a known-wrong one) at scheduler step s."""
    if s < warmup:
        return (s + 1) / warmup if mistake == "warmup_ahead" else s / warmup
    progress = s / total if mistake == "over_total" else (s - warmup) / (total - warmup)
    if mistake != "no_floor":
        progress = min(1.0, progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


_SCHEDULE_MISTAKES = {
    "warmup_ahead": (
        "the warmup is one step ahead, (s + 1) / W; it starts at 0: m(s) = s / W for s < W"
    ),
    "over_total": (
        "the cosine runs over all total_steps from step 0; it starts after the warmup: "
        "progress = (s - W) / (T - W)"
    ),
    "no_floor": (
        "after total_steps the lr rises again (the cosine goes on); hold it at 0 for s > T "
        "(progress = min(1, ...))"
    ),
}


def _check_schedule(
    got: dict[str, Any],
    want: dict[str, Any] | None,
    base: list[float],
    total: int,
    warmup: int,
    call: str,
) -> None:
    if not got["is_lambda_lr"]:
        raise fail(f"{call} returned a {got['type']}, expected a torch.optim.lr_scheduler.LambdaLR")
    if not got["same_optimizer"]:
        raise fail(
            f"{call}: the scheduler's optimizer is not the optimizer given; build it on that"
        )
    lrs = torch.tensor(got["lrs"], dtype=torch.float64)
    steps = total + 2
    expected = torch.tensor(
        [[b * _m(s, total, warmup) for b in base] for s in range(steps)], dtype=torch.float64
    )
    if lrs.shape != expected.shape:
        raise fail(f"{call}: recorded {tuple(lrs.shape)} learning rates, expected {steps} x 3")
    ok = bool(((lrs - expected).abs() <= LR_TOL["atol"] + LR_TOL["rtol"] * expected.abs()).all())
    if not ok:
        bases = torch.tensor(base, dtype=torch.float64)
        ratio = lrs / bases
        if not torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-6, atol=1e-12):
            raise fail(
                f"{call}: the groups' learning rates no longer keep their ratios (step 0: "
                f"{lrs[0].tolist()}, bases {base}); return one multiplier m(s) from the lambda "
                "and let LambdaLR scale each group's own initial lr by it"
            )
        for mistake, advice in _SCHEDULE_MISTAKES.items():
            wrong = torch.tensor(
                [[b * _m(s, total, warmup, mistake) for b in base] for s in range(steps)],
                dtype=torch.float64,
            )
            if torch.allclose(lrs, wrong, rtol=1e-6, atol=1e-15) and not torch.allclose(
                wrong, expected, rtol=1e-6, atol=1e-15
            ):
                raise fail(f"{call}: {advice}")
        bad = int(((lrs - expected).abs() > 1e-12 + 1e-7 * expected.abs()).any(dim=1).nonzero()[0])
        m_got = (lrs[bad, 0] / base[0]).item()
        raise fail(
            f"{call}: at step s={bad} the multiplier is {m_got:.6g}, expected "
            f"{_m(bad, total, warmup):.6g} (warmup s / W, then 0.5 * (1 + cos(pi * (s - W) / "
            f"(T - W))), 0 after T; here W={warmup}, T={total})"
        )
    if want is not None:
        assert_close(lrs, torch.tensor(want["lrs"], dtype=torch.float64), what="the lrs",
                     call=call, **LR_TOL)  # fmt: skip


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
