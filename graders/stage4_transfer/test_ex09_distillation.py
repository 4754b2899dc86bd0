"""Grader for 4.9: knowledge distillation (the loss, and one training step).

``distillation_loss`` is compared with the judge's own implementation of the documented
formula, written out by hand (``sum p_t * (log p_t - log p_s)`` over the classes, averaged
over the samples, times ``alpha * T**2``, plus ``(1 - alpha)`` times the cross-entropy), on
random float64 logits for several temperatures and weights: the value, and the gradient
with respect to the student's logits (a scenario runs ``backward()`` on the learner's loss).
When they differ, the learner's value and gradient are matched against known mistakes the
judge simulates (no ``T**2``, ``reduction="mean"``, the KL the other way round, ...) to name
the mistake.

``distill_step`` is replayed: the test builds a teacher (with BatchNorm and Dropout, arriving
in train mode) and a student (with Dropout, arriving in eval mode, with stale gradients),
and the judge runs the documented step itself from the same weights, batches and RNG seed.
The scenario watches both models with forward pre-hooks (their mode, whether grad mode was
on, how many forward passes) and sends back the student's and the teacher's state dicts,
which of the teacher's parameters got a ``.grad``, and the returned losses. Those
observations are only reasons to fail: every test also compares the student's weights or
the loss with the judge's. Last, the stage's pretrained backbone is distilled into a tiny
student for a few steps, and the judge measures how often the student now agrees with it.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models import resnet  # noqa: F401  (imported with the grader, not on the clock)

from pytorch_path import data
from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    assert_tensor,
    assert_unchanged,
    call_learner,
    describe,
    expect_raises,
    fail,
    name_the_mistake,
    states_close,
)
from pytorch_path.scenario import LearnerError, learner_attr, scenario

_HINTS = {
    "does not require grad and does not have a grad_fn": (
        "the loss has no graph: compute it from student_logits with torch operations (no "
        ".item(), no torch.no_grad() around the student's part, no .detach() of the student)"
    ),
    "Inference tensors cannot be saved for backward": (
        "run the teacher under torch.no_grad(), not torch.inference_mode()"
    ),
}

# ----------------------------------------------------------------------------- the loss


def test_loss_value_matches_the_formula(learner, device, seed):
    """The loss equals alpha*T**2*KL(p_teacher||p_student) + (1-alpha)*CE, for several T."""
    rng = seed.python_random()
    for index, T in enumerate((1.0, 2.5, 4.0, round(rng.uniform(5.0, 8.0), 2))):
        s, t, y = _logits(seed, index, device)
        options = {"T": T, "alpha": round(rng.uniform(0.2, 0.8), 3)}
        got = _loss(learner, s, t, y, options)
        _check_value(got, s, t, y, options)


def test_loss_gradient_matches_the_formula(learner, device, seed):
    """The gradient for the student's logits equals the formula's (T**2 keeps its scale)."""
    rng = seed.python_random()
    for index, T in enumerate((4.0, round(rng.uniform(2.0, 3.0), 2))):
        s, t, y = _logits(seed, 10 + index, device)
        options = {"T": T, "alpha": round(rng.uniform(0.6, 0.9), 3)}
        got = _loss(learner, s, t, y, options)
        _check_gradient(got, s, t, y, options)
        _check_value(got, s, t, y, options)


def test_alpha_zero_and_one(learner, device, seed):
    """alpha=0 gives exactly the cross-entropy, alpha=1 exactly the distillation term."""
    s, t, y = _logits(seed, 20, device)
    for alpha in (0.0, 1.0):
        options = {"T": 2.5, "alpha": alpha}
        got = _loss(learner, s, t, y, options)
        call = _loss_call(s, t, y, options)
        if alpha == 0.0:
            want = F.cross_entropy(s, y)
            what = "the loss with alpha=0 (F.cross_entropy(student_logits, targets))"
        else:
            want = 6.25 * _kl(s, t, 2.5)
            what = "the loss with alpha=1 (T**2 times the KL term alone)"
        _check_value(got, s, t, y, options, want=want, what=what, call=call)
        _check_gradient(got, s, t, y, options)


def test_teacher_logits_get_no_gradient(learner, device, seed):
    """Teacher logits that require grad are treated as constants: their .grad stays None."""
    s, t, y = _logits(seed, 30, device)
    options = {"T": 4.0, "alpha": 0.7}
    got = _loss(learner, s, t, y, options, teacher_grad=True)
    call = f"{_loss_call(s, t, y, options)}, teacher_logits requiring grad, then loss.backward()"
    if got["teacher_grad"] is not None:
        raise fail(
            f"{call}; afterwards teacher_logits.grad is {describe(got['teacher_grad'])}: the "
            "teacher is a fixed target, detach its logits (teacher_logits.detach()) before "
            "the softmax"
        )
    _check_value(got, s, t, y, options, call=call)
    _check_gradient(got, s, t, y, options)


def test_loss_defaults_and_float32(learner, device, seed):
    """Without T and alpha the loss uses T=4 and alpha=0.5; float32 logits give a float32 loss."""
    for index, dtype in enumerate((torch.float64, torch.float32)):
        s, t, y = _logits(seed, 40 + index, device, dtype=dtype)
        got = _loss(learner, s, t, y, {})
        _check_value(got, s, t, y, {})
        _check_gradient(got, s, t, y, {})


def test_loss_validates_T_and_alpha(learner, device, seed):
    """T <= 0 and alpha outside [0, 1] raise ValueError; T just above 0, alpha 0 and 1 work."""
    s, t, y = _logits(seed, 50, device)
    for options in ({"T": 0.0}, {"T": -1.0}, {"alpha": -0.01}, {"alpha": 1.01}):
        call = _loss_call(s, t, y, options)
        expect_raises(learner.run, "ValueError", loss, s, t, y, options=options, what=call)
    for options in ({"T": 0.25, "alpha": 0.0}, {"T": 0.25, "alpha": 1.0}, {"T": 1e-3}):
        got = _loss(learner, s, t, y, options)
        _check_value(got, s, t, y, options)


# ----------------------------------------------------------------------------- the step


def test_distill_step_matches_a_correct_step(learner, device, seed):
    """After a few steps the student's weights and the returned losses equal a correct run's."""
    cfg = _StepConfig(seed, 60, device)
    got = _steps(learner, cfg, {"T": 3.0, "alpha": 0.6})
    _check_steps(got, cfg, {"T": 3.0, "alpha": 0.6})


def test_teacher_is_left_alone(learner, device, seed):
    """The teacher runs in eval mode under no_grad, and keeps its weights, stats, and no .grad."""
    cfg = _StepConfig(seed, 70, device)
    options = {"T": 2.0, "alpha": 0.5}
    got = _steps(learner, cfg, options)
    call = cfg.call(options)
    seen = got["teacher_seen"]
    if not seen:
        raise fail(f"{call}; the teacher was never called: teacher(x) gives the soft targets")
    if any(training for training, _ in seen):
        raise fail(
            f"{call}; the teacher's forward ran in train mode (Dropout dropped, BatchNorm used "
            "and updated the batch's statistics): call teacher.eval() before it"
        )
    if any(grad_on for _, grad_on in seen):
        raise fail(
            f"{call}; the teacher's forward ran with grad mode on, building a graph nobody "
            "needs: run it under torch.no_grad()"
        )
    if got["teacher_grads"]:
        raise fail(
            f"{call}; afterwards the teacher's {got['teacher_grads'][0]} has a .grad: no "
            "gradient may reach the teacher (no_grad forward, detached logits)"
        )
    if got["teacher_requires"] != cfg.teacher_requires:
        raise fail(f"{call}; afterwards the teacher's requires_grad flags changed: leave them")
    for key, value in cfg.teacher_state.items():
        if not torch.equal(got["teacher_state"][key], value):
            raise fail(
                f"{call}; afterwards the teacher's {key} has changed: the teacher only teaches "
                "(eval mode, no optimizer over its parameters)"
            )
    if any(got["teacher_modes"]):
        raise fail(f"{call}; afterwards the teacher is in train mode: leave it in eval mode")
    _check_steps(got, cfg, options)


def test_distill_step_options_and_defaults(learner, device, seed):
    """T and alpha reach the loss; without them distill_step uses T=4 and alpha=0.5."""
    for index, options in enumerate(({"T": 1.5, "alpha": 0.25}, {})):
        cfg = _StepConfig(seed, 80 + index, device)
        _check_steps(_steps(learner, cfg, options), cfg, options)


def test_distilling_the_backbone_teaches_the_student(learner, device, seed):
    """Twelve steps of distilling the pretrained backbone make a tiny student agree with it."""
    (x_train, y_train), (x_test, teacher_test) = _digits_0_to_4(seed.value, str(device))
    got = call_learner(
        learner.run, distill_backbone, x_train, y_train, call=_BACKBONE_CALL, hints=_HINTS,
        student_seed=seed.value % 1000,
    )  # fmt: skip
    student = _tiny_student().to(device)
    student.load_state_dict(got["student"])
    with torch.no_grad():
        agree = float((student(x_test).argmax(dim=1) == teacher_test).float().mean())
    if agree < 0.75:
        raise fail(
            f"{_BACKBONE_CALL}; afterwards the student agrees with the teacher on {agree:.0%} "
            f"of {len(teacher_test)} held-out digits, expected at least 75% (a correct step "
            "reaches about 90%)"
        )
    losses = got["losses"]
    for i, value in enumerate(losses):
        assert_python_float(value, what=f"the loss returned by step {i}", call=_BACKBONE_CALL)
    if not sum(losses[-3:]) < sum(losses[:3]):
        raise fail(f"{_BACKBONE_CALL}; the returned losses did not fall: {losses}")


# ----------------------------------------------------------------------------- scenarios


@scenario
def loss(
    mod: Any,
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    *,
    options: dict[str, float],
    teacher_grad: bool = False,
) -> dict[str, Any]:
    """distillation_loss on copies of the logits (the student's a leaf), then backward()."""
    student = s.detach().clone().requires_grad_(True)
    teacher = t.detach().clone().requires_grad_(teacher_grad)
    targets = y.clone()
    out = learner_attr(mod, "distillation_loss")(student, teacher, targets, **options)
    result: dict[str, Any] = {"out": out, "described": describe(out), "grad": None}
    if isinstance(out, torch.Tensor):
        result["out"] = out.detach().clone()
        result["requires_grad"] = out.requires_grad
        if out.requires_grad and out.numel() == 1:
            out.sum().backward()
            result["grad"] = None if student.grad is None else student.grad.clone()
    result["teacher_grad"] = None if teacher.grad is None else teacher.grad.clone()
    result["after"] = {"student_logits": student.detach(), "teacher_logits": teacher.detach(),
                       "targets": targets}  # fmt: skip
    return result


@scenario
def steps(
    mod: Any,
    spec: dict[str, Any],
    teacher_state: dict[str, torch.Tensor],
    student_state: dict[str, torch.Tensor],
    stale: dict[str, torch.Tensor],
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    options: dict[str, float],
) -> dict[str, Any]:
    """distill_step once per batch, on the test's teacher (train mode) and student (eval mode)."""
    teacher, student, optimizer = _build(spec, teacher_state, student_state, stale)
    teacher_seen: list[tuple[bool, bool]] = []
    student_seen: list[bool] = []
    handles = [
        teacher.register_forward_pre_hook(
            lambda m, a: teacher_seen.append((m.training, torch.is_grad_enabled()))
        ),
        student.register_forward_pre_hook(lambda m, a: student_seen.append(m.training)),
    ]
    step = learner_attr(mod, "distill_step")
    torch.manual_seed(spec["run_seed"])
    losses, forwards = [], []
    try:
        for x, y in batches:
            before = len(student_seen)
            value = step(student, teacher, x, y, optimizer, **options)
            forwards.append(len(student_seen) - before)
            losses.append(value if type(value) is float else describe(value))
    finally:
        for handle in handles:
            handle.remove()
    return {
        "losses": losses,
        "forwards": forwards,
        "student_seen": student_seen,
        "teacher_seen": teacher_seen,
        "student_state": {k: v.detach().clone() for k, v in student.state_dict().items()},
        "student_training": student.training,
        "teacher_state": {k: v.detach().clone() for k, v in teacher.state_dict().items()},
        "teacher_grads": [n for n, p in teacher.named_parameters() if p.grad is not None],
        "teacher_requires": [p.requires_grad for p in teacher.parameters()],
        "teacher_modes": [m.training for m in teacher.modules()],
    }


@scenario
def distill_backbone(
    mod: Any, x: torch.Tensor, y: torch.Tensor, *, student_seed: int
) -> dict[str, Any]:
    """Twelve distill_step calls: the pretrained backbone teaches a tiny student (Adam)."""
    teacher = _backbone(x.device)
    torch.manual_seed(student_seed)
    student = _tiny_student().to(x.device)
    optimizer = torch.optim.Adam(student.parameters(), lr=2e-2)
    step = learner_attr(mod, "distill_step")
    losses = []
    for i in range(12):
        rows = slice(32 * (i % 6), 32 * (i % 6) + 32)
        value = step(student, teacher, x[rows], y[rows], optimizer, T=4.0, alpha=0.9)
        losses.append(value if type(value) is float else describe(value))
    return {"student": student.state_dict(), "losses": losses}


# ----------------------------------------------------------------------------- the loss: judge


def _dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _logits(
    seed: Any, offset: int, device: torch.device, *, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Student and teacher logits (N, C) with N != C, and targets (N,)."""
    rng = seed.python_random(offset)
    n, c = rng.randint(5, 9), rng.randint(3, 7)
    if n == c:
        n += 2
    dtype = dtype or _dtype(device)
    gen = seed.generator(offset)
    s = 2.0 * torch.randn(n, c, generator=gen, dtype=torch.float64)
    t = 3.0 * torch.randn(n, c, generator=gen, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=gen)
    return s.to(device, dtype), t.to(device, dtype), y.to(device)


def _kl(s: torch.Tensor, t: torch.Tensor, T: float) -> torch.Tensor:
    """KL(p_teacher || p_student) at temperature T, summed over classes, mean over samples."""
    log_ps = torch.log_softmax(s / T, dim=1)
    log_pt = torch.log_softmax(t.detach() / T, dim=1)
    return (log_pt.exp() * (log_pt - log_ps)).sum(dim=1).mean()


def _formula(
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    T: float = 4.0,
    alpha: float = 0.5,
    mistake: str | None = None,
) -> torch.Tensor:
    """The documented loss, written out by hand, or one known mistake."""
    n, c = s.shape
    log_ps = torch.log_softmax(s / T, dim=1)
    log_pt = torch.log_softmax(t.detach() / T, dim=1)
    pt, ps = log_pt.exp(), log_ps.exp()
    per_sample = (pt * (log_pt - log_ps)).sum(dim=1)
    scale = T * T
    ce = -torch.log_softmax(s, dim=1).gather(1, y[:, None]).mean()
    if mistake == "no_t2":
        scale = 1.0
    kd = per_sample.mean()
    if mistake == "mean":
        kd = per_sample.sum() / (n * c)
    elif mistake == "sum":
        kd = per_sample.sum()
    elif mistake == "reversed":
        kd = (ps * (log_ps - log_pt)).sum(dim=1).mean()
    elif mistake == "probs_input":  # F.kl_div(softmax(s/T), softmax(t/T)): input must be log-probs
        kd = (pt * (log_pt - ps)).sum(dim=1).mean()
    elif mistake == "no_temperature":
        log_ps1, log_pt1 = torch.log_softmax(s, dim=1), torch.log_softmax(t.detach(), dim=1)
        kd = (log_pt1.exp() * (log_pt1 - log_ps1)).sum(dim=1).mean()
    elif mistake == "student_only":
        log_pt1 = torch.log_softmax(t.detach(), dim=1)
        kd = (log_pt1.exp() * (log_pt1 - log_ps)).sum(dim=1).mean()
    elif mistake == "ce_softened":
        ce = -log_ps.gather(1, y[:, None]).mean()
    if mistake == "alpha_swapped":
        return (1 - alpha) * scale * kd + alpha * ce
    return alpha * scale * kd + (1 - alpha) * ce


_LOSS_MISTAKES = (
    ("no_t2", "the distillation term lacks the T**2 factor, so its gradients are T**2 times "
     "too small: multiply the KL term by T**2"),
    ("mean", "the KL term uses reduction='mean', which divides by N * C: use "
     "reduction='batchmean' (divides by N, the KL per sample)"),
    ("sum", "the KL term is summed over the batch (reduction='sum'): use reduction='batchmean'"),
    ("reversed", "the KL divergence goes the wrong way, KL(p_student || p_teacher): F.kl_div's "
     "input is the STUDENT's log-probabilities, its target the teacher's distribution"),
    ("probs_input", "F.kl_div was given the student's probabilities: its input must be "
     "log-probabilities, F.log_softmax(student_logits / T, dim=1)"),
    ("no_temperature", "the logits are not divided by T before the softmaxes"),
    ("student_only", "only the student's logits are divided by T: soften the teacher's too"),
    ("ce_softened", "the cross-entropy uses the softened logits student_logits / T: the hard "
     "term is F.cross_entropy(student_logits, targets) at temperature 1"),
    ("alpha_swapped", "alpha weights the cross-entropy and 1 - alpha the distillation term: "
     "it is the other way round"),
)  # fmt: skip


def _tol(dtype: torch.dtype, device: torch.device) -> dict[str, float]:
    if dtype == torch.float64:
        return {"rtol": 1e-7, "atol": 1e-10}
    if device.type == "cpu":
        return {"rtol": 1e-5, "atol": 1e-6}
    return {"rtol": 1e-4, "atol": 1e-5}


def _loss_call(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, options: dict) -> str:
    opts = "".join(f", {k}={v!r}" for k, v in options.items())
    return (
        f"called distillation_loss(student_logits, teacher_logits, targets{opts}) with "
        f"logits: {describe(s)}, targets: {describe(y)}"
    )


def _loss(
    learner: Any,
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    options: dict[str, float],
    *,
    teacher_grad: bool = False,
) -> dict[str, Any]:
    call = _loss_call(s, t, y, options)
    try:
        got = call_learner(
            learner.run, loss, s, t, y, call=call, hints=_HINTS, options=options,
            teacher_grad=teacher_grad,
        )  # fmt: skip
    except LearnerError as exc:
        if exc.kind == "raised" and exc.is_a("ValueError"):
            first = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
            raise fail(
                f"{call} raised ValueError ({first}); these values are allowed: any T > 0, and "
                "alpha in [0, 1] with both ends included"
            ) from None
        raise
    out = got["out"]
    if isinstance(out, float):
        raise fail(f"{call}; returned a Python float: return the loss tensor (no .item())")
    assert_tensor(out, what="the loss", shape=(), dtype=s.dtype, device=s.device, call=call)
    if not got["requires_grad"]:
        raise fail(
            f"{call}; the loss does not require grad: it must stay connected to student_logits "
            "(no .item(), .detach() or torch.no_grad() on the student's part)"
        )
    for key, value in (("student_logits", s), ("teacher_logits", t), ("targets", y)):
        assert_unchanged(got["after"][key], value, what=key, call=call)
    return got


def _check_value(
    got: dict[str, Any],
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    options: dict[str, float],
    *,
    want: torch.Tensor | None = None,
    what: str = "the loss",
    call: str | None = None,
) -> None:
    call = call or _loss_call(s, t, y, options)
    expected = _formula(s, t, y, **options) if want is None else want
    tol = _tol(s.dtype, s.device)
    try:
        assert_close(got["out"], expected.detach(), what=what, call=call, **tol)
    except AssertionError as exc:
        named = _name(got, s, t, y, options, tol)
        raise fail(f"{exc}; {named}") from None


def _check_gradient(
    got: dict[str, Any],
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    options: dict[str, float],
) -> None:
    call = f"{_loss_call(s, t, y, options)}, then loss.backward()"
    want = _formula_grad(s, t, y, options)
    if got["grad"] is None:
        raise fail(f"{call}; student_logits.grad is None: the loss is not built from them")
    tol = _tol(s.dtype, s.device)
    try:
        assert_close(got["grad"], want, what="student_logits.grad", call=call, **tol)
    except AssertionError as exc:
        raise fail(f"{exc}; {_name(got, s, t, y, options, tol)}") from None


def _formula_grad(
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    options: dict[str, float],
    mistake: str | None = None,
) -> torch.Tensor:
    leaf = s.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_formula(leaf, t, y, **options, mistake=mistake), leaf)
    return grad


def _name(
    got: dict[str, Any],
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    options: dict[str, float],
    tol: dict[str, float],
) -> str:
    def agree(g: dict[str, Any], sim: tuple[torch.Tensor, torch.Tensor]) -> bool:
        value, grad = sim
        ok = torch.allclose(g["out"].to(value), value, **tol)
        if g.get("grad") is not None:
            ok = ok and torch.allclose(g["grad"].to(grad), grad, **tol)
        return bool(ok)

    simulated = (
        (
            (
                _formula(s, t, y, **options, mistake=m).detach(),
                _formula_grad(s, t, y, options, mistake=m),
            ),
            advice,
        )
        for m, advice in _LOSS_MISTAKES
    )
    named = name_the_mistake(got, simulated, agree)
    if named:
        return f"your loss matches one where {named}"
    return (
        "the loss is alpha * T**2 * F.kl_div(F.log_softmax(student_logits / T, dim=1), "
        "F.log_softmax(teacher_logits / T, dim=1), reduction='batchmean', log_target=True) + "
        "(1 - alpha) * F.cross_entropy(student_logits, targets)"
    )


# ----------------------------------------------------------------------------- the step: judge


class _Teacher(nn.Module):
    """Linear, BatchNorm1d, ReLU, Dropout, Linear: its output depends on the mode."""

    def __init__(self, d: int, h: int, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(0.3), nn.Linear(h, c)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Student(nn.Module):
    """Linear, ReLU, Dropout, Linear."""

    def __init__(self, d: int, h: int, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Dropout(0.2), nn.Linear(h, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _build(
    spec: dict[str, Any],
    teacher_state: dict[str, torch.Tensor],
    student_state: dict[str, torch.Tensor],
    stale: dict[str, torch.Tensor],
) -> tuple[nn.Module, nn.Module, torch.optim.Optimizer]:
    """The test's teacher (train mode), student (eval mode, stale .grad) and SGD optimizer."""
    device, dtype = spec["device"], spec["dtype"]
    teacher = _Teacher(spec["d"], spec["teacher_h"], spec["c"]).to(device, dtype)
    teacher.load_state_dict(teacher_state)
    teacher.train()
    student = _Student(spec["d"], spec["student_h"], spec["c"]).to(device, dtype)
    student.load_state_dict(student_state)
    student.eval()
    for name, p in student.named_parameters():
        p.grad = stale[name].to(device, dtype).clone()
    optimizer = torch.optim.SGD(student.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    return teacher, student, optimizer


class _StepConfig:
    """One random problem for distill_step: models, stale gradients, batches, a seed."""

    def __init__(self, seed: Any, offset: int, device: torch.device) -> None:
        rng = seed.python_random(offset)
        while True:
            d, th, sh, c = (
                rng.randint(4, 8),
                rng.randint(9, 14),
                rng.randint(5, 8),
                rng.randint(3, 5),
            )
            if len({d, th, sh, c}) == 4:
                break
        dtype = _dtype(device)
        self.spec = {
            "d": d, "teacher_h": th, "student_h": sh, "c": c, "device": device, "dtype": dtype,
            "lr": round(rng.uniform(0.05, 0.2), 3), "momentum": round(rng.uniform(0.5, 0.9), 2),
            "run_seed": rng.randrange(2**31 - 1),
        }  # fmt: skip
        torch.manual_seed(rng.randrange(2**31 - 1))
        teacher = _Teacher(d, th, c).to(dtype)
        with torch.no_grad():  # non-trivial BatchNorm parameters and running statistics
            bn = teacher.body[1]
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.3)
            bn.running_mean.normal_(0.0, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            teacher.body[4].weight.mul_(3.0)
        self.teacher_state = {k: v.detach().to(device) for k, v in teacher.state_dict().items()}
        self.teacher_requires = [True] * len(list(teacher.parameters()))
        student = _Student(d, sh, c).to(dtype)
        self.student_state = {k: v.detach().to(device) for k, v in student.state_dict().items()}
        gen = seed.generator(offset + 1)
        self.stale = {
            n: torch.randn(p.shape, generator=gen, dtype=dtype).to(device)
            for n, p in student.named_parameters()
        }
        self.batches = []
        for _ in range(3):
            n = rng.randint(6, 10)
            x = torch.randn(n, d, generator=gen, dtype=dtype).to(device)
            self.batches.append((x, torch.randint(0, c, (n,), generator=gen).to(device)))

    def call(self, options: dict[str, float]) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in options.items())
        s = self.spec
        return (
            f"called distill_step(student, teacher, x, y, optimizer{opts}) on 3 batches of "
            f"{s['d']} features, the teacher (Linear, BatchNorm1d, ReLU, Dropout, Linear) "
            "arriving in train mode, the student (Linear, ReLU, Dropout, Linear) in eval mode "
            f"with stale gradients, SGD(lr={s['lr']}, momentum={s['momentum']})"
        )

    def simulate(self, options: dict[str, float], mistake: str | None = None) -> dict[str, Any]:
        """The documented step on each batch (or one known mistake), run by the judge."""
        teacher, student, optimizer = _build(
            self.spec, self.teacher_state, self.student_state, self.stale
        )
        torch.manual_seed(self.spec["run_seed"])
        losses = []
        for x, y in self.batches:
            if mistake != "teacher_train":
                teacher.eval()
            with torch.no_grad():
                teacher_logits = teacher(x)
            if mistake != "student_eval":
                student.train()
            if mistake != "no_zero_grad":
                optimizer.zero_grad()
            value = _formula(
                student(x), teacher_logits, y, **({} if mistake == "defaults" else options)
            )
            value.backward()
            optimizer.step()
            losses.append(value.item())
        state = {k: v.detach().clone() for k, v in student.state_dict().items()}
        return {"student_state": state, "losses": losses}


_STEP_MISTAKES = (
    ("teacher_train", "the teacher ran in train mode: call teacher.eval() before its forward"),
    ("student_eval", "the student was trained in eval mode (Dropout off): call student.train()"),
    ("no_zero_grad", "the student's stale gradients were not cleared: call "
     "optimizer.zero_grad() before backward()"),
    ("defaults", "T and alpha were not passed on: the loss used its defaults T=4.0, alpha=0.5; "
     "call distillation_loss(..., T=T, alpha=alpha)"),
)  # fmt: skip


def _steps(learner: Any, cfg: _StepConfig, options: dict[str, float]) -> dict[str, Any]:
    call = cfg.call(options)
    got = call_learner(
        learner.run, steps, cfg.spec, cfg.teacher_state, cfg.student_state, cfg.stale,
        cfg.batches, call=call, hints=_HINTS, options=options,
    )  # fmt: skip
    for i, value in enumerate(got["losses"]):
        if not isinstance(value, float):
            raise fail(
                f"{call}; step {i} returned {value}: return the loss as a Python float "
                "(loss.item())"
            )
        assert_python_float(value, what=f"the loss returned by step {i}", call=call)
    if any(n != 1 for n in got["forwards"]):
        raise fail(
            f"{call}; the student ran {got['forwards']} forward passes per step: run it exactly "
            "once per step (each pass draws new Dropout masks)"
        )
    if any(not training for training in got["student_seen"]) or not got["student_training"]:
        raise fail(
            f"{call}; the student's forward ran in eval mode (it arrived in eval mode): call "
            "student.train() before it"
        )
    return got


def _check_steps(got: dict[str, Any], cfg: _StepConfig, options: dict[str, float]) -> None:
    call = cfg.call(options)
    want = cfg.simulate(options)
    tol = _tol(cfg.spec["dtype"], cfg.spec["device"])
    if not states_close(got["student_state"], want["student_state"], **tol):
        named = name_the_mistake(
            got["student_state"],
            ((cfg.simulate(options, m)["student_state"], a) for m, a in _STEP_MISTAKES),
            lambda g, s: states_close(g, s, **tol),
        )
        advice = (
            f"the weights match a step where {named}"
            if named
            else "per step: teacher.eval(), teacher(x) under torch.no_grad(), student.train(), "
            "zero_grad(), distillation_loss(student(x), teacher_logits, y, T=T, alpha=alpha), "
            "backward(), step()"
        )
        for key, value in want["student_state"].items():
            try:
                assert_close(
                    got["student_state"].get(key), value, what=f"the student's {key} after "
                    f"{len(cfg.batches)} steps", call=call, **tol,
                )  # fmt: skip
            except AssertionError as exc:
                raise fail(f"{exc}; {advice}") from None
        raise fail(f"{call}; {advice}")
    for i, (value, expected) in enumerate(zip(got["losses"], want["losses"], strict=True)):
        if not math.isclose(value, expected, rel_tol=tol["rtol"], abs_tol=tol["atol"]):
            raise fail(
                f"{call}; step {i} returned {value:.6g}, expected {expected:.6g}: return "
                "loss.item() of that step's distillation loss, computed before the update"
            )


# ----------------------------------------------------------------------------- the backbone


_BACKBONE_CALL = (
    "called distill_step(student, teacher, x, y, Adam(lr=0.02), T=4.0, alpha=0.9) 12 times on "
    "batches of 32 digits 0-4, the teacher the pretrained backbone, the student AvgPool2d(4), "
    "Flatten, Linear(192, 32), ReLU, Linear(32, 5)"
)


def _tiny_student() -> nn.Module:
    return nn.Sequential(
        nn.AvgPool2d(4), nn.Flatten(), nn.Linear(192, 32), nn.ReLU(), nn.Linear(32, 5)
    )


@functools.lru_cache(maxsize=1)
def _pretrained() -> nn.Module:
    model = data.make_backbone()
    path = data.verify_file(data.BACKBONE_FILE)
    model.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
    return model


def _backbone(device: torch.device) -> nn.Module:
    """A fresh copy of the pretrained backbone (5 classes: digits 0-4), in train mode."""
    return copy.deepcopy(_pretrained()).to(device).train()


@functools.lru_cache(maxsize=2)
def _digits_0_to_4(value: int, device: str) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """192 training digits 0-4 and 200 held-out ones with the teacher's predictions for them."""
    images, labels = data.load_digits()
    keep = labels < 5
    x, y = data.backbone_images(images[keep]), labels[keep]
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(value))
    train, test = order[:192], order[192:392]
    teacher = _backbone(torch.device(device)).eval()
    with torch.no_grad():
        predicted = teacher(x[test].to(device)).argmax(dim=1)
    return (x[train].to(device), y[train].to(device)), (x[test].to(device), predicted)
