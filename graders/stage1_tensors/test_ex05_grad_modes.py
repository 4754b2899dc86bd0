"""Grader for 1.5: no_grad, detach and inference_mode.

Each scenario builds small models from weights the test chose, calls the learner's function
and reports, as data, what it returned and what it observed (the autograd modes in force
during the forward pass, the models' flags and gradients afterwards). Every test also
compares a value the learner's code produced (a prediction, a loss, the head's gradients,
the averaged weights) with the reference solution's on the same inputs.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pytorch_path.checks import (
    assert_close,
    assert_grads,
    assert_requires_grad,
    assert_tensor,
    assert_unchanged,
    call_learner,
    describe,
    fail,
)
from pytorch_path.scenario import call_by_name, scenario

_EMA_HINTS = {
    "in-place operation": "Parameters are leaves that require grad: update them inside "
    "`with torch.no_grad():` so autograd does not record it."
}


# ----------------------------------------------------------------------------- tests


def test_predict_uses_inference_mode(learner, reference, device, seed):
    """predict runs the forward under torch.inference_mode() and returns an inference tensor."""
    rng = seed.python_random()
    for index in range(3):
        sizes = _sizes(rng)
        batch, d_in, _, _ = sizes
        torch.manual_seed(seed.value + index)
        state = _probe_net(*sizes[1:]).state_dict()
        train = index % 2 == 0
        x = seed.randn(batch, d_in, device=device, offset=index)
        if index == 2:
            x.requires_grad_(True)
        expected = reference.run(predict, sizes, state, x, train=train, device=device)
        mode = "train" if train else "eval"
        call = f"called predict(model, x) with a small MLP in {mode} mode and x: {describe(x)}"
        got = learner.run(predict, sizes, state, x, train=train, device=device)
        if not got["seen"]:
            raise fail(f"{call}; the model was never called; return model(x)")
        grad_on, inference_on = got["seen"][-1]
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
        assert_close(got["out"], expected["out"], what="the prediction", call=call, **_tol(device))
        if not got["is_inference"]:
            raise fail(
                f"{call}; the prediction is not an inference tensor (out.is_inference() is False);"
                " return model(x) exactly as computed inside torch.inference_mode(), do not "
                "clone or convert it after the with block"
            )
        _grad_mode_restored(got["modes_after"], call)
        if got["training_after"] != train:
            raise fail(
                f"{call}; predict switched the model to "
                f"{'train' if got['training_after'] else 'eval'} mode (it was in {mode} mode); "
                "inference_mode is about autograd only: leave model.train()/model.eval() to "
                "the caller"
            )
        assert_unchanged(got["x_after"], x.detach(), what="the input x", call=call)
        if got["grads_set"]:
            raise fail(
                f"{call}; afterwards {got['grads_set'][0]}.grad is set; predict must not run "
                "backward"
            )


def test_frozen_feature_loss(learner, reference, device, seed):
    """frozen_feature_loss gives the head's cross-entropy; backward reaches the head only."""
    rng = seed.python_random()
    dtype = _dtype(device)
    for index in range(3):
        sizes = _sizes(rng)
        batch, d_in, _, classes = sizes
        torch.manual_seed(seed.value + 100 + index)
        encoder, head = _encoder_head(sizes)
        states = (encoder.state_dict(), head.state_dict())
        x = seed.randn(batch, d_in, dtype=dtype, device=device, offset=index)
        y = seed.randint(0, classes, (batch,), device=device, offset=50 + index)
        args = (sizes, *states, x, y)
        expected = reference.run(frozen_loss, *args, dtype=dtype, device=device)
        call = (
            f"called frozen_feature_loss(encoder, head, x, y) with x: {describe(x)}, "
            f"y: {describe(y)}, {classes} classes"
        )

        got = learner.run(frozen_loss, *args, dtype=dtype, device=device)
        loss = got["loss"]
        assert_tensor(loss, what="the loss", shape=(), dtype=dtype, device=device, call=call)
        assert_close(loss, expected["loss"].detach(), what="the loss", call=call, **_tol(device))
        for name, (before, after) in got["encoder_flags"].items():
            if after != before:
                raise fail(
                    f"{call}; afterwards the encoder's {name}.requires_grad is {after}, "
                    f"it was {before}: freezing parameters outlives this call; cut the "
                    "graph with .detach() (or torch.no_grad()) instead"
                )
        if got["grads_before_backward"]:
            part, name = got["grads_before_backward"][0]
            raise fail(
                f"{call}; right after the call the {part}'s {name}.grad is already set: "
                "return the loss without calling backward(); the caller does that"
            )
        assert_requires_grad(loss, what="the loss", call=call)
        if got["backward_error"] is not None:
            raise fail(
                f"{call}; loss.backward() failed: {got['backward_error']}. The head's "
                "computation must stay in the graph"
            )
        if got["encoder_grads"]:
            raise fail(
                f"{call}; after loss.backward() the encoder's {got['encoder_grads'][0]} received "
                "a gradient: the graph still runs through the encoder. Detach the encoder's "
                "output (the features), not the input or the logits"
            )
        head_grads = got["head_grads"]
        assert_grads(head_grads, what=f"{call}; after loss.backward(), the head")
        for name, want in expected["head_grads"].items():
            assert_close(
                head_grads[name],
                want,
                what=f"the head's {name}.grad after loss.backward()",
                call=call,
                **_tol(device),
            )
        assert_unchanged(got["x_after"], x, what="the input x", call=call)
        assert_unchanged(got["y_after"], y, what="the input y", call=call)


def test_ema_update(learner, reference, device, seed):
    """ema_update blends target toward source in place (same Parameters, no graph); None back."""
    rng = seed.python_random()
    for index in range(3):
        sizes = _sizes(rng)
        target_state = _ema_state(sizes, seed.value + 200 + 2 * index)
        source_state = _ema_state(sizes, seed.value + 201 + 2 * index)
        decays = [_decay(rng) for _ in range(2)]
        args = (sizes, target_state, source_state)
        expected = reference.run(ema, *args, decays=decays, device=device)["steps"]
        for step, decay in enumerate(decays):
            call = f"called ema_update(target, source, decay={decay})" + (
                " a second time" if step else ""
            )
            got = call_learner(
                learner.run,
                ema,
                *args,
                decays=decays[: step + 1],
                device=device,
                call=call,
                hints=_EMA_HINTS,
            )
            record = got["steps"][step]
            _grad_mode_restored(record["modes_after"], call)
            if record["returned"] is not None:
                raise fail(
                    f"{call} returned {record['returned']}, expected None: ema_update changes "
                    "target's parameters in place, so there is nothing to return"
                )
            if record["source_changed"]:
                raise fail(
                    f"{call}; the source's {record['source_changed']} was changed; only target is "
                    "updated (check the order of the pair: target first, source second)"
                )
            if record["replaced"]:
                raise fail(
                    f"{call}; target's {record['replaced']} is no longer the same Parameter "
                    "object; an optimizer holding the old one would not see the update. Update "
                    "the tensor in place (p.mul_(...).add_(...) or p.copy_(...)) under "
                    "torch.no_grad()"
                )
            if record["frozen"]:
                raise fail(
                    f"{call}; afterwards target's {record['frozen']}.requires_grad is False; keep "
                    "it trainable and switch autograd off with torch.no_grad() instead"
                )
            if record["recorded"]:
                raise fail(
                    f"{call}; target's {record['recorded']} now has a grad_fn: the update was "
                    "recorded by autograd; do it under torch.no_grad()"
                )
            for name, want in expected[step]["target"].items():
                assert_close(
                    record["target"].get(name),
                    want,
                    what=f"target's {name} after the update",
                    call=call,
                    **_tol(device),
                )


# ----------------------------------------------------------------------------- scenarios


@scenario
def predict(
    mod: Any,
    sizes: tuple[int, int, int, int],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    *,
    train: bool,
    device: torch.device,
) -> dict[str, Any]:
    """predict(model, x) on a Probe with these weights; what it returned and what it saw."""
    model = Probe(*sizes[1:])
    model.net.load_state_dict(state)
    model.to(device)
    model.train(train)
    out = call_by_name(mod, "predict", model, x)
    is_tensor = isinstance(out, torch.Tensor)
    return {
        "seen": model.seen,
        "out": out,
        "is_inference": bool(is_tensor and out.is_inference()),
        "modes_after": _modes(),
        "training_after": model.training,
        "x_after": x.detach(),
        "grads_set": [name for name, p in model.named_parameters() if p.grad is not None],
    }


@scenario
def frozen_loss(
    mod: Any,
    sizes: tuple[int, int, int, int],
    encoder_state: dict[str, torch.Tensor],
    head_state: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> dict[str, Any]:
    """frozen_feature_loss(encoder, head, x, y), then loss.backward(): the loss and the grads."""
    encoder, head = _encoder_head(sizes)
    encoder.load_state_dict(encoder_state)
    head.load_state_dict(head_state)
    encoder.to(device, dtype)
    head.to(device, dtype)
    flags = {name: p.requires_grad for name, p in encoder.named_parameters()}
    loss = call_by_name(mod, "frozen_feature_loss", encoder, head, x, y)
    out: dict[str, Any] = {
        "loss": loss,
        "encoder_flags": {
            name: (flags[name], p.requires_grad) for name, p in encoder.named_parameters()
        },
        "grads_before_backward": [
            (part, name)
            for module, part in ((encoder, "encoder"), (head, "head"))
            for name, p in module.named_parameters()
            if p.grad is not None
        ],
        "backward_error": None,
        "encoder_grads": [],
        "head_grads": {},
    }
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        try:
            loss.backward()
        except RuntimeError as exc:
            out["backward_error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        out["encoder_grads"] = [n for n, p in encoder.named_parameters() if p.grad is not None]
        out["head_grads"] = {name: p.grad for name, p in head.named_parameters()}
    out["x_after"], out["y_after"] = x.detach(), y
    return out


@scenario
def ema(
    mod: Any,
    sizes: tuple[int, int, int, int],
    target_state: dict[str, torch.Tensor],
    source_state: dict[str, torch.Tensor],
    *,
    decays: list[float],
    device: torch.device,
) -> dict[str, Any]:
    """ema_update(target, source, decay) once per decay; what each call left behind."""
    target, source = _ema_net(sizes), _ema_net(sizes)
    target.load_state_dict(target_state)
    source.load_state_dict(source_state)
    target.to(device)
    source.to(device)
    params = dict(target.named_parameters())
    source_before = {n: p.detach().clone() for n, p in source.named_parameters()}
    steps = []
    for decay in decays:
        returned = call_by_name(mod, "ema_update", target, source, decay)
        now = dict(target.named_parameters())
        steps.append(
            {
                "modes_after": _modes(),
                "returned": None if returned is None else describe(returned),
                "source_changed": next(
                    (
                        n
                        for n, p in source.named_parameters()
                        if p.grad is not None or not torch.equal(p.detach(), source_before[n])
                    ),
                    None,
                ),
                "replaced": next((n for n, p in params.items() if now.get(n) is not p), None),
                "frozen": next((n for n, p in now.items() if not p.requires_grad), None),
                "recorded": next(
                    (n for n, p in now.items() if p.grad_fn is not None or not p.is_leaf), None
                ),
                "target": {n: p.detach().clone() for n, p in now.items()},
            }
        )
    return {"steps": steps}


# ----------------------------------------------------------------------------- helpers


class Probe(nn.Module):
    """A small MLP that records the autograd modes in force whenever its forward runs."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        """An MLP ``d_in -> hidden -> classes`` (its layers in ``net``)."""
        super().__init__()
        self.net = _probe_net(d_in, hidden, classes)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Record (grad enabled, inference mode), then run the MLP."""
        self.seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return self.net(x)


def _probe_net(d_in: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, classes))


def _encoder_head(sizes: tuple[int, int, int, int]) -> tuple[nn.Module, nn.Module]:
    _, d_in, hidden, classes = sizes
    encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden))
    head = nn.Sequential(nn.ReLU(), nn.Linear(hidden, classes))
    return encoder, head


def _ema_net(sizes: tuple[int, int, int, int]) -> nn.Module:
    _, d_in, hidden, classes = sizes
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.Tanh(), nn.Linear(hidden, classes)
    )


def _ema_state(sizes: tuple[int, int, int, int], seed: int) -> dict[str, torch.Tensor]:
    """The weights of an EMA model: default init plus noise (so LayerNorm is not all ones)."""
    torch.manual_seed(seed)
    model = _ema_net(sizes)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.state_dict()


def _modes() -> tuple[bool, bool]:
    """(grad enabled, inference mode enabled) right now."""
    return torch.is_grad_enabled(), torch.is_inference_mode_enabled()


def _grad_mode_restored(modes_after: tuple[bool, bool], call: str) -> None:
    grad_on, inference_on = modes_after
    if not grad_on or inference_on:
        raise fail(
            f"{call}; after it returned, autograd is still switched off for the caller "
            f"(grad enabled: {grad_on}, inference mode: {inference_on}); use a `with` block so "
            "the mode is restored"
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


def _decay(rng: Any) -> float:
    return round(rng.uniform(0.6, 0.97), 4)
