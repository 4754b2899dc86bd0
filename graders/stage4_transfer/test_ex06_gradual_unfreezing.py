"""Grader for 4.6: gradual unfreezing on a schedule.

The model is the stage's pretrained backbone with a new head (``fc``, drawn by the test);
the optimizer starts with the head alone (SGD with momentum, or Adam). A scenario builds
the learner's ``GradualUnfreezer`` on them and drives it epoch by epoch, sometimes training
between epochs with the grader's own loop (the model in eval mode, so only parameters
change); it sends back data: ``requires_grad`` of every parameter by name, the optimizer's
groups (name, lr, and parameters named by *identity* with the model's own), ``unfrozen``,
the head's optimizer state just before and just after each ``step``, a snapshot of each
scheduled module's first parameter at the end of each epoch, and the final state dict.

The judge computes what each epoch must look like from the schedule itself, and compares
the training with the reference's twin run (same weights, batches, optimizer): every block
must be bitwise unchanged before its epoch, the optimizer state must survive each ``step``,
and the final weights must match. The validation rules are tried one by one, and the model
must be untouched after each refused schedule.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    assert_close,
    assert_state_dict_close,
    call_learner,
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

MAIN = {1: ["layer4"], 2: ["layer3"], 3: ["layer2", "layer1"]}
DOTTED = {0: ["layer4.0.bn2"], 2: ["layer4.0.conv2", "layer3.0"], 3: ["layer2.0.conv1"]}

# ----------------------------------------------------------------------------- tests


def test_constructor_freezes_the_scheduled_modules(learner, reference, seed):
    """After __init__ every scheduled parameter is frozen; the rest keep their requires_grad."""
    rng = seed.python_random()
    for schedule, frozen in ((MAIN, []), (DOTTED, ["conv1", "bn1"])):
        spec = _spec(rng, schedule, frozen=frozen)
        got = _drive(learner, spec, [], call=_call(spec))
        want = reference.run(drive, spec, [])
        _check_record(got["records"][0], want["records"][0], spec, done=[], call=_call(spec))


def test_step_unfreezes_on_schedule(learner, reference, seed):
    """step(epoch) unfreezes that epoch's modules and adds one group each, with lr and name."""
    rng = seed.python_random()
    for schedule in (MAIN, DOTTED):
        spec = _spec(rng, schedule, frozen=rng.choice([[], ["conv1", "bn1"]]))
        epochs = list(range(5))
        call = _call(spec) + "; then unfreezer.step(epoch) for epoch in 0..4"
        got = _drive(learner, spec, epochs, call=call)
        want = reference.run(drive, spec, epochs)
        done: list[int] = []
        for epoch, record, expected in zip(
            [None, *epochs], got["records"], want["records"], strict=True
        ):
            if epoch is not None:
                done.append(epoch)
            where = call if epoch is None else f"{call}; after step({epoch})"
            _check_record(record, expected, spec, done=done, call=where)
        if got["schedule_after"] != spec["schedule"]:
            raise fail(
                f"{call}; afterwards the schedule passed in is {got['schedule_after']}, it was "
                f"{spec['schedule']}: keep your own copy, do not modify the caller's dict"
            )
        if got["unfrozen_copy"] != want["unfrozen_copy"]:
            raise fail(
                f"{call}; after changing the list that unfreezer.unfrozen returned, "
                f"unfreezer.unfrozen is {got['unfrozen_copy']}: return a new list each time "
                "(list(self._unfrozen)), so a caller cannot change the record"
            )


def test_step_is_idempotent_and_only_its_epoch_counts(learner, reference, seed):
    """step(e) twice adds nothing the second time; a skipped epoch is not caught up later."""
    rng = seed.python_random()
    spec = _spec(rng, MAIN, frozen=[])
    epochs = [1, 1, 3, 3, 2, 2, 7]
    call = _call(spec) + f"; then step(e) for e in {epochs}"
    got = _drive(learner, spec, epochs, call=call)
    want = reference.run(drive, spec, epochs)
    done: list[int] = []
    for index, (epoch, record, expected) in enumerate(
        zip([None, *epochs], got["records"], want["records"], strict=True)
    ):
        if epoch is not None:
            done.append(epoch)
        calls = ", ".join(f"step({e})" for e in epochs[:index])
        where = f"{_call(spec)}; then {calls}" if calls else _call(spec)
        _check_record(record, expected, spec, done=done, call=where)


@pytest.mark.points(2)
def test_optimizer_state_survives_each_step(learner, reference, seed):
    """The head's momentum buffers (SGD) and moments (Adam) are the same before and after step."""
    rng = seed.python_random()
    for optimizer in ("sgd", "adam"):
        spec = _spec(rng, MAIN, frozen=["conv1", "bn1"], optimizer=optimizer)
        X, y = _digits(seed, 4 * 4, offset=10)
        epochs = [0, 1, 2, 3]
        call = _call(spec) + "; then for each epoch 0..3: step(epoch), one training step"
        got = _drive(learner, spec, epochs, X, y, batches_per_epoch=1, call=call)
        want = reference.run(drive, spec, epochs, X, y, batches_per_epoch=1)
        for index, epoch in enumerate(epochs):
            before, after = got["state_before"][index], got["state_after"][index]
            _check_record(
                got["records"][index + 1], want["records"][index + 1], spec,
                done=epochs[: index + 1], call=f"{call}; after step({epoch})",
            )  # fmt: skip
            for name, values in before.items():
                for key, value in values.items():
                    kept = after.get(name, {}).get(key)
                    if kept is None or not torch.equal(kept, value):
                        now = "gone" if kept is None else "changed"
                        raise fail(
                            f"{call}; step({epoch}) left the optimizer state of {name} "
                            f"({key}) {now}: add_param_group adds a group and keeps the "
                            "others and their state (do not rebuild or reset the optimizer)"
                        )
                    assert_close(
                        value, want["state_before"][index][name][key],
                        what=f"the optimizer's {key} of {name} before step({epoch})",
                        call=call, **tolerance(torch.float32),
                    )  # fmt: skip
        _check_record(got["records"][-1], want["records"][-1], spec, done=epochs, call=call)


def test_training_matches_a_twin_run(learner, reference, device, seed):
    """Each block stays bitwise unchanged until its epoch, then trains; the weights match."""
    rng = seed.python_random()
    spec = _spec(rng, MAIN, frozen=["conv1", "bn1"], device=str(device))
    X, y = _digits(seed, 4 * 2 * 5, offset=20)
    epochs = [0, 1, 2, 3]
    call = (
        _call(spec) + f"; model on {device}; then for each epoch 0..3: step(epoch) and two "
        "training steps of 5 digits"
    )
    got = _drive(learner, spec, epochs, X, y, batches_per_epoch=2, call=call)
    want = reference.run(drive, spec, epochs, X, y, batches_per_epoch=2)
    initial = _first_params(spec)
    start = {name: e for e, names in spec["schedule"].items() for name in names}
    for index, epoch in enumerate(epochs):
        for name, value in got["snapshots"][index].items():
            if epoch < start[name]:
                if not torch.equal(value.cpu(), initial[name]):
                    raise fail(
                        f"{call}; at the end of epoch {epoch}, {name} (scheduled for epoch "
                        f"{start[name]}) has already changed: it must stay frozen, and out of "
                        "the optimizer, until its epoch"
                    )
            elif torch.equal(value.cpu(), initial[name]):
                raise fail(
                    f"{call}; at the end of epoch {epoch}, {name} (scheduled for epoch "
                    f"{start[name]}) is still unchanged: step({start[name]}) must make it "
                    "trainable (requires_grad_(True)) and add it to the optimizer "
                    "(optimizer.add_param_group)"
                )
    _check_record(got["records"][-1], want["records"][-1], spec, done=epochs, call=call)
    assert_state_dict_close(
        got["state"], want["state"], what="the model after four epochs", call=call,
        **tolerance(torch.float32, device),
    )  # fmt: skip


@pytest.mark.points(2)
def test_constructor_validates_the_schedule(learner, seed):
    """ValueError (naming the culprit, the model untouched) for each bad schedule."""
    rng = seed.python_random()
    block = rng.choice(["layer1", "layer2", "layer3"])
    cases = [
        ({-1: ["layer4"], 2: [block]}, "-1", "epoch -1 is negative"),
        ({1: ["layer4"], 2: ["layer5"]}, "layer5", "the model has no module 'layer5'"),
        ({1: ["layer4"], 2: ["layer4.0.conv3"]}, "layer4.0.conv3", "layer4.0 has no conv3"),
        ({1: ["layer4", "relu"]}, "relu", "relu has no parameters"),
        ({1: [block], 3: [block]}, block, f"{block} is listed twice"),
        (
            {1: ["layer4"], 2: ["layer4.0.conv1"]},
            "layer4.0.conv1",
            "layer4.0.conv1 lies inside layer4, so its parameters would be scheduled twice",
        ),
        ({1: ["layer4"], 2: ["fc"]}, "fc", "the optimizer already holds fc's parameters"),
    ]
    for schedule, named, why in cases:
        spec = _spec(rng, schedule, frozen=[])
        what = f"{_call(spec)}: {why}"
        error = expect_raises(learner.run, "ValueError", refused, spec, what=what)
        if named not in error.message:
            raise fail(
                f"{what}; the ValueError says {error.message!r}, which does not name "
                f"{named!r}: say which epoch, module or parameter is at fault"
            )
        flags = learner.run(refused, spec, catch=True)
        if flags is not None:
            frozen = sorted(n for n, v in flags.items() if not v)
            raise fail(
                f"{what}; after the ValueError, {frozen[:3]} are frozen: check the whole "
                "schedule before freezing anything, so a refused schedule leaves the model "
                "as it was"
            )
    spec = _spec(rng, {0: [block], 5: ["layer4"]}, frozen=[])
    call = _call(spec) + " (epoch 0 is allowed)"
    got = _drive(learner, spec, [0], call=call)
    _check_record(got["records"][1], None, spec, done=[0], call=call + "; then step(0)")


# ----------------------------------------------------------------------------- scenarios


@scenario
def drive(
    mod: Any,
    spec: dict[str, Any],
    epochs: list[int],
    X: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    *,
    batches_per_epoch: int = 0,
) -> dict[str, Any]:
    """Build the unfreezer, call step for each epoch (training in between); record it all."""
    device = torch.device(spec.get("device", "cpu"))
    model = _model(spec).to(device)
    model.eval()  # BatchNorm keeps its statistics: only parameters change
    optimizer = _optimizer(spec, model)
    schedule = copy.deepcopy(spec["schedule"])
    unfreezer = mod.GradualUnfreezer(model, optimizer, schedule, lr=spec["lr"])
    records = [_record(model, optimizer, unfreezer)]
    before, after, snapshots = [], [], []
    batches = _batches(X, y, len(epochs) * batches_per_epoch) if X is not None else []
    for index, epoch in enumerate(epochs):
        before.append(_head_state(model, optimizer))
        unfreezer.step(epoch)
        after.append(_head_state(model, optimizer))
        records.append(_record(model, optimizer, unfreezer))
        for x, t in batches[index * batches_per_epoch : (index + 1) * batches_per_epoch]:
            optimizer.zero_grad()
            F.cross_entropy(model(x.to(device)), t.to(device)).backward()
            optimizer.step()
        snapshots.append(
            {
                name: next(model.get_submodule(name).parameters()).detach().cpu().clone()
                for names in spec["schedule"].values()
                for name in names
            }
        )
    copy_of = unfreezer.unfrozen
    if isinstance(copy_of, list):
        copy_of.append("(changed by the caller)")
    return {
        "records": records,
        "state_before": before,
        "state_after": after,
        "snapshots": snapshots,
        "unfrozen_copy": _data(unfreezer.unfrozen),
        "schedule_after": schedule,
        "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


@scenario
def refused(mod: Any, spec: dict[str, Any], *, catch: bool = False) -> Any:
    """Build the unfreezer on a bad schedule; with ``catch``, the flags after the ValueError."""
    model = _model(spec)
    optimizer = _optimizer(spec, model)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    try:
        mod.GradualUnfreezer(model, optimizer, spec["schedule"], lr=spec["lr"])
    except ValueError:
        if not catch:
            raise
        now = {n: p.requires_grad for n, p in model.named_parameters()}
        return None if now == flags else now
    return None


# ----------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=1)
def _pretrained() -> nn.Module:
    """The backbone with the shipped weights (checked against their sha256), built once."""
    model = make_backbone()
    state = torch.load(verify_file(BACKBONE_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model


def _model(spec: dict[str, Any]) -> nn.Module:
    """The backbone with the test's new head; everything trainable except ``frozen``."""
    model = copy.deepcopy(_pretrained())
    gen = torch.Generator().manual_seed(spec["init_seed"])
    with torch.no_grad():
        model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=gen) * 0.1)
        model.fc.bias.copy_(torch.randn(model.fc.bias.shape, generator=gen) * 0.1)
    for name, p in model.named_parameters():
        p.requires_grad_(not any(_under(name, f) for f in spec["frozen"]))
    return model


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _optimizer(spec: dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    head = list(model.fc.parameters())
    if spec["optimizer"] == "adam":
        return torch.optim.Adam(head, lr=spec["head_lr"])
    return torch.optim.SGD(head, lr=spec["head_lr"], momentum=0.9)


def _spec(
    rng: Any,
    schedule: dict[int, list[str]],
    *,
    frozen: list[str],
    optimizer: str = "sgd",
    device: str = "cpu",
) -> dict[str, Any]:
    return {
        "schedule": {int(k): list(v) for k, v in schedule.items()},
        "frozen": frozen,
        "optimizer": optimizer,
        "lr": round(10 ** rng.uniform(-3.5, -2.5), 6),
        "head_lr": round(10 ** rng.uniform(-2.3, -1.7), 5),
        "init_seed": rng.randint(0, 2**31 - 1),
        "device": device,
    }


def _call(spec: dict[str, Any]) -> str:
    opt = (
        f"SGD(fc.parameters(), lr={spec['head_lr']}, momentum=0.9)"
        if spec["optimizer"] == "sgd"
        else f"Adam(fc.parameters(), lr={spec['head_lr']})"
    )
    frozen = f" ({spec['frozen']} frozen beforehand)" if spec["frozen"] else ""
    return (
        f"called GradualUnfreezer(model, optimizer, {spec['schedule']}, lr={spec['lr']}) on the "
        f"backbone{frozen} with optimizer = {opt}"
    )


def _data(value: Any) -> Any:
    """``unfrozen`` as data: a list of strings, or a description of what came."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return describe(value)


def _record(model: nn.Module, optimizer: torch.optim.Optimizer, unfreezer: Any) -> dict[str, Any]:
    names = {id(p): n for n, p in model.named_parameters()}
    return {
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "groups": [
            {
                "name": g.get("name"),
                "lr": g["lr"],
                "params": [
                    names.get(id(p), f"<{describe(p)}, not the model's>") for p in g["params"]
                ],
            }
            for g in optimizer.param_groups
        ],
        "unfrozen": _data(unfreezer.unfrozen),
    }


def _head_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer state of the head's parameters, copied (momentum, Adam moments)."""
    out = {}
    for name, p in model.fc.named_parameters(prefix="fc"):
        state = optimizer.state.get(p, {})
        out[name] = {
            k: v.detach().cpu().clone() for k, v in state.items() if isinstance(v, torch.Tensor)
        }
    return out


def _batches(
    X: torch.Tensor | None, y: torch.Tensor | None, n: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    assert X is not None and y is not None
    size = len(X) // n
    return [(X[i * size : (i + 1) * size], y[i * size : (i + 1) * size]) for i in range(n)]


def _drive(learner: Any, spec: dict[str, Any], epochs: list[int], *args: Any, call: str, **kw: Any):
    """Run ``drive`` on the learner's class; explain the usual errors."""
    try:
        return call_learner(learner.run, drive, spec, epochs, *args, call=call, **kw)
    except LearnerError as exc:
        if exc.kind == "raised" and "more than one parameter group" in exc.message:
            raise fail(
                f"{call}; step raised {exc.type_name}: {exc.message.strip().splitlines()[0]}. A "
                "module was added to the optimizer a second time: remember which epochs are "
                "done, so that calling step(epoch) again does nothing"
            ) from None
        if exc.kind == "raised" and exc.is_a("ValueError"):
            raise fail(
                f"{call} raised ValueError: {exc.message}; but this schedule is valid"
            ) from None
        raise


def _expected(spec: dict[str, Any], done: list[int]) -> dict[str, Any]:
    """What the model and the optimizer must look like after step() for the epochs in done."""
    model = _model(spec)
    schedule = spec["schedule"]
    order: list[str] = []
    seen: set[int] = set()
    for epoch in done:
        if epoch in schedule and epoch not in seen:
            seen.add(epoch)
            order.extend(schedule[epoch])
    pending = [n for e, names in schedule.items() for n in names if n not in order]
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    for name in pending:
        for pname, _ in model.get_submodule(name).named_parameters(prefix=name):
            flags[pname] = False
    groups = [{"name": None, "lr": spec["head_lr"], "params": ["fc.weight", "fc.bias"]}]
    for name in order:
        params = [n for n, _ in model.get_submodule(name).named_parameters(prefix=name)]
        for p in params:
            flags[p] = True
        groups.append({"name": name, "lr": spec["lr"], "params": params})
    return {"requires_grad": flags, "groups": groups, "unfrozen": order, "pending": pending}


def _check_record(
    got: dict[str, Any],
    want: dict[str, Any] | None,
    spec: dict[str, Any],
    *,
    done: list[int],
    call: str,
) -> None:
    """One moment of the run against the judge's expectation (and the reference's record)."""
    exp = _expected(spec, done)
    start = {name: e for e, names in spec["schedule"].items() for name in names}
    for name, flag in exp["requires_grad"].items():
        actual = got["requires_grad"].get(name)
        if actual == flag:
            continue
        owner = next((m for m in start if _under(name, m)), None)
        if owner is None:
            raise fail(
                f"{call}; {name}.requires_grad is {actual}, expected {flag}: it is in no "
                "scheduled module, so its requires_grad stays as it was given"
            )
        if flag:
            raise fail(
                f"{call}; {name}.requires_grad is {actual}, expected True: {owner} was "
                f"scheduled for epoch {start[owner]} and is unfrozen now "
                "(requires_grad_(True) on all its parameters)"
            )
        if owner in exp["pending"] and not done:
            raise fail(
                f"{call}; {name}.requires_grad is {actual}, expected False: the constructor "
                f"freezes every parameter of every scheduled module ({owner}, for epoch "
                f"{start[owner]}) until its epoch comes"
            )
        raise fail(
            f"{call}; {name}.requires_grad is {actual}, expected False: {owner} is scheduled "
            f"for epoch {start[owner]}, which has not been stepped (only the epoch passed to "
            "step counts; earlier or later epochs are not caught up)"
        )
    groups = got["groups"]
    expected = exp["groups"]
    if len(groups) != len(expected):
        names = [g["name"] for g in groups[1:]]
        raise fail(
            f"{call}; the optimizer has {len(groups)} parameter groups (added: {names}), "
            f"expected {len(expected)}: the head's, then one group per module unfrozen so far "
            f"({exp['unfrozen']}, in that order), each added once with optimizer.add_param_group"
        )
    for index, (group, want_group) in enumerate(zip(groups, expected, strict=True)):
        where = f"{call}; optimizer.param_groups[{index}]"
        if index == 0:
            if group["params"] != want_group["params"] or group["lr"] != want_group["lr"]:
                raise fail(f"{where} (the head's group) has changed: leave the existing groups")
            continue
        if group["name"] != want_group["name"]:
            raise fail(
                f"{where} is named {group['name']!r}, expected {want_group['name']!r}: one group "
                "per module, in the order unfrozen, with 'name' set to the module's name"
            )
        if group["lr"] != spec["lr"]:
            raise fail(
                f"{where} ({want_group['name']}) has lr {group['lr']!r}, expected "
                f"{spec['lr']!r}, the lr given to GradualUnfreezer"
            )
        if group["params"] != want_group["params"]:
            raise fail(
                f"{where} ({want_group['name']}) holds {group['params'][:3]}..., expected "
                f"{want_group['params'][:3]}... (all {len(want_group['params'])} parameters "
                "of the module, in module.parameters() order)"
            )
    if got["unfrozen"] != exp["unfrozen"]:
        raise fail(
            f"{call}; unfreezer.unfrozen is {got['unfrozen']!r}, expected {exp['unfrozen']!r}: "
            "the names unfrozen so far, in order, as a list of str"
        )
    if want is not None and (
        want["requires_grad"] != got["requires_grad"] or want["groups"] != got["groups"]
    ):
        raise fail(f"{call}; the model or the optimizer differs from a correct run's")


def _first_params(spec: dict[str, Any]) -> dict[str, torch.Tensor]:
    model = _model(spec)
    return {
        name: next(model.get_submodule(name).parameters()).detach().clone()
        for names in spec["schedule"].values()
        for name in names
    }


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
