"""Grader for 2.6: early stopping with a restored best model.

The learner's ``EarlyStopping`` and the reference's are fed the same metric sequences, and
what each object says after every call (the returned flag, ``best_score``, ``best_epoch``,
``counter``) is compared call by call. Metrics are multiples of 1/16 so that
``best - min_delta`` is exact and ties are real ties. When the two disagree, the call is
classified (a tie, a gain within ``min_delta``, a worse value, mode ``"max"``...) to say
which rule was broken. The saved state is checked against the judge's own copy of the
model's weights at every call, while the model keeps changing in place between calls.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from torch import nn

from pytorch_path.checks import assert_close, describe, fail
from pytorch_path.scenario import LearnerError, scenario

_UNIT = 1 / 16
_ATTRS = ("best_epoch", "counter", "best_score")

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


# ----------------------------------------------------------------------------- the rule


@pytest.mark.points(3)
def test_random_curves_match_reference(learner, reference, seed):
    """On noisy learning curves, stop call, best_epoch, best_score and counter match the rule."""
    rng = seed.python_random()
    net = _net_spec(rng)
    for index in range(10):
        mode = "min" if index % 2 == 0 else "max"
        patience = rng.randint(1, 4)
        min_delta = rng.choice([0.0, 0.0, _UNIT, 2 * _UNIT, 3 * _UNIT])
        seq = _walk(rng, rng.randint(12, 24), mode)
        _run_sequence(learner, reference, (patience, min_delta, mode), seq, net)


@pytest.mark.points(3)
def test_edge_cases(learner, reference, seed):
    """Ties, gains within min_delta, counter resets, patience 1, mode='max', negative scores."""
    for case, (patience, min_delta, mode, seq) in enumerate(_CASES):
        net = _net_spec(seed.python_random(case))
        _run_sequence(learner, reference, (patience, min_delta, mode), seq, net)


# ----------------------------------------------------------------------------- the weights


@pytest.mark.points(3)
def test_best_weights_are_copied_and_restored(learner, reference, device, seed):
    """The best call's weights are copied (on the model's device) and restore_best reloads them."""
    rng = seed.python_random(100)
    for index in range(3):
        mode = ("min", "max", "min")[index]
        patience = rng.randint(2, 3)
        min_delta = rng.choice([0.0, _UNIT])
        seq = _walk(rng, 20, mode)
        net = {**_net_spec(rng), "device": device}
        gen_seed = rng.randrange(2**31)
        rule = (patience, min_delta, mode)
        head = _head(*rule)
        got, want = _run_sequence(
            learner, reference, rule, seq, net, gen_seed=gen_seed, weights=True
        )
        # The judge's own copy of the model at every call (step must not change it).
        snapshots = _trajectory(net, gen_seed, len(want["calls"]))
        best = want["calls"][-1]["attrs"]["best_epoch"]
        i = len(want["calls"]) - 1
        expected = snapshots[best]
        where = (
            f"{head} fed {_fmt(seq[: i + 1])} (best at call {best}), the model being trained in "
            "place between calls"
        )
        if not got["saved_is_dict"]:
            raise fail(
                f"{where}; best_state is {got['saved_described']}, expected a dict name -> "
                "tensor (a copy of model.state_dict())"
            )
        saved = got["saved"]
        missing = [k for k in expected if k not in saved]
        if missing:
            raise fail(
                f"{where}; best_state has no {missing[0]!r}: copy model.state_dict(), which "
                "holds buffers (BatchNorm's running statistics) as well as parameters"
            )
        for name, value in expected.items():
            got_t = saved[name]
            if not isinstance(got_t, torch.Tensor) or _equal(got_t, value):
                continue
            if got["is_live"].get(name):
                raise fail(
                    f"{where}; best_state[{name!r}] is the model's live tensor, so it holds the "
                    f"current values, not those of call {best}: model.state_dict() returns "
                    "references to the live tensors, which training keeps changing in place. "
                    "Store copies ({k: v.detach().clone() for k, v in ...} or copy.deepcopy)"
                )
            other = [j for j, snap in enumerate(snapshots) if _equal(got_t, snap[name])]
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
        call = f"{where}; then called restore_best(model)"
        if got["restore_error"] is not None:
            raise fail(f"{call}; it raised {got['restore_error']}")
        if got["replaced"]:
            raise fail(
                f"{call}; the model's Parameters were replaced by new objects: an optimizer "
                "holding the old ones would train tensors the model no longer uses. Copy the "
                "values in place (model.load_state_dict(best_state))"
            )
        for name, value in expected.items():
            assert_close(
                got["restored"].get(name),
                value,
                what=f"the model's {name} (expected its value at call {best})",
                call=call,
                rtol=0,
                atol=0,
            )
        for name, value in expected.items():
            if not _equal(got["again"].get(name), value):
                raise fail(
                    f"{call}, trained the model in place and called restore_best(model) again; "
                    f"now {name} differs from its value at call {best}: the first restore made "
                    "the model share memory with best_state, so training changed the saved "
                    "copy. Copy values into the model (load_state_dict) instead of handing it "
                    "the saved tensors"
                )


def test_constructor_arguments(learner, reference):
    """EarlyStopping(patience) defaults to min_delta=0, mode='min'; an unknown mode is refused."""
    net = _net_spec(random.Random(5))
    # A tie (not an improvement), then a gain of 2**-23: an improvement when min_delta is 0.
    seq = [1.0, 0.9375, 0.9375, 0.9375 - 2**-23, 1.0, 1.0]
    head = "EarlyStopping(2) (default min_delta and mode: 0 and 'min')"
    _run_sequence(learner, reference, (2, 0.0, "min"), seq, net, ctor=((2,), {}), head=head)
    for mode in ("median", "maximize"):
        call = f"called EarlyStopping(3, mode={mode!r})"
        try:
            learner.run(construct, 3, mode=mode)
        except LearnerError as exc:
            if exc.is_a("ValueError"):
                continue
            if exc.is_a("NotImplementedError"):
                raise
            raise fail(f"{call}; raised {exc.type_name}, expected ValueError") from None
        raise fail(
            f"{call}; it was accepted. Only 'min' and 'max' are valid: raise ValueError for "
            "anything else, so a typo cannot silently pick a direction"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def early_stopping(
    mod: Any,
    ctor: tuple[tuple, dict[str, Any]],
    seq: list[float],
    net: dict[str, Any],
    *,
    n_calls: int | None = None,
    train_after_last: bool = False,
    gen_seed: int | None = None,
    weights: bool = False,
) -> dict[str, Any]:
    """Feed ``seq`` to an EarlyStopping, call by call; what it says after each call.

    ``n_calls=None``: until the first call that returns True (the reference's run); else
    exactly ``n_calls`` calls. With ``gen_seed`` the model is trained in place after every
    call (but the last, unless ``train_after_last``). With ``weights``, also what
    ``best_state`` holds and what two ``restore_best`` calls do.
    """
    args, kwargs = ctor
    try:
        es = mod.EarlyStopping(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:
        return {"init_error": f"{type(exc).__name__}: {exc}"}
    model = _build_net(net)
    gen = torch.Generator().manual_seed(gen_seed) if gen_seed is not None else None
    calls: list[dict[str, Any]] = []
    total = len(seq) if n_calls is None else n_calls
    trained = False
    for i in range(total):
        before = _snapshot(model) if weights else {}
        params = list(model.parameters())
        got = es.step(seq[i], model)
        now = list(model.parameters())
        changed = not _same(_snapshot(model) if weights else {}, before) or _replaced(now, params)
        attrs = {a: getattr(es, a) for a in _ATTRS if hasattr(es, a)}
        calls.append({"got": got, "attrs": attrs, "changed": changed})
        stop = n_calls is None and got is True
        trained = not stop if n_calls is None else (i < total - 1 or train_after_last)
        if trained and gen is not None:
            _train_in_place(model, gen)  # training goes on between calls
        if stop:
            break
    out: dict[str, Any] = {"init_error": None, "calls": calls, "trained_last": trained}
    if weights:
        out.update(_best_state_report(es, model, gen))
    return out


@scenario
def construct(mod: Any, *args: Any, **kwargs: Any) -> bool:
    """EarlyStopping(*args, **kwargs): whether the constructor accepted the arguments."""
    mod.EarlyStopping(*args, **kwargs)
    return True


# ----------------------------------------------------------------------------- helpers: the model


class Net(nn.Module):
    """Parameters and buffers (BatchNorm's running statistics and batch counter)."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.Tanh())
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _net_spec(rng: random.Random) -> dict[str, Any]:
    """The sizes and initial seed of a Net, as data (built by :func:`_build_net`)."""
    while True:
        sizes = (rng.randint(3, 6), rng.randint(7, 11), rng.randint(2, 5))
        if len(set(sizes)) == 3:
            break
    return {"sizes": sizes, "init_seed": rng.randrange(2**31), "device": torch.device("cpu")}


def _build_net(spec: dict[str, Any]) -> Net:
    torch.manual_seed(spec["init_seed"])
    return Net(*spec["sizes"]).to(spec["device"])


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


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def _replaced(now: list[torch.Tensor], before: list[torch.Tensor]) -> bool:
    """Whether the model's Parameters are no longer the same objects."""
    return len(now) != len(before) or any(a is not b for a, b in zip(now, before, strict=True))


def _equal(a: Any, b: torch.Tensor) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and a.dtype == b.dtype
        and torch.equal(a.detach().to(b.device), b)
    )


def _trajectory(net: dict[str, Any], gen_seed: int, calls: int) -> list[dict[str, torch.Tensor]]:
    """The judge's copy of the model's state before each call, trained in place in between."""
    model = _build_net(net)
    gen = torch.Generator().manual_seed(gen_seed)
    out = []
    for _ in range(calls):
        out.append(_snapshot(model))
        _train_in_place(model, gen)
    return out


def _best_state_report(es: Any, model: nn.Module, gen: torch.Generator | None) -> dict[str, Any]:
    """What best_state holds now, then what restore_best does (twice, training in between)."""
    saved = getattr(es, "best_state", None)
    report: dict[str, Any] = {
        "saved_is_dict": isinstance(saved, dict),
        "saved_described": describe(saved),
        "saved": {},
        "is_live": {},
        "restore_error": None,
        "replaced": False,
        "restored": {},
        "again": {},
    }
    if not isinstance(saved, dict):
        return report
    live = model.state_dict()
    for name, value in saved.items():
        key = str(name)
        if isinstance(value, torch.Tensor):
            report["saved"][key] = value.detach().clone()
            other = live.get(name)
            report["is_live"][key] = (
                isinstance(other, torch.Tensor)
                and value.device == other.device
                and value.data_ptr() == other.data_ptr()
            )
        else:
            report["saved"][key] = describe(value)
    params = list(model.parameters())
    try:
        es.restore_best(model)
    except NotImplementedError:
        raise
    except Exception as exc:
        report["restore_error"] = f"{type(exc).__name__}: {exc}"[:300]
        return report
    report["replaced"] = _replaced(list(model.parameters()), params)
    report["restored"] = _snapshot(model)
    if gen is not None:
        _train_in_place(model, gen)
    try:
        es.restore_best(model)
    except NotImplementedError:
        raise
    except Exception as exc:
        report["restore_error"] = f"{type(exc).__name__}: {exc} (on the second call)"[:300]
        return report
    report["again"] = _snapshot(model)
    return report


# ----------------------------------------------------------------------------- helpers: verdicts


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
    return "[" + ", ".join(f"{v:.10g}" for v in values) + "]"


def _head(patience: int, min_delta: float, mode: str) -> str:
    return f"EarlyStopping({patience}, min_delta={min_delta:g}, mode={mode!r})"


def _run_sequence(
    learner: Any,
    reference: Any,
    rule: tuple[int, float, str],
    seq: list[float],
    net: dict[str, Any],
    *,
    ctor: tuple[tuple, dict[str, Any]] | None = None,
    head: str | None = None,
    gen_seed: int | None = None,
    weights: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Feed ``seq`` to both until the reference says stop; compare every call; both reports."""
    patience, min_delta, mode = rule
    head = head or _head(patience, min_delta, mode)
    if ctor is None:
        ctor = ((patience,), {"min_delta": min_delta, "mode": mode})
    want = reference.run(early_stopping, ctor, seq, net, gen_seed=gen_seed, weights=weights)
    if want["init_error"] is not None:
        raise RuntimeError(f"the reference refused {head}: {want['init_error']}")
    ref_calls = want["calls"]
    got = learner.run(
        early_stopping,
        ctor,
        seq,
        net,
        n_calls=len(ref_calls),
        train_after_last=want["trained_last"],
        gen_seed=gen_seed,
        weights=weights,
    )
    if got["init_error"] is not None:
        raise fail(f"called {head} raised {got['init_error']}")
    for index, (mine, ref) in enumerate(zip(got["calls"], ref_calls, strict=True)):
        best_before = ref_calls[index - 1]["attrs"]["best_score"] if index else None
        _compare_call(
            mine,
            ref,
            best_before,
            index=index,
            metric=seq[index],
            seq=seq,
            rule=rule,
            head=head,
        )
        if mine["changed"]:
            raise fail(f"{head}; step(metric, model) changed the model; it must only read it")
    return got, want


def _why(metric: float, best: float | None, mode: str, min_delta: float, ref_improved: bool) -> str:
    """Which rule the learner broke, judging from the reference's view of this call."""
    if best is None:
        return " The first call is always an improvement (there is no best score yet)."
    gain = (best - metric) if mode == "min" else (metric - best)
    if ref_improved:
        if mode == "max":
            return (
                f" In mode='max' higher is better: {metric:.10g} beats best_score {best:.10g} by "
                f"{gain:g}, more than min_delta={min_delta:g}, so it is an improvement."
            )
        return (
            f" {metric:.10g} beats best_score {best:.10g} by {gain:g}, more than min_delta="
            f"{min_delta:g}, so it is an improvement."
        )
    if gain == 0:
        return (
            f" {metric:.10g} only ties best_score {best:.10g}; a tie is not an improvement "
            "(compare strictly)."
        )
    if gain > 0:
        rule = "metric < best_score - min_delta"
        if mode == "max":
            rule = "metric > best_score + min_delta"
        return (
            f" {metric:.10g} beats best_score {best:.10g} by only {gain:g}, not more than "
            f"min_delta={min_delta:g}, so it must not count as an improvement: in "
            f"mode={mode!r} an improvement needs {rule} (check that min_delta is used, and "
            "the sign of min_delta)."
        )
    if mode == "max":
        return (
            f" In mode='max' higher is better: {metric:.10g} is worse than best_score {best:.10g}."
        )
    return (
        f" {metric:.10g} is worse than best_score {best:.10g} (by {-gain:g}); check the sign of "
        "min_delta: improve means metric < best_score - min_delta, not + min_delta."
    )


def _compare_call(
    mine: dict[str, Any],
    ref: dict[str, Any],
    best_before: float | None,
    *,
    index: int,
    metric: float,
    seq: list[float],
    rule: tuple[int, float, str],
    head: str,
) -> None:
    """Compare one call's outcome with the reference's; ``best_before`` is its best before it."""
    patience, min_delta, mode = rule
    prefix = f"{head}; after step() was called with the metrics {_fmt(seq[: index + 1])}"
    got, expected = mine["got"], ref["got"]
    want = ref["attrs"]
    ref_improved = want["best_epoch"] == index
    if type(got) is not bool:
        raise fail(f"{prefix}, step returned {describe(got)}, expected a bool ({expected})")
    attrs = mine["attrs"]
    for attr in _ATTRS:
        if attr not in attrs:
            raise fail(f"{prefix}, the EarlyStopping object has no attribute {attr!r}")
    epoch = attrs["best_epoch"]
    tie_taken = epoch == index and metric == best_before  # counted a tie as an improvement
    if (
        epoch == want["best_epoch"] + 1
        and attrs["best_score"] == want["best_score"]
        and not tie_taken
    ):
        raise fail(
            f"{prefix}, best_epoch is {epoch!r}, expected {want['best_epoch']}: best_epoch is "
            "the 0-based index of the step() call that set best_score (the first call is 0)"
        )
    if epoch != want["best_epoch"]:
        learner_improved = epoch == index
        why = _why(metric, best_before, mode, min_delta, ref_improved)
        if learner_improved == ref_improved:
            why = " best_epoch is the 0-based index of the step() call that set best_score."
        raise fail(
            f"{prefix}, best_epoch is {epoch!r}, expected {want['best_epoch']} (call {index} "
            f"had metric {metric:.10g}).{why}"
        )
    score = attrs["best_score"]
    if type(score) is not float or score != want["best_score"]:
        raise fail(
            f"{prefix}, best_score is {describe(score)}, expected the float "
            f"{want['best_score']:.10g}, the metric of the best call (not adjusted by min_delta)"
        )
    if attrs["counter"] != want["counter"]:
        hint = ""
        if ref_improved:
            hint = " This call was an improvement: reset counter to 0 on every improvement."
        elif attrs["counter"] == want["counter"] - 1 or attrs["counter"] == 0:
            hint = " counter grows by one on every call without an improvement."
        raise fail(
            f"{prefix}, counter is {attrs['counter']!r}, expected {want['counter']} (calls in "
            f"a row without an improvement since the best, call {want['best_epoch']}).{hint}"
        )
    if got != expected:
        if expected:
            hint = (
                f"counter has reached patience={patience}: stop when counter >= patience "
                "(stopping only when it exceeds patience waits one epoch too long)"
            )
        else:
            hint = f"counter is {want['counter']}, below patience={patience}; keep training"
        raise fail(f"{prefix}, step returned {got}, expected {expected}: {hint}")
