"""Grader for 5.3: ONNX with the dynamo exporter and an onnxruntime session.

Two exports in all (1-1.5 s each): the judge builds a small digit model with random weights
and random BatchNorm statistics (``DigitNet``, ``forward(self, x)``; ``PixelMLP``,
``forward(self, images)``), a scenario rebuilds it in train mode, calls the learner's
``export_onnx`` in an empty temporary folder and sends back data: the bytes of the file,
the folder's listing, what reached ``onnx.checker.check_model``, the warnings, which modules
are still training, and the outputs of an onnxruntime session on batches of another size.
The judge reads the file's bytes itself with ``onnx.load_model_from_string`` (a protobuf,
no code) for the graph's names, dimensions, opset and weights' location, and computes every
expected output with the same weights in eager eval mode. ``make_session`` and
``run_session`` are also checked on a small ONNX model the grader writes by hand (a matmul
and an add), whose input is not called ``input``.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import assert_close, assert_tensor, describe, expect_raises, fail
from pytorch_path.scenario import LearnerError, scenario

TOL = {"atol": 1e-5, "rtol": 1e-4}
FILE = "digits.onnx"
HINTS = {
    "top-level keys must be the arg names": (
        "the keys of dynamic_shapes must be the names of the forward's parameters: read the "
        "first one with inspect.signature(model.forward)"
    ),
    "Unexpected input data type": (
        "onnxruntime does not convert dtypes: feed x.astype(np.float32) to a float input"
    ),
    "are missing from input feed": (
        "feed the input under the session's own name, session.get_inputs()[0].name"
    ),
    "Invalid input name": (
        "feed the input under the session's own name, session.get_inputs()[0].name"
    ),
}
_ANSI = re.compile(r"(?:\x1b|\\x1b)\[[0-9;]*m")  # the exporter colours its messages

# ----------------------------------------------------------------------------- tests


@pytest.mark.points(4)
def test_one_self_contained_file_with_a_symbolic_batch(learner, seed):
    """One checked .onnx file (no .data), named input/logits, symbolic batch, opset 18, parity."""
    state = _random_state("DigitNet", seed.generator(1))
    example = _images(seed, 4, offset=2)
    inputs = [_images(seed, b, offset=3 + b) for b in (1, 7)]
    call = (
        f"called export_onnx(DigitNet in train mode, example: {describe(example)}, "
        f"path=<empty folder>/{FILE}) without opset"
    )
    got = _explained(learner.run, export_and_run, "DigitNet", state, example, inputs,
                       call=call, hints=HINTS)  # fmt: skip
    _check_returned(got, call)
    _check_not_legacy(got, call)
    _check_folder(got, call)
    _check_file(got, call, input_rank=4, opset=18)
    _check_checker(got, call)
    _check_outputs(got["outs"], "DigitNet", state, inputs, f"{call}; then an onnxruntime session")
    _check_eval(got, call)


@pytest.mark.points(3)
def test_opset_option_and_the_whole_pipeline(learner, seed):
    """opset=20 is recorded; forward(images) works; make_session + run_session match eager."""
    state = _random_state("PixelMLP", seed.generator(10))
    example = _images(seed, 3, offset=11)
    inputs = [_images(seed, b, offset=12 + b) for b in (5, 2)]
    call = (
        f"called export_onnx(PixelMLP (forward(self, images)), example: {describe(example)}, "
        f"path='<empty folder>/{FILE}' (a str), opset=20)"
    )
    got = _explained(learner.run, export_and_run, "PixelMLP", state, example, inputs,
                       call=call, hints=HINTS, as_str=True, opset=20, pipeline=True)  # fmt: skip
    _check_returned(got, call)
    _check_folder(got, call)
    _check_file(got, call, input_rank=4, opset=20)
    _check_outputs(got["outs"], "PixelMLP", state, inputs, f"{call}; then an onnxruntime session")
    where = f"{call}; then run_session(make_session(path), x.numpy())"
    _check_outputs(got["mine"], "PixelMLP", state, inputs, where, numpy=True)


def test_opset_below_18_is_refused(learner, seed):
    """opset=17 raises ValueError before exporting (18, the default, is the lowest allowed)."""
    state = _random_state("PixelMLP", seed.generator(20))
    example = _images(seed, 3, offset=21)
    expect_raises(
        learner.run, "ValueError", export_and_run, "PixelMLP", state, example, [], opset=17,
        what="called export_onnx(PixelMLP, example, path, opset=17)",
    )  # fmt: skip


@pytest.mark.points(2)
def test_session_on_the_cpu_fed_by_its_own_input_name(learner, seed):
    """make_session: CPU provider only; run_session feeds the session's input name, float32."""
    rng = seed.python_random(30)
    d_in, d_out, n = rng.randint(3, 6), rng.randint(2, 5), rng.randint(2, 6)
    gen = seed.generator(31)
    weight = torch.randn(d_in, d_out, generator=gen)
    bias = torch.randn(d_out, generator=gen)
    x = torch.randn(n, d_in, generator=gen, dtype=torch.float64)
    want = x @ weight.double() + bias.double()
    for as_str in (False, True):
        kind = "a str" if as_str else "a pathlib.Path"
        call = (
            f"called make_session(path) with path {kind} to an ONNX file whose input is named "
            f"'features' (shape (n, {d_in})), then run_session(session, x) with x a float64 "
            f"NumPy array of shape {tuple(x.shape)}"
        )
        got = _explained(learner.run, hand_made_session, weight, bias, x.numpy(),
                           as_str=as_str, call=call, hints=HINTS)  # fmt: skip
        if not got["is_session"]:
            raise fail(
                f"{call}; make_session returned a {got['type']}, expected an "
                "onnxruntime.InferenceSession"
            )
        if got["providers"] != ["CPUExecutionProvider"]:
            raise fail(
                f"{call}; session.get_providers() is {got['providers']}, expected "
                "['CPUExecutionProvider']: pass providers=['CPUExecutionProvider']"
            )
        out = got["out"]
        if not isinstance(out, np.ndarray):
            raise fail(f"{call}; run_session returned {describe(out)}, expected a NumPy array "
                       "(the first of session.run(None, feeds))")  # fmt: skip
        if out.dtype != np.float32:
            raise fail(f"{call}; run_session returned a {out.dtype} array, expected float32")
        assert_close(torch.from_numpy(out).double(), want, what="run_session's output", call=call,
                     **TOL)  # fmt: skip
        if not np.array_equal(got["x_after"], x.numpy()):
            raise fail(f"{call}; x was changed in place; convert a copy (x.astype(np.float32))")


# ----------------------------------------------------------------------------- scenarios


@scenario
def export_and_run(
    mod: Any,
    kind: str,
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    inputs: list[torch.Tensor],
    *,
    as_str: bool = False,
    pipeline: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """export_onnx into an empty folder, watched; the file, and a session's outputs on inputs."""
    import onnxruntime as ort

    model = _build(kind, state).train()
    with tempfile.TemporaryDirectory(prefix="pp-onnx-") as tmp:
        path = Path(tmp) / FILE
        checked: list[str] = []
        with _watch_checker(mod, checked), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            returned = mod.export_onnx(model, example, str(path) if as_str else path, **options)
        facts: dict[str, Any] = {
            "returned_type": type(returned).__name__,
            "returned_is_path": isinstance(returned, Path),
            "returned": str(returned) if isinstance(returned, (str, Path)) else describe(returned),
            "path": str(path),
            "files": sorted(p.name for p in Path(tmp).iterdir()),
            "checked": checked,
            "warnings": [(w.category.__name__, str(w.message)[:300]) for w in caught],
            "training": _training(model),
            "bytes": path.read_bytes() if path.is_file() else None,
            "outs": None,
        }
        if facts["bytes"] is None:
            return facts
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        facts["outs"] = [_ort_run(lambda a: session.run(None, {name: a})[0], x) for x in inputs]
        if pipeline:
            mine = mod.make_session(path)
            facts["mine"] = [_ort_run(lambda a: mod.run_session(mine, a), x) for x in inputs]
    return facts


@scenario
def hand_made_session(
    mod: Any, weight: torch.Tensor, bias: torch.Tensor, x: np.ndarray, *, as_str: bool
) -> dict[str, Any]:
    """A hand-written ONNX model (features @ W + b) through make_session and run_session."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="pp-onnx-") as tmp:
        path = Path(tmp) / "affine.onnx"
        onnx.save(_affine_model(weight.numpy(), bias.numpy()), path)
        session = mod.make_session(str(path) if as_str else path)
        facts: dict[str, Any] = {
            "type": type(session).__name__,
            "is_session": isinstance(session, ort.InferenceSession),
        }
        if not facts["is_session"]:
            return facts
        facts["providers"] = list(session.get_providers())
        x_seen = x.copy()
        facts["out"] = mod.run_session(session, x_seen)
        facts["x_after"] = x_seen
    return facts


# ----------------------------------------------------------------------------- models


class DigitNet(nn.Module):
    """conv 3x3 (1 -> 4) -> BatchNorm -> ReLU -> Dropout(0.5) -> linear (256 -> 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(F.relu(self.bn(self.conv(x)))).flatten(1))


class PixelMLP(nn.Module):
    """flatten -> linear (64 -> 16) -> ReLU -> linear (16 -> 10); its input is ``images``."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(64, 16)
        self.out = nn.Linear(16, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.hidden(images.flatten(1))))


MODELS = {"DigitNet": DigitNet, "PixelMLP": PixelMLP}


# ----------------------------------------------------------------------------- helpers


def _images(seed: Any, batch: int, *, offset: int) -> torch.Tensor:
    return seed.randn(batch, 1, 8, 8, offset=offset)


def _random_state(kind: str, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random weights, and BatchNorm statistics far from (0, 1), so that the modes differ."""
    state = {}
    for key, value in MODELS[kind]().state_dict().items():
        if key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) * 2.0 + 0.2
        elif key.endswith("running_mean"):
            state[key] = torch.randn(value.shape, generator=gen)
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(12)
        else:
            state[key] = 0.4 * torch.randn(value.shape, generator=gen)
    return state


def _build(kind: str, state: dict[str, torch.Tensor]) -> nn.Module:
    model = MODELS[kind]()
    model.load_state_dict(state)
    return model


def _eager(kind: str, state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The judge's own answer: the model in eval mode, eagerly."""
    model = _build(kind, state).eval()
    with torch.no_grad():
        return model(x)


class _watch_checker:
    """Record what reaches ``onnx.checker.check_model`` however the learner imported it."""

    def __init__(self, mod: Any, record: list[str]) -> None:
        self._mod = mod
        self._record = record
        self._patches: list[Any] = []

    def __enter__(self) -> _watch_checker:
        original = onnx.checker.check_model

        def spy(model: Any, *args: Any, **kwargs: Any) -> Any:
            is_path = isinstance(model, (str, Path))
            self._record.append(f"path {Path(model).name}" if is_path else type(model).__name__)
            return original(model, *args, **kwargs)

        self._patches = [mock.patch.object(onnx.checker, "check_model", spy)]
        if getattr(self._mod, "check_model", None) is original:  # from onnx.checker import ...
            self._patches.append(mock.patch.object(self._mod, "check_model", spy))
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for patch in reversed(self._patches):
            patch.stop()


def _training(model: nn.Module) -> list[str]:
    return sorted(name or "(the model)" for name, m in model.named_modules() if m.training)


def _ort_run(run: Any, x: torch.Tensor) -> dict[str, Any]:
    """``{"value": run(x as float32 NumPy)}``, or the error, as data (the stub's propagates)."""
    try:
        return {"value": run(x.numpy())}
    except NotImplementedError:
        raise
    except Exception as exc:  # the test explains it
        text = str(exc).strip()
        return {"raised": f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"}


def _affine_model(weight: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    """``scores = features @ weight + bias``, input ``features`` of shape ``("n", d_in)``."""
    from onnx import TensorProto, helper, numpy_helper

    d_in, d_out = weight.shape
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "weight"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["scores"]),
        ],
        "affine",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", d_in])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", d_out])],
        [
            numpy_helper.from_array(weight.astype(np.float32), "weight"),
            numpy_helper.from_array(bias.astype(np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


def _explained(run: Any, *args: Any, call: str, hints: dict[str, str], **kwargs: Any) -> Any:
    """``run(*args, **kwargs)``; a learner error whose text a hint names becomes a failure.

    Like ``checks.call_learner``, for any exception type (onnxruntime raises its own
    classes and ``ValueError``), with the exporter's terminal colour codes removed.
    """
    try:
        return run(*args, **kwargs)
    except LearnerError as exc:
        if exc.kind != "raised" or exc.is_a("NotImplementedError"):
            raise
        advice = next((text for key, text in hints.items() if key in exc.message), None)
        if advice is None:
            raise
        lines = _ANSI.sub("", exc.message).strip().splitlines()
        where = (
            f" (in {exc.last_frame.name}, line {exc.last_frame.lineno})" if exc.last_frame else ""
        )
        raise fail(
            f"{call} raised {exc.type_name}: {lines[0] if lines else ''}{where}; {advice}"
        ) from None


def _check_returned(got: dict[str, Any], call: str) -> None:
    if not got["returned_is_path"] or got["returned"] != got["path"]:
        raise fail(
            f"{call}; it returned {got['returned']!r} ({got['returned_type']}), expected "
            "pathlib.Path(path), the file it wrote"
        )


def _check_not_legacy(got: dict[str, Any], call: str) -> None:
    legacy = [text for kind, text in got["warnings"] if kind == "DeprecationWarning"
              and ("TorchScript" in text or "legacy" in text)]  # fmt: skip
    if legacy:
        raise fail(
            f"{call}; the export warned {legacy[0]!r}: that is the legacy TorchScript "
            "exporter (dynamo=False, dynamic_axes). Use torch.onnx.export(..., dynamo=True, "
            "dynamic_shapes=...), built on torch.export"
        )


def _check_folder(got: dict[str, Any], call: str) -> None:
    if got["files"] != [FILE]:
        extra = [name for name in got["files"] if name != FILE]
        advice = (
            f"the weights went to a second file ({extra[0]}): pass external_data=False so "
            "they are stored inside the .onnx file"
            if extra and any(name.endswith(".data") for name in extra)
            else f"write the model to path and nothing else (found {got['files']})"
        )
        raise fail(f"{call}; afterwards the folder holds {got['files']}, expected [{FILE!r}]: "
                   f"{advice}")  # fmt: skip


def _check_file(got: dict[str, Any], call: str, *, input_rank: int, opset: int) -> None:
    """Read the file's bytes judge-side and check names, dimensions, weights and opset."""
    if got["bytes"] is None:
        raise fail(f"{call}; no file was written at path")
    try:
        proto = onnx.load_model_from_string(got["bytes"])
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise fail(f"{call}; the file is not a valid ONNX model: {exc}") from None
    external = [t.name for t in proto.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]  # fmt: skip
    if external:
        raise fail(
            f"{call}; the weights {external[:3]} are stored outside the file (external data): "
            "pass external_data=False"
        )
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    if inputs != ["input"]:
        raise fail(f"{call}; the graph's inputs are {inputs}, expected ['input']: pass "
                   "input_names=['input']")  # fmt: skip
    if outputs != ["logits"]:
        raise fail(f"{call}; the graph's outputs are {outputs}, expected ['logits']: pass "
                   "output_names=['logits']")  # fmt: skip
    for what, value in (("input", proto.graph.input[0]), ("output", proto.graph.output[0])):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 0 or not dims[0].dim_param:
            shown = [d.dim_param or d.dim_value for d in dims]
            raise fail(
                f"{call}; the graph's {what} has the shape {shown}: its batch dimension is the "
                "number fixed at export, expected a symbolic one (a dim_param such as "
                "'batch'): pass dynamic_shapes={name: {0: torch.export.Dim('batch')}}"
            )
    rank = len(proto.graph.input[0].type.tensor_type.shape.dim)
    if rank != input_rank:
        raise fail(f"{call}; the graph's input has {rank} dimensions, expected {input_rank}")
    versions = {o.domain: o.version for o in proto.opset_import}
    if versions.get("", versions.get("ai.onnx")) != opset:
        raise fail(
            f"{call}; the file's opset_import records {versions}, expected version {opset} for "
            "the default domain '': pass opset_version=opset"
        )


def _check_checker(got: dict[str, Any], call: str) -> None:
    if f"path {FILE}" not in got["checked"]:
        seen = got["checked"] or "no call"
        raise fail(
            f"{call}; onnx.checker.check_model saw {seen}; expected it to be called on the "
            "written file's path (check_model(path), which also works past the 2 GB limit)"
        )


def _check_eval(got: dict[str, Any], call: str) -> None:
    if got["training"]:
        raise fail(
            f"{call}; afterwards the modules {got['training']} are in training mode: "
            "export_onnx calls model.eval() first (and leaves the model in eval mode)"
        )


def _check_outputs(
    outs: list[dict[str, Any]],
    kind: str,
    state: dict[str, torch.Tensor],
    inputs: list[torch.Tensor],
    where: str,
    *,
    numpy: bool = False,
) -> None:
    for x, out in zip(inputs, outs, strict=True):
        call = f"{where} on x: {describe(x)}"
        if "raised" in out:
            advice = next((f"; {a}" for k, a in HINTS.items() if k in out["raised"]), "")
            if not advice and "dimensions" in out["raised"]:
                advice = "; the batch dimension is fixed: export with dynamic_shapes"
            raise fail(f"{call} raised {out['raised']}{advice}")
        value = out["value"]
        if numpy and not isinstance(value, np.ndarray):
            raise fail(f"{call}; run_session returned {describe(value)}, expected a NumPy array")
        if numpy and value.dtype != np.float32:
            raise fail(f"{call}; run_session returned a {value.dtype} array, expected float32")
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        want = _eager(kind, state, x)
        assert_tensor(value, what="the output", shape=tuple(want.shape), call=call)
        try:
            assert_close(value, want, what="the output", call=call, **TOL)
        except AssertionError as exc:
            raise fail(
                f"{exc}; expected the eval-mode output of the model: call model.eval() before "
                "exporting"
            ) from None
