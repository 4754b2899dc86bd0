"""Grader for 5.1: torch.export with a dynamic batch, saved and loaded.

The judge builds two small digit models (8x8 images, ten classes) with random weights, and
random BatchNorm statistics so that train and eval mode differ: ``DigitNet`` (conv, BatchNorm,
ReLU, Dropout, linear; ``forward(self, x)``) and ``PixelMLP`` (two linear layers;
``forward(self, images)``). Scenarios rebuild them from the judge's state dict, hand them to
the learner's functions *in train mode* (as a model comes out of training), run the
programs that come back on batches the judge chose and return data: outputs (or the
exception a batch raised), the program's batch range, which modules are still in training
mode, the model's state afterwards, the files written. The judge computes every expected
output itself, with the same weights in eager eval mode.

Exports are few (one per scenario call, 0.1-0.4 s each after the first).

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    assert_close,
    assert_state_dict_close,
    assert_tensor,
    call_learner,
    describe,
    expect_raises,
    fail,
)
from pytorch_path.scenario import scenario

TOL = {"rtol": 1e-5, "atol": 1e-5}
STALE = b"an older file, not a program\n"  # what path holds before save_program replaces it
EXPORT_HINTS = {
    "top-level keys must be the arg names": (
        "the keys of dynamic_shapes must be the names of the forward's parameters: read the "
        "first one with inspect.signature(model.forward) instead of writing 'x'"
    ),
    "specialized it to be a constant": (
        "torch specialised the batch to a constant: export with an example batch of 2 or more "
        "and Dim('batch', min=1, max=max_batch) on dim 0"
    ),
}

LOAD_HINTS = {
    "data.pkl": (
        "a file written by torch.export.save is a PT2 archive, not a pickle: read it with "
        "torch.export.load(path), not torch.load"
    ),
}

# ----------------------------------------------------------------------------- tests


def test_any_batch_matches_eager(learner, seed):
    """The program runs batches 1..max_batch, not just the example's, and matches eager eval."""
    rng = seed.python_random()
    max_batch = rng.randint(16, 24)
    state = _random_state("DigitNet", seed.generator(1))
    example = _images(seed, 2, offset=2)  # the smallest example the contract allows
    batches = [1, rng.randint(3, 6), rng.randint(7, 12), max_batch]
    inputs = [_images(seed, b, offset=10 + i) for i, b in enumerate(batches)]
    call = (
        f"called export_model(DigitNet in train mode, example: {describe(example)}, "
        f"max_batch={max_batch}), then program.module()(x)"
    )
    got = _export(learner, "DigitNet", state, example, inputs, call, max_batch=max_batch)
    _check_outputs(got, "DigitNet", state, inputs, example, call)


def test_batch_above_max_batch_is_refused(learner, seed):
    """The batch range is [1, max_batch]: max_batch + 1 raises, max_batch and 1 run."""
    rng = seed.python_random(1)
    max_batch = rng.randint(6, 12)
    state = _random_state("DigitNet", seed.generator(20))
    example = _images(seed, max_batch, offset=21)  # the largest example the contract allows
    inputs = [_images(seed, b, offset=22 + i) for i, b in enumerate((1, max_batch))]
    too_big = _images(seed, max_batch + 1, offset=25)
    call = (
        f"called export_model(DigitNet, example: {describe(example)}, max_batch={max_batch}), "
        "then program.module()(x)"
    )
    got = _export(learner, "DigitNet", state, example, inputs, call, max_batch=max_batch,
                  too_big=too_big)  # fmt: skip
    _check_outputs(got, "DigitNet", state, inputs, example, call)
    _check_range(got, max_batch, call)
    _check_refused(got, max_batch, call)


def test_default_max_batch_is_1024(learner, seed):
    """Without max_batch the range is [1, 1024]: a batch of 1024 runs, 1025 raises."""
    state = _random_state("DigitNet", seed.generator(30))
    example = _images(seed, 4, offset=31)
    inputs = [_images(seed, 1024, offset=32)]
    too_big = _images(seed, 1025, offset=33)
    call = (
        f"called export_model(DigitNet, example: {describe(example)}) without max_batch, then "
        "program.module()(x)"
    )
    got = _export(learner, "DigitNet", state, example, inputs, call, too_big=too_big)
    _check_outputs(got, "DigitNet", state, inputs, example, call)
    _check_range(got, 1024, call)
    _check_refused(got, 1024, call)


def test_exported_in_eval_mode_and_model_left_in_eval(learner, seed):
    """Exported in eval mode: Dropout off, BatchNorm's running stats; the model stays in eval."""
    state = _random_state("DigitNet", seed.generator(40))
    example = _images(seed, 5, offset=41)
    inputs = [_images(seed, 9, offset=42), _images(seed, 9, offset=42)]  # the same batch twice
    call = (
        f"called export_model(DigitNet in train mode, example: {describe(example)}, "
        "max_batch=16), then program.module()(x) twice on the same x"
    )
    got = _export(learner, "DigitNet", state, example, inputs, call, max_batch=16)
    _check_outputs(got, "DigitNet", state, inputs, example, call)
    if got["training"]:
        raise fail(
            f"{call}; afterwards the model's modules {got['training']} are in training mode; "
            "export_model calls model.eval() and leaves the model in eval mode"
        )
    assert_state_dict_close(
        got["state_after"], state, what="the model's state_dict after export_model",
        rtol=0.0, atol=0.0, call=call,
    )  # fmt: skip


def test_forward_parameter_name_is_read_from_the_model(learner, seed):
    """dynamic_shapes is keyed by the forward's own parameter name (here ``images``)."""
    state = _random_state("PixelMLP", seed.generator(50))
    example = _images(seed, 3, offset=51)
    inputs = [_images(seed, b, offset=52 + b) for b in (1, 8)]
    call = (
        f"called export_model(PixelMLP (forward(self, images)), example: {describe(example)}, "
        "max_batch=8), then program.module()(x)"
    )
    got = _export(learner, "PixelMLP", state, example, inputs, call, max_batch=8)
    _check_outputs(got, "PixelMLP", state, inputs, example, call)
    _check_range(got, 8, call)


def test_example_batch_is_validated(learner, seed):
    """An example batch below 2 or above max_batch raises ValueError (before exporting)."""
    state = _random_state("DigitNet", seed.generator(60))
    cases = [
        (_images(seed, 1, offset=61), {"max_batch": 8}),
        (_images(seed, 9, offset=62), {"max_batch": 8}),
        (_images(seed, 1025, offset=63), {}),
    ]
    for example, options in cases:
        shown = "".join(f", {k}={v}" for k, v in options.items())
        expect_raises(
            learner.run, "ValueError", export_and_run, "DigitNet", state, example, [],
            what=f"called export_model(DigitNet, example: {describe(example)}{shown})",
            **options,
        )  # fmt: skip


def test_save_program_writes_what_torch_export_load_reads(learner, seed):
    """save_program writes one file (replacing an older one) that torch.export.load reads back."""
    state = _random_state("DigitNet", seed.generator(70))
    example = _images(seed, 4, offset=71)
    inputs = [_images(seed, b, offset=72 + b) for b in (1, 6)]
    for as_str in (True, False):
        kind = "a str" if as_str else "a pathlib.Path"
        call = f"called save_program(program, path) with path {kind} ending in digits.pt2"
        existing = not as_str  # the second time, path already holds an older file
        where = "where path already holds an older file" if existing else "in an empty folder"
        got = learner.run(save_then_load, "DigitNet", state, example, inputs, as_str=as_str,
                          existing=existing)  # fmt: skip
        if got["save_error"] is not None:
            raise fail(
                f"{call} {where}; it raised {got['save_error']}, expected the file to be "
                "written: an existing file is replaced (torch.export.save(program, path) "
                "overwrites it)"
            )
        if got["returned"] is not None:
            raise fail(f"{call}; it returned {got['returned']}, expected None")
        if got["files"] != ["digits.pt2"]:
            raise fail(
                f"{call} {where}; afterwards the folder holds {got['files']}, "
                "expected exactly ['digits.pt2']: write the program with "
                "torch.export.save(program, path)"
            )
        if existing and got["unchanged"]:
            raise fail(
                f"{call} {where}; afterwards the file still holds the older bytes, expected "
                "the program: an existing file is replaced (torch.export.save(program, path) "
                "overwrites it)"
            )
        if got["load_error"] is not None:
            raise fail(
                f"{call}; torch.export.load(path) could not read the file ({got['load_error']}). "
                "Write it with torch.export.save (torch.save pickles the object instead)"
            )
        _check_outputs(got, "DigitNet", state, inputs, example,
                       f"{call}, then torch.export.load(path).module()(x)")  # fmt: skip


def test_load_program_reads_torch_export_save(learner, seed):
    """load_program reads a torch.export.save file: an ExportedProgram, same outputs."""
    state = _random_state("PixelMLP", seed.generator(80))
    example = _images(seed, 4, offset=81)
    inputs = [_images(seed, b, offset=82 + b) for b in (2, 11)]
    for as_str in (False, True):
        kind = "a str" if as_str else "a pathlib.Path"
        call = (
            f"called load_program(path) with path {kind}, on a file written by "
            "torch.export.save(program, path), then program.module()(x)"
        )
        got = call_learner(learner.run, load_saved, "PixelMLP", state, example, inputs,
                           as_str=as_str, call=call.partition(", then ")[0],
                           hints=LOAD_HINTS)  # fmt: skip
        _check_outputs(got, "PixelMLP", state, inputs, example, call)
        _check_range(got, 64, call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def export_and_run(
    mod: Any,
    kind: str,
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    inputs: list[torch.Tensor],
    *,
    too_big: torch.Tensor | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The model in train mode through export_model; the program run on each input."""
    model = _build(kind, state).train()
    program = mod.export_model(model, example, **options)
    facts = _program_facts(program, inputs)
    facts["training"] = sorted(name or "(the model)" for name, m in model.named_modules()
                               if m.training)  # fmt: skip
    facts["state_after"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if too_big is not None and facts.get("outs") is not None:
        facts["too_big"] = _run(program.module(), too_big)
    return facts


@scenario
def save_then_load(
    mod: Any,
    kind: str,
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    inputs: list[torch.Tensor],
    *,
    as_str: bool,
    existing: bool = False,
) -> dict[str, Any]:
    """The grader's program saved with the learner's save_program, read with torch.export.load.

    With ``existing``, ``path`` already holds an older file (a few bytes that are no program).
    """
    program = _reference_export(kind, state, example)
    with tempfile.TemporaryDirectory(prefix="pp-export-") as tmp:
        path = Path(tmp) / "digits.pt2"
        if existing:
            path.write_bytes(STALE)
        facts: dict[str, Any] = {"save_error": None, "load_error": None}
        try:
            returned = mod.save_program(program, str(path) if as_str else path)
        except NotImplementedError:
            raise
        except Exception as exc:  # e.g. a refusal to replace the file: the test explains it
            facts["save_error"] = _first_line(exc)
            return facts
        facts["returned"] = None if returned is None else describe(returned)
        facts["files"] = sorted(p.name for p in Path(tmp).iterdir())
        facts["unchanged"] = path.is_file() and path.read_bytes() == STALE
        if not path.is_file():
            return facts
        try:
            loaded = torch.export.load(path)
        except Exception as exc:  # the file is not what torch.export.save writes
            facts["load_error"] = _first_line(exc)
            return facts
    facts.update(_program_facts(loaded, inputs))
    return facts


@scenario
def load_saved(
    mod: Any,
    kind: str,
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    inputs: list[torch.Tensor],
    *,
    as_str: bool,
) -> dict[str, Any]:
    """The grader's program written with torch.export.save, read with the learner's load_program."""
    program = _reference_export(kind, state, example)
    with tempfile.TemporaryDirectory(prefix="pp-export-") as tmp:
        path = Path(tmp) / "digits.pt2"
        torch.export.save(program, path)
        loaded = mod.load_program(str(path) if as_str else path)
    return _program_facts(loaded, inputs)


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


def _reference_export(kind: str, state: dict[str, torch.Tensor], example: torch.Tensor) -> Any:
    """The grader's own program (batch range [1, 64]), for the save/load tests."""
    model = _build(kind, state).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    return torch.export.export(model, (example,), dynamic_shapes=({0: batch},))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _run(module: Any, x: torch.Tensor) -> dict[str, Any]:
    """``{"value": module(x)}``, or the exception the program raised, as data."""
    try:
        with torch.no_grad():
            return {"value": module(x)}
    except NotImplementedError:
        raise
    except Exception as exc:  # a program that refuses this batch: the test explains it
        return {"raised": type(exc).__name__, "text": _first_line(exc)}


def _ranges(program: Any) -> list[tuple[Any, Any]]:
    """The program's range constraints as ``(lower, upper)``; an infinite bound as a string."""

    def bound(value: Any) -> Any:
        try:
            return int(value)
        except Exception:  # sympy's infinities
            return str(value)

    return [(bound(r.lower), bound(r.upper)) for r in program.range_constraints.values()]


def _program_facts(program: Any, inputs: list[torch.Tensor]) -> dict[str, Any]:
    facts: dict[str, Any] = {"type": type(program).__name__, "outs": None}
    if not isinstance(program, torch.export.ExportedProgram):
        return facts
    facts["ranges"] = _ranges(program)
    module = program.module()
    facts["outs"] = [_run(module, x) for x in inputs]
    return facts


def _export(
    learner: Any,
    kind: str,
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    inputs: list[torch.Tensor],
    call: str,
    **options: Any,
) -> dict[str, Any]:
    """Run :func:`export_and_run`; an error of export_model is explained by the export call."""
    export_call = call.partition(", then ")[0]  # the error came before the program ran
    return call_learner(learner.run, export_and_run, kind, state, example, inputs,
                        call=export_call, hints=EXPORT_HINTS, **options)  # fmt: skip


def _check_outputs(
    got: dict[str, Any],
    kind: str,
    state: dict[str, torch.Tensor],
    inputs: list[torch.Tensor],
    example: torch.Tensor,
    call: str,
) -> None:
    """The program is an ExportedProgram, and its output on each input equals eager eval."""
    if got["type"] != "ExportedProgram" or got["outs"] is None:
        advice = (
            "return the program itself, not program.module()"
            if got["type"] in ("GraphModule", "Module")
            else "return what torch.export.export returns"
        )
        raise fail(
            f"{call}; got a {got['type']}, expected a torch.export.ExportedProgram: {advice}"
        )
    outs = got["outs"]
    for index, (x, out) in enumerate(zip(inputs, outs, strict=True)):
        where = f"{call} with x: {describe(x)}"
        if "raised" in out:
            advice = ""
            if x.shape[0] != example.shape[0]:
                advice = (
                    f"; the program accepts only the example's batch size {example.shape[0]}: "
                    "mark dim 0 as dynamic with dynamic_shapes and torch.export.Dim"
                )
            raise fail(f"{where}, the program raised {out['text']}{advice}")
        value = assert_tensor(out["value"], what="the output", call=where)
        want = _eager(kind, state, x)
        same_input_before = next(
            (j for j in range(index) if torch.equal(inputs[j], x) and "value" in outs[j]), None
        )
        if same_input_before is not None and not torch.equal(
            outs[same_input_before]["value"], value
        ):
            raise fail(
                f"{where}, the program gave two different outputs for the same x: Dropout is "
                "still active. Call model.eval() before torch.export.export: export records "
                "the forward in the mode the model is in"
            )
        try:
            assert_close(value, want, what="the output", call=where, **TOL)
        except AssertionError as exc:
            raise fail(
                f"{exc}; expected the eval-mode output of the model (the grader passes it in "
                "train mode: call model.eval() before exporting, so that Dropout is off and "
                "BatchNorm uses its running statistics)"
            ) from None


def _check_range(got: dict[str, Any], max_batch: int, call: str) -> None:
    ranges = [tuple(r) for r in got["ranges"]]
    if ranges == [(1, max_batch)]:
        return
    advice = []
    if len(ranges) == 1 and ranges[0][0] != 1:
        advice.append(
            f"the lower bound is {ranges[0][0]}: give the Dim min=1 (a Dim's default min is 0, "
            "and min=2 would promise less than the program can do)"
        )
    if len(ranges) == 1 and ranges[0][1] != max_batch:
        advice.append(f"the upper bound is {ranges[0][1]}: give the Dim max=max_batch")
    if len(ranges) != 1:
        advice.append("only dim 0, the batch, is dynamic")
    raise fail(
        f"{call}; program.range_constraints give the batch the range(s) {ranges}, expected "
        f"[(1, {max_batch})]: {'; '.join(advice)}, i.e. dynamic_shapes = {{name: {{0: "
        f"torch.export.Dim('batch', min=1, max={max_batch})}}}}"
    )


def _check_refused(got: dict[str, Any], max_batch: int, call: str) -> None:
    answer = got.get("too_big")
    if answer is not None and "raised" not in answer:
        raise fail(
            f"{call} with a batch of {max_batch + 1}; the program ran it, expected it to be "
            f"refused: give the batch Dim max={max_batch}"
        )
