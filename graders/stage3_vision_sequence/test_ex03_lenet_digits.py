"""Grader for 3.3: a LeNet-style CNN on the digits.

The architecture is checked by loading the reference's weights into the learner's model
(same state_dict keys and shapes) and comparing the outputs; when they differ, the outputs
are matched against functional versions of the usual mistakes (a softmax at the end, a
missing ReLU, average pooling, flattening in the wrong order). ``train_lenet`` is checked
on the grader's own LeNet (``_Net``, built from weights the judge chose), so a wrong
``LeNet`` does not spoil it: a full-batch twin run in float64 (the order of samples cannot
matter, so any correct shuffling passes) is compared with the reference step by step; with
``lr=0`` every epoch's loss must be the average loss over the data (which catches averaging
batch means or keeping the last batch); and the seed must decide the order. Finally the
learner's model and loop together must learn the digits: a test accuracy floor measured
far below what the reference reaches.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytorch_path.checks import (
    assert_close,
    assert_loss_decreases,
    assert_python_float,
    assert_tensor,
    assert_unchanged,
    call_repr,
    describe,
    fail,
)
from pytorch_path.data import digits_split
from pytorch_path.scenario import scenario

KEYS = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias")
KEYS += ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")

# Accuracy floor on the test split after 6 epochs of Adam (lr 0.01, batch 64) on the train
# split. Measured for the reference over 40 data and init seeds: min 0.838, mean 0.917.
ACCURACY_FLOOR = 0.70

# ----------------------------------------------------------------------------- the architecture


def test_forward_shapes(learner, device, seed):
    """LeNet maps (N, 1, 8, 8) to (N, num_classes) float32 logits, for any batch size N."""
    rng = seed.python_random()
    for i in range(3):
        sizes = _sizes(rng)
        nc = sizes["num_classes"]
        batch_sizes = (1, rng.choice([v for v in range(2, 12) if v != nc]), 33)
        xs = [_images(seed, n, offset=10 * i + n).to(device) for n in batch_sizes]
        call = call_repr("LeNet", **sizes)
        got = learner.run(forward_outputs, sizes, xs, device)
        _built(got, call)
        for x, result in zip(xs, got["outs"], strict=True):
            n = x.shape[0]
            what = f"{call}, then model(x) with x: {describe(x)}"
            out = _output(result, what)
            if isinstance(out, torch.Tensor) and out.dim() == 1:
                raise fail(
                    f"{what} gave {describe(out)}: the batch dim is gone; flatten with "
                    "torch.flatten(x, 1), which keeps dim 0"
                )
            assert_tensor(out, what=what, shape=(n, nc), dtype=torch.float32, device=device)


def test_state_dict_keys_and_parameter_count(learner, reference, seed):
    """The parameters are conv1, conv2, fc1, fc2 with the documented shapes, nothing else."""
    rng = seed.python_random(1)
    for i in range(3):
        sizes = _sizes(rng)
        x = _images(seed, 6, offset=15 + i)
        init_seed = rng.randint(0, 2**31 - 1)
        want = reference.run(model_facts, sizes, x, init_seed)["shapes"]
        call = call_repr("LeNet", **sizes)
        facts = learner.run(model_facts, sizes, x, init_seed)
        _built(facts, call)
        got = facts["shapes"]
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        if missing or extra:
            raise fail(
                f"{call}: state_dict() keys differ from the documented ones; missing {missing}, "
                f"unexpected {extra}. Name the layers conv1, conv2, fc1, fc2 (attributes of the "
                "module), with no other parameters or buffers"
            )
        for key, shape in want.items():
            if tuple(got[key]) != tuple(shape):
                raise fail(
                    f"{call}: {key} has shape {tuple(got[key])}, expected {tuple(shape)}. conv1 = "
                    "Conv2d(1, c1, 3, padding=1), conv2 = Conv2d(c1, c2, 3, padding=1), fc1 = "
                    "Linear(c2 * 2 * 2, hidden), fc2 = Linear(hidden, num_classes)"
                )
        count = facts["trainable"]
        expected = sum(math.prod(s) for s in want.values())
        if count != expected:
            raise fail(
                f"{call} has {count} trainable parameters, expected {expected}; every weight "
                "and bias must be a trainable nn.Parameter"
            )
        # and the model built from those layers runs: (N, num_classes) logits
        out = _output(facts["out"], f"{call}, then model(x) with x: {describe(x)}")
        assert_tensor(out, what=f"model(x) with x: {describe(x)}", shape=(6, sizes["num_classes"]),
                      call=call)  # fmt: skip


def test_default_sizes(learner, reference, seed):
    """LeNet() has the documented defaults (c1=8, c2=16, hidden=32, 10 classes); float64 works."""
    x = _images(seed, 5, offset=18, dtype=torch.float64)  # the model follows x's dtype
    init_seed = seed.python_random(8).randint(0, 2**31 - 1)
    want = reference.run(model_facts, {}, x, init_seed)["shapes"]
    facts = learner.run(model_facts, {}, x, init_seed)
    _built(facts, "called LeNet()")
    got = facts["shapes"]
    wrong = [
        f"{k} has shape {tuple(got[k]) if k in got else 'missing'}, expected {tuple(v)}"
        for k, v in want.items()
        if k not in got or tuple(got[k]) != tuple(v)
    ]
    if wrong or set(got) != set(want):
        raise fail(
            f"called LeNet() without arguments: {'; '.join(wrong) or 'the keys differ'}. Keep "
            "the documented defaults c1=8, c2=16, hidden=32, num_classes=10 in __init__'s "
            "signature"
        )
    call = f"called LeNet().double(), then model(x) with x: {describe(x)}"
    out = _output(facts["out"], call)
    assert_tensor(out, what="the logits", shape=(5, 10), call=call)
    if out.dtype != torch.float64:
        raise fail(
            f"{call}; the logits are {out.dtype}, expected torch.float64: forward returns "
            "x's dtype (the model's), so do not cast (no .float() on the way)"
        )
    # the documented forward, computed by the judge with the model's own initial weights
    sd = {k: v.to(torch.float64) for k, v in facts["state_dict"].items()}
    with torch.no_grad():
        want = _functional(sd, x)
    assert_close(out, want, what="the logits", call=call, rtol=1e-6, atol=1e-8)


@pytest.mark.points(2)
def test_forward_matches_the_reference_weights(learner, reference, device, seed):
    """With the reference's weights loaded, LeNet computes the same logits as the reference."""
    rng = seed.python_random(2)
    for i in range(3):
        sizes = _sizes(rng)
        n = rng.choice([v for v in range(5, 12) if v != sizes["num_classes"]])
        x = _images(seed, n, offset=20 + i).to(device)
        sd = reference.run(model_facts, sizes, x.cpu(), rng.randint(0, 2**31 - 1))["state_dict"]
        sd = {k: v.to(device) for k, v in sd.items()}
        want = _output(reference.run(forward_with, sizes, sd, x)["out"], "the reference")
        call = call_repr("LeNet", **sizes)
        got = learner.run(forward_with, sizes, sd, x)
        _built(got, call)
        if got["load_error"] is not None:
            raise fail(
                f"{call}: loading the reference's state_dict (keys {list(KEYS)}) failed: "
                f"{got['load_error']}. Follow the documented layer names and sizes"
            )
        what = f"{call} with the reference's weights loaded, then model(x) with x: {describe(x)}"
        out = _output(got["out"], what)
        assert_tensor(out, what=what, shape=(n, sizes["num_classes"]), device=device)
        if not torch.allclose(out.detach().double(), want.double(), rtol=1e-4, atol=1e-5):
            for kwargs, advice in _VARIANTS:
                with torch.no_grad():
                    candidate = _functional(sd, x, **kwargs)
                if torch.allclose(out.detach().double(), candidate.double(), atol=1e-5):
                    raise fail(f"{what}: the logits differ from the reference's; {advice}.")
        assert_close(out, want, what=what, rtol=1e-4, atol=1e-5)


def test_forward_returns_raw_logits(learner, seed):
    """forward returns unnormalised logits: no softmax, no log_softmax inside the model."""
    rng = seed.python_random(3)
    sizes = _sizes(rng)
    call = call_repr("LeNet", **sizes)
    x = _images(seed, 16, offset=30)
    facts = learner.run(model_facts, sizes, x, rng.randint(0, 2**31 - 1))
    _built(facts, call)
    out = _output(facts["out"], f"{call}, then model(x)")
    assert_tensor(out, shape=(16, sizes["num_classes"]), call=call)
    rows = out.double().sum(dim=1)
    if bool((out >= 0).all()) and torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
        raise fail(
            f"{call}: every output row is non-negative and sums to 1, so forward applies a "
            "softmax. Return the raw logits: F.cross_entropy (and nn.CrossEntropyLoss) apply "
            "log-softmax themselves, and a second softmax flattens the gradients"
        )
    lse = out.double().logsumexp(dim=1)
    if torch.allclose(lse, torch.zeros_like(lse), atol=1e-4):
        raise fail(
            f"{call}: exp(outputs) sums to 1 in every row, so forward applies log_softmax. "
            "Return the raw logits; F.cross_entropy applies log-softmax itself"
        )


# ----------------------------------------------------------------------------- train_lenet


@pytest.mark.points(2)
def test_train_lenet_matches_a_twin_run(learner, reference, seed):
    """Full-batch training steps, losses and final weights match a correct run exactly."""
    rng = seed.python_random(4)
    n, epochs, lr = rng.randint(60, 90), 4, rng.choice([0.01, 0.02])
    x, y = _data(seed, n, offset=40)
    sizes = _sizes(rng, digits=True)
    start = _start(sizes, rng.randint(0, 2**31 - 1))
    sd = start.state_dict()
    kw = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": n + rng.randint(0, 5),
        "seed": rng.randint(0, 999),
    }
    run = {"kw": kw, "eval": True}
    (twin,) = reference.run(train_given, sd, sizes, x, y, [run])
    expected = twin["losses"]
    (got,) = learner.run(train_given, sd, sizes, x, y, [run])
    call, losses = _losses(got, x, y, kw)
    assert_unchanged(got["x_after"], x, what="train_x", call=call)
    assert_unchanged(got["y_after"], y, what="train_y", call=call)
    if not got["modes"]:
        raise fail(f"{call} never called the model it was given; train that model in place")
    if not all(got["modes"]):
        raise fail(
            f"{call} ran forward passes in eval mode (the model came in eval mode); call "
            "model.train() before training, and take the epoch's loss from the training "
            "batches rather than from an extra pass"
        )
    if not _agree(losses, expected, rtol=1e-6):
        for kwargs, advice in (
            ({"zero_grad": False}, "the gradients are never cleared, so each step adds to the "
             "last ones: call optimizer.zero_grad() for every batch"),
            ({"optimizer": "sgd"}, "the optimizer is SGD; use torch.optim.Adam(model.parameters(), "
             "lr=lr)"),
        ):  # fmt: skip
            if _agree(losses, _simulate(start, x, y, epochs=epochs, lr=lr, **kwargs)):
                raise fail(f"{call}: the losses {losses} follow a run where {advice}.")
        if _agree(losses[:-1], expected[1:]):
            raise fail(
                f"{call}: the losses {losses} are one step ahead of a correct run's {expected}; "
                "record each batch's loss as computed before optimizer.step()"
            )
        raise fail(
            f"{call} (one batch per epoch) gave losses {losses}, but a correct run from the same "
            f"weights gives {expected}. Each batch: zero_grad, forward, F.cross_entropy, "
            "backward, step, with torch.optim.Adam(model.parameters(), lr=lr)"
        )
    state = got["state"]
    if all(torch.equal(state[k].cpu(), v) for k, v in sd.items() if k in state):
        raise fail(
            f"{call} returned the right losses, but the model it was given did not change; "
            "train that model in place (no copy.deepcopy, no new LeNet)"
        )
    for key, value in twin["state"].items():
        assert_close(
            state.get(key), value, what=f"the trained model's {key}", call=call,
            rtol=1e-6, atol=1e-7,
        )  # fmt: skip


def test_train_lenet_loss_is_the_epoch_average(learner, seed):
    """An epoch's loss is the average per-sample loss over all N samples (checked with lr=0)."""
    rng = seed.python_random(5)
    batch = rng.randint(20, 30)
    n = 4 * batch + rng.randint(2, 5)  # a small last batch, so weighting matters
    x, y = _data(seed, n, offset=50)
    sizes = _sizes(rng, digits=True)
    start = _start(sizes, rng.randint(0, 2**31 - 1))
    kw = {"epochs": 2, "lr": 0.0, "batch_size": batch, "seed": rng.randint(0, 999)}
    (got,) = learner.run(train_given, start.state_dict(), sizes, x, y, [{"kw": kw}])
    call, losses = _losses(got, x, y, kw)
    _check_epoch_average(losses, start, x, y, call)


def test_train_lenet_order_comes_from_the_seed(learner, seed):
    """The same seed gives the same run whatever the global RNG; another seed, another order."""
    rng = seed.python_random(6)
    x, y = _data(seed, rng.randint(80, 100), offset=60)
    sizes = _sizes(rng, digits=True)
    start = _start(sizes, rng.randint(0, 2**31 - 1))
    kw = {"epochs": 2, "lr": 0.01, "batch_size": rng.randint(10, 16)}
    runs = [
        # a different global RNG state each time
        {"kw": {"seed": s, **kw}, "global_seed": rng.randint(0, 2**31 - 1)}
        for s in (11, 11, 12)
    ]
    # with lr=0 the order cannot matter: every epoch's loss is the average over the data
    still = {**kw, "lr": 0.0, "seed": 13}
    runs.append({"kw": still, "global_seed": rng.randint(0, 2**31 - 1)})
    got = learner.run(train_given, start.state_dict(), sizes, x, y, runs)
    (call, first), (_, again), (other_call, other), (still_call, flat) = (
        _losses(g, x, y, r["kw"]) for g, r in zip(got, runs, strict=True)
    )
    if first != again:
        raise fail(
            f"{call} twice, under different global RNG states, gave losses {first} and "
            f"{again}; draw the shuffling order from a generator seeded with `seed`, e.g. "
            "g = torch.Generator().manual_seed(seed) and torch.randperm(N, generator=g)"
        )
    if first == other:
        raise fail(
            f"{call} and {other_call} gave the same losses {first}: the order of the samples "
            "does not depend on the seed; shuffle each epoch with "
            "torch.randperm(N, generator=g), g seeded with `seed`"
        )
    _check_epoch_average(flat, start, x, y, still_call)


# ----------------------------------------------------------------------------- end to end


@pytest.mark.points(2)
def test_learns_the_digits(learner, seed):
    """LeNet trained by train_lenet (6 epochs, Adam) classifies held-out digits well."""
    rng = seed.python_random(7)
    split = digits_split(seed=rng.randint(0, 10_000))
    (x, y), (x_test, y_test) = split["train"], split["test"]
    init_seed = rng.randint(0, 2**31 - 1)
    kw = {"epochs": 6, "lr": 0.01, "batch_size": 64, "seed": rng.randint(0, 999)}
    got = learner.run(learn_digits, x, y, x_test, init_seed, kw)
    _built(got, call_repr("LeNet"))
    call, losses = _losses(got, x, y, kw)
    assert_loss_decreases(losses, fraction=0.5, what=f"{call}: the epoch loss")
    logits = _output(got["logits"], "model(test images)")
    assert_tensor(logits, what="model(test images)", shape=(len(y_test), 10), call=call)
    accuracy = (logits.argmax(dim=1) == y_test).double().mean().item()
    if accuracy < ACCURACY_FLOOR:
        raise fail(
            f"{call}: test accuracy {accuracy:.1%}, expected at least {ACCURACY_FLOOR:.0%} "
            "(a correct LeNet and loop reach about 90%). Check the ReLUs, that forward returns "
            "raw logits, and zero_grad for every batch"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def forward_outputs(
    mod: Any, sizes: dict[str, int], xs: list[torch.Tensor], device: Any
) -> dict[str, Any]:
    """LeNet(**sizes) on ``device``, called on each x (in its default, training mode)."""
    model = mod.LeNet(**sizes)
    if not isinstance(model, nn.Module):
        return {"built": describe(model)}
    model = model.to(device)
    return {"built": None, "outs": [_forward(model, x) for x in xs]}


@scenario
def model_facts(mod: Any, sizes: dict[str, int], x: torch.Tensor, init_seed: int) -> dict[str, Any]:
    """LeNet(**sizes) built under ``init_seed``: its state_dict, and its eval output on x."""
    torch.manual_seed(init_seed)
    model = mod.LeNet(**sizes)
    if not isinstance(model, nn.Module):
        return {"built": describe(model)}
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model = model.to(x.dtype)  # a float64 x gets a float64 model
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        out = _forward(model, x)
    return {
        "built": None,
        "shapes": {k: tuple(v.shape) for k, v in state.items()},
        "trainable": trainable,
        "state_dict": state,
        "out": out,
    }


@scenario
def forward_with(
    mod: Any, sizes: dict[str, int], state: dict[str, torch.Tensor], x: torch.Tensor
) -> dict[str, Any]:
    """LeNet(**sizes) with ``state`` loaded (strict), in eval mode, called on x."""
    model = mod.LeNet(**sizes)
    if not isinstance(model, nn.Module):
        return {"built": describe(model)}
    model = model.to(x.device)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        return {"built": None, "load_error": " ".join(str(exc).split())[:400]}
    model.eval()
    with torch.no_grad():
        out = _forward(model, x)
    return {"built": None, "load_error": None, "out": out}


@scenario
def train_given(
    mod: Any,
    state: dict[str, torch.Tensor],
    sizes: dict[str, int],
    x: torch.Tensor,
    y: torch.Tensor,
    runs: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """train_lenet on the grader's own LeNet (``_Net``) loaded with ``state``, once per run.

    A run is ``{"kw": train_lenet's keyword arguments, "eval": start in eval mode,
    "global_seed": seed the global RNG first}``. Returns, per run, the losses, the modes
    the model was in at each forward, the trained state and the data afterwards.
    """
    answers = []
    for run in runs:
        model = _Net(**sizes).to(dtype=x.dtype)
        model.load_state_dict(state)
        model.train(not run.get("eval", False))
        modes: list[bool] = []
        hook = model.register_forward_pre_hook(lambda m, args, seen=modes: seen.append(m.training))
        if run.get("global_seed") is not None:
            torch.manual_seed(run["global_seed"])
        data_x, data_y = x.clone(), y.clone()
        try:
            losses = mod.train_lenet(model, data_x, data_y, **run["kw"])
        finally:
            hook.remove()
        answers.append(
            {
                "losses": losses,
                "described": describe(losses),
                "modes": modes,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                "x_after": data_x,
                "y_after": data_y,
            }
        )
    return answers


@scenario
def learn_digits(
    mod: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    x_test: torch.Tensor,
    init_seed: int,
    kw: dict[str, Any],
) -> dict[str, Any]:
    """LeNet() built under ``init_seed``, trained by train_lenet; its eval logits on x_test."""
    torch.manual_seed(init_seed)
    model = mod.LeNet()
    if not isinstance(model, nn.Module):
        return {"built": describe(model)}
    losses = mod.train_lenet(model, x, y, **kw)
    model.eval()
    with torch.no_grad():
        logits = _forward(model, x_test)
    return {"built": None, "losses": losses, "described": describe(losses), "logits": logits}


@scenario
def loss_curve(mod: Any, *, seed: int = 0) -> dict[str, Any]:
    """For ``pytorch-path plot``: LeNet() trained by train_lenet on the digits, loss per epoch."""
    x, y = digits_split(seed=seed)["train"]
    kw = {"epochs": 6, "lr": 0.01, "batch_size": 64, "seed": seed}
    got = learn_digits(mod, x, y, x[:1], seed, kw)
    _built(got, call_repr("LeNet"))
    _, losses = _losses(got, x, y, kw)
    return {"loss": losses, "label": "train loss per epoch (LeNet, Adam lr=0.01)"}


# ----------------------------------------------------------------------------- helpers


class _Net(nn.Module):
    """The grader's own LeNet (the documented architecture), trained by train_lenet."""

    def __init__(self, c1: int = 8, c2: int = 16, hidden: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(c2 * 2 * 2, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def _start(sizes: dict[str, int], init_seed: int) -> _Net:
    """A float64 ``_Net`` whose weights come from ``init_seed`` (the global RNG is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return _Net(**sizes).double()


def _forward(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """``{"value": model(x)}``, or a RuntimeError as data (the stub's error propagates)."""
    try:
        return {"value": model(x)}
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else "RuntimeError"
        return {"raised": "RuntimeError", "text": text}


def _output(result: Any, what: str) -> Any:
    """The output a scenario's forward gave, or a failure that explains its RuntimeError."""
    if not isinstance(result, dict):
        return result
    if "raised" not in result:
        return result.get("value")
    text = result["text"]
    hint = ""
    if "shapes cannot be multiplied" in text or "size mismatch" in text:
        hint = (
            "; after two 2x2 poolings an 8x8 image is 2x2, so fc1 takes c2 * 2 * 2 "
            "features; flatten with torch.flatten(x, 1) (or x.view(x.size(0), -1)), which "
            "keeps the batch dim, and do not hard-code c2 or the batch size"
        )
    raise fail(f"{what} raised RuntimeError: {text}{hint}")


def _built(got: dict[str, Any], call: str) -> None:
    if got.get("built") is not None:
        raise fail(f"{call} gave {got['built']}; LeNet must subclass nn.Module")


def _sizes(rng: Any, *, digits: bool = False) -> dict[str, int]:
    """Layer sizes that all differ, so a hard-coded or swapped size shows.

    With ``digits``, ``num_classes`` is 10, for training on the digits.
    """
    c1, c2, hidden, num_classes = rng.sample(range(3, 14), 4)
    return {"c1": c1, "c2": c2, "hidden": hidden, "num_classes": 10 if digits else num_classes}


def _images(seed: Any, n: int, offset: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=seed.generator(offset), dtype=dtype)


def _data(seed: Any, n: int, offset: int, dtype: torch.dtype = torch.float64) -> tuple:
    """n shipped digits chosen under the seed, in the given dtype."""
    x, y = digits_split(seed=seed.generator(offset))["train"]
    return x[:n].to(dtype), y[:n].clone()


def _losses(
    got: dict[str, Any], x: torch.Tensor, y: torch.Tensor, kw: dict[str, Any]
) -> tuple[str, list[float]]:
    """(call text, losses): a list of one Python float per epoch."""
    call = call_repr("train_lenet", x, y, **kw).replace("train_lenet(", "train_lenet(model, ", 1)
    losses = got["losses"]
    if not isinstance(losses, list):
        raise fail(
            f"{call} returned {got.get('described', describe(losses))}; return a list of "
            "floats, one per epoch"
        )
    if len(losses) != kw["epochs"]:
        raise fail(f"{call} returned {len(losses)} losses, expected {kw['epochs']} (one per epoch)")
    for i, value in enumerate(losses):
        assert_python_float(value, what=f"losses[{i}]", call=call)
    return call, losses


def _check_epoch_average(
    losses: list[float], model: nn.Module, x: torch.Tensor, y: torch.Tensor, call: str
) -> None:
    """With lr=0 every epoch's loss is the mean cross-entropy over all samples."""
    with torch.no_grad():
        per_sample = F.cross_entropy(model(x), y, reduction="none")
    want = per_sample.mean().item()
    n = len(y)
    for i, value in enumerate(losses):
        if abs(value - want) <= 1e-9 + 1e-8 * want:
            continue
        if abs(value - per_sample.sum().item()) <= 1e-6 * per_sample.sum().item():
            advice = "the per-sample losses are summed; divide the total by N"
        elif value > 2 * want:
            advice = "the batch losses are added up; weight each by its size and divide by N"
        else:
            advice = (
                "the epoch's loss is not the per-sample average: the mean of the batch means "
                "gives the small last batch as much weight as a full one, and the last batch's "
                "loss alone is not the epoch's either; add loss.item() * len(batch) over the "
                "epoch, then divide by N"
            )
        raise fail(
            f"{call}: with lr=0 nothing changes, so every epoch's loss is the mean "
            f"cross-entropy over all {n} samples, {want:.6g}; losses[{i}] is {value:.6g}. " + advice
        )


def _simulate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    zero_grad: bool = True,
    optimizer: str = "adam",
) -> list[float]:
    """Full-batch training (one batch per epoch), with one of the usual mistakes switched on."""
    model = copy.deepcopy(model).train()
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    losses = []
    for _ in range(epochs):
        if zero_grad:
            opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _agree(a: list[float], b: list[float], rtol: float = 1e-6) -> bool:
    return all(abs(p - q) <= rtol * abs(q) + 1e-9 for p, q in zip(a, b, strict=True))


def _functional(
    sd: dict[str, torch.Tensor],
    x: torch.Tensor,
    *,
    relu: tuple[bool, bool, bool] = (True, True, True),
    pool: Callable[..., torch.Tensor] = F.max_pool2d,
    nhwc: bool = False,
    head: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The reference forward written out, with one of the usual mistakes switched on."""
    h = F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"], padding=1)
    h = pool(F.relu(h) if relu[0] else h, 2)
    h = F.conv2d(h, sd["conv2.weight"], sd["conv2.bias"], padding=1)
    h = pool(F.relu(h) if relu[1] else h, 2)
    h = h.permute(0, 2, 3, 1).flatten(1) if nhwc else h.flatten(1)
    h = F.linear(h, sd["fc1.weight"], sd["fc1.bias"])
    h = F.linear(F.relu(h) if relu[2] else h, sd["fc2.weight"], sd["fc2.bias"])
    return head(h) if head is not None else h


_VARIANTS: tuple[tuple[dict[str, Any], str], ...] = (
    (
        {"head": lambda z: z.softmax(dim=1)},
        "forward ends with a softmax: return the raw logits; F.cross_entropy applies "
        "log-softmax itself, and a softmax before it squashes the gradients",
    ),
    (
        {"head": lambda z: z.log_softmax(dim=1)},
        "forward ends with a log_softmax: return the raw logits (F.cross_entropy applies "
        "log-softmax itself)",
    ),
    ({"relu": (False, True, True)}, "there is no ReLU after conv1"),
    ({"relu": (True, False, True)}, "there is no ReLU after conv2"),
    ({"relu": (True, True, False)}, "there is no ReLU after fc1"),
    ({"relu": (False, False, False)}, "there is no ReLU anywhere"),
    ({"pool": F.avg_pool2d}, "the pooling is average pooling; LeNet here uses max pooling"),
    (
        {"nhwc": True},
        "the features are flattened in (H, W, C) order; flatten the (N, C, H, W) tensor as "
        "it is, with torch.flatten(x, 1)",
    ),
)
