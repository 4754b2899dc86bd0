"""Grader for 2.8: metrics from a confusion matrix."""

from __future__ import annotations

import time
from typing import Any

import torch

from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    assert_scalar_close,
    assert_tensor,
    call_repr,
    describe,
    fail,
)


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


def _cm_call(preds: torch.Tensor, targets: torch.Tensor, c: int) -> str:
    return call_repr("confusion_matrix", preds, targets, c)


def _check_inputs_kept(call: str, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for now, before in pairs:
        if not torch.equal(now, before):
            raise fail(f"{call}; an input tensor was changed in place")


# ----------------------------------------------------------------------------- the matrix


def test_confusion_matrix_values(learner, reference, device, seed):
    """confusion_matrix counts (true, predicted) pairs: C x C int64 on the inputs' device."""
    rng = seed.python_random()
    for index in range(4):
        preds, targets, c = _case(seed, rng, device, index)
        expected = reference.confusion_matrix(preds.clone(), targets.clone(), c)
        kept = [(preds, preds.clone()), (targets, targets.clone())]
        call = _cm_call(preds, targets, c) + " (the last class never occurs)"
        try:
            out = learner.confusion_matrix(preds, targets, c)
        except NotImplementedError:
            raise
        except RuntimeError as exc:
            raise fail(
                f"{call}; it raised RuntimeError: {str(exc).splitlines()[0]}. The matrix is "
                "C x C even when the highest classes never occur (bincount needs "
                "minlength=C * C)"
            ) from exc
        assert_tensor(out, shape=(c, c), dtype=torch.int64, device=device, call=call)
        if not torch.equal(out, expected) and torch.equal(out, expected.T):
            raise fail(
                f"{call}; the matrix is transposed: row i must be the true class and column j "
                "the predicted class, cm[i, j] = #samples with target i predicted as j"
            )
        assert_close(out, expected, what="the matrix", call=call, rtol=0, atol=0)
        _check_inputs_kept(call, kept)


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

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        elif device.type == "mps":
            torch.mps.synchronize()

    c = 7
    small_p, small_t = seed.randint(0, c, (50,), device=device), seed.randint(0, c, (50,), offset=1)
    learner.confusion_matrix(small_p, small_t.to(device), c)  # warm-up
    for n, limit in ((50_000, 0.25), (200_000, 0.5)):
        preds = seed.randint(0, c, (n,), device=device, offset=2)
        targets = seed.randint(0, c, (n,), device=device, offset=3)
        expected = reference.confusion_matrix(preds, targets, c)
        call = _cm_call(preds, targets, c)
        sync()
        start = time.perf_counter()
        out = learner.confusion_matrix(preds, targets, c)
        sync()
        took = time.perf_counter() - start
        if took > limit:
            raise fail(
                f"{call} took {took:.2f} s for {n:,} samples, expected well under {limit:g} s: "
                "a Python loop over samples is too slow. Count all pairs at once with tensor "
                "ops, e.g. torch.bincount(targets * C + preds, minlength=C * C)"
            )
        assert_close(out, expected, what="the matrix", call=call, rtol=0, atol=0)


# ----------------------------------------------------------------------------- metrics


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


def _near(value: Any, target: float) -> bool:
    return isinstance(value, float) and abs(value - target) <= 1e-5 + 1e-5 * abs(target)


def test_accuracy(learner, reference, device, seed):
    """accuracy(cm) is trace / total as a Python float, and 0.0 for an empty matrix."""
    rng = seed.python_random()
    for label, cm in _matrices(reference, seed, rng, device):
        expected = reference.accuracy(cm.clone())
        kept = cm.clone()
        call = f"called accuracy(cm) with {label}"
        out = learner.accuracy(cm)
        value = assert_python_float(out, what="the accuracy", call=call)
        precision, recall = _per_class(cm)
        if not _near(expected, value):
            if _near(value, recall.mean().item()) or _near(value, precision.mean().item()):
                raise fail(
                    f"{call}; got {value:.6g}, expected {expected:.6g}: that is a mean of "
                    "per-class ratios (row- or column-wise). Accuracy pools all samples: the "
                    "diagonal's sum divided by the sum of the whole matrix"
                )
            assert_scalar_close(value, expected, what="the accuracy", call=call)
        _check_inputs_kept(call, [(cm, kept)])
    empty = torch.zeros(4, 4, dtype=torch.int64, device=device)
    out = learner.accuracy(empty)
    value = assert_python_float(out, what="the accuracy", call="called accuracy(zeros(4, 4))")
    assert_scalar_close(value, 0.0, what="the accuracy", call="called accuracy(zeros(4, 4))")


def test_precision_recall(learner, reference, device, seed):
    """precision divides by column sums, recall by row sums; float32 (C,), 0 (not NaN) for 0/0."""
    rng = seed.python_random()
    for label, cm in _matrices(reference, seed, rng, device):
        c = cm.shape[0]
        want_p, want_r = reference.precision_recall(cm.clone())
        kept = cm.clone()
        call = f"called precision_recall(cm) with {label}"
        out = learner.precision_recall(cm)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise fail(f"{call}; got {describe(out)}, expected a tuple (precision, recall)")
        precision, recall = out
        for name, got in (("precision", precision), ("recall", recall)):
            assert_tensor(got, what=name, shape=(c,), dtype=torch.float32, device=device, call=call)
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
        _check_inputs_kept(call, [(cm, kept)])


def test_macro_f1(learner, reference, device, seed):
    """macro_f1 is the plain mean of per-class F1 over all classes (0 for 0/0), a Python float."""
    rng = seed.python_random()
    for label, cm in _matrices(reference, seed, rng, device):
        expected = reference.macro_f1(cm.clone())
        kept = cm.clone()
        call = f"called macro_f1(cm) with {label}"
        out = learner.macro_f1(cm)
        if isinstance(out, float) and out != out:
            raise fail(
                f"{call}; got nan: a class with precision + recall == 0 (or 0/0 in precision or "
                "recall) must count as F1 = 0, not NaN"
            )
        value = assert_python_float(out, what="macro F1", call=call)
        if not _near(value, expected):
            precision, recall = _per_class(cm)
            f1 = _f1(precision, recall)
            micro = reference.accuracy(cm)
            mean_p, mean_r = precision.mean().item(), recall.mean().item()
            seen = (cm.sum(0) + cm.sum(1)).cpu() > 0
            if _near(value, micro):
                why = (
                    "that is micro F1 (pooled over samples, equal to the accuracy); macro F1 "
                    "averages the per-class F1 scores"
                )
            elif mean_p + mean_r > 0 and _near(value, 2 * mean_p * mean_r / (mean_p + mean_r)):
                why = (
                    "that is the F1 of the mean precision and mean recall; compute F1 per "
                    "class first, then average"
                )
            elif _near(value, f1[seen].mean().item()) or _near(value, f1[f1 > 0].mean().item()):
                why = (
                    "that averages over some classes only; every one of the C classes counts, "
                    "absent ones with F1 = 0"
                )
            else:
                why = "F1_c = 2 p r / (p + r), 0 where p + r == 0, then the mean over all classes"
            raise fail(f"{call}; got {value:.6g}, expected {expected:.6g}: {why}")
        _check_inputs_kept(call, [(cm, kept)])
