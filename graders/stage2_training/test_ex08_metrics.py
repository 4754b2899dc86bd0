"""Grader for 2.8: metrics from a confusion matrix.

Every function takes and returns plain data, so most checks call it directly on random
predictions (with a class that never occurs, one never true and one never predicted) and
compare with the reference. A scenario also returns the inputs as the learner's code left
them, to check they were not changed in place. When a value is wrong, the grader compares
it with the usual mistakes (a transposed matrix, a mean of per-class ratios, micro F1, the
F1 of the mean precision and recall, swapped precision and recall) and names the one that
matches.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    assert_scalar_close,
    assert_tensor,
    assert_unchanged,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import LearnerError, scenario

# ----------------------------------------------------------------------------- the matrix


def test_confusion_matrix_values(learner, reference, device, seed):
    """confusion_matrix counts (true, predicted) pairs: C x C int64 on the inputs' device."""
    rng = seed.python_random()
    for index in range(4):
        preds, targets, c = _case(seed, rng, device, index)
        expected = reference.confusion_matrix(preds, targets, c)
        call = _cm_call(preds, targets, c) + " (the last class never occurs)"
        try:
            got = learner.run(confusion_matrix, preds, targets, c)
        except LearnerError as exc:
            if exc.is_a("RuntimeError") and not exc.is_a("NotImplementedError"):
                first = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
                raise fail(
                    f"{call}; it raised {exc.type_name}: {first}. The matrix is C x C even "
                    "when the highest classes never occur (bincount needs minlength=C * C)"
                ) from None
            raise
        out = got["out"]
        assert_tensor(out, shape=(c, c), dtype=torch.int64, device=device, call=call)
        if not torch.equal(out, expected) and torch.equal(out, expected.T):
            raise fail(
                f"{call}; the matrix is transposed: row i must be the true class and column j "
                "the predicted class, cm[i, j] = #samples with target i predicted as j"
            )
        assert_close(out, expected, what="the matrix", call=call, rtol=0, atol=0)
        assert_unchanged(got["preds_after"], preds, what="preds", call=call)
        assert_unchanged(got["targets_after"], targets, what="targets", call=call)


def test_confusion_matrix_orientation(learner, device, seed):
    """Rows are true classes and columns predicted ones: cm[target, pred] counts each sample."""
    rng = seed.python_random()
    c = rng.randint(4, 7)
    true_class, pred_class = rng.sample(range(c), 2)
    n = rng.randint(5, 9)
    targets = torch.full((n,), true_class, device=device)
    preds = torch.full((n,), pred_class, device=device)
    call = (
        f"called confusion_matrix(preds, targets, {c}) with every target {true_class} and "
        f"every prediction {pred_class} ({n} samples)"
    )
    out = learner.confusion_matrix(preds, targets, c)
    assert_tensor(out, shape=(c, c), dtype=torch.int64, device=device, call=call)
    got = int(out[true_class, pred_class])
    if got != n:
        swapped = int(out[pred_class, true_class])
        hint = (
            " (the count sits at cm[pred, target]: rows and columns are swapped)" if swapped else ""
        )
        raise fail(f"{call}; cm[{true_class}, {pred_class}] is {got}, expected {n}{hint}")
    if int(out.sum()) != n:
        raise fail(f"{call}; the matrix sums to {int(out.sum())}, expected {n} (one per sample)")


def test_confusion_matrix_empty(learner, device):
    """With no samples at all, the matrix is C x C zeros (int64)."""
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    for c in (3, 5):
        call = _cm_call(empty, empty, c)
        out = learner.confusion_matrix(empty, empty.clone(), c)
        expected = torch.zeros(c, c, dtype=torch.int64, device=device)
        assert_close(out, expected, what="the matrix", call=call, rtol=0, atol=0)


def test_confusion_matrix_is_vectorised(learner, reference, device, seed):
    """confusion_matrix is vectorised: 200,000 samples take milliseconds, not seconds."""
    c = 7
    learner.run(confusion_matrix_of_random, seed.value, 50, c, device)  # warm-up
    for offset, (n, limit) in enumerate(((50_000, 0.25), (200_000, 0.5))):
        # The scenario draws the samples from this seed itself, so that only a few bytes
        # travel and the time is the learner's; the grader draws the same ones to check.
        args = (seed.value + 1 + offset, n, c, device)
        expected = reference.run(confusion_matrix_of_random, *args)
        call = _cm_call(*_random_pairs(*args), c)
        start = time.perf_counter()  # the grader's clock, around the whole call
        out = learner.run(confusion_matrix_of_random, *args)
        took = time.perf_counter() - start
        if took > limit:
            raise fail(
                f"{call} took {took:.2f} s for {n:,} samples, expected well under {limit:g} s: "
                "a Python loop over samples is too slow. Count all pairs at once with tensor "
                "ops, e.g. torch.bincount(targets * C + preds, minlength=C * C)"
            )
        assert_close(out, expected, what="the matrix", call=call, rtol=0, atol=0)


# ----------------------------------------------------------------------------- metrics


def test_accuracy(learner, reference, device, seed):
    """accuracy(cm) is trace / total as a Python float, and 0.0 for an empty matrix."""
    rng = seed.python_random()
    for label, cm in _matrices(reference, seed, rng, device):
        expected = reference.accuracy(cm)
        call = f"called accuracy(cm) with {label}"
        got = learner.run(metric, "accuracy", cm)
        value = assert_python_float(got["out"], what="the accuracy", call=call)
        precision, recall = _per_class(cm)
        if not _near(expected, value):
            if _near(value, recall.mean().item()) or _near(value, precision.mean().item()):
                raise fail(
                    f"{call}; got {value:.6g}, expected {expected:.6g}: that is a mean of "
                    "per-class ratios (row- or column-wise). Accuracy pools all samples: the "
                    "diagonal's sum divided by the sum of the whole matrix"
                )
            assert_scalar_close(value, expected, what="the accuracy", call=call)
        assert_unchanged(got["cm_after"], cm, what="cm", call=call)
    empty = torch.zeros(4, 4, dtype=torch.int64, device=device)
    out = learner.accuracy(empty)
    value = assert_python_float(out, what="the accuracy", call="called accuracy(zeros(4, 4))")
    assert_scalar_close(value, 0.0, what="the accuracy", call="called accuracy(zeros(4, 4))")


def test_precision_recall(learner, reference, device, seed):
    """precision divides by column sums, recall by row sums; float32 (C,), 0 (not NaN) for 0/0."""
    rng = seed.python_random()
    for label, cm in _matrices(reference, seed, rng, device):
        c = cm.shape[0]
        want_p, want_r = reference.precision_recall(cm)
        call = f"called precision_recall(cm) with {label}"
        got = learner.run(metric, "precision_recall", cm)
        out = got["out"]
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise fail(f"{call}; got {got['described']}, expected a tuple (precision, recall)")
        precision, recall = out
        for name, value in (("precision", precision), ("recall", recall)):
            assert_tensor(
                value, what=name, shape=(c,), dtype=torch.float32, device=device, call=call
            )
        p_ok = torch.allclose(precision.cpu(), want_p.cpu(), rtol=1e-5, atol=1e-6)
        r_ok = torch.allclose(recall.cpu(), want_r.cpu(), rtol=1e-5, atol=1e-6)
        if not (p_ok and r_ok):
            swapped = torch.allclose(precision.cpu(), want_r.cpu(), rtol=1e-5, atol=1e-6)
            if swapped:
                raise fail(
                    f"{call}; precision and recall are swapped (or the matrix is read "
                    "transposed): precision of class c is cm[c, c] / cm[:, c].sum() (everything "
                    "predicted as c, a column); recall is cm[c, c] / cm[c, :].sum() (a row)"
                )
        assert_close(precision, want_p, what="precision", call=call, rtol=1e-5, atol=1e-6)
        assert_close(recall, want_r, what="recall", call=call, rtol=1e-5, atol=1e-6)
        assert_unchanged(got["cm_after"], cm, what="cm", call=call)


def test_macro_f1(learner, reference, device, seed):
    """macro_f1 is the plain mean of per-class F1 over all classes (0 for 0/0), a Python float."""
    rng = seed.python_random()
    for label, cm in _matrices(reference, seed, rng, device):
        expected = reference.macro_f1(cm)
        call = f"called macro_f1(cm) with {label}"
        got = learner.run(metric, "macro_f1", cm)
        out = got["out"]
        if isinstance(out, float) and out != out:
            raise fail(
                f"{call}; got nan: a class with precision + recall == 0 (or 0/0 in precision or "
                "recall) must count as F1 = 0, not NaN"
            )
        value = assert_python_float(out, what="macro F1", call=call)
        if not _near(value, expected):
            raise fail(
                f"{call}; got {value:.6g}, expected {expected:.6g}: {_f1_mistake(cm, value)}"
            )
        assert_unchanged(got["cm_after"], cm, what="cm", call=call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def confusion_matrix(
    mod: Any, preds: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> dict[str, Any]:
    """confusion_matrix(preds, targets, C), and the inputs as they are after the call."""
    out = mod.confusion_matrix(preds, targets, num_classes)
    return {"out": out, "preds_after": preds, "targets_after": targets}


@scenario
def confusion_matrix_of_random(
    mod: Any, seed_value: int, n: int, num_classes: int, device: torch.device
) -> Any:
    """confusion_matrix on ``n`` random (pred, target) pairs drawn here from ``seed_value``."""
    preds, targets = _random_pairs(seed_value, n, num_classes, device)
    return mod.confusion_matrix(preds, targets, num_classes)


@scenario
def metric(mod: Any, name: str, cm: torch.Tensor) -> dict[str, Any]:
    """One metric function ``name`` on ``cm``, and ``cm`` as it is after the call."""
    out = getattr(mod, name)(cm)
    return {"out": out, "described": describe(out), "cm_after": cm}


# ----------------------------------------------------------------------------- helpers


def _case(seed: Any, rng: Any, device: Any, offset: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Random (preds, targets, C): N != C, one class never true, one never predicted.

    The last class never occurs at all (neither true nor predicted), so a matrix sized by
    the largest index seen comes out too small. Classes are imbalanced and about half the
    predictions are right, so mixing up rows and columns changes every metric.
    """
    c = rng.randint(4, 9)
    n = rng.randint(25, 90)
    while n == c:
        n = rng.randint(25, 90)
    g = seed.generator(offset)
    never_true, never_pred = rng.sample(range(c - 1), 2)
    weights = torch.rand(c, generator=g) + 0.05
    weights[[never_true, c - 1]] = 0
    targets = torch.multinomial(weights, n, replacement=True, generator=g)
    guess = torch.randint(0, c - 1, (n,), generator=g)
    preds = torch.where(torch.rand(n, generator=g) < 0.5, targets, guess)
    preds = torch.where(preds == never_pred, (never_pred + 1) % (c - 1), preds)
    return preds.to(device), targets.to(device), c


def _random_pairs(
    seed_value: int, n: int, c: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uniform (preds, targets) in ``[0, c)``, the same on both sides for a seed."""
    g = torch.Generator().manual_seed(seed_value)
    preds = torch.randint(0, c, (n,), generator=g)
    targets = torch.randint(0, c, (n,), generator=g)
    return preds.to(device), targets.to(device)


def _cm_call(preds: torch.Tensor, targets: torch.Tensor, c: int) -> str:
    return call_repr("confusion_matrix", preds, targets, c)


def _matrices(reference: Any, seed: Any, rng: Any, device: Any) -> list[tuple[str, torch.Tensor]]:
    """Confusion matrices with absent classes, and a hand-made lopsided one."""
    cases = []
    for index in range(3):
        preds, targets, c = _case(seed, rng, device, 10 + index)
        cm = reference.confusion_matrix(preds, targets, c)
        cases.append((f"cm from {len(preds)} samples, {c} classes, some never true/predicted", cm))
    lopsided = torch.tensor([[30, 2, 0, 1], [5, 3, 0, 0], [9, 1, 0, 0], [0, 0, 0, 0]])
    cases.append((f"cm = {lopsided.tolist()}", lopsided.to(device)))
    return cases


def _per_class(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Precision and recall in float64 on the CPU, 0 where undefined (for diagnosis only)."""
    m = cm.detach().cpu().double()
    tp = m.diagonal()
    cols, rows = m.sum(0), m.sum(1)
    precision = torch.where(cols > 0, tp / cols.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(rows > 0, tp / rows.clamp(min=1), torch.zeros_like(tp))
    return precision, recall


def _f1(p: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    s = p + r
    return torch.where(s > 0, 2 * p * r / torch.where(s > 0, s, torch.ones_like(s)), 0 * s)


def _f1_mistake(cm: torch.Tensor, value: float) -> str:
    """Which well-known wrong F1 ``value`` is, computed by the grader from ``cm``."""
    precision, recall = _per_class(cm)
    f1 = _f1(precision, recall)
    m = cm.detach().cpu().double()
    total = m.sum().item()
    micro = m.diagonal().sum().item() / total if total else 0.0
    mean_p, mean_r = precision.mean().item(), recall.mean().item()
    seen = (m.sum(0) + m.sum(1)) > 0
    if _near(value, micro):
        return (
            "that is micro F1 (pooled over samples, equal to the accuracy); macro F1 "
            "averages the per-class F1 scores"
        )
    if mean_p + mean_r > 0 and _near(value, 2 * mean_p * mean_r / (mean_p + mean_r)):
        return (
            "that is the F1 of the mean precision and mean recall; compute F1 per "
            "class first, then average"
        )
    if _near(value, f1[seen].mean().item()) or _near(value, f1[f1 > 0].mean().item()):
        return (
            "that averages over some classes only; every one of the C classes counts, "
            "absent ones with F1 = 0"
        )
    return "F1_c = 2 p r / (p + r), 0 where p + r == 0, then the mean over all classes"


def _near(value: Any, target: float) -> bool:
    return isinstance(value, float) and abs(value - target) <= 1e-5 + 1e-5 * abs(target)
