"""Known mistake: confusion_matrix builds the pair index in place in the targets tensor (to save memory), changing the caller's targets.

Expect: changed in place
"""

from __future__ import annotations

import torch


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count (true class, predicted class) pairs into a ``(C, C)`` int64 matrix.

    - ``preds`` and ``targets``: int64 tensors of shape ``(N,)`` holding class indices in
      ``[0, num_classes)``, on the same device; ``N`` may be 0 or in the hundreds of thousands.
    - ``cm[i, j]`` is the number of samples whose **true** class is ``i`` (row) and whose
      **predicted** class is ``j`` (column); ``C = num_classes`` even when some classes do
      not occur.
    - returns an int64 tensor on the inputs' device; the inputs are not modified.
    - vectorised: build it with tensor operations (for example ``torch.bincount`` of
      ``targets * C + preds``), not a Python loop over samples: 200,000 samples must take
      milliseconds, not seconds.
    """
    c = int(num_classes)
    flat = targets.view(-1)
    flat.mul_(c).add_(preds.view(-1))
    return torch.bincount(flat, minlength=c * c).reshape(c, c)


def accuracy(cm: torch.Tensor) -> float:
    """The fraction of samples on the diagonal (predicted class == true class).

    Returns a Python float in ``[0, 1]``; ``0.0`` for a matrix with no samples at all.
    """
    total = int(cm.sum().item())
    if total == 0:
        return 0.0
    return int(cm.diagonal().sum().item()) / total


def _safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` as float32, with 0 wherever ``den`` is 0."""
    num, den = num.float(), den.float()
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, torch.zeros_like(num))


def precision_recall(cm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class precision and recall from a confusion matrix (rows true, columns predicted).

    For class ``c``:

    - precision = ``cm[c, c] / cm[:, c].sum()``: of the samples predicted ``c``, the share
      that truly are ``c``;
    - recall = ``cm[c, c] / cm[c, :].sum()``: of the samples truly ``c``, the share found.

    A class never predicted has precision 0, a class that never occurs has recall 0 (0/0 is
    defined as 0 here, never NaN). Returns ``(precision, recall)``: two float32 tensors of
    shape ``(C,)`` on ``cm``'s device. ``cm`` is not modified.
    """
    tp = cm.diagonal()
    return _safe_divide(tp, cm.sum(dim=0)), _safe_divide(tp, cm.sum(dim=1))


def macro_f1(cm: torch.Tensor) -> float:
    """The unweighted mean over all ``C`` classes of each class's F1 score.

    F1 of class ``c`` is ``2 * p * r / (p + r)`` with ``p, r`` its precision and recall, and
    0 where ``p + r == 0``. Every class counts once, including classes absent from the
    data (their F1 is 0). Returns a Python float. (Not micro F1, which pools all samples
    and equals the accuracy for single-label classification.)
    """
    precision, recall = precision_recall(cm)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return f1.mean().item()
