"""Grader for 3.7: scaled dot-product attention, sinusoidal positions, a pre-norm block.

The attention function is compared with ``torch.nn.functional.scaled_dot_product_attention``
(bool ``attn_mask``, ``is_causal``) in float64 on shapes where Tq != Tk != d_k != d_v,
with the fully masked rows (which torch may leave as NaN) defined as zeros. When values
disagree, the learner's result is compared with the usual wrong variants (no scaling,
scaling by d_k, mask inverted, softmax over queries, mask ignored) to name the mistake;
while the learner's function runs, torch's own attention is wrapped so that calling it
(which the contract forbids) shows.
The modules are compared with the reference after ``load_state_dict(strict=True)``, in
eval mode and float64, and a mismatch is checked against post-norm, missing residuals,
scaling by sqrt(d_model) and an inverted or ignored padding mask. In train mode the block's
output is compared with the reference's after the same ``torch.manual_seed`` (dropout on
each sublayer's output); the position table is also built with its defaults (float32, CPU).

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    assert_close,
    assert_grads,
    assert_tensor,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import scenario

TIGHT = {"rtol": 1e-7, "atol": 1e-9}
LOOSE = {"rtol": 1e-4, "atol": 1e-5}


# ----------------------------------------------------------------------------- attention


@pytest.mark.points(2)
def test_attention_matches_torch(learner, device, seed):
    """out and weights match F.scaled_dot_product_attention (bool attn_mask) with Tq != Tk."""
    rng = seed.python_random()
    for i in range(4):
        b, h, tq, tk, d, dv = _sizes(rng)
        dtype = torch.float64 if device.type != "mps" and i != 3 else torch.float32
        q, k, v = _qkv(seed, (b, h, tq, d), tk, dv, dtype=dtype, device=device, offset=10 * i)
        _check_attention(learner, q, k, v, None, False)
        mask_shape = [(tq, tk), (b, 1, tq, tk), (b, h, tq, tk), (1, h, 1, tk)][i]
        mask = _mask(seed, mask_shape, device=device, offset=10 * i + 5)
        _check_attention(learner, q, k, v, mask, False)
    b, tq, tk, d, dv = rng.sample(range(2, 10), 5)
    q, k, v = _qkv(seed, (b, tq, d), tk, dv, dtype=torch.float32, device=device, offset=99)
    _check_attention(learner, q, k, v, _mask(seed, (b, tq, tk), device=device, offset=98), False)


def test_scaled_by_sqrt_d_k(learner, device, seed):
    """The scores are divided by sqrt(d_k), the last dim of q (not d_k, not left unscaled)."""
    rng = seed.python_random()
    for i, d in enumerate((16, 3, 36)):
        b, h, tq, tk = rng.sample(range(2, 7), 4)
        q, k, v = _qkv(seed, (b, h, tq, d), tk, 5, dtype=torch.float64, device=device, offset=i)
        _check_attention(learner, q * 0.6, k, v, None, False)


def test_weights_are_distributions(learner, device, seed):
    """Each weights row sums to 1 over the keys, with exact zeros where the mask is False."""
    rng = seed.python_random()
    for i in range(3):
        b, h, tq, tk, d, dv = _sizes(rng)
        q, k, v = _qkv(seed, (b, h, tq, d), tk, dv, dtype=torch.float64, device=device, offset=i)
        mask = _mask(seed, (b, 1, tq, tk), device=device, offset=i + 20, p=0.3)
        mask[..., 0] = True  # no empty rows here
        call = call_repr("scaled_dot_product_attention", q, k, v, mask=mask)
        _, weights = _check_attention(learner, q, k, v, mask, False)
        sums = weights.sum(-1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-9):
            raise fail(
                f"{call}; the weights rows (last dim, over keys) sum to values such as "
                f"{float(sums.flatten()[0]):.4g}, expected 1: softmax over the keys, dim=-1"
            )
        blocked = weights.masked_select(~mask.expand(weights.shape))
        if blocked.numel() and float(blocked.abs().max()) != 0.0:
            raise fail(
                f"{call}; weights are non-zero where the mask is False (up to "
                f"{float(blocked.abs().max()):.3g}); False means blocked: set those scores to "
                "-inf (not a large negative number, not 0) before the softmax"
            )


def test_fully_masked_rows_and_short_sequences(learner, reference, device, seed):
    """Fully masked rows give zeros (no NaN, also in backward); Tq = 1 and Tk = 1 work."""
    rng = seed.python_random()
    b, h, tq, tk, d, dv = _sizes(rng)
    q, k, v = _qkv(seed, (b, h, tq, d), tk, dv, dtype=torch.float64, device=device, offset=0)
    mask = _mask(seed, (b, h, tq, tk), device=device, offset=3)
    mask[0, :, 1] = False
    mask[1, 0] = False
    mask[1, 1, :, 0] = True
    for t in (q, k, v):
        t.requires_grad_(True)
    out, weights, grads = _check_attention(learner, q, k, v, mask, False, backward=True)
    call = call_repr("scaled_dot_product_attention", q, k, v, mask=mask) + ", then backward"
    if not (weights[0, :, 1] == 0).all() or not (out[0, :, 1] == 0).all():
        raise fail(f"{call}; a fully masked row must have weights all 0 and out all 0")
    for name, grad in zip("qkv", grads, strict=True):
        if grad is None or not bool(torch.isfinite(grad).all()):
            raise fail(
                f"{call}; the gradient of {name} is {describe(grad)} with NaN or missing: "
                "avoid softmax over a row of only -inf (it gives NaN, also in backward)"
            )
    want = reference.run(attention, q, k, v, options={"mask": mask}, backward=True)["grads"]
    for name, grad, expected in zip("qkv", grads, want, strict=True):
        assert_close(grad, expected, what=f"the gradient of {name}", call=call, **TIGHT)
    # Padding mask (B, 1, 1, Tk): batch element 0 has its last keys padded.
    q, k, v = _qkv(seed, (b, h, tq, d), tk, dv, dtype=torch.float64, device=device, offset=7)
    pad = torch.ones(b, 1, 1, tk, dtype=torch.bool, device=device)
    pad[0, ..., tk // 2 :] = False
    _check_attention(learner, q, k, v, pad, False)
    for tq1, tk1 in ((1, tk), (tq, 1), (1, 1)):
        q, k, v = _qkv(seed, (b, h, tq1, d), tk1, dv, dtype=torch.float64, device=device, offset=9)
        _check_attention(learner, q, k, v, None, False)
        _check_attention(
            learner, q, k, v, _mask(seed, (b, 1, tq1, tk1), device=device, offset=11), False
        )


def test_causal(learner, device, seed):
    """causal=True lets query i see keys j <= i only (is_causal), also combined with a mask."""
    rng = seed.python_random()
    for i in range(3):
        b, h, t, d, dv = rng.sample(range(2, 10), 5)
        q, k, v = _qkv(seed, (b, h, t, d), t, dv, dtype=torch.float64, device=device, offset=i)
        call = call_repr("scaled_dot_product_attention", q, k, v, causal=True)
        _, weights = _check_attention(learner, q, k, v, None, True)
        upper = torch.ones(t, t, dtype=torch.bool, device=device).triu(1)
        if float(weights[..., upper].abs().max()) != 0.0:
            raise fail(f"{call}; query i attends a later key j > i: block the upper triangle")
        mask = _mask(seed, (b, 1, 1, t), device=device, offset=i + 30)
        _check_attention(learner, q, k, v, mask, True)


# ----------------------------------------------------------------------------- positions


def test_sinusoidal_positions(learner, device, seed):
    """sinusoidal_positions matches sin(t / 10000^(2i/d)) / cos(...) interleaved, in its dtype."""
    rng = seed.python_random()
    sizes = [(1, 2), (rng.randint(9, 20), 6), (rng.randint(21, 40), 16), (7, rng.choice([10, 12]))]
    for j, (t, d) in enumerate(sizes):
        dtype = torch.float32 if j % 2 or device.type == "mps" else torch.float64
        expected = _closed_form(t, d).to(dtype=dtype, device=device)
        call = call_repr("sinusoidal_positions", t, d, device=device, dtype=dtype)
        got = learner.sinusoidal_positions(t, d, device=device, dtype=dtype)
        assert_tensor(got, shape=(t, d), dtype=dtype, device=device, call=call)
        if not torch.allclose(got, expected, **_tol(dtype)):
            for text, variant in _position_variants(t, d):
                if _near(got, variant):
                    raise fail(f"{call}; the table has wrong values: {text}")
            gap = float((got.double().cpu() - expected.double().cpu()).abs().max())
            if dtype == torch.float64 and gap < 1e-4:
                raise fail(
                    f"{call}; the values are right only to float32 precision (largest gap "
                    f"{gap:.2g}): build the table in the requested dtype from the start"
                )
        assert_close(got, expected, what="the position table", call=call, **_tol(dtype))


def test_sinusoidal_positions_defaults(learner, seed):
    """Without device and dtype, the table is float32 on the CPU (the documented defaults)."""
    rng = seed.python_random(1)
    t, d = rng.randint(5, 16), rng.choice([4, 8, 10])
    call = call_repr("sinusoidal_positions", t, d)
    got = learner.sinusoidal_positions(t, d)
    if isinstance(got, torch.Tensor) and got.dtype != torch.float32:
        raise fail(
            f"{call} gave a {got.dtype} table; with dtype left out it is torch.float32 "
            "(the default in the signature: dtype=torch.float32)"
        )
    assert_tensor(got, shape=(t, d), dtype=torch.float32, device=torch.device("cpu"), call=call)
    assert_close(got, _closed_form(t, d).float(), what="the position table", call=call, **LOOSE)


# ----------------------------------------------------------------------------- modules


def test_multi_head_attention_matches_reference(learner, reference, device, seed):
    """MultiHeadSelfAttention matches the reference after load_state_dict (strict), padding too."""
    rng = seed.python_random()
    for i, (dm, h) in enumerate(((12, 3), (16, 4), (10, 1))):
        b, t = rng.sample(range(2, 8), 2)
        state = reference.run(mha_state, dm, h, init_seed=rng.randint(0, 10**6))
        what = f"MultiHeadSelfAttention({dm}, {h})"
        x = seed.randn(b, t, dm, dtype=torch.float64, device=device, offset=i)
        kpm = _padding(seed, b, t, device=device, offset=i + 10)
        masks = [None, kpm]
        spec = {"kind": "mha", "args": (dm, h), "kwargs": {}, "what": what}
        expected = _forward(reference, spec, state, x, masks, device=device)
        got = _forward(learner, spec, state, x, masks, device=device)
        twin = _twin_mha(dm, h, state, device)
        for mask, out, want in zip(masks, got["outs"], expected["outs"], strict=True):
            call = call_repr(f"{what}.forward", x, key_padding_mask=mask)

            def variant(kind: str, twin=twin, x=x, mask=mask) -> torch.Tensor:
                return _mha_variant(twin, x, mask, kind)

            _compare_module(out, want, variant, MHA_MISTAKES, call)


@pytest.mark.points(2)
def test_block_matches_reference(learner, reference, device, seed):
    """The block is pre-norm with two residuals and matches the reference in eval mode."""
    rng = seed.python_random()
    for i, dims in enumerate(((12, 3, 20), (8, 2, 14))):
        state = reference.run(block_state, dims, init_seed=rng.randint(0, 10**6))
        spec = _block_spec(dims, dropout=0.25)
        b, t = rng.sample(range(2, 8), 2)
        x = seed.randn(b, t, dims[0], dtype=torch.float64, device=device, offset=i) * 2 + 0.5
        kpm = _padding(seed, b, t, device=device, offset=i + 10)
        masks = [None, kpm]
        expected = _forward(reference, spec, state, x, masks, device=device)
        got = _forward(learner, spec, state, x, masks, device=device)
        twin = _twin_block(dims, state, device)
        for mask, out, want in zip(masks, got["outs"], expected["outs"], strict=True):
            call = call_repr(f"{spec['what']}.eval().forward", x, key_padding_mask=mask)

            def variant(kind: str, twin=twin, x=x, mask=mask) -> torch.Tensor:
                return _block_variant(twin, x, mask, kind)

            _compare_module(out, want, variant, BLOCK_MISTAKES, call)
        if not torch.equal(got["x_after"], x):
            call = call_repr(f"{spec['what']}.eval().forward", x, key_padding_mask=masks[-1])
            raise fail(f"{call} changed its input x in place; use x = x + ..., not x += ...")


def test_block_padding_is_ignored(learner, reference, device, seed):
    """Real tokens' outputs do not change when the padded positions' values change."""
    rng = seed.python_random()
    dims = (12, 3, 16)
    state = reference.run(block_state, dims, init_seed=rng.randint(0, 10**6))
    spec = _block_spec(dims)
    b, t = rng.sample(range(3, 8), 2)
    x = seed.randn(b, t, 12, dtype=torch.float64, device=device, offset=1)
    kpm = _padding(seed, b, t, device=device, offset=2)
    noise = seed.randn(b, t, 12, dtype=torch.float64, device=device, offset=3) * 5
    x2 = torch.where(kpm[..., None], x + noise, x)
    call = call_repr(f"{spec['what']}.forward", x, key_padding_mask=kpm)
    out1, out2 = _forward(learner, spec, state, [x, x2], [kpm, kpm], device=device)["outs"]
    assert_tensor(out1, shape=tuple(x.shape), dtype=torch.float64, device=device, call=call)
    assert_tensor(out2, shape=tuple(x.shape), dtype=torch.float64, device=device, call=call)
    real = ~kpm
    gap = float((out1 - out2)[real].abs().max())
    if gap > 1e-9:
        raise fail(
            f"{call}; changing only the padded positions of x changed the outputs of real tokens "
            f"(by up to {gap:.3g}): padded keys (key_padding_mask True) must get zero attention"
        )
    # The outputs of real tokens are the reference's too.
    want = _forward(reference, spec, state, [x], [kpm], device=device)["outs"][0]
    twin = _twin_block(dims, state, device)
    _compare_module(
        out1, want, lambda kind: _block_variant(twin, x, kpm, kind), BLOCK_MISTAKES, call
    )


def test_block_dropout_in_train_mode(learner, reference, seed):
    """In train mode, self.dropout drops parts of each sublayer's output before its residual add."""
    rng = seed.python_random(7)
    dims = (8, 2, 12)
    state = reference.run(block_state, dims, init_seed=rng.randint(0, 10**6))
    spec = _block_spec(dims, dropout=0.5)
    b, t = rng.sample(range(2, 7), 2)
    x = seed.randn(b, t, 8, dtype=torch.float64, offset=7)
    torch_seed = rng.randint(0, 2**31 - 1)
    want = reference.run(train_forward, spec, state, x, torch_seed)
    got = learner.run(train_forward, spec, state, x, torch_seed)
    _loaded(got, spec, state)
    call = (
        f"torch.manual_seed({torch_seed}); {spec['what']}.train().forward(x) with x: {describe(x)}"
    )
    out, still = got["train_out"], got["eval_out"]
    assert_tensor(out, what="the output", shape=tuple(x.shape), call=call)
    if isinstance(still, torch.Tensor) and torch.allclose(out, still, **TIGHT):
        raise fail(
            f"{call}: the output is the eval-mode one, so nothing was dropped; apply "
            "self.dropout (nn.Dropout(dropout)) to the attention's and the feed-forward's "
            "outputs, each just before its residual add: h = x + dropout(attn(norm1(x)))"
        )
    if not torch.allclose(out, want["train_out"], **TIGHT):
        raise fail(
            f"{call}: the output differs from a correct block's under the same seed; dropout "
            "belongs on each sublayer's output just before its residual add (h = x + "
            "dropout(attn(norm1(x))), out = h + dropout(ff(norm2(h)))), nowhere else: not on "
            "x, h or the result, and not twice"
        )
    assert_close(out, want["train_out"], what="the train-mode output", call=call, **TIGHT)


def test_gradients_reach_every_parameter(learner, reference, device, seed):
    """Backward through the block gives every parameter the same gradient as the reference."""
    rng = seed.python_random()
    dims = (8, 2, 12)
    state = reference.run(block_state, dims, init_seed=rng.randint(0, 10**6))
    spec = _block_spec(dims)
    b, t = rng.sample(range(2, 7), 2)
    x = seed.randn(b, t, 8, dtype=torch.float64, device=device, offset=4)
    kpm = _padding(seed, b, t, device=device, offset=5)
    g = seed.randn(b, t, 8, dtype=torch.float64, device=device, offset=6)
    want = _backward(reference, spec, state, x, kpm, g, device=device)
    call = call_repr(f"{spec['what']}.forward", x, key_padding_mask=kpm) + ", then backward"
    got = _backward(learner, spec, state, x, kpm, g, device=device)
    assert_grads(got, what=spec["what"])
    for name, expected in want.items():
        assert_close(got.get(name), expected, what=f"the gradient of {name}", call=call, **TIGHT)


def test_block_structure(learner, reference, device, seed):
    """The block has norm1, attn (q/k/v/out_proj), norm2, ff = Linear-GELU-Linear, dropout."""
    what = "PreNormEncoderBlock(12, 3, 20)"
    x = seed.randn(2, 5, 12)
    got = learner.run(block_structure, x)
    if got["built"] is not None:
        raise fail(f"{what} is {got['built']}; it must be an nn.Module subclass")
    for name, (ok, described, cls) in got["parts"].items():
        if not ok:
            raise fail(f"{what}.{name} is {described}; expected a {cls}")
    if got["ff_kinds"] != ["Linear", "GELU", "Linear"] or not got["ff_exact"]:
        raise fail(
            f"{what}.ff holds {got['ff_kinds']}; expected "
            "nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))"
        )
    if got["approximate"] != "none":
        raise fail(f"{what}.ff[1] is GELU(approximate={got['approximate']!r}); use nn.GELU()")
    for name, (ok, described) in got["projections"].items():
        if not ok:
            raise fail(f"{what}.attn.{name} is {described}; expected nn.Linear(12, 12)")
    ref_keys = list(reference.run(block_state, (12, 3, 20), init_seed=0))
    mine_keys = list(got["state"])
    if sorted(mine_keys) != sorted(ref_keys):
        raise fail(f"{what}.state_dict() has keys {mine_keys}; expected {ref_keys}")
    train_out, eval_out = got["train_out"], got["eval_out"]
    assert_tensor(
        eval_out, what="the output", shape=tuple(x.shape), call=f"{what} on {describe(x)}"
    )
    assert_tensor(
        train_out, what="the output", shape=tuple(x.shape), call=f"{what} on {describe(x)}"
    )
    if not torch.allclose(train_out, eval_out, atol=1e-6):
        raise fail(
            f"{what} with dropout=0.0 gives different outputs in train and eval mode; with "
            "dropout 0 (and no other randomness) they must agree"
        )
    # Its own initial weights, loaded into the reference block, give the same output.
    spec = _block_spec((12, 3, 20))
    want = reference.run(
        module_forward, spec, got["state"], [x.double()], [None], device=torch.device("cpu")
    )
    if want["load_error"] is not None:
        raise fail(
            f"{what}: the reference block cannot load its weights ({want['load_error']}); give "
            "each layer the documented size"
        )
    assert_close(
        eval_out, want["outs"][0].float(), what="the output with its own initial weights",
        call=f"{what}.eval() on {describe(x)}", **LOOSE,
    )  # fmt: skip


# ----------------------------------------------------------------------------- scenarios


@scenario
def attention(
    mod: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    options: dict[str, Any],
    backward: bool = False,
) -> dict[str, Any]:
    """scaled_dot_product_attention(q, k, v, **options); the inputs afterwards; the gradients.

    With ``backward``, ``(out ** 2).sum()`` is back-propagated to q, k and v. While the
    learner's function runs, ``torch.nn.functional.scaled_dot_product_attention`` is
    wrapped so that a call to it is noticed (the contract forbids it).
    """
    torch_sdpa = F.scaled_dot_product_attention
    used: list[bool] = []

    def noticed(*args: Any, **kwargs: Any) -> Any:
        used.append(True)
        return torch_sdpa(*args, **kwargs)

    F.scaled_dot_product_attention = noticed
    try:
        result = mod.scaled_dot_product_attention(q, k, v, **options)
    finally:
        F.scaled_dot_product_attention = torch_sdpa
    answer: dict[str, Any] = {
        "is_pair": isinstance(result, tuple) and len(result) == 2,
        "described": describe(result),
        "inputs_after": [t.detach() for t in (q, k, v)],
        "mask_after": options.get("mask"),
        "used_torch_sdpa": bool(used),
    }
    if not answer["is_pair"]:
        return answer
    out = result[0]
    answer["result"] = tuple(t.detach() if isinstance(t, torch.Tensor) else t for t in result)
    if backward:
        grads = [None, None, None]
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.pow(2).sum().backward()
            grads = [t.grad for t in (q, k, v)]
        answer["grads"] = grads
    return answer


@scenario
def mha_state(mod: Any, d_model: int, n_heads: int, *, init_seed: int) -> dict[str, Any]:
    """The state_dict of a fresh MultiHeadSelfAttention (``torch.manual_seed`` first)."""
    torch.manual_seed(init_seed)
    return mod.MultiHeadSelfAttention(d_model, n_heads).state_dict()


@scenario
def block_state(mod: Any, dims: tuple[int, int, int], *, init_seed: int) -> dict[str, Any]:
    """The state_dict of a fresh PreNormEncoderBlock, its LayerNorms given random affines."""
    torch.manual_seed(init_seed)
    blk = mod.PreNormEncoderBlock(*dims)
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        for norm in (blk.norm1, blk.norm2):
            norm.weight.add_(torch.randn_like(norm.weight) * 0.3)
            norm.bias.add_(torch.randn_like(norm.bias) * 0.3)
    return blk.state_dict()


@scenario
def module_forward(
    mod: Any,
    spec: dict[str, Any],
    state: dict[str, torch.Tensor],
    xs: list[torch.Tensor],
    masks: list[torch.Tensor | None],
    *,
    device: torch.device,
) -> dict[str, Any]:
    """Build the module of ``spec``, load ``state`` (strict), eval, forward each (x, mask)."""
    made = _build(mod, spec)
    if not isinstance(made, nn.Module):
        return {"built": describe(made)}
    model = made.to(device, torch.float64)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        return {"built": None, "load_error": " ".join(str(exc).strip().splitlines()[:3])}
    model.eval()
    outs = []
    with torch.no_grad():
        for x, mask in zip(xs, masks, strict=True):
            outs.append(model(x, mask) if mask is not None else model(x))
    return {"built": None, "load_error": None, "outs": outs, "xs_after": xs}


@scenario
def train_forward(
    mod: Any, spec: dict[str, Any], state: dict[str, torch.Tensor], x: torch.Tensor, torch_seed: int
) -> dict[str, Any]:
    """Load ``state`` (strict), forward x in train mode after torch.manual_seed, then in eval."""
    made = _build(mod, spec)
    if not isinstance(made, nn.Module):
        return {"built": describe(made)}
    model = made.to(torch.float64)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        return {"built": None, "load_error": " ".join(str(exc).strip().splitlines()[:3])}
    model.train()
    torch.manual_seed(torch_seed)
    with torch.no_grad():
        train_out = model(x)
        eval_out = model.eval()(x)
    return {"built": None, "load_error": None, "train_out": train_out, "eval_out": eval_out}


@scenario
def module_backward(
    mod: Any,
    spec: dict[str, Any],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    kpm: torch.Tensor,
    g: torch.Tensor,
    *,
    device: torch.device,
) -> dict[str, Any]:
    """Load ``state``, train mode, backward of ``(model(x, kpm) * g).sum()``: every .grad."""
    made = _build(mod, spec)
    if not isinstance(made, nn.Module):
        return {"built": describe(made)}
    model = made.to(device, torch.float64)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        return {"built": None, "load_error": " ".join(str(exc).strip().splitlines()[:3])}
    model.train()
    (model(x, kpm) * g).sum().backward()
    return {
        "built": None,
        "load_error": None,
        "grads": {n: p.grad for n, p in model.named_parameters() if p.requires_grad},
    }


@scenario
def block_structure(mod: Any, x: torch.Tensor) -> dict[str, Any]:
    """The parts of PreNormEncoderBlock(12, 3, 20), its keys, its outputs in train and eval."""
    blk = mod.PreNormEncoderBlock(12, 3, 20)
    if not isinstance(blk, nn.Module):
        return {"built": describe(blk)}
    expect = {
        "norm1": nn.LayerNorm,
        "norm2": nn.LayerNorm,
        "attn": mod.MultiHeadSelfAttention,
        "ff": nn.Sequential,
    }
    parts = {}
    for name, cls in expect.items():
        part = getattr(blk, name, None)
        parts[name] = (isinstance(part, cls), describe(part), cls.__name__)
    answer: dict[str, Any] = {"built": None, "parts": parts}
    if not all(ok for ok, _, _ in parts.values()):
        return answer
    answer["ff_kinds"] = [type(m).__name__ for m in blk.ff]
    answer["ff_exact"] = [type(m) for m in blk.ff] == [nn.Linear, nn.GELU, nn.Linear]
    answer["approximate"] = getattr(blk.ff[1], "approximate", None) if len(blk.ff) > 1 else None
    answer["projections"] = {}
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        lin = getattr(blk.attn, name, None)
        ok = isinstance(lin, nn.Linear) and lin.bias is not None
        answer["projections"][name] = (ok, describe(lin))
    answer["state"] = blk.state_dict()
    blk.train()
    with torch.no_grad():
        answer["train_out"] = blk(x)
        answer["eval_out"] = blk.eval()(x)
    return answer


# ----------------------------------------------------------------------------- helpers


def _tol(dtype: torch.dtype) -> dict[str, float]:
    return TIGHT if dtype == torch.float64 else LOOSE


def _near(a: Any, b: torch.Tensor) -> bool:
    """Same shape and close values (NaN never counts as close)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return False
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    return bool(torch.isfinite(a).all()) and torch.allclose(a, b, **LOOSE)


def _check_attention(
    learner: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    causal: bool,
    *,
    backward: bool = False,
) -> Any:
    """Call the learner's attention and compare out and weights with torch's.

    Returns ``(out, weights)``, and the gradients of q, k, v too with ``backward``.
    """
    copies = [t.detach().clone() for t in (q, k, v)]
    exp_out, exp_w, allowed = _torch_expected(*copies, mask, causal)
    kwargs: dict[str, Any] = {}
    if mask is not None:
        kwargs["mask"] = mask
    if causal:
        kwargs["causal"] = True
    call = call_repr("scaled_dot_product_attention", q, k, v, **kwargs)
    got = learner.run(attention, q, k, v, options=kwargs, backward=backward)
    if not got["is_pair"]:
        raise fail(f"{call} returned {got['described']}; return a tuple (out, weights)")
    out, weights = got["result"]
    for name, value, ref, index in (("weights", weights, exp_w, 1), ("out", out, exp_out, 0)):
        assert_tensor(
            value,
            what=name,
            shape=tuple(ref.shape),
            dtype=q.dtype,
            device=q.device,
            finite=False,
            call=call,
        )
        if not bool(torch.isfinite(value).all()):
            bad = "" if allowed is None else " (a fully masked row must give weights 0, out 0)"
            raise fail(f"{call}; {name} holds NaN or inf{bad}: guard the rows with no allowed key")
        if not torch.allclose(value, ref, **_tol(q.dtype)):
            why = _diagnose_attention(value, *copies, allowed, index=index)
            if why is not None:
                raise fail(f"{call}; {name} has wrong values: {why}")
        assert_close(value, ref, what=name, call=call, **_tol(q.dtype))
    for name, after, before in zip("qkv", got["inputs_after"], copies, strict=True):
        if not torch.equal(after, before):
            raise fail(f"{call} changed its input {name} in place; compute new tensors instead")
    if mask is not None and not torch.equal(got["mask_after"], mask):
        raise fail(f"{call} changed the mask in place; build a new mask (e.g. ~mask) instead")
    if got["used_torch_sdpa"]:
        raise fail(
            f"{call} gave the right values, but it called "
            "torch.nn.functional.scaled_dot_product_attention, which this exercise asks you "
            "to write by hand: out = weights @ v, with the weights you computed"
        )
    if backward:
        return out, weights, got["grads"]
    return out, weights


def _qkv(seed: Any, shape: tuple[int, ...], tk: int, dv: int, *, dtype, device, offset: int):
    *lead, tq, d = shape
    q = seed.randn(*lead, tq, d, dtype=dtype, device=device, offset=offset) * 1.5
    k = seed.randn(*lead, tk, d, dtype=dtype, device=device, offset=offset + 1) * 1.5
    v = seed.randn(*lead, tk, dv, dtype=dtype, device=device, offset=offset + 2)
    return q, k, v


def _mask(seed: Any, shape: tuple[int, ...], *, device: Any, offset: int, p: float = 0.35):
    return (seed.rand(*shape, device=device, offset=offset) > p).to(device)


def _sizes(rng: Any) -> tuple[int, int, int, int, int, int]:
    """B, H, Tq, Tk, d_k, d_v: all different from each other."""
    b, h, tq, tk, d, dv = rng.sample(range(2, 10), 6)
    return b, h, tq, tk, d, dv


def _block_spec(dims: tuple[int, int, int], dropout: float = 0.0) -> dict[str, Any]:
    dm, h, dff = dims
    return {
        "kind": "block",
        "args": dims,
        "kwargs": {"dropout": dropout},
        "what": f"PreNormEncoderBlock({dm}, {h}, {dff}, dropout={dropout})",
    }


def _build(mod: Any, spec: dict[str, Any]) -> Any:
    cls = mod.MultiHeadSelfAttention if spec["kind"] == "mha" else mod.PreNormEncoderBlock
    return cls(*spec["args"], **spec["kwargs"])


def _loaded(out: dict[str, Any], spec: dict[str, Any], state: dict[str, Any]) -> None:
    """Fail when the module was not an nn.Module or refused the reference's weights."""
    what = spec["what"]
    if out["built"] is not None:
        raise fail(f"{what} is {out['built']}; it must be an nn.Module subclass")
    if out["load_error"] is not None:
        raise fail(
            f"{what}.load_state_dict(reference.state_dict(), strict=True) failed: "
            f"{out['load_error']}; expected parameters {list(state)}"
        )


def _forward(
    side: Any,
    spec: dict[str, Any],
    state: dict[str, Any],
    xs: Any,
    masks: list[torch.Tensor | None],
    *,
    device: torch.device,
) -> dict[str, Any]:
    """One side's module with ``state`` loaded, in eval mode: its outputs on x (or each of xs).

    ``x_after`` is the (first) input as the module left it.
    """
    many = isinstance(xs, list)
    inputs = xs if many else [xs] * len(masks)
    out = side.run(module_forward, spec, state, inputs, masks, device=device)
    _loaded(out, spec, state)
    out["x_after"] = out["xs_after"][0]
    return out


def _backward(side: Any, spec, state, x, kpm, g, *, device) -> dict[str, Any]:
    out = side.run(module_backward, spec, state, x, kpm, g, device=device)
    _loaded(out, spec, state)
    return out["grads"]


class _TwinMHA(nn.Module):
    """The reference MHA's parts (built by the grader), for computing known mistakes."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)


class _TwinBlock(nn.Module):
    """The reference block's parts (built by the grader), for computing known mistakes."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = _TwinMHA(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))


def _twin_mha(dm: int, h: int, state: dict[str, Any], device: torch.device) -> _TwinMHA:
    twin = _TwinMHA(dm, h)
    twin.load_state_dict(state, strict=True)
    return twin.to(device, torch.float64)


def _twin_block(dims: tuple[int, int, int], state: dict[str, Any], device) -> _TwinBlock:
    twin = _TwinBlock(*dims)
    twin.load_state_dict(state, strict=True)
    return twin.to(device, torch.float64)


def _compare_module(
    got: Any,
    expected: torch.Tensor,
    variant: Callable[[str], torch.Tensor],
    mistakes: dict[str, str],
    call: str,
) -> None:
    same_shape = isinstance(got, torch.Tensor) and got.shape == expected.shape
    if same_shape and not torch.allclose(got.double(), expected.double(), **TIGHT):
        with torch.no_grad():
            for kind, text in mistakes.items():
                if _near(got, variant(kind)):
                    raise fail(f"{call}; the output has wrong values: {text}")
    assert_close(got, expected, what="the output", call=call, **TIGHT)


def _padding(seed: Any, b: int, t: int, *, device: Any, offset: int) -> torch.Tensor:
    """(B, T) bool, True = padding: each row keeps a random-length prefix of real tokens."""
    lengths = seed.randint(1, t + 1, (b,), offset=offset)
    lengths[0] = t
    lengths[-1] = max(1, t // 2)
    return (torch.arange(t)[None, :] >= lengths[:, None]).to(device)


def _safe_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    allowed: torch.Tensor | None,
    *,
    scale: float,
    dim: int = -1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention with a given scale and softmax dim; empty rows give zeros (for diagnosis)."""
    scores = (q @ k.transpose(-2, -1)) * scale
    if allowed is None:
        w = scores.softmax(dim)
    else:
        allowed = allowed.expand(scores.shape)
        w = scores.masked_fill(~allowed, float("-inf")).softmax(dim)
        w = torch.nan_to_num(w, nan=0.0).masked_fill(~allowed, 0.0)
    return w @ v, w


def _allowed(mask: torch.Tensor | None, causal: bool, tq: int, tk: int) -> torch.Tensor | None:
    allowed = mask
    if causal:
        tri = torch.ones(tq, tk, dtype=torch.bool, device=mask.device if mask is not None else None)
        allowed = tri.tril() if allowed is None else allowed & tri.tril()
    return allowed


def _torch_expected(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(out, weights, allowed) from torch's own attention; fully masked rows set to 0."""
    tq, tk = q.shape[-2], k.shape[-2]
    allowed = _allowed(mask, causal, tq, tk)
    if mask is None:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    else:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    _, weights = _safe_attention(q, k, v, allowed, scale=1 / math.sqrt(q.shape[-1]))
    if allowed is not None:
        empty = ~allowed.expand(weights.shape).any(-1, keepdim=True)
        out = torch.where(empty, torch.zeros_like(out), out)
    return out, weights, allowed


def _diagnose_attention(
    got: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    allowed: torch.Tensor | None,
    *,
    index: int,
) -> str | None:
    """Name the mistake when ``got`` (output 0 or weights 1) equals a known wrong variant."""
    d = q.shape[-1]
    variants: list[tuple[str, Callable[[], tuple[torch.Tensor, torch.Tensor]]]] = [
        (
            "the scores were not scaled: divide q @ k^T by sqrt(d_k), the last dim of q",
            lambda: _safe_attention(q, k, v, allowed, scale=1.0),
        ),
        (
            f"the scores were divided by d_k = {d} instead of sqrt(d_k) = {math.sqrt(d):.4g}",
            lambda: _safe_attention(q, k, v, allowed, scale=1.0 / d),
        ),
        (
            f"the scores were multiplied by sqrt(d_k) = {math.sqrt(d):.4g}; divide by it",
            lambda: _safe_attention(q, k, v, allowed, scale=math.sqrt(d)),
        ),
        (
            "the softmax ran over the query dim (-2); each query's row must sum to 1 over the "
            "keys: softmax(dim=-1)",
            lambda: _safe_attention(q, k, v, allowed, scale=d**-0.5, dim=-2),
        ),
    ]
    if allowed is not None:
        variants += [
            (
                "the mask convention is inverted: True means 'may attend' (as a bool attn_mask "
                "in F.scaled_dot_product_attention), so fill -inf where the mask is False",
                lambda: _safe_attention(q, k, v, ~allowed, scale=d**-0.5),
            ),
            (
                "the mask was ignored: set the blocked scores (mask False) to -inf before the "
                "softmax",
                lambda: _safe_attention(q, k, v, None, scale=d**-0.5),
            ),
        ]
    for text, make in variants:
        if _near(got, make()[index]):
            return text
    return None


def _closed_form(t: int, d: int) -> torch.Tensor:
    table = torch.zeros(t, d, dtype=torch.float64)
    for pos in range(t):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            table[pos, 2 * i] = math.sin(angle)
            table[pos, 2 * i + 1] = math.cos(angle)
    return table


def _position_variants(t: int, d: int) -> list[tuple[str, torch.Tensor]]:
    pos = torch.arange(t, dtype=torch.float64)[:, None]
    i = torch.arange(d // 2, dtype=torch.float64)
    good = pos / 10000 ** (2 * i / d)
    swapped = torch.stack([good.cos(), good.sin()], -1).reshape(t, d)
    halves = torch.cat([good.sin(), good.cos()], -1)
    per_i = pos / 10000 ** (i / d)
    no_two = torch.stack([per_i.sin(), per_i.cos()], -1).reshape(t, d)
    base = pos / 1000 ** (2 * i / d)
    base_wrong = torch.stack([base.sin(), base.cos()], -1).reshape(t, d)
    inverse = pos * 10000 ** (2 * i / d)
    inv = torch.stack([inverse.sin(), inverse.cos()], -1).reshape(t, d)
    return [
        ("sin and cos are swapped: sin goes in the even columns 0, 2, 4, ...", swapped),
        (
            "the sin columns come first and the cos columns after; interleave them: column "
            "2i is sin, column 2i + 1 is cos of the same frequency",
            halves,
        ),
        ("the exponent is i / d; it is 2i / d, with 2i the even column index", no_two),
        ("the base is not 10000", base_wrong),
        ("the angle is t * 10000^(2i/d); it is t / 10000^(2i/d)", inv),
    ]


def _mha_variant(
    mod: nn.Module, x: torch.Tensor, kpm: torch.Tensor | None, kind: str
) -> torch.Tensor:
    """The reference MHA computed with one known mistake."""
    b, t, dm = x.shape
    h = mod.n_heads
    dh = dm // h

    def split(y: torch.Tensor) -> torch.Tensor:
        if kind == "bad_split":
            return y.reshape(b, h, t, dh)
        return y.reshape(b, t, h, dh).transpose(1, 2)

    q, k, v = split(mod.q_proj(x)), split(mod.k_proj(x)), split(mod.v_proj(x))
    allowed = None if kpm is None else ~kpm[:, None, None, :]
    if kind == "kpm_inverted" and kpm is not None:
        allowed = kpm[:, None, None, :]
    if kind == "kpm_ignored":
        allowed = None
    scale = 1 / math.sqrt(dm if kind == "scale_d_model" else dh)
    out, _ = _safe_attention(q, k, v, allowed, scale=scale)
    out = out if kind == "bad_split" else out.transpose(1, 2)
    out = out.reshape(b, t, dm)
    return mod.out_proj(out)


MHA_MISTAKES = {
    "scale_d_model": "the per-head scores were divided by sqrt(d_model); divide by sqrt(d_head) "
    "= sqrt(d_model // n_heads), the last dim of each head's q",
    "kpm_inverted": "key_padding_mask is used the wrong way round: True marks PADDING (as in "
    "nn.MultiheadAttention), so pass mask = ~key_padding_mask[:, None, None, :]",
    "kpm_ignored": "key_padding_mask was ignored; turn it into a (B, 1, 1, T) 'may attend' mask",
    "bad_split": "the heads were split with reshape(B, n_heads, T, d_head); reshape to "
    "(B, T, n_heads, d_head), then transpose(1, 2)",
}


def _block_variant(
    blk: nn.Module, x: torch.Tensor, kpm: torch.Tensor | None, kind: str
) -> torch.Tensor:
    """The reference block computed with one known mistake (or an MHA mistake inside)."""

    def attn(y: torch.Tensor) -> torch.Tensor:
        return _mha_variant(blk.attn, y, kpm, kind if kind in MHA_MISTAKES else "")

    if kind == "post_norm":
        h = blk.norm1(x + attn(x))
        return blk.norm2(h + blk.ff(h))
    if kind == "residual_of_normed":
        n = blk.norm1(x)
        h = n + attn(n)
        n2 = blk.norm2(h)
        return n2 + blk.ff(n2)
    if kind == "no_attn_residual":
        h = attn(blk.norm1(x))
        return h + blk.ff(blk.norm2(h))
    if kind == "no_ff_residual":
        h = x + attn(blk.norm1(x))
        return blk.ff(blk.norm2(h))
    if kind == "one_norm":
        h = x + attn(blk.norm1(x))
        return h + blk.ff(blk.norm1(h))
    h = x + attn(blk.norm1(x))
    return h + blk.ff(blk.norm2(h))


BLOCK_MISTAKES = {
    "post_norm": "this is a post-norm block, norm(x + sublayer(x)); pre-norm normalises the "
    "sublayer's input: x + attn(norm1(x)), then h + ff(norm2(h))",
    "residual_of_normed": "the residual adds the normalised input (x = norm1(x) first); keep x "
    "itself on the residual path: x + attn(norm1(x))",
    "no_attn_residual": "the attention sublayer has no residual connection: h = x + attn(...)",
    "no_ff_residual": "the feed-forward sublayer has no residual connection: out = h + ff(...)",
    "one_norm": "norm1 is used before both sublayers; the feed-forward one uses norm2",
    **MHA_MISTAKES,
}
