"""Grader for 2.6: early stopping with a restored best model.

The learner's ``EarlyStopping`` and the reference's are fed the same metric sequences, call
by call, and compared after every call (the returned flag, ``best_score``, ``best_epoch``,
``counter``). Metrics are multiples of 1/16 so that ``best - min_delta`` is exact and ties
are real ties. When the two disagree, the call is classified (a tie, a gain within
``min_delta``, a worse value, mode ``"max"``...) to say which rule was broken. The saved
state is checked against the grader's own snapshot while the model keeps changing in place.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from torch import nn

from pytorch_path.checks import assert_close, describe, fail

_UNIT = 1 / 16


class Net(nn.Module):
    """Parameters and buffers (BatchNorm's running statistics and batch counter)."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.Tanh())
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _net(rng: random.Random, device: torch.device | str = "cpu") -> Net:
    while True:
        sizes = (rng.randint(3, 6), rng.randint(7, 11), rng.randint(2, 5))
        if len(set(sizes)) == 3:
            break
    torch.manual_seed(rng.randrange(2**31))
    return Net(*sizes).to(device)


def _train_in_place(model: nn.Module, gen: torch.Generator) -> None:
    """What an optimizer step and a BatchNorm forward do: change every tensor in place."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen).to(p.device))
        for b in model.buffers():
            if b.is_floating_point():
                b.add_(0.05 * torch.randn(b.shape, generator=gen).to(b.device))
            else:
                b.add_(1)


def _walk(rng: random.Random, length: int, mode: str) -> list[float]:
    """A noisy learning curve in steps of 1/16: improving at first, then wandering."""
    sign = -1 if mode == "min" else 1
    value = rng.randint(8, 40) * _UNIT * (1 if rng.random() < 0.8 else -1)
    out = []
    for i in range(length):
        out.append(value)
        drift = sign * (2 if i < length // 3 else 0)
        value += (drift + rng.randint(-3, 3)) * _UNIT
    return out


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _make(cls: Any, patience: int, min_delta: float, mode: str, call: str) -> Any:
    try:
        return cls(patience, min_delta=min_delta, mode=mode)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise fail(f"{call} raised {type(exc).__name__}: {exc}") from exc


def _better(a: float, b: float, mode: str) -> bool:
    return a < b if mode == "min" else a > b


def _why(metric: float, best: float | None, mode: str, min_delta: float, ref_improved: bool) -> str:
    """Which rule the learner broke, judging from the reference's view of this call."""
    if best is None:
        return " The first call is always an improvement (there is no best score yet)."
    gain = (best - metric) if mode == "min" else (metric - best)
    if ref_improved:
        if mode == "max":
            return (
                f" In mode='max' higher is better: {metric:g} beats best_score {best:g} by "
                f"{gain:g}, more than min_delta={min_delta:g}, so it is an improvement."
            )
        return (
            f" {metric:g} beats best_score {best:g} by {gain:g}, more than min_delta="
            f"{min_delta:g}, so it is an improvement."
        )
    if gain == 0:
        return (
            f" {metric:g} only ties best_score {best:g}; a tie is not an improvement "
            "(compare strictly)."
        )
    if gain > 0:
        rule = "metric < best_score - min_delta"
        if mode == "max":
            rule = "metric > best_score + min_delta"
        return (
            f" {metric:g} beats best_score {best:g} by only {gain:g}, not more than "
            f"min_delta={min_delta:g}, so it must not count as an improvement: in "
            f"mode={mode!r} an improvement needs {rule} (check that min_delta is used, and "
            "the sign of min_delta)."
        )
    if mode == "max":
        return f" In mode='max' higher is better: {metric:g} is worse than best_score {best:g}."
    return (
        f" {metric:g} is worse than best_score {best:g} (by {-gain:g}); check the sign of "
        "min_delta: improve means metric < best_score - min_delta, not + min_delta."
    )


def _compare_call(learner_es, ref_es, got, expected, state, *, index, metric, seq, head):
    """Compare one call's outcome; ``state`` is the reference's (best, counter) before it."""
    prefix = f"{head}; after step() was called with the metrics {_fmt(seq[: index + 1])}"
    best_before, _ = state
    ref_improved = ref_es.best_epoch == index
    if type(got) is not bool:
        raise fail(f"{prefix}, step returned {describe(got)}, expected a bool ({expected})")
    for attr in ("best_epoch", "counter", "best_score"):
        if not hasattr(learner_es, attr):
            raise fail(f"{prefix}, the EarlyStopping object has no attribute {attr!r}")
    epoch = learner_es.best_epoch
    if epoch == ref_es.best_epoch + 1 and learner_es.best_score == ref_es.best_score:
        raise fail(
            f"{prefix}, best_epoch is {epoch!r}, expected {ref_es.best_epoch}: best_epoch is "
            "the 0-based index of the step() call that set best_score (the first call is 0)"
        )
    if epoch != ref_es.best_epoch:
        learner_improved = epoch == index
        why = _why(metric, best_before, ref_es.mode, ref_es.min_delta, ref_improved)
        if learner_improved == ref_improved:
            why = " best_epoch is the 0-based index of the step() call that set best_score."
        raise fail(
            f"{prefix}, best_epoch is {epoch!r}, expected {ref_es.best_epoch} (call {index} "
            f"had metric {metric:g}).{why}"
        )
    if learner_es.best_score != ref_es.best_score or type(learner_es.best_score) is not float:
        raise fail(
            f"{prefix}, best_score is {describe(learner_es.best_score)}, expected the float "
            f"{ref_es.best_score:g}, the metric of the best call (not adjusted by min_delta)"
        )
    if learner_es.counter != ref_es.counter:
        hint = ""
        if ref_improved:
            hint = " This call was an improvement: reset counter to 0 on every improvement."
        elif learner_es.counter == ref_es.counter - 1 or learner_es.counter == 0:
            hint = " counter grows by one on every call without an improvement."
        raise fail(
            f"{prefix}, counter is {learner_es.counter!r}, expected {ref_es.counter} (calls in "
            f"a row without an improvement since the best, call {ref_es.best_epoch}).{hint}"
        )
    if got != expected:
        patience = ref_es.patience
        if expected:
            hint = (
                f"counter has reached patience={patience}: stop when counter >= patience "
                "(stopping only when it exceeds patience waits one epoch too long)"
            )
        else:
            hint = f"counter is {ref_es.counter}, below patience={patience}; keep training"
        raise fail(f"{prefix}, step returned {got}, expected {expected}: {hint}")


def _run_sequence(learner, reference, patience, min_delta, mode, seq, model, gen, head):
    """Feed ``seq`` to both, call by call, until the reference says stop; return both."""
    ours = _make(reference.EarlyStopping, patience, min_delta, mode, head)
    theirs = _make(learner.EarlyStopping, patience, min_delta, mode, f"called {head}")
    for index, metric in enumerate(seq):
        state = (ours.best_score, ours.counter)
        expected = ours.step(metric, model)
        got = theirs.step(metric, model)
        _compare_call(
            theirs, ours, got, expected, state, index=index, metric=metric, seq=seq, head=head
        )
        if expected:
            return ours, theirs, index
        if gen is not None:
            _train_in_place(model, gen)
    return ours, theirs, len(seq) - 1


def _head(patience: int, min_delta: float, mode: str) -> str:
    return f"EarlyStopping({patience}, min_delta={min_delta:g}, mode={mode!r})"


# ----------------------------------------------------------------------------- the rule


@pytest.mark.points(3)
def test_random_curves_match_reference(learner, reference, seed):
    """On noisy learning curves, stop call, best_epoch, best_score and counter match the rule."""
    rng = seed.python_random()
    model = _net(rng)
    for index in range(10):
        mode = "min" if index % 2 == 0 else "max"
        patience = rng.randint(1, 4)
        min_delta = rng.choice([0.0, 0.0, _UNIT, 2 * _UNIT, 3 * _UNIT])
        seq = _walk(rng, rng.randint(12, 24), mode)
        _run_sequence(
            learner,
            reference,
            patience,
            min_delta,
            mode,
            seq,
            model,
            None,
            _head(patience, min_delta, mode),
        )


_CASES = [
    # (patience, min_delta, mode, metrics): each one aimed at one rule
    (2, 0.0, "min", [1.0, 1.0, 1.0, 1.0]),  # ties are not improvements
    (3, 0.0, "min", [1.0, 1.0625, 1.125, 0.5, 0.5625, 0.625, 0.6875, 0.75]),  # reset counter
    (2, 0.25, "min", [1.0, 0.875, 0.75, 0.5, 0.4375, 0.375, 0.25]),  # gains <= min_delta
    (2, 0.25, "min", [1.0, 1.125, 1.1875, 0.9375, 0.5]),  # worse, within min_delta
    (1, 0.0, "min", [2.0, 1.5, 1.5, 1.0]),  # patience 1 stops at the first non-improvement
    (3, 0.0, "max", [0.5, 0.625, 0.5, 0.75, 0.75, 0.6875, 0.5, 0.9]),  # higher is better
    (2, 0.125, "max", [0.5, 0.625, 0.6875, 0.8125, 0.8125, 0.875]),  # min_delta in max mode
    (2, 0.0, "max", [-3.0, -2.5, -2.75, -1.0, -1.0, -1.25]),  # negative scores in max mode
    (2, 0.0, "min", [40.0, 35.5, 50.0, 36.0, 20.0, 20.0, 21.0]),  # large losses
]


@pytest.mark.points(3)
def test_edge_cases(learner, reference, seed):
    """Ties, gains within min_delta, counter resets, patience 1, mode='max', negative scores."""
    for case, (patience, min_delta, mode, seq) in enumerate(_CASES):
        model = _net(seed.python_random(case))
        head = _head(patience, min_delta, mode)
        _run_sequence(learner, reference, patience, min_delta, mode, seq, model, None, head)


# ----------------------------------------------------------------------------- the weights


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.points(3)
def test_best_weights_are_copied_and_restored(learner, reference, device, seed):
    """The best call's weights are copied (on the model's device) and restore_best reloads them."""
    rng = seed.python_random(100)
    for index in range(3):
        mode = ("min", "max", "min")[index]
        patience = rng.randint(2, 3)
        min_delta = rng.choice([0.0, _UNIT])
        seq = _walk(rng, 20, mode)
        model = _net(rng, device)
        gen = torch.Generator().manual_seed(rng.randrange(2**31))
        head = _head(patience, min_delta, mode)
        theirs = _make(learner.EarlyStopping, patience, min_delta, mode, f"called {head}")
        ours = _make(reference.EarlyStopping, patience, min_delta, mode, head)
        snapshots = []
        for i, metric in enumerate(seq):
            snapshots.append(_snapshot(model))
            params = list(model.parameters())
            state = (ours.best_score, ours.counter)
            expected = ours.step(metric, model)
            got = theirs.step(metric, model)
            _compare_call(
                theirs, ours, got, expected, state, index=i, metric=metric, seq=seq, head=head
            )
            if not _same(_snapshot(model), snapshots[-1]) or any(
                a is not b for a, b in zip(model.parameters(), params, strict=True)
            ):
                raise fail(f"{head}; step(metric, model) changed the model; it must only read it")
            if expected:
                break
            _train_in_place(model, gen)  # training goes on between calls
        best = ours.best_epoch
        want = snapshots[best]
        where = (
            f"{head} fed {_fmt(seq[: i + 1])} (best at call {best}), the model being trained in "
            "place between calls"
        )
        saved = getattr(theirs, "best_state", None)
        if not isinstance(saved, dict):
            raise fail(
                f"{where}; best_state is {describe(saved)}, expected a dict name -> tensor "
                "(a copy of model.state_dict())"
            )
        missing = [k for k in want if k not in saved]
        if missing:
            raise fail(
                f"{where}; best_state has no {missing[0]!r}: copy model.state_dict(), which "
                "holds buffers (BatchNorm's running statistics) as well as parameters"
            )
        live = model.state_dict()
        for name, value in want.items():
            got_t = saved[name]
            if not isinstance(got_t, torch.Tensor) or torch.equal(
                got_t.detach().to(value.device), value
            ):
                continue
            if got_t.device == live[name].device and got_t.data_ptr() == live[name].data_ptr():
                raise fail(
                    f"{where}; best_state[{name!r}] is the model's live tensor, so it holds the "
                    f"current values, not those of call {best}: model.state_dict() returns "
                    "references to the live tensors, which training keeps changing in place. "
                    "Store copies ({k: v.detach().clone() for k, v in ...} or copy.deepcopy)"
                )
            other = [
                j
                for j, snap in enumerate(snapshots)
                if torch.equal(got_t.detach().to(value.device), snap[name])
            ]
            if other:
                raise fail(
                    f"{where}; best_state[{name!r}] holds the model's {name} from call "
                    f"{other[-1]}, not from the best call {best}: take the copy only on an "
                    "improvement, when best_score and best_epoch change"
                )
            assert_close(
                got_t,
                value,
                what=f"best_state[{name!r}] (the model's {name} at call {best})",
                call=where,
                rtol=0,
                atol=0,
            )
        params = list(model.parameters())
        call = f"{where}; then called restore_best(model)"
        theirs.restore_best(model)
        if any(a is not b for a, b in zip(model.parameters(), params, strict=True)):
            raise fail(
                f"{call}; the model's Parameters were replaced by new objects: an optimizer "
                "holding the old ones would train tensors the model no longer uses. Copy the "
                "values in place (model.load_state_dict(best_state))"
            )
        restored = _snapshot(model)
        for name, value in want.items():
            assert_close(
                restored[name],
                value,
                what=f"the model's {name} (expected its value at call {best})",
                call=call,
                rtol=0,
                atol=0,
            )
        _train_in_place(model, gen)
        theirs.restore_best(model)
        again = _snapshot(model)
        for name, value in want.items():
            if not torch.equal(again[name], value):
                raise fail(
                    f"{call}, trained the model in place and called restore_best(model) again; "
                    f"now {name} differs from its value at call {best}: the first restore made "
                    "the model share memory with best_state, so training changed the saved "
                    "copy. Copy values into the model (load_state_dict) instead of handing it "
                    "the saved tensors"
                )


def test_constructor_arguments(learner, reference):
    """EarlyStopping(patience) defaults to min_delta=0, mode='min'; an unknown mode is refused."""
    model = _net(random.Random(5))
    seq = [1.0, 0.9375, 1.0, 0.9375, 1.0]
    head = "EarlyStopping(2) (default min_delta and mode)"
    ours = reference.EarlyStopping(2)
    theirs = _make_default(learner.EarlyStopping, head)
    for index, metric in enumerate(seq):
        state = (ours.best_score, ours.counter)
        expected, got = ours.step(metric, model), theirs.step(metric, model)
        _compare_call(
            theirs, ours, got, expected, state, index=index, metric=metric, seq=seq, head=head
        )
        if expected:
            break
    for mode in ("median", "maximize"):
        try:
            learner.EarlyStopping(3, mode=mode)
        except NotImplementedError:
            raise
        except ValueError:
            continue
        except Exception as exc:
            raise fail(
                f"called EarlyStopping(3, mode={mode!r}); raised {type(exc).__name__}, expected "
                "ValueError"
            ) from exc
        raise fail(
            f"called EarlyStopping(3, mode={mode!r}); it was accepted. Only 'min' and 'max' "
            "are valid: raise ValueError for anything else, so a typo cannot silently pick a "
            "direction"
        )


def _make_default(cls: Any, head: str) -> Any:
    try:
        return cls(2)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise fail(f"called {head} raised {type(exc).__name__}: {exc}") from exc
