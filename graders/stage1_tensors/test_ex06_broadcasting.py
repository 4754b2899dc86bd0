"""Grader for 1.6: broadcasting, per-channel normalisation and causal masks.

Every result is compared with the reference solution's on the same inputs. The scenarios
return what the learner's function gave and its inputs as they were afterwards (to catch
in-place edits); the placement tests run the learner's code under a simulated second device
(``pytorch_path.checks.SimulatedDevice``) and return the result with what the simulation saw.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from typing import Any

import torch

from pytorch_path.checks import (
    CheckFailure,
    SimulatedDevice,
    assert_close,
    assert_tensor,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import call_by_name, scenario

FLOATS = [torch.float32, torch.float64]
REDUCE = (0, 2, 3)


# ----------------------------------------------------------------------------- tests


def test_channel_stats_values(learner, reference, device, seed):
    """channel_stats gives one mean and one population std per channel, over N, H and W."""
    rng = seed.python_random()
    for index in range(4):
        shape = _nchw(rng)
        dtype = FLOATS[index % 2]
        x = _images(seed, shape, dtype, device, offset=index)
        want_mean, want_std = reference.channel_stats(x)
        call = call_repr("channel_stats", x)
        got = learner.run(channel_stats, x)
        mean, std = _pair(got["out"], call)
        _stat_shape(mean, shape[1], "mean", call)
        _stat_shape(std, shape[1], "std", call)
        assert_close(mean, want_mean, what="the mean", call=call, **_tol(dtype))
        unbiased = x.std(dim=REDUCE, correction=1)
        if std.dtype == dtype and torch.allclose(std.detach().cpu(), unbiased.cpu(), rtol=1e-6):
            raise fail(
                f"{call}; the std is the unbiased (n - 1) estimate. The population std divides "
                "by n: use correction=0 (unbiased=False)"
            )
        assert_close(std, want_std, what="the std", call=call, **_tol(dtype))
        _unchanged("x", x, got["x_after"], call)


def test_normalize_per_channel_values(learner, reference, device, seed):
    """normalize_per_channel subtracts mean[c] and divides by std[c] + eps on channel c only."""
    rng = seed.python_random()
    for index in range(4):
        shape = _nchw(rng)
        dtype = FLOATS[index % 2]
        x = _images(seed, shape, dtype, device, offset=index)
        if index == 0:
            mean, std = reference.channel_stats(x)
        else:
            mean, std = _stats(seed, shape[1], dtype, device, index)
        _check_normalize(learner, reference, x, mean, std, {})


def test_normalize_per_channel_uses_eps(learner, reference, device, seed):
    """normalize_per_channel divides by std + eps, with the eps it is given."""
    rng = seed.python_random(7)
    for index, eps in enumerate((0.25, 1e-3)):
        shape = _nchw(rng)
        x = _images(seed, shape, torch.float64, device, offset=20 + index)
        mean, std = _stats(seed, shape[1], torch.float64, device, 20 + index)
        _check_normalize(learner, reference, x, mean, std, {"eps": eps})


def test_normalize_per_channel_default_eps(learner, reference, device, seed):
    """Called without eps, normalize_per_channel divides by std + 1e-6, the documented default."""
    rng = seed.python_random(9)
    shape = _nchw(rng)
    x = _images(seed, shape, torch.float64, device, offset=25)
    mean, std = _stats(seed, shape[1], torch.float64, device, 25)
    std = std * 1e-6  # tiny spreads, so that the eps decides the scale of the result
    try:
        _check_normalize(learner, reference, x, mean, std, {})
    except CheckFailure as exc:
        if "wrong values" not in str(exc):
            raise
        raise fail(
            f"{exc}. These stds are about 1e-6, so the eps decides the result: called without "
            "eps, normalize_per_channel must use the default eps=1e-6, added to std (std + eps)"
        ) from None


def test_normalize_per_channel_constant_channel(learner, reference, device, seed):
    """A constant channel (std 0) normalises to zeros, not NaN, thanks to the default eps."""
    rng = seed.python_random(11)
    shape = _nchw(rng)
    x = _images(seed, shape, torch.float32, device, offset=30)
    mean, std = _stats(seed, shape[1], torch.float32, device, 30)
    c = rng.randrange(shape[1])
    x[:, c] = mean[c]
    std[c] = 0.0
    _check_normalize(learner, reference, x, mean, std, {})


def test_normalize_per_channel_keeps_x_dtype(learner, reference, device, seed):
    """Statistics of another dtype do not change the result's dtype: it stays x's dtype."""
    rng = seed.python_random(13)
    for index, (x_dtype, stat_dtype) in enumerate(
        ((torch.float32, torch.float64), (torch.float64, torch.float32))
    ):
        shape = _nchw(rng)
        x = _images(seed, shape, x_dtype, device, offset=40 + index)
        mean, std = _stats(seed, shape[1], stat_dtype, device, 40 + index)
        _check_normalize(learner, reference, x, mean, std, {})


def test_normalize_per_channel_leaves_inputs(learner, reference, device, seed):
    """normalize_per_channel returns a new tensor and leaves x, mean and std unchanged."""
    rng = seed.python_random(17)
    shape = _nchw(rng)
    x = _images(seed, shape, torch.float32, device, offset=50)
    mean, std = _stats(seed, shape[1], torch.float32, device, 50)
    out = _check_normalize(learner, reference, x, mean, std, {})
    if out["shares_x"]:
        call = call_repr("normalize_per_channel", x, mean, std)
        raise fail(f"{call}; the result shares memory with x; return a new tensor")


def test_causal_mask_values(learner, reference, device, seed):
    """causal_mask(t) is True exactly above the diagonal (j > i), as a bool tensor on device."""
    rng = seed.python_random()
    for t in [1, 2, *rng.sample(range(3, 10), 3)]:
        want = reference.causal_mask(t, device)
        call = call_repr("causal_mask", t, device)
        out = learner.causal_mask(t, device)
        assert_tensor(out, shape=(t, t), dtype=torch.bool, device=device, call=call)
        problem = _mask_problem(out, want)
        if problem:
            raise fail(f"{call}; {problem}")


def test_causal_mask_honours_device(learner, reference):
    """causal_mask creates the mask on the device it is given (a second device is simulated)."""
    for device in ("meta", SimulatedDevice.FAR):
        call = call_repr("causal_mask", 6, device)
        got = learner.run(causal_mask_simulated, 6, device)
        out = got["out"]
        assert_tensor(out, shape=(6, 6), dtype=torch.bool, call=call)
        if not got["far"]:
            raise fail(
                f"{call}; the mask was made on cpu, not on the device it was given (meta); "
                "create it with device=device, or move it with .to(device)"
            )
        want = reference.run(causal_mask_simulated, 6, device)["out"]
        problem = _mask_problem(_real(out, call), want)
        if problem:
            raise fail(f"{call}; {problem}")


def test_masked_scores_values(learner, reference, device, seed):
    """masked_scores puts -inf on every future position (j > i) and keeps every other score."""
    for scores in _score_configs(seed, device):
        want = reference.masked_scores(scores)
        call = call_repr("masked_scores", scores)
        got = learner.run(masked_scores, scores)
        out = got["out"]
        assert_tensor(
            out, shape=tuple(want.shape), dtype=want.dtype, device=device, finite=False, call=call
        )
        _check_scores(out, want, call)
        _unchanged("scores", scores, got["scores_after"], call)


def test_masked_scores_softmax(learner, device, seed):
    """softmax(masked_scores(s), dim=-1) gives the future zero weight and each row sums to 1."""
    for scores in _score_configs(seed, device):
        call = call_repr("masked_scores", scores)
        out = learner.masked_scores(scores)
        assert_tensor(out, shape=tuple(scores.shape), device=device, finite=False, call=call)
        probs = torch.softmax(out.detach().double(), dim=-1)
        what = "softmax(result, dim=-1)"
        t = scores.shape[-1]
        if bool(torch.isnan(probs).any()):
            raise fail(
                f"{call}; {what} contains NaN: some row is -inf everywhere. The diagonal must stay "
                "unmasked so every query sees at least itself"
            )
        future = torch.ones(t, t, dtype=torch.bool, device=probs.device).triu(1)
        leak = probs.masked_fill(~future, 0).max().item()
        if leak > 1e-12:
            raise fail(
                f"{call}; {what} gives the future weight up to {leak:.3g}, expected 0: "
                "fill the future with float('-inf'), not 0 or another finite number"
            )
        sums = probs.sum(dim=-1)
        assert_close(sums, torch.ones_like(sums), what=f"the row sums of {what}", call=call)


def test_masked_scores_on_scores_device(learner, reference, seed):
    """masked_scores makes its mask on scores.device, not on the CPU (a device is simulated)."""
    scores = seed.randn(2, 3, 5, 5, offset=3000)
    call = call_repr("masked_scores", scores).replace("on cpu", "on meta")
    got = learner.run(masked_scores_simulated, scores)
    if got["mixed"]:
        raise fail(
            f"{call}; your code combined the scores (on device meta) with a tensor made on the "
            f"CPU, in {got['mixed']}: on a GPU this raises 'Expected all tensors to be on the "
            "same device'. Create the mask on scores.device"
        )
    want = reference.run(masked_scores_simulated, scores)["out"]
    out = got["out"]
    assert_tensor(out, shape=tuple(want.shape), dtype=want.dtype, finite=False, call=call)
    if not got["far"]:
        raise fail(f"{call}; the result is not on the scores' device (meta); keep it there")
    _check_scores(_real(out, call), want, call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def channel_stats(mod: Any, x: torch.Tensor) -> dict[str, Any]:
    """channel_stats(x): the result, and x afterwards."""
    return {"out": call_by_name(mod, "channel_stats", x), "x_after": x}


@scenario
def normalize_per_channel(
    mod: Any, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, **kwargs: Any
) -> dict[str, Any]:
    """normalize_per_channel(x, mean, std, ...): the result, the inputs afterwards, aliasing."""
    out = call_by_name(mod, "normalize_per_channel", x, mean, std, **kwargs)
    shares_x = isinstance(out, torch.Tensor) and out.data_ptr() == x.data_ptr()
    return {"out": out, "after": (x, mean, std), "shares_x": shares_x}


@scenario
def masked_scores(mod: Any, scores: torch.Tensor) -> dict[str, Any]:
    """masked_scores(scores): the result, and scores afterwards."""
    return {"out": call_by_name(mod, "masked_scores", scores), "scores_after": scores}


@scenario
def causal_mask_simulated(mod: Any, t: int, device: Any) -> dict[str, Any]:
    """causal_mask(t, device) with device 'meta' simulated: the mask, and whether it is 'far'."""
    with SimulatedDevice() as sim:
        out = call_by_name(mod, "causal_mask", t, device)
    return {"out": out, "far": sim.is_far(out)}


@scenario
def masked_scores_simulated(mod: Any, scores: torch.Tensor) -> dict[str, Any]:
    """masked_scores(scores) with scores on a simulated device: the result and what mixed."""
    with SimulatedDevice([scores]) as sim:
        out = call_by_name(mod, "masked_scores", scores)
    return {"out": out, "far": sim.is_far(out), "mixed": sim.mixed}


# ----------------------------------------------------------------------------- helpers


def _tol(dtype: torch.dtype) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-5, "atol": 1e-8}


def _nchw(rng) -> tuple[int, int, int, int]:
    """Four different sizes, all >= 2, so a reduction or broadcast over the wrong dim shows."""
    return tuple(rng.sample(range(2, 8), 4))


def _images(seed, shape, dtype, device, offset=0) -> torch.Tensor:
    """Images whose channels have clearly different means and spreads."""
    n, c, h, w = shape
    g = seed.generator(offset)
    shift = torch.randn(c, generator=g, dtype=torch.float64) * 3
    scale = torch.rand(c, generator=g, dtype=torch.float64) * 2 + 0.5
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    x = x * scale.view(1, c, 1, 1) + shift.view(1, c, 1, 1)
    return x.to(dtype=dtype, device=device)


def _stats(seed, c, dtype, device, offset):
    g = seed.generator(1000 + offset)
    mean = torch.randn(c, generator=g, dtype=torch.float64) * 2
    std = torch.rand(c, generator=g, dtype=torch.float64) + 0.5
    return mean.to(dtype=dtype, device=device), std.to(dtype=dtype, device=device)


def _unchanged(name: str, before: torch.Tensor, after: Any, call: str) -> None:
    """Fail if a learner's function changed one of its inputs in place.

    The message names the in-place operations to avoid, which ``assert_unchanged`` does not.
    """
    same = (
        isinstance(after, torch.Tensor)
        and tuple(after.shape) == tuple(before.shape)
        and torch.equal(after.cpu(), before.cpu())
    )
    if not same:
        raise fail(
            f"{call}; it changed its input {name} in place. Compute a new tensor instead of "
            "using in-place operations (sub_, div_, masked_fill_, -=, /=) on the input"
        )


def _pair(out, call: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise fail(f"{call}; expected a tuple (mean, std) of two tensors, got {describe(out)}")
    return out[0], out[1]


def _stat_shape(t, c: int, name: str, call: str) -> None:
    assert_tensor(t, what=f"the {name}", call=call)
    if tuple(t.shape) != (c,):
        raise fail(
            f"{call}; the {name} has shape {tuple(t.shape)}, expected ({c},), one value per "
            "channel: reduce over dims (0, 2, 3), every dim except the channel dim 1"
        )


def _check_normalize(learner, reference, x, mean, std, call_kwargs) -> dict[str, Any]:
    want = reference.run(normalize_per_channel, x, mean, std, **call_kwargs)["out"]
    call = call_repr("normalize_per_channel", x, mean, std, **call_kwargs)
    got = learner.run(normalize_per_channel, x, mean, std, **call_kwargs)
    out = got["out"]
    assert_tensor(out, shape=tuple(x.shape), call=call, finite=False)
    if out.dtype != x.dtype:
        raise fail(
            f"{call}; the result has dtype {out.dtype}, expected {x.dtype} (x's dtype). Mixing "
            "dtypes promotes the result to the wider one: convert mean and std with .to(x.dtype)"
        )
    assert_close(out, want, call=call, **_tol(x.dtype))
    for name, before, after in zip(("x", "mean", "std"), (x, mean, std), got["after"], strict=True):
        _unchanged(name, before, after, call)
    return got


def _mask_problem(out: torch.Tensor, want: torch.Tensor) -> str | None:
    wrong = (out.cpu() != want.cpu()).nonzero()
    if len(wrong) == 0:
        return None
    i, j = (int(v) for v in wrong[0])
    got, exp = bool(out[i, j]), bool(want[i, j])
    if j > i:
        why = "key j > query i is in the future and must be hidden"
    elif j == i:
        why = "the diagonal is the present; a position may attend to itself"
    else:
        why = "key j < query i is in the past and stays visible"
    count = f"{len(wrong)} of {out.numel()} entries are wrong"
    return f"mask[{i}, {j}] is {got}, expected {exp}: {why} ({count})"


def _check_scores(out: torch.Tensor, want: torch.Tensor, call: str) -> None:
    """The future (j > i) is -inf and every other score is kept, as in the reference's ``want``."""
    o, w = out.detach().cpu().double(), want.cpu().double()
    future = torch.isneginf(w)
    bad = (future & ~torch.isneginf(o)) | (~future & (o != w))
    if bool(bad.any()):
        idx = tuple(int(v) for v in bad.nonzero()[0])
        i, j = idx[-2], idx[-1]
        if j > i:
            where = f"query {i}, key {j} is in the future: expected -inf"
        else:
            where = f"query {i}, key {j} is {'the present' if i == j else 'in the past'}: "
            where += f"expected its score {w[idx].item():.6g} unchanged"
        raise fail(
            f"{call}; the result at index {idx} holds {o[idx].item():.6g} ({where}); "
            f"{int(bad.sum())} of {o.numel()} entries are wrong. Fill exactly the positions "
            "j > i with float('-inf')"
        )


def _real(out: torch.Tensor, call: str) -> torch.Tensor:
    """A result of the simulated device must hold values (the simulation computes on the CPU)."""
    if out.device.type == "meta":
        raise fail(
            f"{call}; the result is a real meta tensor, which holds no values; build it with "
            "device=... (or .to(device)) from the device you were given"
        )
    return out


def _score_configs(seed, device):
    rng = seed.python_random(19)
    cases = [_scores(seed, rng, device, i) for i in range(4)]
    g = seed.generator(2100)
    cases.append(torch.randn(5, 5, generator=g).to(device))  # no leading dims
    cases.append(torch.randn(3, 1, 1, generator=g, dtype=torch.float64).to(device))  # T = 1
    return cases


def _scores(seed, rng, device, offset):
    t = rng.randint(3, 7)
    lead = rng.sample([s for s in range(2, 7) if s != t], rng.randint(1, 3))
    dtype = rng.choice(FLOATS)
    g = seed.generator(2000 + offset)
    scores = torch.randn(*lead, t, t, generator=g, dtype=torch.float64) * 4 + 1
    return scores.to(dtype=dtype, device=device)


# ----------------------------------------------------------------------------- a simulated device
# Placement is checked on a second device simulated on the CPU: see
# pytorch_path.checks.SimulatedDevice (computing on the real 'meta' device costs 1-3 s).
