"""Grader for 3.2: convolution arithmetic.

The truth is PyTorch itself: every size the learner computes is compared with the size
that ``F.conv2d`` / ``F.max_pool2d`` actually produce on a tiny zero tensor (an
``(1, 1, size, 1)`` column, so hundreds of settings cost a few milliseconds). The learner's
answers for all the settings of a test come back from one scenario call. When a learner's
sizes differ, they are matched against the usual wrong formulas (dilation forgotten, ceil
instead of floor, padding counted once, the ``+ 1`` missing, ...) so that the message names
the mistake. ``feature_shape`` is compared with running the model, layer prefix by layer
prefix, to point at the first layer where the learner's shape goes wrong. Models travel as
layer specifications (data); the scenario builds them where the learner's code runs, and
the judge builds the same ones to run them.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytorch_path.checks import assert_state_dict_close, call_repr, describe, fail
from pytorch_path.scenario import scenario

Settings = tuple[int, int, int, int, int]  # size, kernel, stride, padding, dilation
PoolSettings = tuple[int, int, int | None, int, int, bool]
Layer = tuple[str, dict[str, Any]]  # ("conv", Conv2d's keyword arguments), ...

# ----------------------------------------------------------------------------- conv2d_output_size


@pytest.mark.points(3)
def test_conv_size_matches_conv2d(learner, seed):
    """conv2d_output_size agrees with the size nn.Conv2d produces, over 200 random settings."""
    rng = seed.python_random()
    configs = _conv_configs(rng, 200)
    short = [(rng.randint(3, 40), rng.randint(1, 3), 1, 0, 1) for _ in range(10)]
    requests = [_conv_request(cfg) for cfg in configs]
    requests += [_conv_request(cfg, defaults=True) for cfg in short]
    answers = _answers(learner, "conv2d_output_size", requests)
    _check_conv(configs, requests[: len(configs)], answers[: len(configs)])
    _check_conv(short, requests[len(configs) :], answers[len(configs) :])


def test_conv_size_edge_cases(learner, seed):
    """Dilation, strides larger than the kernel, and a kernel that just fits or just does not."""
    rng = seed.python_random(1)
    configs: list[Settings] = []
    for _ in range(3):
        k, d, p = rng.randint(2, 5), rng.randint(2, 4), rng.randint(0, 2)
        span = d * (k - 1) + 1
        configs.append((span + rng.randint(0, 7), k, rng.randint(1, 3), 0, d))  # dilation > 1
        configs.append((span - 2 * p, k, rng.randint(1, 3), p, d))  # just fits: one window
        s = rng.randint(2, 4)
        configs.append((span - 2 * p + s, k, s, p, d))  # exactly two windows
        configs.append((span - 2 * p + s - 1, k, s, p, d))  # one step short of a second
        k = rng.randint(1, 3)
        configs.append((rng.randint(8, 30), k, k + rng.randint(1, 3), rng.randint(0, 1), 1))
        configs.append((rng.randint(1, 20), 1, 1, 0, 1))  # a 1x1 kernel keeps the size
        configs.append((rng.randint(1, 6), rng.randint(1, 3), 1, rng.randint(3, 5), 1))
    configs = [c for c in configs if c[0] >= 1]
    requests = [_conv_request(cfg) for cfg in configs]
    _check_conv(configs, requests, _answers(learner, "conv2d_output_size", requests))


def test_conv_size_raises_when_the_kernel_does_not_fit(learner, seed):
    """A dilated kernel longer than the padded input gives ValueError, as nn.Conv2d refuses it."""
    rng = seed.python_random(2)
    configs: list[Settings] = []
    while len(configs) < 6:
        k, d, p = rng.randint(2, 6), rng.randint(1, 3), rng.randint(0, 1)
        span = d * (k - 1) + 1
        s = rng.randint(2, 4)
        # short by less than one stride: the quotient is a negative fraction, which int()
        # would truncate to 0 and math.ceil would round up to 0 (both giving 1)
        size = span - 2 * p - rng.randint(1, s - 1)
        if size < 1 or _torch_conv(size, k, s, p, d) is not None:
            continue
        configs.append((size, k, s, p, d))
    requests = [_conv_request(cfg) for cfg in configs]
    answers = _answers(learner, "conv2d_output_size", requests)
    for (size, k, _s, p, d), (call, value) in zip(configs, answers, strict=True):
        span = d * (k - 1) + 1
        if value != _RAISED:
            truncation = ""
            if value == 1:
                truncation = (
                    "; the quotient is negative here: int() and round() truncate it toward zero "
                    "and math.ceil rounds it up, so the formula seems to give 1; floor division "
                    "// rounds down, and a result below 1 means ValueError"
                )
            raise fail(
                f"{call} returned {value}, but a kernel spanning {span} inputs does not fit into "
                f"{size} + 2 * {p} inputs: nn.Conv2d refuses these settings, so raise "
                f"ValueError{truncation}"
            )


# ----------------------------------------------------------------------------- pool_output_size


def test_pool_size_matches_maxpool2d(learner, seed):
    """pool_output_size agrees with nn.MaxPool2d: stride defaults to the kernel, ceil_mode too."""
    rng = seed.python_random(3)
    configs = _pool_configs(rng, 150)
    # settings where ceil_mode's last-window rule matters, and a default stride with overlap
    configs += [(5, 2, 2, 1, 1, True), (9, 3, 2, 1, 1, True), (6, 3, None, 1, 1, True)]
    requests = []
    for size, k, s, p, d, ceil in configs:
        kwargs: dict[str, Any] = {"padding": p, "dilation": d, "ceil_mode": ceil}
        if s is not None:
            kwargs = {"stride": s, **kwargs}
        requests.append(((size, k), kwargs))
    # the documented defaults (padding=0, dilation=1, ceil_mode=False), left out of the call,
    # on sizes that the kernel does not divide, so that rounding up would show
    for _ in range(8):
        k = rng.randint(2, 4)
        size = k * rng.randint(2, 6) + rng.randint(1, k - 1)
        s = rng.choice([None, rng.randint(1, 3)])
        configs.append((size, k, s, 0, 1, False))
        requests.append(((size, k), {} if s is None else {"stride": s}))
    answers = _answers(learner, "pool_output_size", requests)
    got: list[tuple[PoolSettings, int | str]] = []
    first_bad = None
    bad = 0
    for cfg, (call, value) in zip(configs, answers, strict=True):
        want = _torch_pool(*cfg)
        got.append((cfg, value))
        if (value if value != _RAISED else None) != want:
            bad += 1
            if first_bad is None:
                first_bad = (call, value, want)
    if first_bad is not None:
        call, value, want = first_bad
        what = "raised ValueError" if value == _RAISED else f"returned {value}"
        hint = _diagnose(got, _POOL_MISTAKES)
        raise fail(
            f"{call} {what}, but nn.MaxPool2d gives {_show(want)} ({bad} of {len(configs)} "
            f"settings differ).{hint or _POOL_ADVICE}"
        )


def test_pool_size_raises_when_empty(learner, seed):
    """A pooling window that cannot fit (floor mode) gives ValueError, as nn.MaxPool2d does."""
    rng = seed.python_random(4)
    cases = []
    for _ in range(4):
        k = rng.randint(3, 6)
        size = rng.randint(1, k - 1)
        if _torch_pool(size, k, None, 0, 1, False) is None:
            cases.append((size, k))
    answers = _answers(learner, "pool_output_size", [((size, k), {}) for size, k in cases])
    for (size, k), (call, value) in zip(cases, answers, strict=True):
        if value != _RAISED:
            raise fail(
                f"{call} returned {value}, but a window of {k} does not fit into {size} inputs "
                "and nn.MaxPool2d refuses it: raise ValueError when the result is below 1"
            )


# ----------------------------------------------------------------------------- same_padding


def test_same_padding_keeps_the_size(learner, seed):
    """same_padding gives a padding that keeps H x W with stride 1, ValueError for even spans."""
    rng = seed.python_random(5)
    cases = [(2, 2), (2, 1), (3, 2), (4, 3)]
    cases += [(rng.randint(1, 7), rng.randint(1, 4)) for _ in range(10)]
    requests = [((k,), {"dilation": d}) for k, d in cases]
    # and dilation left at its default, 1: the span is the kernel itself
    defaults = [rng.choice([3, 5, 7]), rng.choice([2, 4, 6]), rng.choice([3, 5, 7])]
    cases += [(k, 1) for k in defaults]
    requests += [((k,), {}) for k in defaults]
    answers = _answers(learner, "same_padding", requests)
    for (k, d), (_, kwargs), (call, value) in zip(cases, requests, answers, strict=True):
        span = d * (k - 1) + 1
        given = "" if kwargs else " (dilation left at its default, 1)"
        if span % 2 == 0:
            if value != _RAISED:
                raise fail(
                    f"{call} returned {value}, but kernel={k} with dilation={d}{given} spans "
                    f"{span} inputs, an even number: no symmetric padding keeps the size, so "
                    "raise ValueError"
                )
            continue
        if value == _RAISED:
            raise fail(
                f"{call} raised ValueError, but kernel={k} with dilation={d}{given} spans "
                f"d * (k - 1) + 1 = {span} inputs, an odd number, so a padding of {span // 2} "
                "keeps the size; decide by the effective (dilated) kernel, not by the kernel alone"
            )
        if value < 0:
            raise fail(f"{call} returned {value}; a padding cannot be negative")
        h, w = span + rng.randint(0, 5), span + rng.randint(6, 9)
        conv = nn.Conv2d(1, 1, k, padding=value, dilation=d, bias=False)
        with torch.no_grad():
            out = conv(torch.zeros(1, 1, h, w))
        if tuple(out.shape[2:]) != (h, w):
            raise fail(
                f"{call} returned {value}, but nn.Conv2d(kernel_size={k}, dilation={d}, "
                f"padding={value}) maps {h} x {w} to {out.shape[2]} x {out.shape[3]}{given}; "
                f"the dilated kernel spans {span} inputs, so each side needs (span - 1) // 2"
            )


# ----------------------------------------------------------------------------- feature_shape


@pytest.mark.points(2)
def test_feature_shape_matches_running_the_model(learner, device, seed):
    """feature_shape gives the shape that running the model gives, after every layer."""
    rng = seed.python_random(6)
    cases = []
    for k in range(5):
        input_shape = _input_shape(rng)
        if k == 0:
            spec = _asymmetric_spec(rng, input_shape)
        else:  # and one first convolution with padding="valid", one with "same"
            spec = _random_spec(rng, input_shape, first_padding={1: "valid", 2: "same"}.get(k))
        cases.append((spec, input_shape))
    # every prefix model[:i]: a final Linear would hide a wrong height or width before it
    answers = learner.run(feature_shapes, cases, device, init_seed=rng.randint(0, 2**31 - 1))
    if not isinstance(answers, list) or len(answers) != len(cases):
        raise fail(f"feature_shape gave {describe(answers)} answers")  # a broken scenario run
    for (spec, input_shape), results in zip(cases, answers, strict=True):
        for i, result in enumerate(results, start=1):
            part = spec[:i]
            want = _run(part, input_shape)
            call, got = _learner_shape(result, part, input_shape)
            if got != want:
                where = f"model[{i - 1}] = {_model(spec)[i - 1]}"
                kind, settings = spec[i - 1]
                note = ""
                if kind == "conv" and settings.get("padding") in ("valid", "same"):
                    note = (
                        ' padding="valid" means no padding at all (0 on each side); "same" '
                        "keeps H and W (stride 1)."
                    )
                raise fail(
                    f"{call} returned {got}, but running the model gives {want}. The first "
                    f"layer where it goes wrong is {where} (the shape before it is right).{note} "
                    f"Model:\n{_model(part)}"
                )


def test_feature_shape_leaves_the_model_alone(learner, device, seed):
    """feature_shape changes nothing in the model: weights, BatchNorm statistics, mode, grads."""
    rng = seed.python_random(7)
    for training in (True, False):
        input_shape = _input_shape(rng)
        c = input_shape[1]
        spec: list[Layer] = [
            ("conv", {"in_channels": c, "out_channels": 4, "kernel_size": 3, "padding": 1}),
            ("bn", {"num_features": 4}),
            ("relu", {}),
            ("pool", {"kernel_size": 2}),
            ("flatten", {}),
        ]
        features = _run(spec, input_shape)[-1]
        spec.append(("linear", {"in_features": features, "out_features": rng.randint(3, 7)}))
        init_seed, stats_seed = rng.randint(0, 2**31 - 1), rng.randint(0, 2**31 - 1)
        before = _prepared(spec, init_seed, stats_seed, torch.device("cpu"), training)
        want = _run(spec, input_shape)
        got_run = learner.run(
            feature_shape_of, spec, input_shape, device, training, init_seed, stats_seed
        )
        call, got = _learner_shape(got_run["result"], spec, input_shape)
        state = got_run["state"]
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.device.type != device.type:
                raise fail(
                    f"{call} moved the model: {key} is now on {value.device}, it was on "
                    f"{device}; work on a copy (copy.deepcopy) if you move it"
                )
        expected = before.state_dict()
        for key, value in expected.items():
            if key in state and isinstance(state[key], torch.Tensor):
                after = state[key].detach().cpu()
                if after.shape == value.shape and torch.equal(after, value):
                    continue
            extra = ""
            if "running" in key or "num_batches" in key:
                extra = (
                    ": running a BatchNorm in training mode updates its running statistics; "
                    "run a copy (copy.deepcopy) in eval mode under torch.no_grad(), or use "
                    "the formulas"
                )
            raise fail(f"{call} changed the model's {key}{extra}")
        assert_state_dict_close(state, expected, what=f"{call}: the model's state", rtol=0, atol=0)
        if set(got_run["modes"]) != {training}:
            raise fail(
                f"{call} left the model in {'eval' if training else 'train'} mode for some "
                f"layers (it was in {'train' if training else 'eval'} mode); restore the mode "
                "or work on a copy"
            )
        if got_run["grads"]:
            name = got_run["grads"][0]
            raise fail(f"{call} left a gradient in {name}.grad; run under torch.no_grad()")
        if got != want:
            raise fail(f"{call} returned {got}, but running the model gives {want}")


# ----------------------------------------------------------------------------- scenarios


@scenario
def sizes(mod: Any, name: str, requests: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list:
    """``mod.name(*args, **kwargs)`` for each request: its result, or a ValueError noted."""
    fn = getattr(mod, name)
    answers: list[Any] = []
    for args, kwargs in requests:
        try:
            answers.append({"value": fn(*args, **kwargs)})
        except ValueError:
            answers.append({"raised": "ValueError"})
    return answers


@scenario
def feature_shapes(
    mod: Any, cases: list[tuple[list[Layer], tuple[int, ...]]], device: Any, *, init_seed: int
) -> list[list[dict[str, Any]]]:
    """feature_shape(model[:i], input_shape) for every prefix of every model, in order."""
    answers = []
    for spec, input_shape in cases:
        model = _model(spec, init_seed).to(device)
        answers.append(
            [_attempt(mod.feature_shape, model[:i], input_shape) for i in range(1, len(spec) + 1)]
        )
    return answers


@scenario
def feature_shape_of(
    mod: Any,
    spec: list[Layer],
    input_shape: tuple[int, ...],
    device: Any,
    training: bool,
    init_seed: int,
    stats_seed: int,
) -> dict[str, Any]:
    """feature_shape on a model with non-trivial BatchNorm statistics, and the model after."""
    model = _prepared(spec, init_seed, stats_seed, device, training)
    result = _attempt(mod.feature_shape, model, input_shape)
    return {
        "result": result,
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "modes": sorted({m.training for m in model.modules()}),
        "grads": [name for name, p in model.named_parameters() if p.grad is not None],
    }


# ----------------------------------------------------------------------------- helpers

_RAISED = "raised ValueError"
_POOL_ADVICE = (
    " Check the defaults (stride=None means stride = kernel; padding=0, dilation=1, "
    "ceil_mode=False), ceil_mode and the formula."
)


def _attempt(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """``{"value": fn(*args)}``, or the error it raised as data (the stub's error propagates)."""
    try:
        return {"value": fn(*args)}
    except NotImplementedError:
        raise
    except (RuntimeError, ValueError, TypeError, AttributeError) as exc:
        return {"raised": type(exc).__name__, "message": str(exc)[:2000]}


def _answers(
    learner: Any, name: str, requests: list[tuple[tuple[Any, ...], dict[str, Any]]]
) -> list[tuple[str, int | str]]:
    """(call text, Python int or _RAISED) for each request, from one scenario call."""
    got = learner.run(sizes, name, requests)
    if not isinstance(got, list) or len(got) != len(requests):
        raise fail(f"{name} gave {describe(got)} for {len(requests)} calls")
    answers = []
    for (args, kwargs), answer in zip(requests, got, strict=True):
        call = call_repr(name, *args, **kwargs)
        if isinstance(answer, dict) and "raised" in answer:
            answers.append((call, _RAISED))
        else:
            value = answer.get("value") if isinstance(answer, dict) else answer
            answers.append((call, _as_int(value, call)))
    return answers


def _as_int(value: Any, call: str) -> int:
    """The learner's answer must be a Python int (not a float, a tensor or a NumPy number)."""
    if type(value) is int:
        return value
    if isinstance(value, float):
        raise fail(
            f"{call} returned the float {value!r}; return a Python int: use floor division "
            "(//) on ints, or wrap math.floor(...) (which returns an int)"
        )
    raise fail(f"{call} returned {describe(value)}; return a Python int")


def _show(value: int | str | None) -> str:
    if value is None or value == _RAISED:
        return "an error (the output would be empty), so ValueError should be raised"
    return str(value)


def _torch_conv(size: int, k: int, s: int, p: int, d: int) -> int | None:
    """The length nn.Conv2d produces along one dim, or None when PyTorch refuses."""
    try:
        out = F.conv2d(
            torch.zeros(1, 1, size, 1),
            torch.zeros(1, 1, k, 1),
            stride=(s, 1),
            padding=(p, 0),
            dilation=(d, 1),
        )
    except RuntimeError:
        return None
    return int(out.shape[2])


def _torch_pool(size: int, k: int, s: int | None, p: int, d: int, ceil: bool) -> int | None:
    """The length nn.MaxPool2d produces along one dim, or None when PyTorch refuses."""
    try:
        out = F.max_pool2d(
            torch.zeros(1, 1, size, 1),
            (k, 1),
            stride=(s if s is not None else k, 1),
            padding=(p, 0),
            dilation=(d, 1),
            ceil_mode=ceil,
        )
    except RuntimeError:
        return None
    return int(out.shape[2])


def _floor(num: int, s: int) -> int:
    return num // s + 1


_CONV_MISTAKES: tuple[tuple[str, Callable[[int, int, int, int, int], float]], ...] = (
    (
        "dilation is ignored: a kernel of size k with dilation d spans d * (k - 1) + 1 inputs, "
        "so use size + 2 * padding - dilation * (kernel - 1) - 1",
        lambda n, k, s, p, d: _floor(n + 2 * p - (k - 1) - 1, s),
    ),
    (
        "the division is rounded up (ceil); nn.Conv2d rounds down (floor): a last window that "
        "does not fit completely is dropped",
        lambda n, k, s, p, d: math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1,
    ),
    (
        "padding is counted once; nn.Conv2d adds `padding` zeros on EACH side, so the padded "
        "length is size + 2 * padding",
        lambda n, k, s, p, d: _floor(n + p - d * (k - 1) - 1, s),
    ),
    (
        "the + 1 is missing: (size + 2p - d(k-1) - 1) // stride counts the steps between "
        "windows; add 1 for the first window",
        lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s,
    ),
    (
        "the dilated kernel is taken to span dilation * kernel inputs; it spans "
        "dilation * (kernel - 1) + 1",
        lambda n, k, s, p, d: _floor(n + 2 * p - d * k, s),
    ),
    (
        "the stride is ignored: divide by the stride before adding 1",
        lambda n, k, s, p, d: _floor(n + 2 * p - d * (k - 1) - 1, 1),
    ),
    (
        "the stride divides the + 1 as well; only the steps between windows are divided: "
        "(size + 2p - d(k-1) - 1) // stride + 1",
        lambda n, k, s, p, d: (n + 2 * p - d * (k - 1)) // s,
    ),
)


def _diagnose(
    got: list[tuple[Any, int | str]],
    mistakes: tuple[tuple[str, Callable[..., float]], ...],
) -> str:
    """Advice from the wrong formula that reproduces every int the learner returned."""
    answered = [(cfg, v) for cfg, v in got if v != _RAISED]
    if len(answered) < 3:
        return ""
    for advice, formula in mistakes:
        if all(formula(*cfg) == v for cfg, v in answered):
            return f" Your results follow a formula where {advice}."
    return ""


def _conv_configs(rng: Any, count: int) -> list[Settings]:
    """Random settings that nn.Conv2d accepts (the output is not empty)."""
    configs: list[Settings] = []
    while len(configs) < count:
        k, s, p, d = rng.randint(1, 7), rng.randint(1, 5), rng.randint(0, 4), rng.randint(1, 4)
        size = rng.randint(1, 40)
        if size + 2 * p >= d * (k - 1) + 1:
            configs.append((size, k, s, p, d))
    return configs


def _conv_request(
    cfg: Settings, *, defaults: bool = False
) -> tuple[tuple[int, ...], dict[str, int]]:
    """The arguments of one conv2d_output_size call (stride, padding, dilation by keyword)."""
    size, k, s, p, d = cfg
    if defaults and (s, p, d) == (1, 0, 1):
        return (size, k), {}
    return (size, k), {"stride": s, "padding": p, "dilation": d}


def _check_conv(
    configs: list[Settings],
    requests: list[tuple[tuple[int, ...], dict[str, int]]],
    answers: list[tuple[str, int | str]],
) -> None:
    """Compare the learner's sizes with nn.Conv2d's; name the wrong formula when one fits."""
    got: list[tuple[Settings, int | str]] = []
    first_bad: tuple[str, Any, Any] | None = None
    bad = 0
    for cfg, (call, value) in zip(configs, answers, strict=True):
        want = _torch_conv(*cfg)
        got.append((cfg, value))
        if (value if value != _RAISED else None) != want:
            bad += 1
            if first_bad is None:
                first_bad = (call, value, want)
    if first_bad is not None:
        call, value, want = first_bad
        what = "raised ValueError" if value == _RAISED else f"returned {value}"
        hint = _diagnose(got, _CONV_MISTAKES)
        truncation = ""
        if want is None and value == 1:
            truncation = (
                " (int() and round() truncate a negative quotient toward zero; floor division "
                "// rounds down, and then the result is below 1, so raise ValueError)"
            )
        raise fail(
            f"{call} {what}, but nn.Conv2d gives {_show(want)}{truncation} ({bad} of "
            f"{len(configs)} settings differ).{hint or ' Check the formula term by term.'}"
        )


_POOL_MISTAKES: tuple[tuple[str, Callable[..., float]], ...] = (
    (
        "stride=None is taken as stride 1; for pooling, stride=None means stride = kernel "
        "(windows side by side, no overlap)",
        lambda n, k, s, p, d, c: _pool_formula(n, k, s if s is not None else 1, p, d, c),
    ),
    (
        "ceil_mode is ignored: with ceil_mode=True the division is rounded up",
        lambda n, k, s, p, d, c: _pool_formula(n, k, s, p, d, False),
    ),
    (
        "with ceil_mode=True a last window that would start in the right-hand padding is "
        "kept; PyTorch drops it: if (out - 1) * stride >= size + padding, subtract 1",
        lambda n, k, s, p, d, c: _pool_formula(n, k, s, p, d, c, adjust=False),
    ),
    (
        "dilation is ignored: a window of size k with dilation d spans d * (k - 1) + 1 inputs",
        lambda n, k, s, p, d, c: _pool_formula(n, k, s, p, 1, c),
    ),
    (
        "padding is counted once; it is added on each side (size + 2 * padding)",
        lambda n, k, s, p, d, c: _pool_formula(n, k, s, p, d, c, twice=False),
    ),
)


def _pool_formula(
    n: int,
    k: int,
    s: int | None,
    p: int,
    d: int,
    ceil: bool,
    *,
    adjust: bool = True,
    twice: bool = True,
) -> int:
    s = k if s is None else s
    num = n + (2 if twice else 1) * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and adjust and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_configs(rng: Any, count: int) -> list[PoolSettings]:
    configs: list[PoolSettings] = []
    while len(configs) < count:
        k = rng.randint(1, 5)
        cfg = (
            rng.randint(1, 30),
            k,
            rng.choice([None, None, rng.randint(1, 4)]),
            rng.randint(0, k // 2),
            rng.choice([1, 1, rng.randint(2, 3)]),
            rng.random() < 0.5,
        )
        if _torch_pool(*cfg) is not None:
            configs.append(cfg)
    return configs


# ----------------------------------------------------------------------------- models as data

_LAYERS: dict[str, Callable[..., nn.Module]] = {
    "conv": nn.Conv2d,
    "bn": nn.BatchNorm2d,
    "relu": nn.ReLU,
    "pool": nn.MaxPool2d,
    "flatten": nn.Flatten,
    "linear": nn.Linear,
}


def _model(spec: list[Layer], init_seed: int = 0) -> nn.Sequential:
    """The nn.Sequential a spec describes, its weights drawn from ``init_seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return nn.Sequential(*[_LAYERS[kind](**kwargs) for kind, kwargs in spec])


def _prepared(
    spec: list[Layer], init_seed: int, stats_seed: int, device: Any, training: bool
) -> nn.Sequential:
    """The model of ``spec`` on ``device`` in that mode, with non-trivial BatchNorm statistics."""
    model = _model(spec, init_seed)
    gen = torch.Generator().manual_seed(stats_seed)
    with torch.no_grad():  # non-trivial running statistics, so any update shows
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=gen) * 2 - 1)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
    return model.to(device).train(training)


def _run(spec: list[Layer], input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The real output shape: build the model here and run it in eval mode on zeros."""
    model = _model(spec).eval()
    with torch.no_grad():
        return tuple(model(torch.zeros(input_shape)).shape)


def _fits(spec: list[Layer], input_shape: tuple[int, ...]) -> bool:
    try:
        _run(spec, input_shape)
    except RuntimeError:
        return False
    return True


def _random_spec(
    rng: Any, input_shape: tuple[int, int, int, int], *, first_padding: str | None = None
) -> list[Layer]:
    """A valid stack of Conv2d / BatchNorm2d / ReLU / MaxPool2d, often Flatten + Linear.

    ``first_padding`` ("valid" or "same") is the padding of the first convolution, which
    then has a 3 or 5 kernel, stride 1 and no dilation, so that it fits any input here.
    """
    layers: list[Layer] = []
    for _ in range(rng.randint(1, 3)):
        channels = _run(layers, input_shape)[1]
        stride: Any = rng.choice([1, 1, 2, (1, 2), (2, 1)])
        padding: Any = rng.choice([0, 1, 2, (1, 0), (0, 2), "valid"])
        if stride == 1 and rng.random() < 0.3:
            padding = "same"
        out_channels = rng.randint(2, 6)
        kernel: Any = rng.choice([1, 3, 5, (3, 5), (1, 3), (5, 3)])
        dilation: Any = rng.choice([1, 1, 2, (2, 1)])
        if first_padding is not None and not layers:
            padding, stride, dilation = first_padding, 1, 1
            kernel = rng.choice([3, (3, 5), (5, 3)])
        conv: Layer = (
            "conv",
            {
                "in_channels": channels,
                "out_channels": out_channels,
                "kernel_size": kernel,
                "stride": stride,
                "padding": padding,
                "dilation": dilation,
            },
        )
        if not _fits([*layers, conv], input_shape):
            continue
        layers.append(conv)
        if rng.random() < 0.4:
            layers.append(("bn", {"num_features": out_channels}))
        layers.append(("relu", {}))
        if rng.random() < 0.7:
            k = rng.randint(2, 3)
            pool: Layer = (
                "pool",
                {
                    "kernel_size": rng.choice([k, (k, 2)]),
                    "stride": rng.choice([None, 1, 2, (2, 1)]),
                    "padding": rng.randint(0, 1),
                    "ceil_mode": rng.random() < 0.5,
                },
            )
            if _fits([*layers, pool], input_shape):
                layers.append(pool)
    if rng.random() < 0.7:
        layers.append(("flatten", {}))
        features = _run(layers, input_shape)[-1]
        hidden = rng.randint(3, 9)
        layers.append(("linear", {"in_features": features, "out_features": hidden}))
        if rng.random() < 0.5:
            layers.append(("relu", {}))
            layers.append(("linear", {"in_features": hidden, "out_features": rng.randint(2, 5)}))
    return layers


def _asymmetric_spec(rng: Any, input_shape: tuple[int, int, int, int]) -> list[Layer]:
    """Every setting differs between height and width, so mixing them up shows."""
    c1, c2 = rng.randint(2, 6), rng.randint(2, 6)
    layers: list[Layer] = [
        (
            "conv",
            {
                "in_channels": input_shape[1],
                "out_channels": c1,
                "kernel_size": (3, 5),
                "stride": (2, 1),
                "padding": (1, 2),
                "dilation": (1, 2),
            },
        ),
        ("relu", {}),
        ("pool", {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "ceil_mode": True}),
        ("conv", {"in_channels": c1, "out_channels": c2, "kernel_size": (1, 3), "padding": (0, 1)}),
        ("flatten", {}),
    ]
    features = _run(layers, input_shape)[-1]
    return [*layers, ("linear", {"in_features": features, "out_features": rng.randint(3, 9)})]


def _input_shape(rng: Any) -> tuple[int, int, int, int]:
    n, c = rng.sample(range(1, 6), 2)
    h = rng.randint(12, 30)
    w = h + rng.choice([-5, -3, 3, 4, 7])
    return (n, c, h, w)


def _learner_shape(
    result: Any, spec: list[Layer], input_shape: tuple[int, ...]
) -> tuple[str, tuple[int, ...]]:
    """(call text, the shape) from one feature_shape answer; an error becomes advice."""
    call = f"called feature_shape(model, {tuple(input_shape)})"
    if isinstance(result, dict) and "raised" in result:
        raise fail(
            f"{call} raised {result['raised']}: {result.get('message', '')} (the model is valid "
            f"for this input: it runs and gives {_run(spec, input_shape)}). Model:\n"
            f"{_model(spec)}"
        )
    value = result.get("value") if isinstance(result, dict) else result
    if not isinstance(value, tuple) or not all(type(v) is int for v in value):
        raise fail(
            f"{call} returned {describe(value)}; return a tuple of Python ints, e.g. "
            "tuple(int(s) for s in shape)"
        )
    return call, value
