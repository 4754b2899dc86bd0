"""Grader for 5.2: data-dependent control flow with torch.cond, and tracing's baked-in branch.

The judge draws the weights of the two branches (``up.weight``, ``up.bias``, ``down.weight``,
``down.bias``) and inputs whose mean is clearly positive, clearly negative, exactly zero
(all zeros: ``down``, since the test is strict) or barely positive (every element 1e-3:
``up``). Scenarios load the weights into the learner's ``GatedBlock`` with
``load_state_dict(strict=True)`` (or into the grader's own copy of ``PythonIfBlock`` for the
legacy trace), call the learner's functions and return data: outputs, the names of the
exported graph's call targets, which modules are in training mode, the warnings that
reached the caller. The judge computes every expected output itself with ``F.linear``.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import assert_close, assert_tensor, call_learner, describe, fail
from pytorch_path.scenario import scenario

TOL = {"rtol": 1e-5, "atol": 1e-6}
KEYS = {"up.weight", "up.bias", "down.weight", "down.bias"}
COND = "torch.ops.higher_order.cond"
DEPRECATION = "`torch.jit.trace` is deprecated. Please switch to `torch.compile` or `torch.export`."
HINTS = {
    "data-dependent": (
        "a Python `if` (or .item(), bool(), float()) on a tensor cannot be exported: choose "
        "the branch with torch.cond(x.mean() > 0, true_fn, false_fn, (x,))"
    ),
    "Expected pred to be": (
        "torch.cond needs a single bool: pred = x.mean() > 0 over all elements, a 0-dim tensor"
    ),
}

# ----------------------------------------------------------------------------- tests


def test_gated_block_state_dict(learner, seed):
    """GatedBlock(dim) has exactly up.weight, up.bias, down.weight, down.bias, (dim, dim)/(dim,)."""
    dim = seed.python_random().randint(3, 7)
    got = learner.run(gated_facts, dim)
    _loaded(got, dim)


@pytest.mark.points(2)
def test_gated_block_takes_the_branch_of_the_mean(learner, seed):
    """Eagerly, up(x) when x.mean() > 0 and down(x) otherwise; a mean of exactly 0 takes down."""
    dim, n = _sizes(seed, 1)
    state = _state(dim, seed.generator(2))
    inputs = _inputs(seed, n, dim, offset=3)
    got = call_learner(learner.run, gated_outputs, dim, state, list(inputs.values()),
                       call=f"called GatedBlock({dim})(x)", hints=HINTS)  # fmt: skip
    _loaded(got, dim)
    for (label, x), out in zip(inputs.items(), got["outs"], strict=True):
        _check_branch(out, state, x, _branch_of(label), f"called GatedBlock({dim})(x) with {label}")


@pytest.mark.points(2)
def test_exported_program_keeps_both_branches(learner, seed):
    """export_gated: a graph with a cond node, right for both signs, whatever the example's sign."""
    dim, n = _sizes(seed, 10)
    state = _state(dim, seed.generator(11))
    inputs = _inputs(seed, n, dim, offset=12)
    for example_label in ("a positive mean", "a negative mean"):
        example = inputs[example_label] * 0.5
        call = f"called export_gated(GatedBlock({dim}) in train mode, example with {example_label})"
        got = call_learner(learner.run, export_and_run, dim, state, example,
                           list(inputs.values()), call=call, hints=HINTS)  # fmt: skip
        if got["type"] != "ExportedProgram":
            raise fail(
                f"{call}; got a {got['type']}, expected the torch.export.ExportedProgram that "
                "torch.export.export returns (not program.module())"
            )
        if COND not in got["targets"]:
            shown = [t for t in got["targets"] if t != "getitem"]
            raise fail(
                f"{call}; the exported graph calls {shown} and has no {COND} node: "
                "torch.where computes both branches and mixes them element by element, a "
                "Python `if` keeps one; write the choice with torch.cond so that the graph "
                "holds both branches and runs one"
            )
        for (label, x), out in zip(inputs.items(), got["outs"], strict=True):
            where = f"{call}, then program.module()(x) with {label}"
            _check_branch(out, state, x, _branch_of(label), where)
        if got["training"]:
            raise fail(
                f"{call}; afterwards the modules {got['training']} are in training mode; "
                "export_gated calls model.eval() first and leaves the model in eval mode"
            )


@pytest.mark.points(2)
def test_traced_module_bakes_in_the_example_branch(learner, seed):
    """trace_legacy: the traced module always runs the branch its example took (the lesson)."""
    dim, n = _sizes(seed, 20)
    state = _state(dim, seed.generator(21))
    inputs = _inputs(seed, n, dim, offset=22)
    for example_label, baked in (("a positive mean", "up"), ("a negative mean", "down")):
        example = inputs[example_label] * 0.5
        call = (
            f"called trace_legacy(PythonIfBlock({dim}) in train mode, example with {example_label})"
        )
        got = learner.run(trace_and_run, dim, state, example, list(inputs.values()))
        if not got["script_module"]:
            raise fail(
                f"{call}; got a {got['type']}, expected the torch.jit.ScriptModule that "
                "torch.jit.trace returns"
            )
        for (label, x), out in zip(inputs.items(), got["outs"], strict=True):
            where = f"{call}, then traced(x) with {label}"
            if baked != _branch_of(label):
                where += (
                    f" (the trace recorded only `{baked}`, the branch of its example, so the "
                    f"lesson predicts {baked}(x) here)"
                )
            _check_branch(out, state, x, baked, where, traced=True)
        if got["training"]:
            raise fail(
                f"{call}; afterwards the modules {got['training']} are in training mode; "
                "trace_legacy calls model.eval() first and leaves the model in eval mode"
            )


def test_trace_silences_only_its_deprecation_warning(learner, seed):
    """trace_legacy hides torch.jit's FutureWarning for that call only; TracerWarning stays."""
    dim, n = _sizes(seed, 30)
    state = _state(dim, seed.generator(31))
    x = _inputs(seed, n, dim, offset=32)["a positive mean"]
    call = f"called trace_legacy(PythonIfBlock({dim}), example)"
    got = learner.run(trace_warnings, dim, state, x, DEPRECATION)
    _check_branch(got["out"], state, x, "up", f"{call}, then traced(example)", traced=True)
    seen = [tuple(w) for w in got["during"]]
    deprecations = [text for kind, text in seen if kind == "FutureWarning" and "torch.jit" in text]
    if deprecations:
        raise fail(
            f"{call}; torch.jit's deprecation warning reached the caller ({deprecations[0]!r}): "
            "suppress FutureWarning around the call, inside warnings.catch_warnings()"
        )
    if not any(kind == "TracerWarning" for kind, _ in seen):
        raise fail(
            f"{call}; no TracerWarning reached the caller (warnings seen: {seen[:4]}): it is "
            "the warning that says the trace is wrong, so keep it. Ignore only FutureWarning "
            "(filterwarnings('ignore', category=FutureWarning)), not every warning"
        )
    if not got["probe_seen"]:
        raise fail(
            f"{call}; afterwards the caller's own FutureWarning {DEPRECATION!r} was swallowed: "
            "your filter outlived the call. Put it inside `with warnings.catch_warnings():` so "
            "that the warning filters are restored when the block ends"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def gated_facts(mod: Any, dim: int) -> dict[str, Any]:
    """GatedBlock(dim): is it a module, and its state_dict's shapes."""
    block = mod.GatedBlock(dim)
    if not isinstance(block, nn.Module):
        return {"built": describe(block)}
    return {"shapes": {k: tuple(v.shape) for k, v in block.state_dict().items()}}


@scenario
def gated_outputs(
    mod: Any, dim: int, state: dict[str, torch.Tensor], inputs: list[torch.Tensor]
) -> dict[str, Any]:
    """GatedBlock(dim) with the judge's weights, called eagerly on each input."""
    block, facts = _learner_block(mod, dim, state)
    if block is not None:
        facts["outs"] = [_run(block, x) for x in inputs]
    return facts


@scenario
def export_and_run(
    mod: Any,
    dim: int,
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    inputs: list[torch.Tensor],
) -> dict[str, Any]:
    """export_gated on the learner's GatedBlock (in train mode); the program on each input."""
    block, facts = _learner_block(mod, dim, state)
    if block is None:
        return facts
    block.train()
    program = mod.export_gated(block, example)
    facts["type"] = type(program).__name__
    facts["training"] = _training(block)
    if isinstance(program, torch.export.ExportedProgram):
        facts["targets"] = [
            COND if node.target is torch.ops.higher_order.cond else _name(node.target)
            for node in program.graph_module.graph.nodes
            if node.op == "call_function"
        ]
        module = program.module()
        facts["outs"] = [_run(module, x) for x in inputs]
    return facts


@scenario
def trace_and_run(
    mod: Any,
    dim: int,
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    inputs: list[torch.Tensor],
) -> dict[str, Any]:
    """trace_legacy on the grader's PythonIfBlock (in train mode); the traced module on inputs."""
    model = _if_block(dim, state).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warnings are another test's business
        traced = mod.trace_legacy(model, example)
    facts: dict[str, Any] = {
        "type": type(traced).__name__,
        "script_module": isinstance(traced, torch.jit.ScriptModule),
        "training": _training(model),
    }
    if facts["script_module"]:
        facts["outs"] = [_run(traced, x) for x in inputs]
    return facts


@scenario
def trace_warnings(
    mod: Any, dim: int, state: dict[str, torch.Tensor], x: torch.Tensor, probe: str
) -> dict[str, Any]:
    """The warnings trace_legacy lets through, and whether the caller's filters survive it."""
    model = _if_block(dim, state)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = mod.trace_legacy(model, x)
        during = [(w.category.__name__, str(w.message)[:200]) for w in caught]
        caught.clear()
        warnings.warn(probe, FutureWarning, stacklevel=1)  # the caller's own, after the call
        probe_seen = any(str(w.message) == probe for w in caught)
    return {"during": during, "probe_seen": probe_seen, "out": _run(traced, x)}


# ----------------------------------------------------------------------------- helpers


class IfBlock(nn.Module):
    """The grader's own copy of the stub's ``PythonIfBlock`` (a Python ``if`` on the mean)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.up = nn.Linear(dim, dim)
        self.down = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return self.up(x)
        return self.down(x)


def _sizes(seed: Any, offset: int) -> tuple[int, int]:
    rng = seed.python_random(offset)
    return rng.randint(3, 7), rng.randint(2, 5)


def _state(dim: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Branch weights; the biases differ in sign so that up(0) and down(0) differ."""
    return {
        "up.weight": 0.5 * torch.randn(dim, dim, generator=gen),
        "up.bias": torch.rand(dim, generator=gen) + 0.5,
        "down.weight": 0.5 * torch.randn(dim, dim, generator=gen),
        "down.bias": -torch.rand(dim, generator=gen) - 0.5,
    }


def _inputs(seed: Any, n: int, dim: int, *, offset: int) -> dict[str, torch.Tensor]:
    """Inputs named by the sign of their mean; zeros and 1e-3 probe the strict ``>``."""
    return {
        "a positive mean": seed.randn(n, dim, offset=offset) * 0.3 + 1.0,
        "a negative mean": seed.randn(n, dim, offset=offset + 1) * 0.3 - 1.0,
        "all zeros (mean exactly 0)": torch.zeros(n, dim),
        "every element 1e-3 (mean barely positive)": torch.full((n, dim), 1e-3),
    }


def _branch_of(label: str) -> str:
    return "down" if "negative" in label or "zeros" in label else "up"


def _branch(state: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    """The judge's own answer: that branch's linear map."""
    return F.linear(x, state[f"{name}.weight"], state[f"{name}.bias"])


def _if_block(dim: int, state: dict[str, torch.Tensor]) -> IfBlock:
    model = IfBlock(dim)
    model.load_state_dict(state)
    return model


def _learner_block(
    mod: Any, dim: int, state: dict[str, torch.Tensor]
) -> tuple[nn.Module | None, dict[str, Any]]:
    """The learner's GatedBlock(dim) with the judge's weights, or None and why not."""
    block = mod.GatedBlock(dim)
    if not isinstance(block, nn.Module):
        return None, {"built": describe(block)}
    facts: dict[str, Any] = {"shapes": {k: tuple(v.shape) for k, v in block.state_dict().items()}}
    try:
        block.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        facts["load_error"] = str(exc).strip().splitlines()[0]
        return None, facts
    return block, facts


def _training(model: nn.Module) -> list[str]:
    return sorted(name or "(the model)" for name, m in model.named_modules() if m.training)


def _name(target: Any) -> str:
    return getattr(target, "__name__", None) or str(target)


def _run(module: Any, x: torch.Tensor) -> dict[str, Any]:
    """``{"value": module(x)}``, or the exception it raised as data (the stub's propagates)."""
    try:
        with torch.no_grad():
            return {"value": module(x)}
    except NotImplementedError:
        raise
    except Exception as exc:  # the test explains it
        text = str(exc).strip()
        return {"raised": f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"}


def _loaded(got: dict[str, Any], dim: int) -> None:
    """The learner's GatedBlock was a module with the documented state_dict and loaded."""
    label = f"GatedBlock({dim})"
    if "built" in got:
        raise fail(f"{label} built {got['built']}; GatedBlock must subclass nn.Module")
    shapes = {k: tuple(v) for k, v in got["shapes"].items()}
    want = {
        "up.weight": (dim, dim),
        "up.bias": (dim,),
        "down.weight": (dim, dim),
        "down.bias": (dim,),
    }
    if shapes != want:
        missing = sorted(KEYS - set(shapes))
        extra = sorted(set(shapes) - KEYS)
        resized = [f"{k} {shapes[k]}" for k in sorted(KEYS & set(shapes)) if shapes[k] != want[k]]
        raise fail(
            f"{label}.state_dict() has {sorted(shapes)} (missing {missing}, unexpected {extra}"
            f"{', wrong shapes ' + ', '.join(resized) if resized else ''}); expected exactly "
            "up.weight (dim, dim), up.bias (dim,), down.weight (dim, dim), down.bias (dim,): "
            "self.up = nn.Linear(dim, dim) and self.down = nn.Linear(dim, dim), nothing else"
        )
    if got.get("load_error"):
        raise fail(f"{label}.load_state_dict(reference weights, strict=True) failed: "
                   f"{got['load_error']}")  # fmt: skip


def _check_branch(
    out: dict[str, Any],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    branch: str,
    where: str,
    *,
    traced: bool = False,
) -> None:
    """``out`` is ``branch``'s output on x; if it is the other branch's, say so."""
    if "raised" in out:
        advice = next((f"; {a}" for k, a in HINTS.items() if k in out["raised"]), "")
        raise fail(f"{where} raised {out['raised']}{advice}")
    value = assert_tensor(out["value"], what="the output", shape=tuple(x.shape), call=where)
    other = "down" if branch == "up" else "up"
    wrong = _branch(state, other, x)
    if torch.allclose(value.double(), wrong.double(), **TOL):
        if traced:
            advice = (
                f"the traced module ran {other}: torch.jit.trace records the branch its example "
                "took, so it should be stuck on that one. torch.jit.script compiles the `if` "
                "and gets both right; this exercise asks for the tracer, torch.jit.trace"
            )
        elif "zeros" in where:
            advice = (
                f"got {other}(x): the mean is exactly 0 and the test is strict, x.mean() > 0, "
                "so this x takes down"
            )
        else:
            advice = (
                f"got {other}(x): torch.cond(pred, true_fn, false_fn, operands) runs true_fn "
                "when pred is True: pred = x.mean() > 0, true_fn = up, false_fn = down"
            )
        raise fail(f"{where}; expected {branch}(x), {advice}")
    assert_close(value, _branch(state, branch, x), what=f"the output ({branch}(x) expected)",
                 call=where, **TOL)  # fmt: skip
