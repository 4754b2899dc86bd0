"""Grader for 3.1: an image pipeline with transforms.v2.

``channel_stats`` is compared with the reference on batches whose channels, images and
pixels all differ (so a reduction over the wrong dims, an unbiased std, an average of
per-image stds or unscaled ``uint8`` values show). The eval pipeline is deterministic, so
its output is compared with the reference's (with a tolerance of about one ``uint8`` step,
so scaling before or after the resize both pass); when it differs, it is matched against
the usual mistakes (a flip, a squashing resize, a resize without antialiasing, ImageNet's
statistics, no scaling). The
train pipeline is random, so it is checked by properties: a uniformly coloured image comes
out as ``(value - mean) / std``; a horizontal ramp shows whether it flips, and how often;
two seeds give two crops; the same seed gives the same output; on a size x size image of
two ramps, the slopes show how much of the image a crop keeps (at least half).

The pipelines are built and applied inside scenarios (where the learner's code runs); they
come back as their outputs. A tensor subclass such as ``tv_tensors.Image`` (what a pipeline
that starts with ``v2.ToImage()`` returns) arrives as the plain tensor it holds.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torchvision.transforms import v2

from pytorch_path.checks import (
    CheckFailure,
    assert_close,
    assert_tensor,
    assert_unchanged,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import scenario

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# ----------------------------------------------------------------------------- channel_stats


@pytest.mark.points(2)
def test_channel_stats_values(learner, reference, device, seed):
    """channel_stats: per-channel mean and population std over N, H, W, on the [0, 1] scale."""
    rng = seed.python_random()
    for i, dtype in enumerate((torch.uint8, torch.float32, torch.float64, torch.uint8)):
        n, c, h, w = rng.sample(range(2, 10), 4)
        images = _batch(seed, (n, c, h, w), dtype, offset=i).to(device)
        want_mean, want_std = reference.run(stats, images)["out"]
        call = call_repr("channel_stats", images)
        got = learner.run(stats, images)
        mean, std = _pair(got["out"], call)
        for name, value in (("mean", mean), ("std", std)):
            assert_tensor(value, what=f"the {name}", call=call)
            if tuple(value.shape) != (c,):
                raise fail(
                    f"{call}; the {name} has shape {tuple(value.shape)}, expected ({c},): one "
                    "value per channel, so reduce over dims (0, 2, 3), every dim but dim 1"
                )
        x = images.double() / 255 if dtype == torch.uint8 else images.double()
        if dtype == torch.uint8 and _near(mean, want_mean * 255):
            raise fail(
                f"{call}; the mean is on the 0..255 scale (e.g. {mean[0].item():.4g}, expected "
                f"{want_mean[0].item():.4g}): divide uint8 images by 255 first, as "
                "v2.ToDtype(torch.float32, scale=True) does before Normalize"
            )
        assert_close(mean, want_mean, what="the mean", call=call, rtol=1e-4, atol=1e-5)
        right = _near(std, want_std, rtol=1e-5)
        if not right and _near(std, x.std(dim=(0, 2, 3), correction=1), rtol=1e-5):
            raise fail(
                f"{call}; the std is the unbiased (n - 1) estimate; Normalize's statistics use "
                "the population std: correction=0"
            )
        if not right and _near(std, x.std(dim=(2, 3), correction=0).mean(dim=0), rtol=1e-4):
            raise fail(
                f"{call}; the std is the average of each image's own std, which misses how the "
                "images differ from each other; compute one std per channel over all N, H and "
                "W values at once: x.std(dim=(0, 2, 3), correction=0)"
            )
        assert_close(std, want_std, what="the std", call=call, rtol=1e-4, atol=1e-5)
        _unchanged(got["after"], images, call)


# ----------------------------------------------------------------------------- train pipeline


def test_train_output_shape_dtype_device(learner, device, seed):
    """The train pipeline maps a uint8 or float (C, H, W) image to float32 (C, size, size)."""
    rng = seed.python_random(1)
    for i, (c, dtype) in enumerate(((3, torch.uint8), (1, torch.float32), (4, torch.uint8))):
        size = rng.randint(6, 12)
        h, w = _sizes(rng, size)
        mean, std = _random_stats(rng, c)
        given = _as_given(rng, mean, std)
        image = _image(seed, c, h, w, dtype, offset=10 + i).to(device)
        call, (out,), after = _pipeline(learner, "make_train_transform", given, size, [image])
        if isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[0] != c:
            raise fail(
                f"{call}; the output for {describe(image)} has {out.shape[0]} channels, the "
                f"image has {c}: normalise with the mean and std passed in (one value per "
                "channel), not with hard-coded three-channel statistics"
            )
        assert_tensor(
            out,
            what=f"the train pipeline's output for {describe(image)}",
            shape=(c, size, size),
            dtype=torch.float32,
            device=device,
            call=call,
        )
        _unchanged(after[0], image, f"the pipeline from {call}")


def test_train_normalises_with_the_given_stats(learner, device, seed):
    """A uniformly coloured image comes out of the train pipeline as (value - mean) / std."""
    rng = seed.python_random(2)
    for c, dtype in ((3, torch.uint8), (3, torch.float32), (2, torch.uint8)):
        size = rng.randint(8, 14)
        h, w = _sizes(rng, size)
        mean, std = _random_stats(rng, c)
        levels = [rng.randint(20, 235) for _ in range(c)]
        values = [v / 255 for v in levels]
        if dtype == torch.uint8:
            image = torch.tensor(levels, dtype=torch.uint8).view(c, 1, 1).expand(c, h, w)
        else:
            image = torch.tensor(values, dtype=dtype).view(c, 1, 1).expand(c, h, w)
        image = image.contiguous().to(device)
        given = _as_given(rng, mean, std)
        seeds = [rng.randint(0, 2**31 - 1)]
        call, (out,), _ = _pipeline(
            learner, "make_train_transform", given, size, [image], seeds=seeds
        )
        assert_tensor(out, shape=(c, size, size), dtype=torch.float32, device=device, call=call)
        centre = out[:, size // 2, size // 2].detach().double().cpu()
        want = _normalised(values, mean, std)
        if not _near(centre, want, rtol=1e-4):
            advice = _constant_diagnosis(centre, values, mean, std, dtype == torch.uint8)
            raise fail(
                f"{call}; an image of one colour, {describe(image)} with channel values "
                f"{levels if dtype == torch.uint8 else [round(v, 4) for v in values]}, gives "
                f"{[round(v, 4) for v in centre.tolist()]} in the middle of the output, "
                f"expected (value - mean) / std = {[round(v, 4) for v in want.tolist()]}."
                + (
                    advice
                    or " Check ToDtype(scale=True), then Normalize(mean, std), and that the "
                    "augmentation is geometric only (crops and flips, no colour changes)."
                )
            )


def test_train_flips_horizontally_about_half_the_time(learner, seed):
    """The train pipeline flips left-right at random: some outputs are mirrored, some are not."""
    rng = seed.python_random(3)
    size = rng.randint(10, 14)
    h, w = size + rng.randint(4, 8), size + rng.randint(9, 14)
    mean, std = _random_stats(rng, 3)
    image = _ramp(3, h, w)
    tries = 16
    seeds = [rng.randint(0, 2**31 - 1) for _ in range(tries)]
    call, outs, _ = _pipeline(
        learner, "make_train_transform", (mean, std), size, [image] * tries, seeds=seeds
    )
    left, right = size // 4, size - 1 - size // 4  # never in padding when padding <= size // 4
    flipped = 0
    for out in outs:
        assert_tensor(out, shape=(3, size, size), dtype=torch.float32, call=call)
        row = out[0, size // 2].detach().cpu()
        flipped += int(bool(row[left] > row[right]))
    if flipped == 0:
        raise fail(
            f"{call}: over {tries} calls on an image that brightens from left to right, no "
            "output was mirrored; add v2.RandomHorizontalFlip() to the train pipeline"
        )
    if flipped == tries:
        raise fail(
            f"{call}: over {tries} calls on an image that brightens from left to right, every "
            "output was mirrored; a random flip happens half of the time: "
            "v2.RandomHorizontalFlip(p=0.5), not p=1"
        )


def test_train_is_random_but_reproducible(learner, seed):
    """Different torch seeds give different crops; the same torch.manual_seed gives the same."""
    rng = seed.python_random(4)
    size = rng.randint(8, 12)
    h, w = size + rng.randint(5, 9), size + rng.randint(10, 14)
    mean, std = _random_stats(rng, 3)
    image = _image(seed, 3, h, w, torch.uint8, offset=40)
    seeds = [rng.randint(0, 2**31 - 1) for _ in range(8)]
    twice = [s for s in seeds for _ in range(2)]  # each seed twice in a row
    call, got, _ = _pipeline(
        learner, "make_train_transform", (mean, std), size, [image] * len(twice), seeds=twice
    )
    outs = []
    for k, s in enumerate(seeds):
        first, again = got[2 * k], got[2 * k + 1]
        assert_tensor(first, shape=(3, size, size), dtype=torch.float32, call=call)
        if not (isinstance(again, torch.Tensor) and torch.equal(first, again)):
            raise fail(
                f"{call}: two calls after the same torch.manual_seed({s}) gave different "
                "outputs; draw every random choice from torch's RNG (v2's random transforms "
                "do), not from Python's random or NumPy"
            )
        outs.append(first)
    distinct = [o for i, o in enumerate(outs) if not any(torch.equal(o, p) for p in outs[:i])]
    if len(distinct) == 1:
        raise fail(
            f"{call}: eight calls under eight different seeds gave the same output; the train "
            "pipeline must augment at random (v2.RandomResizedCrop or v2.RandomCrop, and "
            "v2.RandomHorizontalFlip)"
        )
    mirrors = all(torch.equal(o, outs[0]) or torch.equal(o, outs[0].flip(-1)) for o in outs)
    if mirrors:
        raise fail(
            f"{call}: eight calls under different seeds only ever gave one crop (or its mirror "
            "image); the crop must be random as well: v2.RandomResizedCrop(size, scale=...) or "
            "v2.RandomCrop(size, padding=...)"
        )


def test_train_crop_keeps_at_least_half_the_image(learner, seed):
    """The random crop keeps at least half of the image: RandomResizedCrop's scale=(0.5, 1.0)."""
    rng = seed.python_random(8)
    size = rng.randint(10, 14)
    mean, std = _random_stats(rng, 3)
    image = _ramps(size)  # exactly size x size, so a plain RandomCrop keeps all of it
    tries = 24
    seeds = [rng.randint(0, 2**31 - 1) for _ in range(tries)]
    call, outs, _ = _pipeline(
        learner, "make_train_transform", (mean, std), size, [image] * tries, seeds=seeds
    )
    # never in padding when padding <= size // 4, and away from the edges a bilinear resize
    # of a ramp is a ramp: its slope says how many input pixels the crop spans
    lo, hi, mid = size // 4, size - 1 - size // 4, size // 2
    slope_in = 200 / (size - 1)
    smallest = 1.0
    for out in outs:
        assert_tensor(out, shape=(3, size, size), dtype=torch.float32, call=call)
        o = out.detach().double().cpu()
        across = (o[0, mid, hi] - o[0, mid, lo]).abs().item() * std[0] * 255 / (hi - lo)
        down = (o[1, hi, mid] - o[1, lo, mid]).abs().item() * std[1] * 255 / (hi - lo)
        smallest = min(smallest, (across / slope_in) * (down / slope_in))
    if smallest < 0.4:
        raise fail(
            f"{call}: on a {size} x {size} image, one of {tries} crops covered only "
            f"{smallest:.0%} of the image, expected at least half: "
            "v2.RandomResizedCrop(size, scale=(0.5, 1.0)) crops 50% to 100% of the area (its "
            "default scale=(0.08, 1.0) zooms in much further), or v2.RandomCrop(size, "
            "padding=p) with p <= size // 4"
        )


# ----------------------------------------------------------------------------- eval pipeline


@pytest.mark.points(2)
def test_eval_matches_the_reference(learner, reference, device, seed):
    """The eval pipeline is Resize(size) -> CenterCrop(size) -> ToDtype(scale) -> Normalize."""
    rng = seed.python_random(5)
    configs = [(3, torch.uint8, False), (3, torch.float32, False), (3, torch.uint8, True)]
    configs += [(1, torch.uint8, False), (4, torch.float64, False), (3, torch.float32, None)]
    for i, (c, dtype, smaller) in enumerate(configs):
        size = rng.randint(6, 12)
        # smaller=None: a float image that is already size x size, so that every step but
        # Normalize may hand back the caller's tensor (an in-place Normalize would show)
        h, w = (size, size) if smaller is None else _sizes(rng, size, smaller=bool(smaller))
        mean, std = _random_stats(rng, c)
        given = _as_given(rng, mean, std)
        image = _image(seed, c, h, w, dtype, offset=50 + i).to(device)
        (want,) = reference.run(apply_pipeline, "make_eval_transform", mean, std, size, [image])[
            "outs"
        ]
        call, (out,), after = _pipeline(learner, "make_eval_transform", given, size, [image])
        what = f"the eval pipeline's output for {describe(image)}"
        assert_tensor(out, what=what, call=call)
        if tuple(out.shape) != (c, size, size):
            raise fail(
                f"{call}; {what} has shape {tuple(out.shape)}, expected {(c, size, size)}: "
                "v2.Resize(size) makes the shorter side size, then v2.CenterCrop(size) cuts "
                "the middle size x size square"
            )
        assert_tensor(out, what=what, dtype=torch.float32, device=device, call=call)
        # one uint8 step, so scaling before or after the resize both pass
        atol = _eval_atol(std)
        if not bool(((out.detach().double() - want.double()).abs() <= atol).all()):
            advice = _eval_diagnosis(out, want, image, mean, std, size, atol)
            if advice:
                raise fail(f"{call}; {what} differs from the expected output.{advice}")
        assert_close(out, want, what=what, call=call, rtol=0.0, atol=atol)
        _unchanged(after[0], image, f"the pipeline from {call}")


def test_eval_is_deterministic(learner, reference, seed):
    """The eval pipeline gives the same output every time, whatever the RNG: no augmentation."""
    rng = seed.python_random(6)
    size = rng.randint(8, 12)
    h, w = size + rng.randint(3, 8), size + rng.randint(9, 14)
    mean, std = _random_stats(rng, 3)
    image = _image(seed, 3, h, w, torch.uint8, offset=60)
    seeds = [rng.randint(0, 2**31 - 1) for _ in range(12)]
    call, outs, _ = _pipeline(
        learner, "make_eval_transform", (mean, std), size, [image] * len(seeds), seeds=seeds
    )
    first = outs[0]
    for out in outs:
        assert_tensor(out, shape=(3, size, size), dtype=torch.float32, call=call)
        if not torch.equal(out, first):
            raise fail(
                f"{call}: the same image gave different outputs on different calls; the eval "
                "pipeline must be deterministic: no random crop or flip (augmentation belongs "
                "in the train pipeline only), just Resize, CenterCrop, ToDtype, Normalize"
            )
    (want,) = reference.run(apply_pipeline, "make_eval_transform", mean, std, size, [image])["outs"]
    what = f"the eval pipeline's output for {describe(image)}"
    atol = _eval_atol(std)
    if not bool(((first.detach().double() - want.double()).abs() <= atol).all()):
        advice = _eval_diagnosis(first, want, image, mean, std, size, atol)
        if advice:
            raise fail(f"{call}; {what} differs from the expected output.{advice}")
    assert_close(first, want, what=what, call=call, rtol=0.0, atol=atol)


def test_eval_output_is_normalised(learner, seed):
    """With channel_stats of a batch, the eval outputs of that batch have mean 0, std 1."""
    rng = seed.python_random(7)
    n, c = 12, 3
    h, w = rng.randint(10, 13), rng.randint(14, 18)
    images = _batch(seed, (n, c, h, w), torch.uint8, offset=70)
    call = call_repr("channel_stats", images)
    mean, std = _pair(learner.run(stats, images)["out"], call)
    size = min(h, w)
    built, outs, _ = _pipeline(learner, "make_eval_transform", (mean, std), size, list(images))
    for out in outs:
        assert_tensor(out, what="an eval output", shape=(c, size, size), call=built)
    stacked = torch.stack(outs)
    got_mean = stacked.double().mean(dim=(0, 2, 3))
    got_std = stacked.double().std(dim=(0, 2, 3), correction=0)
    if not (bool((got_mean.abs() < 0.15).all()) and bool(((got_std - 1).abs() < 0.15).all())):
        raise fail(
            f"mean, std = {call}, then {built} (size = the shorter side, so nothing is "
            f"resized) on each of those {n} images: the outputs have per-channel mean "
            f"{[round(v, 3) for v in got_mean.tolist()]} and std "
            f"{[round(v, 3) for v in got_std.tolist()]}, expected about 0 and 1. Statistics "
            "and pipeline must agree: both on the [0, 1] scale, Normalize with the given mean "
            "and std. (A std well below 1 means the pipeline resampled pixels that needed no "
            "resizing: Resize(size) keeps an image whose shorter side is already size.)"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def stats(mod: Any, images: torch.Tensor) -> dict[str, Any]:
    """channel_stats(images): its result, and the images as they were afterwards."""
    out = mod.channel_stats(images)
    return {"out": out, "after": images}


@scenario
def apply_pipeline(
    mod: Any,
    name: str,
    mean: Any,
    std: Any,
    size: int,
    images: list[torch.Tensor],
    seeds: list[int] | None = None,
) -> dict[str, Any]:
    """Build ``name(mean, std, size=size)`` once and apply it to each image in turn.

    Before image ``i`` the global RNG is seeded with ``seeds[i]`` (when given). An error
    raised by the pipeline stops the run; it is returned as data, with the image's index.
    """
    transform = getattr(mod, name)(mean, std, size=size)
    if not callable(transform):
        return {"built": describe(transform), "outs": [], "error": None, "after": images}
    outs: list[Any] = []
    error = None
    for i, image in enumerate(images):
        if seeds is not None:
            torch.manual_seed(seeds[i])
        try:
            outs.append(transform(image))
        except NotImplementedError:
            raise
        except (TypeError, RuntimeError, ValueError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            error = {"index": i, "type": type(exc).__name__, "text": text}
            break
    return {"built": None, "outs": outs, "error": error, "after": images}


# ----------------------------------------------------------------------------- helpers

_HINTS = (
    (
        "should be a float tensor",
        "v2.Normalize got a uint8 image: scale it first, with v2.ToDtype(torch.float32, "
        "scale=True) BEFORE v2.Normalize in the Compose",
    ),
    (
        "must match the size of tensor",
        "the mean/std do not have one value per channel of the image: normalise with the "
        "mean and std that were passed in, not hard-coded ones",
    ),
    (
        "Required crop size",
        "the image is smaller than the crop: for eval, Resize(size) first (the shorter side "
        "becomes size), then CenterCrop(size)",
    ),
)


def _pipeline(
    side: Any,
    name: str,
    given: tuple[Any, Any],
    size: int,
    images: list[torch.Tensor],
    *,
    seeds: list[int] | None = None,
) -> tuple[str, list[Any], list[Any]]:
    """(call, outputs, images afterwards) of the learner's pipeline; errors become advice."""
    mean, std = given
    call = call_repr(name, mean, std, size=size)
    got = side.run(apply_pipeline, name, mean, std, size, images, seeds)
    if got["built"] is not None:
        raise fail(f"{call} returned {got['built']}; return a v2.Compose([...])")
    error = got["error"]
    if error is not None:
        image = images[error["index"]]
        hint = next((h for pattern, h in _HINTS if pattern in error["text"]), "")
        raise fail(
            f"the pipeline from {call}, applied to an image {describe(image)}, raised "
            f"{error['type']}: {error['text']}" + (f"; {hint}" if hint else "")
        )
    outs = list(got["outs"])
    if len(outs) != len(images):
        raise fail(f"{call}: the pipeline gave {len(outs)} outputs for {len(images)} images")
    return call, outs, list(got["after"])


def _unchanged(after: Any, before: torch.Tensor, what: str) -> None:
    """The input as the learner's code left it must equal the judge's copy."""
    try:
        assert_unchanged(after, before, what="the input")
    except CheckFailure:
        raise fail(
            f"{what} changed its input in place; leave the caller's data alone (for example, "
            "no v2.Normalize(..., inplace=True), no in-place arithmetic on the input)"
        ) from None


def _pair(out: Any, call: str) -> tuple[Any, Any]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise fail(f"{call} returned {describe(out)}; return a tuple (mean, std)")
    return out[0], out[1]


def _near(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-3) -> bool:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=1e-6))


def _batch(
    seed: Any, shape: tuple[int, int, int, int], dtype: torch.dtype, offset: int
) -> torch.Tensor:
    """Images in [0, 1] (or 0..255 for uint8) whose channels and images differ in level."""
    n, c, h, w = shape
    g = seed.generator(offset)
    level = 0.25 + 0.5 * torch.rand(c, generator=g, dtype=torch.float64)
    shift = 0.15 * (torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64) - 0.5)
    spread = 0.05 + 0.1 * torch.rand(c, generator=g, dtype=torch.float64)
    noise = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    x = (level.view(1, c, 1, 1) + shift + spread.view(1, c, 1, 1) * noise).clamp(0, 1)
    if dtype == torch.uint8:
        return (x * 255).round().to(torch.uint8)
    return x.to(dtype)


def _image(seed: Any, c: int, h: int, w: int, dtype: torch.dtype, offset: int) -> torch.Tensor:
    return _batch(seed, (1, c, h, w), dtype, offset)[0]


def _ramp(c: int, h: int, w: int) -> torch.Tensor:
    """A uint8 image that brightens from left to right, so a flip reverses its slope."""
    row = torch.linspace(30, 230, w).round().to(torch.uint8)
    return row.view(1, 1, w).expand(c, h, w).contiguous()


def _ramps(size: int) -> torch.Tensor:
    """A uint8 size x size image: channel 0 brightens left to right, channel 1 top to bottom."""
    ramp = torch.linspace(30, 230, size).round().to(torch.uint8)
    flat = torch.full((size, size), 128, dtype=torch.uint8)
    return torch.stack(
        [ramp.view(1, size).expand(size, size), ramp.view(size, 1).expand(size, size), flat]
    )


def _random_stats(rng: Any, c: int) -> tuple[list[float], list[float]]:
    """Statistics on the [0, 1] scale that are clearly not ImageNet's."""
    mean = [round(rng.uniform(0.15, 0.85), 3) for _ in range(c)]
    std = [round(rng.uniform(0.08, 0.3), 3) for _ in range(c)]
    return mean, std


def _as_given(rng: Any, mean: list[float], std: list[float]) -> tuple[Any, Any]:
    """Pass the statistics as lists, tuples or (C,) tensors, as the contract allows."""
    kind = rng.choice(["list", "tuple", "tensor"])
    if kind == "tensor":
        return torch.tensor(mean), torch.tensor(std)
    if kind == "tuple":
        return tuple(mean), tuple(std)
    return list(mean), list(std)


def _sizes(rng: Any, size: int, *, smaller: bool = False) -> tuple[int, int]:
    """H != W, both at least ``size`` (or a side below it when ``smaller``)."""
    low = max(2, size - 4) if smaller else size
    h = rng.randint(low, size + 9)
    w = rng.choice([v for v in range(low, size + 12) if v != h])
    return h, w


def _eval_atol(std: list[float]) -> float:
    """About one uint8 step after Normalize: scaling before or after the resize both pass."""
    return 1.5 / 255 / min(std) + 1e-5


def _normalised(values: list[float], mean: list[float], std: list[float]) -> torch.Tensor:
    return torch.tensor([(v - m) / s for v, m, s in zip(values, mean, std, strict=True)])


def _constant_diagnosis(
    got: torch.Tensor, values: list[float], mean: list[float], std: list[float], uint8: bool
) -> str:
    """Name the mistake whose arithmetic reproduces the centre pixel the learner produced."""
    c = len(values)
    candidates = [
        (
            [v * 255 for v in values],
            mean,
            std,
            "the uint8 values were not scaled to [0, 1] before Normalize: use "
            "v2.ToDtype(torch.float32, scale=True) (scale=True divides by 255)",
        ),
        (values, [0.0] * c, [1.0] * c, "the image is not normalised at all: add v2.Normalize"),
        (values, std, mean, "mean and std are swapped in Normalize(mean, std)"),
        (values, mean, [1.0] * c, "the mean is subtracted but nothing divides by the std"),
    ]
    if c == 3:
        candidates.append(
            (
                values,
                list(IMAGENET_MEAN),
                list(IMAGENET_STD),
                "Normalize uses ImageNet's mean and std (0.485, 0.456, 0.406 / 0.229, ...); "
                "use the mean and std passed to the function, computed from your own data",
            )
        )
    for v, m, s, advice in candidates:
        if advice.startswith("the uint8") and not uint8:
            continue
        if _near(got, _normalised(v, m, s), rtol=1e-3):
            return " It looks as if " + advice + "."
    return ""


def _variant(steps: list[Any], mean: Any, std: Any) -> v2.Compose:
    return v2.Compose(
        [*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    )


def _eval_diagnosis(
    out: torch.Tensor,
    want: torch.Tensor,
    image: torch.Tensor,
    mean: list[float],
    std: list[float],
    size: int,
    atol: float,
) -> str:
    """Name the mistake whose pipeline (built here, by the judge) reproduces the output."""
    c = image.shape[0]
    variants: list[tuple[Callable[[], torch.Tensor], str]] = [
        (
            lambda: want.flip(-1),
            "the output is the mirror image of the expected one: a horizontal flip has no "
            "place in the eval pipeline (augmentation is for training only)",
        ),
        (
            lambda: _variant([v2.Resize((size, size))], mean, std)(image),
            "both sides were resized to size, which squashes the image; v2.Resize(size) with "
            "one int resizes the shorter side and keeps the aspect ratio, then "
            "v2.CenterCrop(size) takes the middle square",
        ),
        (
            lambda: _variant([v2.Resize(size, antialias=False), v2.CenterCrop(size)], mean, std)(
                image
            ),
            "the resize does not antialias: v2.Resize(size) is bilinear with antialiasing by "
            "default (antialias=True), which averages the pixels it drops when it shrinks; "
            "antialias=False aliases",
        ),
        (
            lambda: _variant([v2.CenterCrop(size)], mean, std)(image),
            "the centre was cropped without resizing first: v2.Resize(size), then "
            "v2.CenterCrop(size)",
        ),
        (
            lambda: (
                v2.Compose(
                    [v2.Resize(size), v2.CenterCrop(size), v2.ToDtype(torch.float32, scale=False)]
                )(image)
                .sub(torch.tensor(mean).view(-1, 1, 1).to(image.device))
                .div(torch.tensor(std).view(-1, 1, 1).to(image.device))
            ),
            "the uint8 values were not scaled to [0, 1] before Normalize: "
            "v2.ToDtype(torch.float32, scale=True)",
        ),
    ]
    if c == 3:
        variants.append(
            (
                lambda: _variant(
                    [v2.Resize(size), v2.CenterCrop(size)], IMAGENET_MEAN, IMAGENET_STD
                )(image),
                "Normalize uses ImageNet's mean and std; use the mean and std passed in",
            )
        )
    for make, advice in variants:
        try:
            candidate = make()
        except (RuntimeError, ValueError, TypeError):
            continue
        if candidate.shape == out.shape and bool(
            ((candidate.float() - out.float()).abs() <= atol).all()
        ):
            return " It looks as if " + advice + "."
    return ""
