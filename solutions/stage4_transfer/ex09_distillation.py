"""4.9 Knowledge distillation from a teacher (reference solution)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    T: float = 4.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Hinton's distillation loss: a softened teacher-matching term plus the usual cross-entropy.

    Args:
        student_logits: ``(N, C)`` raw scores of the student (before any softmax); the loss
            is differentiated with respect to them.
        teacher_logits: ``(N, C)`` raw scores of the teacher, same dtype and device. They are
            treated as constants: detach them, so no gradient ever reaches them (their
            ``.grad`` stays ``None`` even when they require grad).
        targets: ``(N,)`` int64 class indices in ``[0, C)`` (the true labels).
        T: the temperature, a number ``> 0``; both sets of logits are divided by it before
            the softmax, which softens the distributions. Default 4.0.
        alpha: the weight of the distillation term, ``0 <= alpha <= 1``; the cross-entropy
            gets ``1 - alpha``. Default 0.5.

    Returns:
        A 0-dim tensor in the logits' dtype, on their device, that requires grad when
        ``student_logits`` does::

            alpha * T**2 * KL(p_teacher || p_student) + (1 - alpha) * CE(student_logits, targets)

        where ``p_teacher = softmax(teacher_logits / T, dim=1)``,
        ``p_student = softmax(student_logits / T, dim=1)``, the KL divergence of the
        teacher's distribution from the student's is summed over the classes and averaged
        over the ``N`` samples, and ``CE`` is ``F.cross_entropy(student_logits, targets)``
        (the mean over the samples, at temperature 1, no label smoothing). With PyTorch::

            F.kl_div(F.log_softmax(student_logits / T, dim=1),
                     F.log_softmax(teacher_logits / T, dim=1),
                     reduction="batchmean", log_target=True)

        (``F.kl_div(input, target)`` takes the *student's log-probabilities* as ``input``
        and computes ``KL(target || input)``; with ``log_target=False`` the target is the
        teacher's probabilities). ``reduction="batchmean"`` divides by ``N``, which is the
        KL divergence per sample; ``"mean"`` would divide by ``N * C``. The ``T**2`` keeps the
        soft term's gradients at the scale of the hard term's whatever the temperature
        (they shrink like ``1 / T**2`` without it). ``alpha=0`` gives exactly the
        cross-entropy, ``alpha=1`` exactly the distillation term. The grader compares the
        value and its gradient with its own within rtol=1e-7, atol=1e-10 (float64 on a CPU).

    Raises:
        ValueError: ``T <= 0`` (``T=0`` is refused, any ``T > 0`` is allowed), or ``alpha``
            outside ``[0, 1]`` (both ends allowed). Checked before anything is computed.

    Nothing is modified in place: the logits and the targets are as they were.
    """
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    soft_student = F.log_softmax(student_logits / T, dim=1)
    soft_teacher = F.log_softmax(teacher_logits.detach() / T, dim=1)
    kd = F.kl_div(soft_student, soft_teacher, reduction="batchmean", log_target=True)
    ce = F.cross_entropy(student_logits, targets)
    return alpha * T**2 * kd + (1 - alpha) * ce


def distill_step(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    T: float = 4.0,
    alpha: float = 0.5,
) -> float:
    """One training step of ``student`` on the batch ``(x, y)``, taught by ``teacher``.

    Args:
        student: the model being trained; ``student(x)`` returns ``(N, C)`` logits. It may
            arrive in eval mode.
        teacher: a trained model; ``teacher(x)`` returns ``(N, C)`` logits. It may arrive in
            train mode, and its parameters may require grad.
        x: a batch of inputs, on the models' device.
        y: ``(N,)`` int64 labels, on the same device.
        optimizer: an optimizer over the student's parameters (only).
        T: the temperature, passed to :func:`distillation_loss`. Default 4.0.
        alpha: the weight of the distillation term, passed to :func:`distillation_loss`.
            Default 0.5.

    In this order:

    1. ``teacher.eval()`` (Dropout off, BatchNorm uses and keeps its running statistics),
       then the teacher's forward pass under ``torch.no_grad()``;
    2. ``student.train()``;
    3. ``optimizer.zero_grad()``, the student's forward pass (exactly one),
       ``loss = distillation_loss(student_logits, teacher_logits, y, T=T, alpha=alpha)``,
       ``loss.backward()``, ``optimizer.step()``.

    Returns:
        The loss of this step as a Python ``float`` (``loss.item()``, computed before the
        update).

    Afterwards the teacher is in eval mode and otherwise exactly as it was: its parameters
    (values and ``requires_grad``) and buffers are unchanged and no parameter of it has a
    ``.grad``. The student is in train mode. The grader replays the step with the same
    models, batch and RNG state and compares the student's weights with rtol=1e-7,
    atol=1e-10 (float64 on a CPU).
    """
    teacher.eval()
    with torch.no_grad():
        teacher_logits = teacher(x)
    student.train()
    optimizer.zero_grad()
    loss = distillation_loss(student(x), teacher_logits, y, T=T, alpha=alpha)
    loss.backward()
    optimizer.step()
    return loss.item()
