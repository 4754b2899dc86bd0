"""Grader for 3.4: a ResNet basic block with a projection shortcut.

Every test builds blocks for four kinds of configuration (identity: same channels and
stride 1; stride 2 only; channels only; both), with random channel counts and inputs
whose N, C, H and W all differ. The reference block's weights (with randomised BatchNorm
parameters and running statistics, so that train and eval mode differ) are copied into
the learner's with ``load_state_dict(strict=True)``; when the outputs differ, the learner's
output is compared with known-wrong forwards computed from the same weights (ReLU before
the addition, stride on conv2, ...) to say which mistake it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    assert_close,
    assert_tensor,
    call_repr,
    describe,
    fail,
)

KINDS = ("identity", "stride", "channels", "both")
LAYOUT = (
    "conv1 (3x3, stride, padding 1, no bias) -> bn1 -> relu -> conv2 (3x3, stride 1, padding 1, "
    "no bias) -> bn2, plus the shortcut, then relu"
)


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for exact comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    if device.type == "mps":
        return {"rtol": 1e-4, "atol": 1e-5}
    return {"rtol": 1e-6, "atol": 1e-8}


def _config(rng: Any, kind: str) -> tuple[int, int, int]:
    """(in_channels, out_channels, stride) for one kind; channel counts 2..7."""
    a, b = rng.sample(range(2, 8), 2)
    if kind == "identity":
        return a, a, 1
    if kind == "stride":
        return a, a, 2
    if kind == "channels":
        return a, b, 1
    return a, b, 2


def _input_shape(rng: Any, cin: int) -> tuple[int, int, int, int]:
    """(N, C, H, W) with N, C, H and W all different (H and W of mixed parity)."""
    n = rng.choice([k for k in (2, 3, 4, 5) if k != cin])
    h, w = rng.sample([k for k in range(5, 11) if k not in (n, cin)], 2)
    return n, cin, h, w


def _label(cin: int, cout: int, stride: int) -> str:
    return f"BasicBlock({cin}, {cout}, stride={stride})"


def _needs_projection(cin: int, cout: int, stride: int) -> bool:
    return stride != 1 or cin != cout


def _out_shape(shape: tuple[int, ...], cout: int, stride: int) -> tuple[int, int, int, int]:
    n, _, h, w = shape
    return n, cout, (h - 1) // stride + 1, (w - 1) // stride + 1


def _build(learner: Any, cin: int, cout: int, stride: int) -> nn.Module:
    block = learner.BasicBlock(cin, cout, stride)
    if not isinstance(block, nn.Module):
        raise fail(
            f"{_label(cin, cout, stride)} built {describe(block)}; BasicBlock must subclass "
            "nn.Module (and call super().__init__() first)"
        )
    return block


def _randomise(block: nn.Module, gen: torch.Generator) -> None:
    """Give every BatchNorm non-trivial affine parameters and running statistics."""
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=gen))
                module.bias.copy_(0.5 * torch.randn(c, generator=gen))
                module.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                module.num_batches_tracked.fill_(3)


def _reference_block(
    reference: Any, cin: int, cout: int, stride: int, device: torch.device, gen: torch.Generator
) -> nn.Module:
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=gen)))
    ref = reference.BasicBlock(cin, cout, stride)
    _randomise(ref, gen)
    return ref.to(device=device, dtype=_dtype(device))


def _key_problems(
    learner_keys: dict[str, tuple[int, ...]],
    ref_keys: dict[str, tuple[int, ...]],
    cin: int,
    cout: int,
    stride: int,
) -> str | None:
    """Explain how the learner's state_dict differs from the reference's, or None."""
    missing = [k for k in ref_keys if k not in learner_keys]
    unexpected = [k for k in learner_keys if k not in ref_keys]
    resized = [
        f"{k} has shape {learner_keys[k]}, expected {ref_keys[k]}"
        for k in ref_keys
        if k in learner_keys and learner_keys[k] != ref_keys[k]
    ]
    if not (missing or unexpected or resized):
        return None
    label = _label(cin, cout, stride)
    advice = []
    biases = [
        k
        for k in unexpected
        if k.endswith(".bias") and len(learner_keys.get(k[: -len("bias")] + "weight", ())) == 4
    ]
    if biases:
        advice.append(
            f"{biases} should not exist: a convolution followed by BatchNorm is built with "
            "bias=False (BatchNorm subtracts the mean, which cancels a bias, and adds its own)"
        )
    extra_shortcut = [k for k in unexpected if k.startswith("shortcut.")]
    missing_shortcut = [k for k in missing if k.startswith("shortcut.")]
    if extra_shortcut and not _needs_projection(cin, cout, stride):
        advice.append(
            f"with stride=1 and in_channels == out_channels the shortcut is the identity: an "
            f"empty nn.Sequential() without parameters, but yours has {extra_shortcut}"
        )
    elif missing_shortcut and len(missing_shortcut) == len(
        [k for k in ref_keys if k.startswith("shortcut.")]
    ):
        why = (
            "stride=2 halves H and W, so the shortcut needs a projection even though the "
            "channel counts match"
            if cin == cout
            else "the channel count changes, so the shortcut needs a projection"
        )
        advice.append(
            f"{why}: shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, "
            "stride=stride, bias=False), nn.BatchNorm2d(out_channels))"
        )
    elif missing_shortcut:
        advice.append(
            "the projection is nn.Sequential(1x1 conv, BatchNorm), in that order, so its keys "
            "are shortcut.0.weight, shortcut.1.weight, shortcut.1.bias, shortcut.1.running_mean, …"
        )
    if any(k.startswith(("conv1.", "conv2.", "shortcut.0.")) for k in resized):
        advice.append(
            "conv1 is Conv2d(in_channels, out_channels, 3), conv2 is Conv2d(out_channels, "
            "out_channels, 3) and the projection is Conv2d(in_channels, out_channels, 1)"
        )
    if any(k.startswith(("bn", "shortcut.1.")) for k in resized):
        advice.append("every BatchNorm2d normalises out_channels channels")
    if not advice:
        advice.append(
            "use exactly the attribute names conv1, bn1, conv2, bn2 and shortcut (an "
            "nn.Sequential); keep layers as attributes, not in a Python list"
        )
    parts = []
    if missing:
        parts.append(f"missing keys {missing}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected}")
    parts.extend(resized)
    return (
        f"{label}: copying the reference block's state_dict into yours with "
        f"load_state_dict(strict=True) fails: {'; '.join(parts)}. {'; '.join(advice)}"
    )


def _shapes(block: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in block.state_dict().items()}


def _twins(
    learner: Any,
    reference: Any,
    kind: str,
    rng: Any,
    device: torch.device,
    gen: torch.Generator,
    edit: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> tuple[nn.Module, nn.Module, str]:
    """A reference block and a learner block holding the same weights and statistics."""
    cin, cout, stride = _config(rng, kind)
    ref = _reference_block(reference, cin, cout, stride, device, gen)
    if edit is not None:
        state = ref.state_dict()
        edit(state)
        ref.load_state_dict(state)
    block = _build(learner, cin, cout, stride).to(device=device, dtype=_dtype(device))
    problem = _key_problems(_shapes(block), _shapes(ref), cin, cout, stride)
    if problem:
        raise fail(problem)
    try:
        block.load_state_dict(ref.state_dict(), strict=True)
    except RuntimeError as exc:
        raise fail(
            f"{_label(cin, cout, stride)}: load_state_dict(reference_state_dict, strict=True) "
            f"raised {str(exc).splitlines()[0]}"
        ) from None
    return ref, block, _label(cin, cout, stride)


def _forward(block: nn.Module, x: torch.Tensor, call: str) -> Any:
    try:
        return block(x)
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        text = str(exc).strip().splitlines()[0]
        if "in-place" in text or "inplace" in text:
            hint = "do not modify x (or the shortcut's output when it is x itself) in place"
        elif "type" in text or "dtype" in text:
            hint = "compute in the dtype of x and of the weights (no .float() or .double())"
        elif "size" in text or "shape" in text:
            hint = (
                "the main path and the shortcut must give the same shape (N, out_channels, H', "
                "W'): the 3x3 convs use padding=1, and whenever the stride or the channel count "
                "changes the shortcut is the projection (1x1 conv with the block's stride, then "
                "BatchNorm)"
            )
        else:
            hint = f"expected the layers {LAYOUT}"
        raise fail(f"{call} raised RuntimeError: {text}; {hint}") from None


# ----------------------------------------------------------------------------- diagnosis


def _bn(bn: nn.BatchNorm2d, x: torch.Tensor, training: bool) -> torch.Tensor:
    return F.batch_norm(
        x,
        bn.running_mean.clone(),
        bn.running_var.clone(),
        bn.weight,
        bn.bias,
        training,
        0.0,
        bn.eps,
    )


def _variant(ref: nn.Module, x: torch.Tensor, training: bool, mistake: str) -> torch.Tensor:
    """The output of a known-wrong block with the reference's weights (statistics untouched)."""
    stride = ref.conv1.stride[0]
    s1, s2 = (1, stride) if mistake == "stride_on_conv2" else (stride, 1)
    with torch.no_grad():
        h = _bn(ref.bn1, F.conv2d(x, ref.conv1.weight, stride=s1, padding=1), training)
        if mistake != "no_relu_after_bn1":
            h = F.relu(h)
        main = _bn(ref.bn2, F.conv2d(h, ref.conv2.weight, stride=s2, padding=1), training)
        if len(ref.shortcut) == 0:
            short = x
        else:
            conv, bn = ref.shortcut[0], ref.shortcut[1]
            short = _bn(bn, F.conv2d(x, conv.weight, stride=stride), training)
        if mistake == "relu_before_add":
            return F.relu(main) + short
        if mistake == "no_final_relu":
            return main + short
        if mistake == "main_only":
            return F.relu(main)
        if mistake == "add_before_bn2":
            pre = F.conv2d(h, ref.conv2.weight, stride=s2, padding=1)
            return F.relu(_bn(ref.bn2, pre + short, training))
        return F.relu(main + short)


VARIANTS = {
    "relu_before_add": (
        "your output equals relu(main) + shortcut: the final ReLU must come after the "
        "addition, relu(main + shortcut)"
    ),
    "stride_on_conv2": (
        "your output equals a block whose stride sits on conv2: the stride belongs to conv1 "
        "(and to the projection); conv2 always has stride 1"
    ),
    "no_relu_after_bn1": "your output equals a block without the ReLU between bn1 and conv2",
    "no_final_relu": "your output equals main + shortcut without the final ReLU",
    "add_before_bn2": (
        "your output equals relu(bn2(conv2(...) + shortcut)): add the shortcut after bn2, "
        "relu(bn2(conv2(...)) + shortcut)"
    ),
    "main_only": "your output equals relu(main): the shortcut is never added",
}


def _diagnose(out: torch.Tensor, ref: nn.Module, x: torch.Tensor, training: bool) -> str:
    """A hint naming the known mistake whose output matches ``out``, else the layout."""
    got = out.detach().to(torch.float64).cpu()
    for mistake, hint in VARIANTS.items():
        if mistake == "stride_on_conv2" and ref.conv1.stride[0] == 1:
            continue
        wrong = _variant(ref, x, training, mistake).to(torch.float64).cpu()
        if wrong.shape == got.shape and torch.allclose(got, wrong, rtol=1e-4, atol=1e-5):
            return hint
    return f"check the order of the layers: {LAYOUT}"


def _compare_output(
    out: Any,
    expected: torch.Tensor,
    ref: nn.Module,
    x: torch.Tensor,
    *,
    training: bool,
    call: str,
    device: torch.device,
) -> None:
    assert_tensor(
        out, what="the output", shape=tuple(expected.shape), dtype=expected.dtype, device=device,
        call=call,
    )  # fmt: skip
    try:
        assert_close(out, expected, what="the output", call=call, **_tol(device))
    except AssertionError as exc:
        raise fail(f"{exc}; {_diagnose(out, ref, x, training)}") from None


def _check_unchanged(x: torch.Tensor, x_copy: torch.Tensor, call: str) -> None:
    if not torch.equal(x.detach(), x_copy):
        raise fail(
            f"{call} changed its input x in place; the shortcut needs x as it was (avoid "
            "in-place ops such as x += ... or relu_(x) on the input)"
        )


# ----------------------------------------------------------------------------- tests


def test_output_shape(learner, device, seed):
    """The block maps (N, in, H, W) to (N, out, ceil(H/stride), ceil(W/stride)), train and eval."""
    rng = seed.python_random()
    for index, kind in enumerate(KINDS * 2):
        cin, cout, stride = _config(rng, kind)
        block = _build(learner, cin, cout, stride).to(device)
        shape = _input_shape(rng, cin)
        x = seed.randn(*shape, device=device, offset=index)
        for mode in ("train", "eval"):
            block.train(mode == "train")
            call = f"called {_label(cin, cout, stride)}(x) in {mode} mode with x: {describe(x)}"
            out = _forward(block, x, call)
            expected = _out_shape(shape, cout, stride)
            try:
                assert_tensor(
                    out, what="the output", shape=expected, dtype=torch.float32, device=device,
                    call=call,
                )  # fmt: skip
            except AssertionError as exc:
                if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[1] == cout:
                    raise fail(
                        f"{exc}; H' = (H - 1) // stride + 1: the 3x3 convs need padding=1, and "
                        "only conv1 (and the projection) use the stride"
                    ) from None
                raise


def test_state_dict_layout(learner, reference, seed):
    """state_dict keys and shapes are conv1, bn1, conv2, bn2 and shortcut.* as documented."""
    rng = seed.python_random()
    for kind in KINDS:
        cin, cout, stride = _config(rng, kind)
        block = _build(learner, cin, cout, stride)
        ref = reference.BasicBlock(cin, cout, stride)
        problem = _key_problems(_shapes(block), _shapes(ref), cin, cout, stride)
        if problem:
            raise fail(problem)


def test_parameter_count(learner, reference, seed):
    """Parameter count: no bias in the convs, a projection only when stride or channels change."""
    rng = seed.python_random()
    for kind in KINDS:
        cin, cout, stride = _config(rng, kind)
        block = _build(learner, cin, cout, stride)
        got = sum(p.numel() for p in block.parameters())
        want = sum(p.numel() for p in reference.BasicBlock(cin, cout, stride).parameters())
        if got == want:
            continue
        label = _label(cin, cout, stride)
        projection = cin * cout + 2 * cout
        extra = got - want
        biased = [
            name
            for name, m in block.named_modules()
            if isinstance(m, nn.Conv2d) and m.bias is not None
        ]
        if biased:
            why = (
                f"the convolutions {biased} have a bias: a conv followed by BatchNorm is built "
                "with bias=False"
            )
        elif extra == projection and not _needs_projection(cin, cout, stride):
            why = (
                "the extra ones are a projection shortcut; with stride=1 and equal channels the "
                "shortcut is the identity (an empty nn.Sequential(), no parameters)"
            )
        elif extra == -projection:
            why = "the projection shortcut (1x1 conv without bias, then BatchNorm2d) is missing"
        else:
            why = f"expected the layers {LAYOUT}"
        raise fail(f"{label} has {got} parameters, expected {want}: {why}")


def test_identity_shortcut_is_free(learner, device, seed):
    """With stride 1 and equal channels, shortcut has no parameters and returns x unchanged."""
    rng = seed.python_random()
    for index in range(3):
        cin, cout, stride = _config(rng, "identity")
        label = _label(cin, cout, stride)
        block = _build(learner, cin, cout, stride).to(device)
        shortcut = getattr(block, "shortcut", None)
        if not isinstance(shortcut, nn.Module):
            raise fail(
                f"{label}.shortcut is {describe(shortcut)}; expected an nn.Sequential "
                "(empty for the identity)"
            )
        names = [name for name, _ in shortcut.named_parameters()]
        if names:
            raise fail(
                f"{label}.shortcut has parameters {names}; with stride=1 and in_channels == "
                "out_channels the shortcut is the identity: nn.Sequential() with nothing in it"
            )
        x = seed.randn(*_input_shape(rng, cin), device=device, offset=index)
        x_copy = x.clone()
        call = f"called {label}.shortcut(x) with x: {describe(x)}"
        out = shortcut(x)
        assert_close(out, x_copy, what="the shortcut's output", call=call, rtol=0.0, atol=0.0)


@torch.no_grad()
def _expected(ref: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return ref(x.clone())


def test_matches_reference_in_train_mode(learner, reference, device, seed):
    """With the reference's weights, train-mode outputs, BatchNorm statistics and grads match."""
    rng = seed.python_random()
    gen = seed.generator(100)
    for index, kind in enumerate(KINDS):
        ref, block, label = _twins(learner, reference, kind, rng, device, gen)
        ref.train()
        block.train()
        shape = _input_shape(rng, ref.conv1.in_channels)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        x_copy = x.clone()
        x_ref = x.clone().requires_grad_()
        expected = ref(x_ref)
        grad_out = seed.randn(*expected.shape, dtype=_dtype(device), device=device, offset=50)
        expected.backward(grad_out)
        ref_bn = dict(ref.state_dict())
        probe = x.clone().requires_grad_()
        call = f"called {label}(x) in train mode with x: {describe(x)}"
        out = _forward(block, probe, call)
        _compare_output(
            out, expected.detach(), ref, x_copy, training=True, call=call, device=device
        )
        _check_unchanged(probe, x_copy, call)
        for name, value in block.state_dict().items():
            if "running" in name:
                assert_close(
                    value, ref_bn[name], what=f"{name} after one train-mode forward", call=call,
                    **_tol(device),
                )  # fmt: skip
        out.backward(grad_out)
        where = f"{call}, then out.backward(grad_out)"
        if probe.grad is None:
            raise fail(
                f"{where}: x.grad is None; something cut x off the graph (.detach(), "
                "torch.no_grad(), or a new tensor built from its values)"
            )
        assert_close(probe.grad, x_ref.grad, what="x.grad", call=where, **_tol(device))
        ref_params = dict(ref.named_parameters())
        for name, p in block.named_parameters():
            if p.grad is None:
                raise fail(f"{where}: {name}.grad is None; is {name} used in forward?")
            assert_close(p.grad, ref_params[name].grad, what=f"{name}.grad", call=where,
                         **_tol(device))  # fmt: skip


def test_matches_reference_in_eval_mode(learner, reference, device, seed):
    """In eval mode the block uses BatchNorm's running statistics and matches the reference."""
    rng = seed.python_random()
    gen = seed.generator(200)
    for index, kind in enumerate(KINDS):
        ref, block, label = _twins(learner, reference, kind, rng, device, gen)
        ref.eval()
        block.eval()
        shape = _input_shape(rng, ref.conv1.in_channels)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=10 + index)
        x_copy = x.clone()
        expected = _expected(ref, x)
        call = f"called {label}(x) in eval mode with x: {describe(x)}"
        out = _forward(block, x, call)
        _compare_output(out, expected, ref, x_copy, training=False, call=call, device=device)
        _check_unchanged(x, x_copy, call)


def _set_bn2_constant(value: float) -> Callable[[dict[str, torch.Tensor]], None]:
    def edit(state: dict[str, torch.Tensor]) -> None:
        state["bn2.weight"].zero_()
        state["bn2.bias"].fill_(value)

    return edit


def test_relu_comes_after_the_addition(learner, reference, device, seed):
    """With bn2 giving -1 everywhere the output is relu(shortcut(x) - 1): ReLU after the sum."""
    rng = seed.python_random()
    gen = seed.generator(300)
    for index, kind in enumerate(("identity", "both", "channels")):
        ref, block, label = _twins(
            learner, reference, kind, rng, device, gen, edit=_set_bn2_constant(-1.0)
        )
        ref.eval()
        block.eval()
        shape = _input_shape(rng, ref.conv1.in_channels)
        x = 2.0 * torch.rand(shape, generator=seed.generator(20 + index), dtype=_dtype(device))
        x = x.to(device)
        x_copy = x.clone()
        expected = _expected(ref, x)
        call = (
            f"called {label}(x) in eval mode, with bn2.weight = 0 and bn2.bias = -1 (so the main "
            f"path gives -1 everywhere), x: {describe(x)} in [0, 2]"
        )
        out = _forward(block, x, call)
        assert_tensor(out, what="the output", shape=tuple(expected.shape), device=device, call=call)
        if bool((out.detach() < 0).any()):
            raise fail(
                f"{call}; the output has negative values ({float(out.detach().min()):.3g}): the "
                "last operation must be the ReLU, applied to main + shortcut"
            )
        _compare_output(out, expected, ref, x_copy, training=False, call=call, device=device)


def _silence(prefix: str) -> Callable[[dict[str, torch.Tensor]], None]:
    def edit(state: dict[str, torch.Tensor]) -> None:
        state[f"{prefix}.weight"].zero_()
        state[f"{prefix}.bias"].zero_()

    return edit


def test_gradients_reach_x_through_both_paths(learner, reference, device, seed):
    """x.grad is right when only the shortcut (bn2 silenced) or only the main path carries x."""
    rng = seed.python_random()
    gen = seed.generator(400)
    cases = (
        ("identity", "bn2", "the shortcut"),
        ("stride", "bn2", "the shortcut"),
        ("both", "shortcut.1", "the main path"),
    )
    for index, (kind, silenced, path) in enumerate(cases):
        ref, block, label = _twins(
            learner, reference, kind, rng, device, gen, edit=_silence(silenced)
        )
        ref.train()
        block.train()
        shape = _input_shape(rng, ref.conv1.in_channels)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=30 + index)
        x_ref = x.clone().requires_grad_()
        expected = ref(x_ref)
        grad_out = torch.rand(expected.shape, generator=seed.generator(40 + index))
        grad_out = grad_out.to(device=device, dtype=_dtype(device))
        expected.backward(grad_out)
        probe = x.clone().requires_grad_()
        call = (
            f"called {label}(x) in train mode with {silenced}.weight and {silenced}.bias set to "
            f"0 (x reaches the output only through {path}), then out.backward(grad_out)"
        )
        out = _forward(block, probe, call)
        assert_tensor(out, what="the output", shape=tuple(expected.shape), device=device, call=call)
        out.backward(grad_out)
        grad = probe.grad
        if grad is None or not bool((grad != 0).any()):
            state = "None" if grad is None else "all zeros"
            raise fail(
                f"{call}: x.grad is {state}, expected a non-zero gradient through {path}; "
                "nothing on that path may be detached (.detach(), torch.no_grad(), .data, or a "
                "tensor rebuilt from values)"
            )
        assert_close(grad, x_ref.grad, what="x.grad", call=call, **_tol(device))


def test_forward_works_in_float32_and_float64(learner, device, seed):
    """The output follows the dtype of the block and input (float32, and float64 where possible)."""
    rng = seed.python_random()
    dtypes = (torch.float32,) if device.type == "mps" else (torch.float32, torch.float64)
    for index, dtype in enumerate(dtypes):
        cin, cout, stride = _config(rng, "both")
        block = _build(learner, cin, cout, stride).to(device=device, dtype=dtype)
        shape = _input_shape(rng, cin)
        x = seed.randn(*shape, dtype=dtype, device=device, offset=60 + index)
        call = call_repr(f"{_label(cin, cout, stride)}", x)
        out = _forward(block, x, call)
        assert_tensor(
            out, what="the output", shape=_out_shape(shape, cout, stride), dtype=dtype,
            device=device, call=call,
        )  # fmt: skip
