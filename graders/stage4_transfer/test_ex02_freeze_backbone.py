"""Grader for 4.2: freeze the backbone, train only the head.

The models are the backbone of ``pytorch_path.data.make_backbone()`` with an extra module
``fcx`` (so that ``"fc"`` has a neighbour it must not match) and a small model whose head
shares its weight with an embedding (a tied parameter) and holds BatchNorm buffers. Before
each call the judge sets every ``requires_grad`` flag to a random pattern, so that both
directions (freezing and unfreezing) are checked.

Flags, counts and the optimizer's parameters (by identity, reported by name) are compared
with the reference's. Training runs on each device: the whole model gets gradients first
(as if it had been trained end to end), then it is frozen to the judge's pattern and
trained with the learner's optimizer, weight decay on and ``zero_grad(set_to_none=False)``;
the frozen tensors must end bitwise equal to the judge's own copy of the initial weights,
and the trainable ones equal to the reference run's.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path import data
from pytorch_path.checks import assert_close, describe, fail, tolerance
from pytorch_path.scenario import LearnerError, scenario

#: Prefix sets tried on the backbone (which also has an ``fcx`` module).
PREFIX_SETS: tuple[tuple[str, ...], ...] = (
    ("fc",),
    ("layer4", "fc"),
    ("layer4.0", "fc"),
    ("bn1", "layer3.0.conv1"),
    ("fc.weight", "layer2.0.downsample"),
    ("conv1", "layer1"),
)
_DEFAULT = "<default>"
#: (trainable, how the call reads) for the default, single strings and the empty tuple.
SPECIAL_CASES: tuple[tuple[Any, str], ...] = (
    (_DEFAULT, "freeze_all_but(model)"),
    ("fc", "freeze_all_but(model, 'fc')"),
    ("layer3", "freeze_all_but(model, 'layer3')"),
    ((), "freeze_all_but(model, ())"),
    (["layer4", "fc"], "freeze_all_but(model, ['layer4', 'fc'])"),
)


# ----------------------------------------------------------------------------- freeze_all_but


@pytest.mark.points(3)
def test_flags_follow_the_prefixes(learner, reference, seed):
    """requires_grad is True exactly for names under a prefix (whole components), else False."""
    rng = seed.python_random()
    chosen = [PREFIX_SETS[3], *rng.sample([*PREFIX_SETS[:3], *PREFIX_SETS[4:]], 3)]
    for index, prefixes in enumerate(chosen):
        pattern = _pattern("backbone", seed, index)
        call = f"called freeze_all_but(model, {prefixes!r})"
        got = _run(learner, flags_after, "backbone", pattern, prefixes, call=call)
        want = reference.run(flags_after, "backbone", pattern, prefixes)
        _check_flags(got, want, pattern, prefixes, call)


def test_defaults_single_string_and_empty(learner, reference, seed):
    """Default ("fc",), a single string as one prefix, () freezes everything, a list works."""
    for index, (trainable, shown) in enumerate(SPECIAL_CASES):
        pattern = _pattern("backbone", seed, 10 + index)
        call = f"called {shown}"
        got = _run(learner, flags_after, "backbone", pattern, trainable, call=call)
        want = reference.run(flags_after, "backbone", pattern, trainable)
        if trainable == _DEFAULT:
            prefixes: tuple[str, ...] = ("fc",)
        else:
            prefixes = (trainable,) if isinstance(trainable, str) else tuple(trainable)
        _check_flags(got, want, pattern, prefixes, call)


def test_tied_parameter_has_its_first_name(learner, reference, seed):
    """With a tied weight, names are model.named_parameters()' (a shared one under its first)."""
    for index, prefixes in enumerate((("head",), ("embed",), ("embed", "norm"))):
        pattern = _pattern("tied", seed, 20 + index)
        call = (
            f"called freeze_all_but(model, {prefixes!r}) on a model whose head.weight is "
            "embed.weight (named_parameters() lists it once, as embed.weight)"
        )
        got = _run(learner, flags_after, "tied", pattern, prefixes, call=call)
        want = reference.run(flags_after, "tied", pattern, prefixes)
        _check_flags(got, want, pattern, prefixes, call)


def test_unknown_prefix_raises(learner, reference, seed):
    """A prefix that matches no parameter (as a whole component) raises ValueError naming it."""
    cases = (
        (("fc", "layer5"), "layer5"),
        (("f",), "f"),
        (("layer4.0.conv",), "layer4.0.conv"),
        (("bn", "fc"), "bn"),
    )
    for index, (prefixes, bad) in enumerate(cases):
        pattern = _pattern("backbone", seed, 30 + index)
        call = f"called freeze_all_but(model, {prefixes!r})"
        got = _run(learner, freeze_error, pattern, prefixes, call=call)
        if got["raised"] is None:
            raise fail(
                f"{call}; it returned normally, expected ValueError: {bad!r} matches no "
                "parameter name as a whole component (a name matches when it equals the prefix "
                "or starts with the prefix followed by a dot)"
            )
        if got["raised"] != "ValueError":
            raise fail(f"{call}; raised {got['raised']}: {got['message']}; expected ValueError")
        if repr(bad) not in got["message"] and f'"{bad}"' not in got["message"]:
            raise fail(
                f"{call}; the ValueError says {got['message']!r}: name the prefix that matches "
                f"nothing, {bad!r} (quoted, e.g. with {{prefix!r}})"
            )
        changed = [name for name, flag in got["flags"].items() if flag != pattern[name]]
        if changed:
            raise fail(
                f"{call}; raised ValueError, but only after changing requires_grad of "
                f"{changed[:3]}: check every prefix first, then change the flags"
            )
    # Valid prefixes just inside the boundary still work.
    for index, prefixes in enumerate((("layer4.0.conv1",), ("fc", "layer4.0"))):
        pattern = _pattern("backbone", seed, 40 + index)
        call = f"called freeze_all_but(model, {prefixes!r})"
        got = _run(learner, flags_after, "backbone", pattern, prefixes, call=call)
        want = reference.run(flags_after, "backbone", pattern, prefixes)
        _check_flags(got, want, pattern, prefixes, call)


# ----------------------------------------------------------------------------- count_parameters


def test_count_parameters(learner, reference, seed):
    """(trainable, total) element counts: shared parameters once, buffers not counted."""
    for index, kind in enumerate(("backbone", "tied", "backbone", "tied")):
        pattern = _pattern(kind, seed, 50 + index)
        call = f"called count_parameters(model) on {_KIND_TEXT[kind]}"
        got = _run(learner, counts, kind, pattern, call=call)
        want = reference.run(counts, kind, pattern)
        _check_counts(got, want, call)


# ----------------------------------------------------------------------------- make_optimizer


@pytest.mark.points(2)
def test_optimizer_holds_exactly_the_trainable_parameters(learner, reference, seed):
    """make_optimizer: one SGD group of exactly the trainable parameters, with the defaults."""
    rng = seed.python_random(1)
    options = (
        {},
        {"lr": round(rng.uniform(0.02, 0.2), 4)},
        {"lr": round(rng.uniform(0.001, 0.05), 4), "momentum": 0.5,
         "weight_decay": round(rng.uniform(1e-4, 1e-2), 5)},
    )  # fmt: skip
    for index, kwargs in enumerate(options):
        kind = ("backbone", "tied", "backbone")[index]
        pattern = _pattern(kind, seed, 60 + index)
        shown = "".join(f", {k}={v!r}" for k, v in kwargs.items())
        call = f"called make_optimizer(model{shown}) on {_KIND_TEXT[kind]}"
        got = _run(learner, optimizer_facts, kind, pattern, kwargs, call=call)
        want = reference.run(optimizer_facts, kind, pattern, kwargs)
        _check_optimizer(got, want, call, given=set(kwargs))


def test_no_trainable_parameter_raises(learner):
    """make_optimizer on a fully frozen model raises ValueError (nothing to optimise)."""
    call = "called make_optimizer(model) with every parameter frozen"
    got = _run(learner, optimizer_all_frozen, call=call)
    if got["raised"] != "ValueError":
        what = "returned normally" if got["raised"] is None else f"raised {got['raised']}"
        raise fail(
            f"{call}; it {what}, expected ValueError: an optimizer over no parameter trains "
            "nothing (torch.optim.SGD([]) raises it for you)"
        )


@pytest.mark.points(2)
def test_frozen_weights_do_not_move(learner, reference, device, seed):
    """After SGD steps with weight decay, frozen tensors are bitwise unchanged, the rest trained."""
    rng = seed.python_random(2)
    for index in range(2):
        pattern = _pattern("plain", seed, 70 + index)
        init_seed = rng.randrange(2**31)
        lr, wd = round(rng.uniform(0.02, 0.1), 4), round(rng.uniform(0.01, 0.05), 4)
        x = data.backbone_images(seed.rand(6, 1, 8, 8, offset=80 + index)).to(device)
        y = seed.randint(0, len(data.BACKBONE_CLASSES), (6,), offset=90 + index).to(device)
        call = (
            f"trained 3 SGD steps with make_optimizer(model, lr={lr}, momentum=0.9, "
            f"weight_decay={wd}) after freezing to a pattern (the whole model had gradients "
            "from earlier training; zero_grad(set_to_none=False) each step)"
        )
        got = _run(learner, train_frozen, pattern, init_seed, x, y, lr, wd, call=call)
        want = reference.run(train_frozen, pattern, init_seed, x, y, lr, wd)
        initial = _initial_backbone(init_seed)
        params = got["params"]
        for name in pattern:
            value = params.get(name)
            if not isinstance(value, torch.Tensor) or value.shape != initial[name].shape:
                raise fail(f"{call}; the model's {name} is {describe(value)} afterwards")
        # The frozen ones first: a frozen tensor that moved changes every gradient after it.
        for name in (n for n, trainable in pattern.items() if not trainable):
            if not torch.equal(params[name].detach().cpu(), initial[name]):
                raise fail(
                    f"{call}; the frozen {name} changed: it is in the optimizer, and SGD moves "
                    "every parameter in its groups that has a .grad (here zeros from "
                    "zero_grad(set_to_none=False)), through weight decay and momentum. Give "
                    "the optimizer only [p for p in model.parameters() if p.requires_grad]"
                )
        for name in (n for n, trainable in pattern.items() if trainable):
            if torch.equal(params[name].detach().cpu(), initial[name]):
                raise fail(
                    f"{call}; the trainable {name} did not change: it is not in the "
                    "optimizer's parameters"
                )
            assert_close(
                params[name], want["params"][name], what=f"the trained {name}", call=call,
                **_loose(device),
            )  # fmt: skip


# ----------------------------------------------------------------------------- scenarios


@scenario
def flags_after(mod: Any, kind: str, pattern: dict[str, bool], trainable: Any) -> dict[str, Any]:
    """Set the judge's flags, call freeze_all_but; the flags, modes and values afterwards."""
    model = _build(kind)
    _apply(model, pattern)
    modes = _set_modes(model)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if trainable == _DEFAULT:
        returned = mod.freeze_all_but(model)
    else:
        returned = mod.freeze_all_but(model, trainable)
    after = model.state_dict()
    return {
        "same": returned is model,
        "returned": describe(returned),
        "flags": _flags(model),
        "modes_changed": [n for n, m in model.named_modules() if m.training != modes[n]],
        "values_changed": [k for k, v in before.items() if not torch.equal(after[k], v)],
    }


@scenario
def freeze_error(mod: Any, pattern: dict[str, bool], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """freeze_all_but with a prefix that matches nothing: what it raised, the flags after."""
    model = _build("backbone")
    _apply(model, pattern)
    try:
        mod.freeze_all_but(model, prefixes)
    except NotImplementedError:
        raise
    except Exception as exc:
        return {"raised": type(exc).__name__, "message": str(exc)[:500], "flags": _flags(model)}
    return {"raised": None, "message": "", "flags": _flags(model)}


@scenario
def counts(mod: Any, kind: str, pattern: dict[str, bool]) -> dict[str, Any]:
    """count_parameters on a model with the judge's flags."""
    model = _build(kind)
    _apply(model, pattern)
    value = mod.count_parameters(model)
    unique = list(model.parameters())
    extra = {  # what the usual miscounts add (used from the reference's answer only)
        "buffers": sum(b.numel() for b in model.buffers()),
        "shared": sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
        - sum(p.numel() for p in unique),
        "tensors": len(unique),
        "trainable_tensors": sum(1 for p in unique if p.requires_grad),
    }
    return {"value": value, "type": describe(value), "extra": extra}


@scenario
def optimizer_facts(
    mod: Any, kind: str, pattern: dict[str, bool], kwargs: dict[str, float]
) -> dict[str, Any]:
    """make_optimizer on a model with the judge's flags: its class and groups, by name."""
    model = _build(kind)
    _apply(model, pattern)
    opt = mod.make_optimizer(model, **kwargs)
    if not isinstance(opt, torch.optim.Optimizer):
        return {"type": describe(opt), "optimizer": False}
    names = {id(p): name for name, p in model.named_parameters()}
    keys = ("lr", "momentum", "weight_decay", "dampening", "nesterov")
    outsider = "<a tensor that is not the model's>"
    groups = [
        {
            "names": [names.get(id(p), outsider) for p in group["params"]],
            **{k: group.get(k) for k in keys},
        }
        for group in opt.param_groups
    ]
    return {
        "type": f"{type(opt).__module__}.{type(opt).__qualname__}",
        "optimizer": True,
        "sgd": isinstance(opt, torch.optim.SGD),
        "groups": groups,
    }


@scenario
def optimizer_all_frozen(mod: Any) -> dict[str, Any]:
    """make_optimizer on a model whose every parameter is frozen."""
    model = _build("plain")
    model.requires_grad_(False)
    try:
        mod.make_optimizer(model)
    except NotImplementedError:
        raise
    except Exception as exc:
        return {"raised": type(exc).__name__}
    return {"raised": None}


@scenario
def train_frozen(
    mod: Any,
    pattern: dict[str, bool],
    init_seed: int,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    wd: float,
) -> dict[str, Any]:
    """Gradients everywhere, then freeze to the pattern and train with make_optimizer."""
    model = _initial_model(init_seed).to(x.device).train()
    F.cross_entropy(model(x), y).backward()  # earlier end-to-end training left .grad everywhere
    _apply(model, pattern)
    opt = mod.make_optimizer(model, lr=lr, momentum=0.9, weight_decay=wd)
    for _ in range(3):
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return {"params": {name: p.detach() for name, p in model.named_parameters()}}


# ----------------------------------------------------------------------------- helpers: models


class _Tied(nn.Module):
    """An embedding and a head that share one weight, and a BatchNorm (buffers) between."""

    def __init__(self, vocab: int = 11, dim: int = 6) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.norm = nn.BatchNorm1d(dim)
        self.head = nn.Linear(dim, vocab)
        self.head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.embed(tokens)))


_KIND_TEXT = {
    "backbone": "the backbone (plus a module fcx)",
    "tied": "a model with a tied weight (head.weight is embed.weight) and BatchNorm buffers",
    "plain": "the backbone",
}


def _build(kind: str) -> nn.Module:
    """A fresh model of ``kind`` (the global RNG is seeded per scenario call)."""
    if kind == "tied":
        return _Tied()
    model = data.make_backbone()
    if kind == "backbone":
        model.fcx = nn.Linear(4, 2)
    return model


def _initial_model(init_seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return _build("plain")


def _initial_backbone(init_seed: int) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in _initial_model(init_seed).named_parameters()}


@functools.cache
def _names(kind: str) -> tuple[str, ...]:
    """The parameter names of a ``kind`` model (built once, on the meta device)."""
    with torch.device("meta"):
        return tuple(name for name, _ in _build(kind).named_parameters())


def _pattern(kind: str, seed: Any, offset: int) -> dict[str, bool]:
    """A random requires_grad flag for every parameter (some True, some False)."""
    rng = seed.python_random(1000 + offset)
    names = _names(kind)
    while True:
        flags = {name: rng.random() < 0.5 for name in names}
        if 0 < sum(flags.values()) < len(flags):
            return flags


def _apply(model: nn.Module, pattern: dict[str, bool]) -> None:
    for name, param in model.named_parameters():
        param.requires_grad_(pattern[name])


def _flags(model: nn.Module) -> dict[str, bool]:
    return {name: p.requires_grad for name, p in model.named_parameters()}


def _set_modes(model: nn.Module) -> dict[str, bool]:
    """A mix of train and eval submodules; freezing must leave it as it is."""
    model.train()
    for name, module in model.named_modules():
        if name.startswith(("layer2", "norm")):
            module.eval()
    return {n: m.training for n, m in model.named_modules()}


# ----------------------------------------------------------------------------- helpers: verdicts


def _run(side: Any, fn: Any, *args: Any, call: str) -> Any:
    try:
        return side.run(fn, *args)
    except LearnerError as exc:
        if exc.kind != "raised" or exc.is_a("NotImplementedError"):
            raise
        text = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
        if "freeze_all_but" in call and len(args) > 2 and isinstance(args[2], list):
            raise fail(
                f"{call} raised {exc.type_name}: {text}; trainable may be a list as well as a "
                "tuple: only a str is one prefix, any other iterable of strings holds the "
                "prefixes (tuple(trainable))"
            ) from None
        if exc.is_a("ValueError") and "freeze_all_but" in call:
            single = ""
            if isinstance(args[2], str) and args[2] != _DEFAULT:
                single = (
                    f"; a single string is one prefix: iterating {args[2]!r} gives its "
                    f"letters, so turn it into ({args[2]!r},) first"
                )
            raise fail(
                f"{call} raised ValueError: {text}; every prefix here matches a parameter (a name "
                f"matches when it equals the prefix or starts with the prefix and a dot){single}"
            ) from None
        raise


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _check_flags(
    got: dict[str, Any],
    want: dict[str, Any],
    pattern: dict[str, bool],
    prefixes: tuple[str, ...],
    call: str,
) -> None:
    if not got["same"]:
        raise fail(f"{call}; it returned {got['returned']}, expected the model itself (in place)")
    flags, expected = got["flags"], want["flags"]
    wrong = [name for name, flag in expected.items() if flags.get(name) != flag]
    # The most telling mismatch first: each kind names one mistake.
    for name in wrong:
        if expected[name] and not pattern[name]:
            raise fail(
                f"{_flag_text(call, name, flags, expected)}: it was frozen before the call and "
                "is under a trainable prefix; set requires_grad=True on every match, not only "
                "False on the rest"
            )
    for name in wrong:
        inside = [p for p in prefixes if p in name and not name.startswith(p)]
        if not expected[name] and inside:
            raise fail(
                f"{_flag_text(call, name, flags, expected)}: {inside[0]!r} occurs inside "
                f"{name!r}, but a prefix matches from the start of the name (startswith, not `in`)"
            )
    for name in wrong:
        loose = [p for p in prefixes if name.startswith(p) and not _matches(name, p)]
        if not expected[name] and loose:
            raise fail(
                f"{_flag_text(call, name, flags, expected)}: {loose[0]!r} is not a whole name "
                f"component of {name!r}; a name matches when it equals the prefix or starts "
                "with the prefix followed by a dot"
            )
    if wrong:
        raise fail(
            f"{_flag_text(call, wrong[0], flags, expected)}: parameters under the prefixes "
            f"{prefixes!r} train, every other one is frozen"
        )
    if got["modes_changed"]:
        raise fail(
            f"{call}; it changed the train/eval mode of {got['modes_changed'][:3]}: freezing "
            "is about requires_grad only, leave model.train()/eval() alone"
        )
    if got["values_changed"]:
        raise fail(f"{call}; it changed the values of {got['values_changed'][:3]}")


def _flag_text(call: str, name: str, flags: dict[str, Any], expected: dict[str, bool]) -> str:
    return f"{call}; {name} has requires_grad={flags.get(name)}, expected {expected[name]}"


def _check_counts(got: dict[str, Any], want: dict[str, Any], call: str) -> None:
    value, expected = got["value"], want["value"]
    ok_type = isinstance(value, tuple) and len(value) == 2 and all(type(v) is int for v in value)
    if not ok_type:
        raise fail(
            f"{call}; it returned {got['type']}, expected a tuple of two Python ints "
            "(trainable, total); sum p.numel() (an int), not tensors"
        )
    if value == expected:
        return
    trainable, total = expected
    if value == (total, trainable):
        raise fail(f"{call}; it returned {value}, expected {expected}: (trainable, total)")
    raise fail(f"{call}; it returned {value}, expected {expected}. {_count_hint(value, want)}")


def _count_hint(value: tuple[int, int], want: dict[str, Any]) -> str:
    extra = want["extra"]
    _, total = want["value"]
    if value[1] == total + extra["buffers"]:
        return (
            "Your total includes the buffers (BatchNorm's running statistics): count "
            "model.parameters(), not model.state_dict()"
        )
    if value[1] == total + extra["shared"]:
        return (
            "You counted the shared weight twice (head.weight is embed.weight): "
            "model.parameters() yields each parameter once"
        )
    if value == (extra["trainable_tensors"], extra["tensors"]):
        return "You counted tensors; count their elements with p.numel()"
    return "Sum p.numel() over model.parameters(), and over those with p.requires_grad"


def _check_optimizer(
    got: dict[str, Any], want: dict[str, Any], call: str, *, given: set[str]
) -> None:
    if not got["optimizer"]:
        raise fail(f"{call}; it returned {got['type']}, expected a torch.optim.SGD")
    if not got["sgd"]:
        raise fail(f"{call}; it returned a {got['type']}, expected a torch.optim.SGD")
    groups = got["groups"]
    if len(groups) != 1:
        raise fail(f"{call}; the optimizer has {len(groups)} parameter groups, expected one")
    group, expected = groups[0], want["groups"][0]
    names, wanted = group["names"], expected["names"]
    extra = [n for n in names if n not in wanted]
    if extra:
        raise fail(
            f"{call}; the optimizer holds frozen parameters ({extra[:3]}): a frozen parameter "
            "in the optimizer still moves whenever it has a .grad (stale, or zeros), through "
            "momentum and weight decay. Pass only [p for p in model.parameters() if "
            "p.requires_grad]"
        )
    lacking = [n for n in wanted if n not in names]
    if lacking:
        raise fail(
            f"{call}; the optimizer lacks the trainable parameters {lacking[:3]}: they would "
            "never be updated"
        )
    if len(names) != len(set(names)):
        raise fail(f"{call}; the optimizer holds a parameter twice; list each one once")
    for key in ("lr", "momentum", "weight_decay", "dampening", "nesterov"):
        if group.get(key) != expected[key]:
            if key in given:
                source = "as given"
            elif key in ("lr", "momentum", "weight_decay"):
                source = "the documented default"
            else:
                source = "SGD's default"
            raise fail(
                f"{call}; the group's {key} is {group.get(key)!r}, expected {expected[key]!r} "
                f"({source})"
            )


def _loose(device: torch.device) -> dict[str, float]:
    tol = tolerance(torch.float32, device)
    return {"rtol": max(tol["rtol"], 1e-4), "atol": max(tol["atol"], 1e-5)}
