"""Grader for 1.5: no_grad, detach and inference_mode."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from pytorch_path.checks import (
    assert_close,
    assert_grad_flows,
    assert_requires_grad,
    assert_tensor,
    call_learner,
    describe,
    fail,
)


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for tight comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5} if device.type == "mps" else {}


def _sizes(rng: Any) -> tuple[int, int, int, int]:
    """Batch, input features, hidden units, classes: all different."""
    while True:
        sizes = (rng.randint(3, 9), rng.randint(2, 7), rng.randint(4, 10), rng.randint(2, 6))
        if len(set(sizes)) == 4:
            return sizes


class Probe(nn.Module):
    """A small MLP that records the autograd modes in force whenever its forward runs."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, classes))
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return self.net(x)


def _grad_mode_restored(call: str) -> None:
    if not torch.is_grad_enabled() or torch.is_inference_mode_enabled():
        raise fail(
            f"{call}; after it returned, autograd is still switched off for the caller "
            f"(grad enabled: {torch.is_grad_enabled()}, inference mode: "
            f"{torch.is_inference_mode_enabled()}); use a `with` block so the mode is restored"
        )


# ----------------------------------------------------------------------------- predict


def test_predict_uses_inference_mode(learner, reference, device, seed):
    """predict runs the forward under torch.inference_mode() and returns an inference tensor."""
    rng = seed.python_random()
    for index in range(3):
        batch, d_in, hidden, classes = _sizes(rng)
        torch.manual_seed(seed.value + index)
        model = Probe(d_in, hidden, classes).to(device)
        model.train(index % 2 == 0)
        was_training = model.training
        x = seed.randn(batch, d_in, device=device, offset=index)
        if index == 2:
            x.requires_grad_(True)
        expected = reference.predict(copy.deepcopy(model), x.detach().clone())
        x_before = x.detach().clone()
        mode = "train" if was_training else "eval"
        call = f"called predict(model, x) with a small MLP in {mode} mode and x: {describe(x)}"
        out = learner.predict(model, x)
        if not model.seen:
            raise fail(f"{call}; the model was never called; return model(x)")
        grad_on, inference_on = model.seen[-1]
        if grad_on:
            raise fail(
                f"{call}; during the forward pass autograd was recording a graph "
                "(torch.is_grad_enabled() was True); run model(x) inside torch.inference_mode()"
                " (detaching the output afterwards is too late: the graph was already built)"
            )
        if not inference_on:
            raise fail(
                f"{call}; the forward pass ran with gradients off but not in inference mode "
                "(torch.no_grad() or set_grad_enabled(False)?); predict must use "
                "torch.inference_mode(), which also skips autograd's bookkeeping"
            )
        assert_close(out, expected, what="the prediction", call=call, **_tol(device))
        if not out.is_inference():
            raise fail(
                f"{call}; the prediction is not an inference tensor (out.is_inference() is False);"
                " return model(x) exactly as computed inside torch.inference_mode(), do not "
                "clone or convert it after the with block"
            )
        _grad_mode_restored(call)
        if model.training != was_training:
            raise fail(
                f"{call}; predict switched the model to {'train' if model.training else 'eval'} "
                f"mode (it was in {'train' if was_training else 'eval'} mode); inference_mode is "
                "about autograd only: leave model.train()/model.eval() to the caller"
            )
        if not torch.equal(x.detach(), x_before):
            raise fail(f"{call}; the input x was changed in place")
        for name, p in model.named_parameters():
            if p.grad is not None:
                raise fail(f"{call}; afterwards {name}.grad is set; predict must not run backward")


# ----------------------------------------------------------------------------- frozen features


def _encoder_head(seed: Any, index: int, sizes: tuple[int, int, int, int], device: Any):
    _, d_in, hidden, classes = sizes
    torch.manual_seed(seed.value + 100 + index)
    encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden))
    head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, classes))
    return encoder.to(device, _dtype(device)), head.to(device, _dtype(device))


def test_frozen_feature_loss(learner, reference, device, seed):
    """frozen_feature_loss gives the head's cross-entropy; backward reaches the head only."""
    rng = seed.python_random()
    for index in range(3):
        sizes = _sizes(rng)
        batch, d_in, _, classes = sizes
        encoder, head = _encoder_head(seed, index, sizes, device)
        x = seed.randn(batch, d_in, dtype=_dtype(device), device=device, offset=index)
        y = seed.randint(0, classes, (batch,), device=device, offset=50 + index)
        enc_ref, head_ref = copy.deepcopy(encoder), copy.deepcopy(head)
        expected = reference.frozen_feature_loss(enc_ref, head_ref, x.clone(), y.clone())
        expected.backward()
        expected_grads = {name: p.grad for name, p in head_ref.named_parameters()}
        x_before, y_before = x.clone(), y.clone()
        flags = {name: p.requires_grad for name, p in encoder.named_parameters()}
        call = (
            f"called frozen_feature_loss(encoder, head, x, y) with x: {describe(x)}, "
            f"y: {describe(y)}, {classes} classes"
        )

        loss = learner.frozen_feature_loss(encoder, head, x, y)
        assert_tensor(
            loss, what="the loss", shape=(), dtype=_dtype(device), device=device, call=call
        )
        assert_close(loss, expected.detach(), what="the loss", call=call, **_tol(device))
        for name, p in encoder.named_parameters():
            if p.requires_grad != flags[name]:
                raise fail(
                    f"{call}; afterwards the encoder's {name}.requires_grad is {p.requires_grad}, "
                    f"it was {flags[name]}: freezing parameters outlives this call; cut the "
                    "graph with .detach() (or torch.no_grad()) instead"
                )
        for module, part in ((encoder, "encoder"), (head, "head")):
            for name, p in module.named_parameters():
                if p.grad is not None:
                    raise fail(
                        f"{call}; right after the call the {part}'s {name}.grad is already set: "
                        "return the loss without calling backward(); the caller does that"
                    )
        assert_requires_grad(loss, what="the loss", call=call)
        try:
            loss.backward()
        except RuntimeError as exc:
            raise fail(
                f"{call}; loss.backward() failed: {str(exc).splitlines()[0]}. The head's "
                "computation must stay in the graph"
            ) from exc
        for name, p in encoder.named_parameters():
            if p.grad is not None:
                raise fail(
                    f"{call}; after loss.backward() the encoder's {name} received a gradient: "
                    "the graph still runs through the encoder. Detach the encoder's output "
                    "(the features), not the input or the logits"
                )
        assert_grad_flows(head, what=f"{call}; after loss.backward(), the head")
        for name, p in head.named_parameters():
            assert_close(
                p.grad,
                expected_grads[name],
                what=f"the head's {name}.grad after loss.backward()",
                call=call,
                **_tol(device),
            )
        if not (torch.equal(x, x_before) and torch.equal(y, y_before)):
            raise fail(f"{call}; the inputs x or y were changed in place")


# ----------------------------------------------------------------------------- EMA


def _ema_models(seed: Any, index: int, device: Any, rng: Any) -> tuple[nn.Module, nn.Module]:
    _, d_in, hidden, classes = _sizes(rng)

    def build(offset: int) -> nn.Module:
        torch.manual_seed(seed.value + offset)
        model = nn.Sequential(
            nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.Tanh(), nn.Linear(hidden, classes)
        )
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))
        return model.to(device)

    return build(200 + 2 * index), build(201 + 2 * index)


def _decay(rng: Any) -> float:
    return round(rng.uniform(0.6, 0.97), 4)


def test_ema_update(learner, reference, device, seed):
    """ema_update blends target toward source in place: same Parameters, no graph, source intact."""
    rng = seed.python_random()
    for index in range(3):
        target, source = _ema_models(seed, index, device, rng)
        target_ref, source_ref = copy.deepcopy(target), copy.deepcopy(source)
        params = dict(target.named_parameters())
        source_before = {n: p.detach().clone() for n, p in source.named_parameters()}
        for step in range(2):
            decay = _decay(rng)
            reference.ema_update(target_ref, source_ref, decay)
            call = f"called ema_update(target, source, decay={decay})" + (
                " a second time" if step else ""
            )
            call_learner(
                learner.ema_update,
                target,
                source,
                decay,
                call=call,
                hints={
                    "in-place operation": "Parameters are leaves that require grad: update "
                    "them inside `with torch.no_grad():` so autograd does not record it."
                },
            )
            _grad_mode_restored(call)
            for name, p in source.named_parameters():
                if not torch.equal(p.detach(), source_before[name]) or p.grad is not None:
                    raise fail(
                        f"{call}; the source's {name} was changed; only target is updated "
                        "(check the order of the pair: target first, source second)"
                    )
            now = dict(target.named_parameters())
            for name, p in params.items():
                if now.get(name) is not p:
                    raise fail(
                        f"{call}; target's {name} is no longer the same Parameter object; an "
                        "optimizer holding the old one would not see the update. Update the "
                        "tensor in place (p.mul_(...).add_(...) or p.copy_(...)) under "
                        "torch.no_grad()"
                    )
                if not p.requires_grad:
                    raise fail(
                        f"{call}; afterwards target's {name}.requires_grad is False; keep it "
                        "trainable and switch autograd off with torch.no_grad() instead"
                    )
                if p.grad_fn is not None or not p.is_leaf:
                    raise fail(
                        f"{call}; target's {name} now has a grad_fn: the update was recorded by "
                        "autograd; do it under torch.no_grad()"
                    )
            for name, p in target_ref.named_parameters():
                assert_close(
                    now[name].detach(),
                    p.detach(),
                    what=f"target's {name} after the update",
                    call=call,
                    **_tol(device),
                )
