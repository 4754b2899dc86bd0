"""Grader for 3.4: a ResNet basic block with a projection shortcut.

Every test builds blocks for four kinds of configuration (identity: same channels and
stride 1; stride 2 only; channels only; both), with random channel counts and inputs
whose N, C, H and W all differ. The reference block's weights (with randomised BatchNorm
parameters and running statistics, so that train and eval mode differ) are copied into
the learner's with ``load_state_dict(strict=True)``; when the outputs differ, the learner's
output is compared with known-wrong forwards computed by the judge from the same weights
(ReLU before the addition, stride on conv2, ...) to say which mistake it is.

Blocks are built and run inside scenarios (where the learner's code runs); they come back
as data: state_dict shapes, parameter counts, outputs, gradients and running statistics.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    CheckFailure,
    assert_close,
    assert_tensor,
    assert_unchanged,
    call_repr,
    describe,
    fail,
)
from pytorch_path.scenario import scenario

KINDS = ("identity", "stride", "channels", "both")
LAYOUT = (
    "conv1 (3x3, stride, padding 1, no bias) -> bn1 -> relu -> conv2 (3x3, stride 1, padding 1, "
    "no bias) -> bn2, plus the shortcut, then relu"
)

# ----------------------------------------------------------------------------- tests


def test_output_shape(learner, device, seed):
    """The block maps (N, in, H, W) to (N, out, ceil(H/stride), ceil(W/stride)), train and eval."""
    rng = seed.python_random()
    cases = []
    for index, kind in enumerate(KINDS * 2):
        cin, cout, stride = _config(rng, kind)
        shape = _input_shape(rng, cin)
        cases.append((cin, cout, stride, seed.randn(*shape, device=device, offset=index)))
    runs = learner.run(block_outputs, cases, ["train", "eval"])
    for (cin, cout, stride, x), got in zip(cases, runs, strict=True):
        _built(got, cin, cout, stride)
        for mode in ("train", "eval"):
            call = f"called {_label(cin, cout, stride)}(x) in {mode} mode with x: {describe(x)}"
            out = _output(got["outs"][mode], call)
            expected = _out_shape(tuple(x.shape), cout, stride)
            try:
                assert_tensor(
                    out, what="the output", shape=expected, dtype=torch.float32, device=device,
                    call=call,
                )  # fmt: skip
            except CheckFailure as exc:
                if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[1] == cout:
                    raise fail(
                        f"{exc}; H' = (H - 1) // stride + 1: the 3x3 convs need padding=1, and "
                        "only conv1 (and the projection) use the stride"
                    ) from None
                raise


def test_state_dict_layout(learner, reference, seed):
    """state_dict keys and shapes are conv1, bn1, conv2, bn2 and shortcut.* as documented."""
    rng = seed.python_random()
    for index, kind in enumerate(KINDS):
        cin, cout, stride = _config(rng, kind)
        x = seed.randn(*_input_shape(rng, cin), offset=70 + index)
        facts = learner.run(block_facts, cin, cout, stride, x)
        _built(facts, cin, cout, stride)
        want = reference.run(block_facts, cin, cout, stride, x)
        problem = _key_problems(facts["shapes"], want["shapes"], cin, cout, stride)
        if problem:
            raise fail(problem)
        _check_eval_shape(facts, x, cin, cout, stride)


def test_stride_defaults_to_one(learner, reference, seed):
    """BasicBlock(in, out) without a stride is BasicBlock(in, out, stride=1): the size is kept."""
    rng = seed.python_random(8)
    for index, kind in enumerate(("identity", "channels")):
        cin, cout, _ = _config(rng, kind)
        x = seed.randn(*_input_shape(rng, cin), offset=75 + index)
        facts = learner.run(block_facts, cin, cout, None, x)
        call = f"called BasicBlock({cin}, {cout}) (no stride)"
        if facts.get("built") is not None:
            raise fail(f"{call} built {facts['built']}; BasicBlock must subclass nn.Module")
        want = reference.run(block_facts, cin, cout, 1, x)
        out = _output(facts["out"], f"{call}, then block(x) in eval mode with x: {describe(x)}")
        expected = _out_shape(tuple(x.shape), cout, 1)
        if isinstance(out, torch.Tensor) and tuple(out.shape) != expected:
            raise fail(
                f"{call}, then block(x) in eval mode with x: {describe(x)} gave shape "
                f"{tuple(out.shape)}, expected {expected}: stride defaults to 1, which keeps H "
                "and W (def __init__(self, in_channels, out_channels, stride=1))"
            )
        problem = _key_problems(facts["shapes"], want["shapes"], cin, cout, 1)
        if problem:
            raise fail(f"{call}, which should be stride=1: {problem}")
        assert_tensor(out, what="the output", shape=expected, dtype=x.dtype, call=call)


def test_parameter_count(learner, reference, seed):
    """Parameter count: no bias in the convs, a projection only when stride or channels change."""
    rng = seed.python_random()
    for index, kind in enumerate(KINDS):
        cin, cout, stride = _config(rng, kind)
        x = seed.randn(*_input_shape(rng, cin), offset=80 + index)
        facts = learner.run(block_facts, cin, cout, stride, x)
        _built(facts, cin, cout, stride)
        got = facts["params"]
        want = reference.run(block_facts, cin, cout, stride, x)["params"]
        if got != want:
            label = _label(cin, cout, stride)
            projection = cin * cout + 2 * cout
            extra = got - want
            biased = facts["biased_convs"]
            if biased:
                why = (
                    f"the convolutions {biased} have a bias: a conv followed by BatchNorm is "
                    "built with bias=False"
                )
            elif extra == projection and not _needs_projection(cin, cout, stride):
                why = (
                    "the extra ones are a projection shortcut; with stride=1 and equal channels "
                    "the shortcut is the identity (an empty nn.Sequential(), no parameters)"
                )
            elif extra == -projection:
                why = "the projection shortcut (1x1 conv without bias, then BatchNorm2d) is missing"
            else:
                why = f"expected the layers {LAYOUT}"
            raise fail(f"{label} has {got} parameters, expected {want}: {why}")
        _check_eval_shape(facts, x, cin, cout, stride)


def test_identity_shortcut_is_free(learner, device, seed):
    """With stride 1 and equal channels, shortcut has no parameters and returns x unchanged."""
    rng = seed.python_random()
    for index in range(3):
        cin, cout, stride = _config(rng, "identity")
        label = _label(cin, cout, stride)
        x = seed.randn(*_input_shape(rng, cin), device=device, offset=index)
        got = learner.run(identity_shortcut, cin, x)
        _built(got, cin, cout, stride)
        if got["shortcut"] is not None:
            raise fail(
                f"{label}.shortcut is {got['shortcut']}; expected an nn.Sequential "
                "(empty for the identity)"
            )
        if got["names"]:
            raise fail(
                f"{label}.shortcut has parameters {got['names']}; with stride=1 and in_channels "
                "== out_channels the shortcut is the identity: nn.Sequential() with nothing in it"
            )
        call = f"called {label}.shortcut(x) with x: {describe(x)}"
        assert_close(got["out"], x, what="the shortcut's output", call=call, rtol=0.0, atol=0.0)


def test_matches_reference_in_train_mode(learner, reference, device, seed):
    """With the reference's weights, train-mode outputs, BatchNorm statistics and grads match."""
    rng = seed.python_random()
    gen = seed.generator(100)
    for index, kind in enumerate(KINDS):
        cin, cout, stride = _config(rng, kind)
        state = _reference_state(reference, cin, cout, stride, device, gen)
        shape = _input_shape(rng, cin)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=index)
        grad_out = seed.randn(
            *_out_shape(shape, cout, stride), dtype=_dtype(device), device=device, offset=50
        )
        want = reference.run(run_block, cin, cout, stride, state, x, "train", grad_out)
        got = learner.run(run_block, cin, cout, stride, state, x, "train", grad_out)
        label = _loaded(got, want, cin, cout, stride)
        call = f"called {label}(x) in train mode with x: {describe(x)}"
        out = _output(got["out"], call)
        expected = _output(want["out"], "the reference block")
        _compare_output(
            out, expected, state, x, stride=stride, training=True, call=call, device=device
        )
        _check_unchanged(got["x_after"], x, call)
        for name, value in want["running"].items():
            assert_close(
                got["running"].get(name), value, what=f"{name} after one train-mode forward",
                call=call, **_tol(device),
            )  # fmt: skip
        where = f"{call}, then out.backward(grad_out)"
        _backward_ok(got, where)
        if got["x_grad"] is None:
            raise fail(
                f"{where}: x.grad is None; something cut x off the graph (.detach(), "
                "torch.no_grad(), or a new tensor built from its values)"
            )
        assert_close(got["x_grad"], want["x_grad"], what="x.grad", call=where, **_tol(device))
        for name, value in got["param_grads"].items():
            if value is None:
                raise fail(f"{where}: {name}.grad is None; is {name} used in forward?")
            assert_close(value, want["param_grads"].get(name), what=f"{name}.grad", call=where,
                         **_tol(device))  # fmt: skip


def test_matches_reference_in_eval_mode(learner, reference, device, seed):
    """In eval mode the block uses BatchNorm's running statistics and matches the reference."""
    rng = seed.python_random()
    gen = seed.generator(200)
    for index, kind in enumerate(KINDS):
        cin, cout, stride = _config(rng, kind)
        state = _reference_state(reference, cin, cout, stride, device, gen)
        shape = _input_shape(rng, cin)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=10 + index)
        want = reference.run(run_block, cin, cout, stride, state, x, "eval")
        got = learner.run(run_block, cin, cout, stride, state, x, "eval")
        label = _loaded(got, want, cin, cout, stride)
        call = f"called {label}(x) in eval mode with x: {describe(x)}"
        out = _output(got["out"], call)
        expected = _output(want["out"], "the reference block")
        _compare_output(
            out, expected, state, x, stride=stride, training=False, call=call, device=device
        )
        _check_unchanged(got["x_after"], x, call)


def test_relu_comes_after_the_addition(learner, reference, device, seed):
    """With bn2 giving -1 everywhere the output is relu(shortcut(x) - 1): ReLU after the sum."""
    rng = seed.python_random()
    gen = seed.generator(300)
    for index, kind in enumerate(("identity", "both", "channels")):
        cin, cout, stride = _config(rng, kind)
        state = _reference_state(reference, cin, cout, stride, device, gen)
        state["bn2.weight"].zero_()
        state["bn2.bias"].fill_(-1.0)
        shape = _input_shape(rng, cin)
        x = 2.0 * torch.rand(shape, generator=seed.generator(20 + index), dtype=_dtype(device))
        x = x.to(device)
        want = reference.run(run_block, cin, cout, stride, state, x, "eval")
        got = learner.run(run_block, cin, cout, stride, state, x, "eval")
        label = _loaded(got, want, cin, cout, stride)
        call = (
            f"called {label}(x) in eval mode, with bn2.weight = 0 and bn2.bias = -1 (so the main "
            f"path gives -1 everywhere), x: {describe(x)} in [0, 2]"
        )
        out = _output(got["out"], call)
        expected = _output(want["out"], "the reference block")
        assert_tensor(out, what="the output", shape=tuple(expected.shape), device=device, call=call)
        if bool((out.detach() < 0).any()):
            raise fail(
                f"{call}; the output has negative values ({float(out.detach().min()):.3g}): the "
                "last operation must be the ReLU, applied to main + shortcut"
            )
        _compare_output(
            out, expected, state, x, stride=stride, training=False, call=call, device=device
        )


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
        cin, cout, stride = _config(rng, kind)
        state = _reference_state(reference, cin, cout, stride, device, gen)
        state[f"{silenced}.weight"].zero_()
        state[f"{silenced}.bias"].zero_()
        shape = _input_shape(rng, cin)
        x = seed.randn(*shape, dtype=_dtype(device), device=device, offset=30 + index)
        grad_out = torch.rand(_out_shape(shape, cout, stride), generator=seed.generator(40 + index))
        grad_out = grad_out.to(device=device, dtype=_dtype(device))
        want = reference.run(run_block, cin, cout, stride, state, x, "train", grad_out)
        got = learner.run(run_block, cin, cout, stride, state, x, "train", grad_out)
        label = _loaded(got, want, cin, cout, stride)
        call = (
            f"called {label}(x) in train mode with {silenced}.weight and {silenced}.bias set to "
            f"0 (x reaches the output only through {path}), then out.backward(grad_out)"
        )
        out = _output(got["out"], call)
        expected = _output(want["out"], "the reference block")
        assert_tensor(out, what="the output", shape=tuple(expected.shape), device=device, call=call)
        _backward_ok(got, call)
        grad = got["x_grad"]
        if grad is None or not bool((grad != 0).any()):
            state_of = "None" if grad is None else "all zeros"
            raise fail(
                f"{call}: x.grad is {state_of}, expected a non-zero gradient through {path}; "
                "nothing on that path may be detached (.detach(), torch.no_grad(), .data, or a "
                "tensor rebuilt from values)"
            )
        assert_close(grad, want["x_grad"], what="x.grad", call=call, **_tol(device))


def test_forward_works_in_float32_and_float64(learner, device, seed):
    """The output follows the dtype of the block and input (float32, and float64 where possible)."""
    rng = seed.python_random()
    dtypes = (torch.float32,) if device.type == "mps" else (torch.float32, torch.float64)
    for index, dtype in enumerate(dtypes):
        cin, cout, stride = _config(rng, "both")
        shape = _input_shape(rng, cin)
        x = seed.randn(*shape, dtype=dtype, device=device, offset=60 + index)
        (got,) = learner.run(block_outputs, [(cin, cout, stride, x)], ["train"])
        _built(got, cin, cout, stride)
        call = call_repr(f"{_label(cin, cout, stride)}", x)
        out = _output(got["outs"]["train"], call)
        assert_tensor(
            out, what="the output", shape=_out_shape(shape, cout, stride), dtype=dtype,
            device=device, call=call,
        )  # fmt: skip


# ----------------------------------------------------------------------------- scenarios


@scenario
def block_outputs(
    mod: Any, cases: list[tuple[int, int, int, torch.Tensor]], modes: list[str]
) -> list[dict[str, Any]]:
    """BasicBlock(cin, cout, stride), moved to x's device and dtype, called on x in each mode."""
    answers: list[dict[str, Any]] = []
    for cin, cout, stride, x in cases:
        block = mod.BasicBlock(cin, cout, stride)
        if not isinstance(block, nn.Module):
            answers.append({"built": describe(block)})
            continue
        block = block.to(device=x.device, dtype=x.dtype)
        outs = {}
        for mode in modes:
            block.train(mode == "train")
            outs[mode] = _forward(block, x)
        answers.append({"built": None, "outs": outs})
    return answers


@scenario
def block_facts(
    mod: Any, cin: int, cout: int, stride: int | None, x: torch.Tensor
) -> dict[str, Any]:
    """A fresh block's state_dict shapes, parameter count, biased convs, and eval output on x.

    ``stride=None`` builds ``BasicBlock(cin, cout)``, leaving the stride at its default.
    """
    block = mod.BasicBlock(cin, cout) if stride is None else mod.BasicBlock(cin, cout, stride)
    if not isinstance(block, nn.Module):
        return {"built": describe(block)}
    facts = {
        "built": None,
        "shapes": {k: tuple(v.shape) for k, v in block.state_dict().items()},
        "params": sum(p.numel() for p in block.parameters()),
        "biased_convs": [
            name
            for name, m in block.named_modules()
            if isinstance(m, nn.Conv2d) and m.bias is not None
        ],
    }
    block.eval()
    with torch.no_grad():
        facts["out"] = _forward(block, x)
    return facts


@scenario
def identity_shortcut(mod: Any, cin: int, x: torch.Tensor) -> dict[str, Any]:
    """BasicBlock(cin, cin, 1).shortcut: what it is, its parameters, and shortcut(x)."""
    block = mod.BasicBlock(cin, cin, 1)
    if not isinstance(block, nn.Module):
        return {"built": describe(block)}
    block = block.to(x.device)
    shortcut = getattr(block, "shortcut", None)
    if not isinstance(shortcut, nn.Module):
        return {"built": None, "shortcut": describe(shortcut)}
    names = [name for name, _ in shortcut.named_parameters()]
    out = shortcut(x) if not names else None
    return {"built": None, "shortcut": None, "names": names, "out": out}


@scenario
def reference_state(
    mod: Any, cin: int, cout: int, stride: int, init_seed: int, bn_seed: int
) -> dict[str, torch.Tensor]:
    """A block's state_dict with non-trivial BatchNorm parameters and running statistics."""
    torch.manual_seed(init_seed)
    block = mod.BasicBlock(cin, cout, stride)
    gen = torch.Generator().manual_seed(bn_seed)
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=gen))
                module.bias.copy_(0.5 * torch.randn(c, generator=gen))
                module.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                module.num_batches_tracked.fill_(3)
    return {k: v.detach().clone() for k, v in block.state_dict().items()}


@scenario
def run_block(
    mod: Any,
    cin: int,
    cout: int,
    stride: int,
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    mode: str,
    grad_out: torch.Tensor | None = None,
) -> dict[str, Any]:
    """A block loaded with ``state`` (strict), called on x in ``mode``, then backward(grad_out).

    Returns the output, the running statistics after the forward, x afterwards, and (with
    ``grad_out``) x.grad and every parameter's .grad.
    """
    block = mod.BasicBlock(cin, cout, stride)
    if not isinstance(block, nn.Module):
        return {"built": describe(block)}
    block = block.to(device=x.device, dtype=x.dtype)
    shapes = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    answer: dict[str, Any] = {"built": None, "shapes": shapes, "load_error": None}
    if shapes != {k: tuple(v.shape) for k, v in state.items()}:
        return answer
    try:
        block.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        answer["load_error"] = str(exc).splitlines()[0]
        return answer
    block.train(mode == "train")
    probe = x.clone().requires_grad_(grad_out is not None)
    result = _forward(block, probe)
    answer["out"] = result
    answer["running"] = {k: v.detach().clone() for k, v in block.state_dict().items()
                         if "running" in k}  # fmt: skip
    answer["x_after"] = probe.detach().clone()
    out = result.get("value")
    if grad_out is not None and isinstance(out, torch.Tensor) and out.shape == grad_out.shape:
        try:
            out.backward(grad_out)
        except RuntimeError as exc:
            answer["backward_error"] = str(exc).strip().splitlines()[0]
        answer["x_grad"] = probe.grad
        answer["param_grads"] = {name: p.grad for name, p in block.named_parameters()}
    return answer


# ----------------------------------------------------------------------------- helpers


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


def _built(got: dict[str, Any], cin: int, cout: int, stride: int) -> None:
    if got.get("built") is not None:
        raise fail(
            f"{_label(cin, cout, stride)} built {got['built']}; BasicBlock must subclass "
            "nn.Module (and call super().__init__() first)"
        )


def _reference_state(
    reference: Any, cin: int, cout: int, stride: int, device: torch.device, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    """The reference block's state (randomised BatchNorm), in the test's dtype, on ``device``."""
    init_seed = int(torch.randint(0, 2**31 - 1, (), generator=gen))
    bn_seed = int(torch.randint(0, 2**31 - 1, (), generator=gen))
    state = reference.run(reference_state, cin, cout, stride, init_seed, bn_seed)
    return {
        k: v.to(device=device, dtype=_dtype(device)) if v.is_floating_point() else v.to(device)
        for k, v in state.items()
    }


def _loaded(got: dict[str, Any], want: dict[str, Any], cin: int, cout: int, stride: int) -> str:
    """The block's label, once its state_dict matched the reference's and loaded."""
    _built(got, cin, cout, stride)
    problem = _key_problems(got["shapes"], want["shapes"], cin, cout, stride)
    if problem:
        raise fail(problem)
    if got["load_error"] is not None:
        raise fail(
            f"{_label(cin, cout, stride)}: load_state_dict(reference_state_dict, strict=True) "
            f"raised {got['load_error']}"
        )
    return _label(cin, cout, stride)


def _key_problems(
    learner_keys: dict[str, tuple[int, ...]],
    ref_keys: dict[str, tuple[int, ...]],
    cin: int,
    cout: int,
    stride: int,
) -> str | None:
    """Explain how the learner's state_dict differs from the reference's, or None."""
    learner_keys = {k: tuple(v) for k, v in learner_keys.items()}
    ref_keys = {k: tuple(v) for k, v in ref_keys.items()}
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


def _forward(block: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """``{"value": block(x)}``, or a RuntimeError as data (the stub's error propagates)."""
    try:
        return {"value": block(x)}
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else "RuntimeError"
        return {"raised": "RuntimeError", "text": text}


def _output(result: Any, call: str) -> Any:
    """The output a scenario's forward gave, or a failure that explains its RuntimeError."""
    if not isinstance(result, dict):
        return result
    if "raised" not in result:
        return result.get("value")
    text = result["text"]
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
    raise fail(f"{call} raised RuntimeError: {text}; {hint}")


def _check_eval_shape(facts: dict[str, Any], x: torch.Tensor, cin: int, cout: int, stride: int):
    """The fresh block's eval output on x has the documented shape."""
    call = f"called {_label(cin, cout, stride)}(x) in eval mode with x: {describe(x)}"
    out = _output(facts["out"], call)
    assert_tensor(out, what="the output", shape=_out_shape(tuple(x.shape), cout, stride),
                  dtype=x.dtype, call=call)  # fmt: skip


def _backward_ok(got: dict[str, Any], where: str) -> None:
    if got.get("backward_error"):
        raise fail(f"{where} raised RuntimeError: {got['backward_error']}")
    if "x_grad" not in got:
        raise fail(f"{where}: the output cannot be backpropagated (it has the wrong shape)")


def _check_unchanged(after: Any, x: torch.Tensor, call: str) -> None:
    """x as the learner's block left it must equal the judge's copy."""
    try:
        assert_unchanged(after, x, what="x", call=call)
    except CheckFailure:
        raise fail(
            f"{call} changed its input x in place; the shortcut needs x as it was (avoid "
            "in-place ops such as x += ... or relu_(x) on the input)"
        ) from None


def _bn(state: dict[str, torch.Tensor], prefix: str, x: torch.Tensor, training: bool):
    return F.batch_norm(
        x,
        state[f"{prefix}.running_mean"].clone(),
        state[f"{prefix}.running_var"].clone(),
        state[f"{prefix}.weight"],
        state[f"{prefix}.bias"],
        training,
        0.0,
        1e-5,
    )


def _variant(
    state: dict[str, torch.Tensor], stride: int, x: torch.Tensor, training: bool, mistake: str
) -> torch.Tensor:
    """The output of a known-wrong block with the reference's weights (statistics untouched)."""
    s1, s2 = (1, stride) if mistake == "stride_on_conv2" else (stride, 1)
    with torch.no_grad():
        h = _bn(state, "bn1", F.conv2d(x, state["conv1.weight"], stride=s1, padding=1), training)
        if mistake != "no_relu_after_bn1":
            h = F.relu(h)
        pre = F.conv2d(h, state["conv2.weight"], stride=s2, padding=1)
        main = _bn(state, "bn2", pre, training)
        if "shortcut.0.weight" not in state:
            short = x
        else:
            conv = F.conv2d(x, state["shortcut.0.weight"], stride=stride)
            short = _bn(state, "shortcut.1", conv, training)
        if mistake == "relu_before_add":
            return F.relu(main) + short
        if mistake == "no_final_relu":
            return main + short
        if mistake == "main_only":
            return F.relu(main)
        if mistake == "add_before_bn2":
            return F.relu(_bn(state, "bn2", pre + short, training))
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


def _diagnose(
    out: torch.Tensor, state: dict[str, torch.Tensor], stride: int, x: torch.Tensor, training: bool
) -> str:
    """A hint naming the known mistake whose output matches ``out``, else the layout."""
    got = out.detach().to(torch.float64).cpu()
    for mistake, hint in VARIANTS.items():
        if mistake == "stride_on_conv2" and stride == 1:
            continue
        try:
            wrong = _variant(state, stride, x, training, mistake).to(torch.float64).cpu()
        except RuntimeError:
            continue
        if wrong.shape == got.shape and torch.allclose(got, wrong, rtol=1e-4, atol=1e-5):
            return hint
    return f"check the order of the layers: {LAYOUT}"


def _compare_output(
    out: Any,
    expected: torch.Tensor,
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    *,
    stride: int,
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
    except CheckFailure as exc:
        raise fail(f"{exc}; {_diagnose(out, state, stride, x, training)}") from None
