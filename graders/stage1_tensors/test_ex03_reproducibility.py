"""Grader for 1.3: seeds, generators and reproducible draws.

Global RNG state lives where the learner's code runs, so seeding, drawing and comparing
RNG states all happen inside scenarios, which return the draws (values the test compares
with the reference's) and what they observed of the global state.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from pytorch_path.checks import CheckFailure, assert_close, assert_tensor, call_repr, describe, fail
from pytorch_path.scenario import LearnerError, scenario

ADVICE = {
    "random": "seed Python's random module too (random.seed)",
    "numpy": (
        "seed NumPy's global RNG (np.random.seed); np.random.default_rng(seed) makes a separate "
        "generator and seeds nothing global"
    ),
    "torch": (
        "seed torch's global RNG (torch.manual_seed); a torch.Generator you create is a separate "
        "generator that torch.rand() never uses"
    ),
    "cuda": "seed the RNG of every CUDA device (torch.cuda.manual_seed_all)",
}


# ----------------------------------------------------------------------------- seed_everything


def test_seed_everything_seeds_all_rngs(learner, reference, device, seed):
    """After seed_everything(s), random, np.random and torch (CPU and CUDA) draw as expected."""
    for index, s in enumerate(_seeds(seed, 3)):
        _check_seeding(learner, reference, s, scramble=s + index, device=device)


def test_seed_everything_range_ends(learner, reference, seed):
    """seed_everything takes every seed in 0 <= seed < 2**32: both ends give their own draws."""
    for s in (0, 2**32 - 1):
        _check_seeding(learner, reference, s, scramble=seed.value, device=torch.device("cpu"))


# ----------------------------------------------------------------------------- make_generator


def test_make_generator(learner, reference, seed):
    """make_generator(s) returns a new CPU torch.Generator seeded with s; global RNG untouched."""
    for s in _seeds(seed, 3, offset=1):
        want = reference.run(generator_report, s)["draws"]
        call = call_repr("make_generator", s)
        got = learner.run(generator_report, s)
        if got["is_default"]:
            raise fail(
                f"{call} returned torch's global default generator (torch.manual_seed(seed) "
                "re-seeds the global RNG and returns it); create a new torch.Generator() and "
                "seed that one"
            )
        if not got["is_generator"]:
            raise fail(f"{call}; expected a torch.Generator, got {got['described']}")
        if got["global_changed"]:
            raise fail(
                f"{call} changed the global RNG state (what torch.rand() returns next); seed only "
                "the new generator"
            )
        if got["device"] != "cpu":
            raise fail(f"{call} returned a generator on {got['device']}, expected one on the cpu")
        if got["initial_seed"] != s:
            raise fail(
                f"{call}; the generator's initial_seed() is {got['initial_seed']}, expected {s}"
            )
        draws = got["draws"]
        if not (isinstance(draws, torch.Tensor) and draws.shape == want.shape) or not torch.equal(
            draws, want
        ):
            raise fail(
                f"{call}; torch.rand(5, generator=g) gave {_floats(draws)}, expected "
                f"{_floats(want)}; seed the generator with manual_seed(seed) and draw nothing"
            )


def test_make_generator_gives_separate_generators(learner, reference, seed):
    """Two generators from make_generator are separate: drawing from one leaves the other alone."""
    s = seed.value
    want = reference.run(two_generators, s)["second"]
    call = call_repr("make_generator", s)
    got = learner.run(two_generators, s)
    if not got["generators"]:
        raise fail(f"{call}; expected a torch.Generator, got {got['described']}")
    if got["same"]:
        raise fail(f"{call} twice returned the same generator object; make a new one each call")
    second = got["second"]
    if not (isinstance(second, torch.Tensor) and second.shape == want.shape) or not torch.equal(
        second, want
    ):
        raise fail(
            f"{call} twice, then drew from the first generator: the second one's first draw "
            f"moved ({_floats(second)} instead of {_floats(want)}); the generators share state"
        )


# ----------------------------------------------------------------------------- sample_noise


def test_sample_noise_values(learner, reference, device, seed):
    """sample_noise(shape, s, device) is the CPU draw of a generator seeded with s, on device."""
    rng = seed.python_random(2)
    for s in _seeds(seed, 4, offset=2):
        shape = _shape(rng)
        expected = reference.sample_noise(shape, s, device)
        call = _noise_call(shape, s, device)
        out = learner.sample_noise(shape, s, device)
        assert_tensor(out, shape=shape, dtype=torch.float32, device=device, call=call)
        try:
            assert_close(out, expected, rtol=0, atol=0, call=call)
        except CheckFailure as exc:
            raise fail(
                f"{exc}. For one seed the noise must be the same on every device: draw it with "
                "torch.randn on the CPU from make_generator(seed), then move it to the device"
            ) from None


def test_sample_noise_leaves_global_rng_alone(learner, reference, device, seed):
    """sample_noise neither changes nor depends on the global RNG state."""
    rng = seed.python_random(3)
    for s in _seeds(seed, 3, offset=3):
        shape = _shape(rng)
        call = _noise_call(shape, s, device)
        got = learner.run(noise_twice, shape, s, device)
        _check_globals_untouched(call, got["changed"])
        first, second = got["first"], got["second"]
        assert_tensor(first, shape=shape, dtype=torch.float32, device=device, call=call)
        assert_tensor(second, shape=shape, dtype=torch.float32, device=device, call=call)
        if not torch.equal(first.cpu(), second.cpu()):
            raise fail(
                f"{call} twice, with the global seed changed in between, gave different noise: "
                "the result depends on the global RNG; draw from make_generator(seed)"
            )
        expected = reference.sample_noise(shape, s, device)
        assert_close(first, expected, rtol=0, atol=0, call=call)


def test_sample_noise_on_meta(learner):
    """sample_noise places the noise on the device asked for, even the data-less 'meta' device."""
    for device in ("meta", torch.device("meta")):
        shape = (3, 5, 2)
        call = _noise_call(shape, 11, device)
        try:
            out = learner.sample_noise(shape, 11, device)
        except LearnerError as exc:
            if exc.is_a("NotImplementedError") or exc.kind != "raised":
                raise  # not started, a missing name, a file that did not load
            raise fail(
                f"{call} raised {exc.type_name}: {exc.message}; draw the noise on the CPU with a "
                "CPU generator, then move it with .to(device): that works for every device"
            ) from None
        assert_tensor(out, shape=shape, dtype=torch.float32, device="meta", call=call)


# ----------------------------------------------------------------------------- shuffled_indices


def test_shuffled_indices(learner, reference, seed):
    """shuffled_indices(n, s) is torch.randperm's permutation for a generator seeded with s."""
    rng = seed.python_random(4)
    sizes = [1, *(rng.randint(5, 40) for _ in range(3))]
    for n, s in zip(sizes, _seeds(seed, len(sizes), offset=4), strict=True):
        expected = reference.shuffled_indices(n, s)
        call = call_repr("shuffled_indices", n, s)
        got = learner.run(permutation, n, s)
        _check_globals_untouched(call, got["changed"])
        out = got["out"]
        assert_tensor(out, shape=(n,), dtype=torch.int64, device="cpu", call=call)
        if not torch.equal(torch.sort(out).values, torch.arange(n)):
            raise fail(f"{call}; the result is not a permutation of 0 .. {n - 1}")
        if not torch.equal(out, expected):
            raise fail(
                f"{call}; got the permutation {_head(out)}, expected {_head(expected)}: use "
                "torch.randperm(n) with the generator from make_generator(seed), so the order "
                "matches any other code seeded the same way"
            )


# ----------------------------------------------------------------------------- scenarios


@scenario
def seed_then_draw(mod: Any, s: int, *, scramble: int, device: torch.device) -> dict[str, Any]:
    """Move every global RNG elsewhere, call seed_everything(s), then draw from each."""
    _scramble(scramble)
    returned = mod.seed_everything(s)
    return {"returned": returned, "draws": _draws(device)}


@scenario
def generator_report(mod: Any, s: int) -> dict[str, Any]:
    """make_generator(s): what it returned, whether the global RNG moved, its first draws."""
    before = torch.get_rng_state()
    g = mod.make_generator(s)
    report: dict[str, Any] = {
        "is_default": g is torch.default_generator,
        "is_generator": isinstance(g, torch.Generator),
        "described": describe(g),
        "global_changed": not torch.equal(before, torch.get_rng_state()),
        "device": None,
        "initial_seed": None,
        "draws": None,
    }
    if isinstance(g, torch.Generator):
        report["device"] = str(g.device.type)
        report["initial_seed"] = g.initial_seed()
        if g.device.type == "cpu":
            report["draws"] = torch.rand(5, generator=g)
    return report


@scenario
def two_generators(mod: Any, s: int) -> dict[str, Any]:
    """Two make_generator(s); draw 10 from the first, then 4 from the second."""
    g1 = mod.make_generator(s)
    g2 = mod.make_generator(s)
    generators = all(isinstance(g, torch.Generator) and g.device.type == "cpu" for g in (g1, g2))
    report: dict[str, Any] = {
        "generators": generators,
        "described": describe(g1 if not isinstance(g1, torch.Generator) else g2),
        "same": g1 is g2,
        "second": None,
    }
    if generators:
        torch.rand(10, generator=g1)
        report["second"] = torch.rand(4, generator=g2)
    return report


@scenario
def noise_twice(mod: Any, shape: tuple[int, ...], s: int, device: torch.device) -> dict[str, Any]:
    """sample_noise twice, the global seed changed in between; which global RNGs the first moved."""
    before = _global_states(device)
    first = mod.sample_noise(shape, s, device)
    changed = _changed(before, _global_states(device))
    torch.manual_seed(s + 1)
    second = mod.sample_noise(shape, s, device)
    return {"first": first, "second": second, "changed": changed}


@scenario
def permutation(mod: Any, n: int, s: int) -> dict[str, Any]:
    """shuffled_indices(n, s), and which global RNGs it moved."""
    before = _global_states(torch.device("cpu"))
    out = mod.shuffled_indices(n, s)
    return {"out": out, "changed": _changed(before, _global_states(torch.device("cpu")))}


# ----------------------------------------------------------------------------- helpers


def _check_seeding(
    learner: Any, reference: Any, s: int, *, scramble: int, device: torch.device
) -> None:
    """seed_everything(s) gives each global RNG the draws the reference's seeding gives."""
    want = reference.run(seed_then_draw, s, scramble=scramble, device=device)
    got = learner.run(seed_then_draw, s, scramble=scramble, device=device)
    for key, (what, expected) in want["draws"].items():
        actual = got["draws"][key][1]
        if actual != expected:
            raise fail(
                f"after seed_everything({s}), {what} gave {_floats(actual)}, expected "
                f"{_floats(expected)} (its first draws after seeding with {s}): "
                f"{ADVICE[key]}. Seed with the seed itself and draw nothing afterwards"
            )
    if got["returned"] is not None:
        raise fail(
            f"seed_everything({s}) returned {describe(got['returned'])}; it seeds the "
            "global RNGs and returns None"
        )


def _floats(values: Any) -> str:
    if not isinstance(values, (list, tuple, torch.Tensor)):
        return describe(values)
    return "[" + ", ".join(f"{v:.6f}" for v in list(values)) + "]"


def _draws(device: torch.device) -> dict[str, tuple[str, list[Any]]]:
    """A few draws from each global RNG, in a fixed order."""
    out = {
        "random": ("random.random()", [random.random() for _ in range(3)]),
        "numpy": ("np.random.rand(3)", np.random.rand(3).tolist()),
        "torch": ("torch.rand(3)", torch.rand(3).tolist()),
    }
    if device.type == "cuda":
        out["cuda"] = ("torch.rand(3, device='cuda')", torch.rand(3, device=device).tolist())
    return out


def _scramble(value: int) -> None:
    """Move every global RNG somewhere else, so leftovers from earlier seeding show."""
    random.seed(value ^ 0x5A5A5A5A)
    np.random.seed((value ^ 0x3C3C3C3C) % 2**32)
    torch.manual_seed(value ^ 0x0F0F0F0F)
    random.random()
    np.random.rand()
    torch.rand(1)


def _global_states(device: torch.device) -> dict[str, Any]:
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "random": random.getstate(),
    }
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The keys of the global RNGs whose state differs between ``before`` and ``after``."""
    changed = []
    for key, old in before.items():
        new = after[key]
        if key in ("torch", "cuda"):
            same = torch.equal(old, new)
        elif key == "numpy":
            same = old[0] == new[0] and np.array_equal(old[1], new[1]) and old[2:] == new[2:]
        else:
            same = old == new
        if not same:
            changed.append(key)
    return changed


_RNG_NAMES = {
    "torch": "torch's global RNG (torch.rand, torch.manual_seed)",
    "cuda": "the CUDA device's global RNG",
    "numpy": "NumPy's global RNG (np.random.*)",
    "random": "Python's random module",
}


def _check_globals_untouched(call: str, changed: list[str]) -> None:
    """Fail if the scenario saw the call change any global RNG state."""
    if changed:
        names = [_RNG_NAMES.get(key, str(key)) for key in changed]
        raise fail(
            f"{call}; the call changed the state of {' and '.join(names)}: it "
            "re-seeded or drew from a global RNG, which changes everyone else's random numbers "
            "(torch.manual_seed inside a helper is the usual cause). Draw from a generator of "
            "your own (make_generator) instead"
        )


def _shape(rng: random.Random) -> tuple[int, ...]:
    return tuple(rng.sample(range(2, 9), rng.randint(1, 4)))


def _seeds(seed: Any, count: int, offset: int = 0) -> list[int]:
    rng = seed.python_random(100 + offset)
    return [rng.randrange(2**31) for _ in range(count)]


def _noise_call(shape: tuple[int, ...], s: int, device: Any) -> str:
    shown = repr(device) if isinstance(device, str) else f"torch.device({str(device)!r})"
    return f"called sample_noise({shape!r}, {s}, {shown})"


def _head(t: torch.Tensor) -> str:
    values = t.tolist()
    return str(values) if len(values) <= 8 else str(values[:8])[:-1] + ", …]"
