"""Grader for 3.10: a batch-size experiment harness.

``make_model`` is an instrumented factory defined here: it counts its calls, snapshots each
new model's initial weights, and hooks the model's forward to record every batch it sees
(its rows, the training flag and whether grad was enabled). ``loss_fn`` is wrapped the same
way to record the targets. From these records the grader checks, run by run, the number of
steps, the samples budget, the data order (against ``sample_stream``), fresh and identically
initialised models, and that the final loss is one no-grad pass over the full data. Those
records are observations: every test also compares the final losses (or the indices, or the
table's text) with what the reference or the grader itself computes, in float64.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    assert_equal,
    assert_python_float,
    assert_tensor,
    call_learner,
    call_repr,
    describe,
    expect_raises,
    fail,
)
from pytorch_path.data import make_classification, make_regression
from pytorch_path.scenario import scenario

_KEYS = ("batch_size", "steps", "wall_time_s", "final_loss")
_HEADERS = ("batch size", "steps", "wall time (s)", "final loss")

_SIZE_ADVICE = (
    "a prediction and its targets disagree in size: call the given loss_fn(model(X[idx]), "
    "y[idx]) (not a fixed loss such as F.mse_loss), indexing X and y with the same batch "
    "indices"
)
_ERROR_HINTS = {"size of tensor a": _SIZE_ADVICE, "Expected input batch_size": _SIZE_ADVICE}


def test_sample_stream(learner, reference, seed):
    """sample_stream(n, samples, seed): the first `samples` indices of seeded permutations."""
    rng = seed.python_random(0)
    for n, samples in ((7, 5), (9, 9), (11, 30), (6, 13), (1, 3)):
        s = rng.randint(0, 10**6)
        expected = reference.sample_stream(n, samples, s)
        call = call_repr("sample_stream", n, samples, s)
        out = learner.sample_stream(n, samples, s)
        assert_tensor(out, shape=(samples,), dtype=torch.int64, device="cpu", call=call)
        for start in range(0, samples, n):
            chunk = out[start : start + n]
            if len(set(chunk.tolist())) != len(chunk) or chunk.min() < 0 or chunk.max() >= n:
                raise fail(
                    f"{call}: indices {start}..{start + len(chunk) - 1} are {chunk.tolist()}; "
                    f"every block of {n} must come from one permutation of 0..{n - 1} "
                    "(torch.randperm(n, generator=g)), drawn afresh once the last is used up"
                )
        if not torch.equal(out, expected):
            raise fail(
                f"{call} returned {out.tolist()[:12]}, expected {expected.tolist()[:12]}: make "
                "g = torch.Generator().manual_seed(seed) once, concatenate ceil(samples / n) "
                "draws of torch.randperm(n, generator=g) (a fresh permutation each time) and "
                "keep the first `samples` indices"
            )
    got = learner.run(stream_twice, 10, 25, 5)
    if got["global_changed"]:
        raise fail(
            "sample_stream(10, 25, 5) changed torch's global random state; draw from your own "
            "generator, g = torch.Generator().manual_seed(seed), not torch.manual_seed(seed)"
        )
    if not torch.equal(got["first"], got["second"]):
        raise fail(
            "two calls of sample_stream(10, 25, 5) gave different indices; use a generator "
            "seeded with `seed`, not the global random state"
        )
    expected = reference.sample_stream(10, 25, 5)
    if not torch.equal(got["first"], expected):
        raise fail(
            f"sample_stream(10, 25, 5) returned {got['first'].tolist()[:12]}, expected "
            f"{expected.tolist()[:12]}"
        )


def test_rows_in_order_with_python_numbers(learner, reference, device, seed):
    """One row per batch size, in the given order, keys exactly as documented, no tensors."""
    for i, task in enumerate(("regression", "classification")):
        cfg = _config(seed, 10 + i, device, task=task)
        run = _run(learner, cfg)
        rows = _check_rows(run["rows"], cfg, run["call"])
        _check_final_losses(rows, _run(reference, cfg)["rows"], run["call"], device)


def test_fresh_model_per_batch_size_same_initial_weights(learner, reference, device, seed):
    """make_model() is called once per batch size, right after torch.manual_seed(seed)."""
    for i, task in enumerate(("regression", "classification")):
        cfg = _config(seed, 20 + i, device, task=task)
        ref = _run(reference, cfg)
        want = ref["inits"][0]
        run = _run(learner, cfg)
        call = run["call"]
        _check_one_model_per_batch_size(run, cfg, call)
        for index, init in enumerate(run["inits"]):
            if not all(torch.equal(init[k], want[k]) for k in want):
                other = "" if index else " (even the first)"
                raise fail(
                    f"{call}: the model for batch_size={cfg['batch_sizes'][index]} (run {index}) "
                    f"started from different weights{other}; every run must start from the "
                    "same initial weights: call torch.manual_seed(seed) right before "
                    "make_model(), for every batch size"
                )
        rows = _check_rows(run["rows"], cfg, call)
        _check_final_losses(rows, ref["rows"], call, device)


def test_steps_and_samples_budget(learner, reference, device, seed):
    """Each run takes ceil(samples / batch_size) steps and sees exactly `samples` samples."""
    for i, task in enumerate(("classification", "regression", "regression")):
        cfg = _config(seed, 30 + i, device, task=task)
        if i == 2:  # a budget smaller than the data set, divided exactly by one batch size
            mid, _, large = cfg["batch_sizes"]
            cfg["batch_sizes"], cfg["samples"] = [mid, 1, large], 2 * mid
        run = _run(learner, cfg)
        call = run["call"]
        rows = _check_rows(run["rows"], cfg, call)
        _check_one_model_per_batch_size(run, cfg, call)
        samples = cfg["samples"]
        for index, bs in enumerate(cfg["batch_sizes"]):
            want_steps = math.ceil(samples / bs)
            sizes = [entry[0].shape[0] for entry in _training_log(run, index)]
            seen = sum(sizes)
            where = f"{call}: the run with batch_size={bs}"
            rule = (
                f"the budget is counted in samples, not epochs: cut the {samples} indices of "
                f"sample_stream(len(X), samples, seed) into batches of {bs}, keeping the smaller "
                f"last batch, for ceil({samples} / {bs}) = {want_steps} steps"
            )
            if seen != samples:
                raise fail(
                    f"{where} fed {seen} samples to the model in training (grad enabled) in "
                    f"{len(sizes)} forward passes, expected exactly {samples}; {rule}"
                )
            want_sizes = [bs] * (samples // bs) + ([samples % bs] if samples % bs else [])
            if sizes != want_sizes:
                raise fail(
                    f"{where} used batches of sizes {sizes[:8]}{'…' if len(sizes) > 8 else ''}, "
                    f"expected {want_sizes[:8]}{'…' if len(want_sizes) > 8 else ''}; {rule}"
                )
            got_steps = rows[index]["steps"]
            if got_steps != want_steps:
                raise fail(
                    f"{where} reports steps={got_steps}, but it took {len(sizes)} steps; steps "
                    f"is ceil(samples / batch_size) = ceil({samples} / {bs}) = {want_steps} (a "
                    "smaller last batch is kept, so round up, not down)"
                )
        _check_final_losses(rows, _run(reference, cfg)["rows"], call, device)


def test_batches_follow_the_seeded_stream(learner, reference, device, seed):
    """Batches are consecutive slices of sample_stream(len(X), samples, seed), X and y aligned."""
    cfg = _config(seed, 40, device, task="classification")
    X, y = cfg["X"], cfg["y"]
    order = reference.sample_stream(len(X), cfg["samples"], cfg["seed"]).to(device)
    run = _run(learner, cfg)
    call = run["call"]
    _check_one_model_per_batch_size(run, cfg, call)
    targets = iter(run["targets"])
    for index, bs in enumerate(cfg["batch_sizes"]):
        start = 0
        for step, (inputs, _, grad) in enumerate(run["logs"][index]):
            target = next(targets, None)
            if not grad:
                continue
            idx = order[start : start + bs]
            where = f"{call}: batch {step} of the run with batch_size={bs}"
            rule = (
                "take the batches in order from order = sample_stream(len(X), samples, seed): "
                "X[order[i : i + batch_size]] for i = 0, batch_size, 2 * batch_size, ..., the "
                "same order for every batch size"
            )
            if len(idx) == 0:
                raise fail(f"{where} goes past the {len(order)} samples of the budget; {rule}")
            if inputs.shape != X[idx].shape:
                raise fail(
                    f"{where} has shape {tuple(inputs.shape)}, expected {tuple(X[idx].shape)} "
                    f"(X[order[{start}:{start + len(idx)}]]); {rule}"
                )
            if not torch.equal(inputs, X[idx]):
                got, want = _row_indices(X, inputs), idx.tolist()
                k = next(j for j, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
                shown = "not a row of X" if got[k] < 0 else f"row {got[k]} of X"
                raise fail(
                    f"{where}: its row {k} is {shown}, expected row {want[k]} = "
                    f"order[{start + k}] (the batch should be X[order[{start}:"
                    f"{start + len(idx)}]], rows {want[:10]}{'…' if len(want) > 10 else ''}); "
                    f"{rule}"
                )
            start += bs
            if target is None or not torch.equal(target, y[idx]):
                raise fail(
                    f"{call}: in batch {step} of the run with batch_size={bs} the targets given "
                    f"to loss_fn are not y[idx] for the same idx as X[idx]; index X and y with "
                    "the same indices and call loss_fn(model(X[idx]), y[idx])"
                )
    rows = _check_rows(run["rows"], cfg, call)
    _check_final_losses(rows, _run(reference, cfg)["rows"], call, device)


def test_final_losses_match_a_twin_run(learner, reference, device, seed):
    """final_loss equals a correct run's (same init, same order, SGD with the same lr)."""
    for i, task in enumerate(("regression", "classification")):
        cfg = _config(seed, 50 + i, device, task=task)
        ref_rows = _run(reference, cfg)["rows"]
        run = _run(learner, cfg)
        call = run["call"]
        rows = _check_rows(run["rows"], cfg, call)
        _check_one_model_per_batch_size(run, cfg, call)
        n = len(cfg["X"])
        for index, row in enumerate(rows):
            bs = row["batch_size"]
            last = run["logs"][index][-1] if run["logs"][index] else None
            if last is None or last[0].shape[0] != n or last[2]:
                got = (
                    "no forward pass"
                    if last is None
                    else (
                        f"{last[0].shape[0]} rows with grad {'enabled' if last[2] else 'disabled'}"
                    )
                )
                raise fail(
                    f"{call}: after training with batch_size={bs} the last forward pass saw "
                    f"{got}; compute final_loss on the full data, loss_fn(model(X), y) in one "
                    "pass, under torch.no_grad(), after the training steps"
                )
            if last[1]:
                raise fail(
                    f"{call}: final_loss for batch_size={bs} was computed in training mode; "
                    "call model.eval() before the final full-data pass"
                )
        _check_final_losses(rows, ref_rows, call, device)


def test_loss_fn_defaults_to_mse(learner, reference, seed):
    """Without loss_fn, the harness trains and scores with F.mse_loss, the documented default."""
    cfg = {**_config(seed, 55, torch.device("cpu"), task="regression"), "loss": None}
    cfg["batch_sizes"] = cfg["batch_sizes"][:2]
    ref_rows = _run(reference, cfg)["rows"]
    run = _run(learner, cfg)
    rows = _check_rows(run["rows"], cfg, run["call"])
    for row, want in zip(rows, ref_rows, strict=True):
        got_loss, want_loss = row["final_loss"], want["final_loss"]
        if not abs(got_loss - want_loss) <= 1e-10 + 1e-7 * abs(want_loss):
            raise fail(
                f"{run['call']}: final_loss for batch_size={row['batch_size']} is "
                f"{got_loss:.8g}, a correct run gives {want_loss:.8g}; with loss_fn left out "
                "the harness uses F.mse_loss, the default in the signature "
                "(loss_fn=F.mse_loss), to train and to score"
            )


def test_wall_time_is_measured(learner, reference, device, seed):
    """wall_time_s: positive floats whose sum does not exceed the time the call took."""
    cfg = _config(seed, 60, device, task="regression")
    started = time.perf_counter()
    run = _run(learner, cfg)
    took = time.perf_counter() - started  # the judge's clock, the round trip included
    call = run["call"]
    rows = _check_rows(run["rows"], cfg, call)
    times = [row["wall_time_s"] for row in rows]
    if any(t <= 0 for t in times):
        raise fail(
            f"{call}: wall_time_s values are {times}; each must be the positive number of "
            "seconds the run's training took, measured with time.perf_counter()"
        )
    if sum(times) > took + 1e-3:
        raise fail(
            f"{call}: the wall times add up to {sum(times):.4f} s, but the whole call took "
            f"{took:.4f} s; measure each run with time.perf_counter() before and after its "
            "training steps (seconds, not milliseconds)"
        )
    _check_final_losses(rows, _run(reference, cfg)["rows"], call, device)


def test_rejects_bad_budgets(learner, reference):
    """samples < 1 or a batch size < 1 raises ValueError; samples = 1, batch size 1 is fine."""
    X, y, _, _ = make_regression(12, 3, seed=0, dtype=torch.float64)
    base = {"X": X, "y": y.unsqueeze(1), "d": 3, "out": 1, "loss": "mse_loss", "lr": 0.1}
    for kwargs in (
        {"batch_sizes": [4], "samples": 0},
        {"batch_sizes": [4, 0], "samples": 10},
        {"batch_sizes": [-2], "samples": 10},
    ):
        cfg = {**base, **kwargs, "seed": 1}
        expect_raises(learner.run, "ValueError", experiment, cfg, what=_call_text(cfg))
    # Just inside the bounds: one sample in one batch of one.
    cfg = {**base, "batch_sizes": [1], "samples": 1, "seed": 1}
    run = _run(learner, cfg)
    rows = _check_rows(run["rows"], cfg, run["call"])
    assert_equal(rows[0]["steps"], 1, what="rows[0]['steps']", call=run["call"])
    _check_final_losses(rows, _run(reference, cfg)["rows"], run["call"], torch.device("cpu"))


def test_render_table(learner, seed):
    """render_table: a rich Table, 4 documented columns, one row per result, cells as documented."""
    rows = _rows_for_table(seed)
    call = call_repr("render_table", rows)
    got = learner.run(table_facts, rows)
    if not got["is_table"]:
        raise fail(f"{call} returned {got['described']}; return a rich.table.Table")
    headers = tuple(got["headers"])
    if headers != _HEADERS:
        raise fail(f"{call}: the column headers are {headers}, expected {_HEADERS}")
    assert_equal(got["row_count"], len(rows), what="table.row_count", call=call)
    columns = got["columns"]
    for i, row in enumerate(rows):
        bs, steps, wall, loss = (col[i] for col in columns)
        if bs != str(row["batch_size"]) or steps != str(row["steps"]):
            raise fail(
                f"{call}: table row {i} starts with ({bs!r}, {steps!r}), expected "
                f"({str(row['batch_size'])!r}, {str(row['steps'])!r})"
            )
        for name, text, value, fmt in (
            ("wall time", wall, row["wall_time_s"], ".4f"),
            ("final loss", loss, row["final_loss"], ".6g"),
        ):
            if text != format(value, fmt):
                raise fail(
                    f"{call}: table row {i} shows the {name} as {text!r}, expected "
                    f"{format(value, fmt)!r} (format(value, {fmt!r}))"
                )
    _check_printed(got["text"], rows, f"{call}, printed with console.print(table)")
    if got["rows_after"] != rows:
        raise fail(f"{call} changed the rows it was given; only read them")


def test_print_table(learner, seed):
    """print_table prints the table: to the given console, or to stdout with a new Console()."""
    rows = _rows_for_table(seed)
    call = call_repr("print_table", rows, console="Console(record=True)")
    got = learner.run(printed_text, rows)
    if got["returned"] is not None:
        raise fail(f"{call} returned {got['returned']}; print the table and return None")
    text = got["console_text"]
    for needle in ["batch size", "final loss"] + [str(row["batch_size"]) for row in rows]:
        if needle not in text:
            raise fail(
                f"{call}: {needle!r} is missing from what was printed to the console:\n{text}\n"
                "print render_table(rows) with console.print(...)"
            )
    _check_printed(text, rows, call)
    printed = got["stdout"]
    for needle in ["steps"] + [str(row["batch_size"]) for row in rows]:
        if needle not in printed:
            raise fail(
                f"called print_table(rows) without a console: {needle!r} is missing from "
                f"stdout ({printed[:200]!r}); create rich.console.Console() inside the call "
                "when console is None and print render_table(rows) with it"
            )


# ----------------------------------------------------------------------------- scenarios


@scenario
def experiment(mod: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """run_batch_size_experiment with the instrumented make_model and loss_fn; what they saw."""
    factory = Factory(cfg["d"], cfg["out"], cfg["X"].dtype)
    X, y = cfg["X"], cfg["y"]
    # cfg["loss"] None: loss_fn left out of the call, to use its default
    spy = LossSpy(getattr(F, cfg["loss"] or "mse_loss"))
    given = {} if cfg["loss"] is None else {"loss_fn": spy}
    rows = mod.run_batch_size_experiment(
        factory, X, y, batch_sizes=list(cfg["batch_sizes"]), samples=cfg["samples"],
        lr=cfg["lr"], seed=cfg["seed"], **given,
    )  # fmt: skip
    return {
        "rows": rows,
        "described": describe(rows),
        "inits": factory.inits,
        "logs": factory.logs,
        "targets": spy.targets,
        "X_after": X,
        "y_after": y,
    }


@scenario
def stream_twice(mod: Any, n: int, samples: int, seed: int) -> dict[str, Any]:
    """sample_stream twice with the same arguments; whether torch's global RNG state moved."""
    state = torch.get_rng_state()
    first = mod.sample_stream(n, samples, seed)
    changed = not torch.equal(torch.get_rng_state(), state)
    second = mod.sample_stream(n, samples, seed)
    return {"first": first, "second": second, "global_changed": changed}


@scenario
def table_facts(mod: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """render_table(rows) as data: headers, row count, cells, and its printed text."""
    table = mod.render_table(rows)
    if not isinstance(table, Table):
        return {"is_table": False, "described": describe(table)}
    console = Console(record=True, width=100, file=io.StringIO())
    console.print(table)
    return {
        "is_table": True,
        "headers": [str(column.header) for column in table.columns],
        "row_count": table.row_count,
        "columns": [[str(cell) for cell in column.cells] for column in table.columns],
        "text": console.export_text(),
        "rows_after": rows,
    }


@scenario
def printed_text(mod: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What print_table printed: to a recording console, then to stdout without a console."""
    console = Console(record=True, width=100, file=io.StringIO())
    out = mod.print_table(rows, console=console)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        mod.print_table(rows)
    return {
        "returned": None if out is None else describe(out),
        "console_text": console.export_text(),
        "stdout": stdout.getvalue(),
    }


@scenario
def loss_curve(mod: Any, *, seed: int = 0) -> dict[str, Any]:
    """For ``pytorch-path plot``: final_loss after 1, 2, … 10 epochs' worth of samples.

    Every run starts from the same weights and reads the same seeded stream, so the run
    with a budget of k epochs is the first k epochs of the longest one: a training curve.
    """
    X, y, _, _ = make_regression(48, 4, seed=seed, dtype=torch.float64)
    losses = []
    for epochs in range(1, 11):
        cfg = {
            "X": X, "y": y.unsqueeze(1), "d": 4, "out": 1, "loss": "mse_loss",
            "batch_sizes": [8], "samples": epochs * len(X), "lr": 0.05, "seed": seed,
        }  # fmt: skip
        rows = _check_rows(experiment(mod, cfg)["rows"], cfg, _call_text(cfg))
        losses.append(rows[0]["final_loss"])
    return {
        "loss": losses,
        "label": "final_loss after each epoch's worth of samples (batch size 8, SGD lr=0.05)",
    }


# ----------------------------------------------------------------------------- helpers


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for tight comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _rtol(device: torch.device) -> float:
    return 1e-4 if device.type == "mps" else 1e-7


class Factory:
    """An instrumented ``make_model``: a small MLP, recording everything each model sees."""

    def __init__(self, d: int, out: int, dtype: torch.dtype) -> None:
        self.d, self.out, self.dtype = d, out, dtype
        self.inits: list[dict[str, torch.Tensor]] = []
        self.logs: list[list[tuple[torch.Tensor, bool, bool]]] = []

    def __call__(self) -> nn.Module:
        model = nn.Sequential(nn.Linear(self.d, 7), nn.Tanh(), nn.Linear(7, self.out))
        model = model.to(self.dtype)
        self.inits.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        log: list[tuple[torch.Tensor, bool, bool]] = []
        self.logs.append(log)

        def record(module: nn.Module, args: tuple[Any, ...]) -> None:
            log.append((args[0].detach().clone(), module.training, torch.is_grad_enabled()))

        model.register_forward_pre_hook(record)
        return model


class LossSpy:
    """Wraps a loss function, recording the targets of every call."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.targets: list[torch.Tensor] = []

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.targets.append(target.detach().clone())
        return self.fn(pred, target)


def _config(seed: Any, offset: int, device: torch.device, *, task: str) -> dict[str, Any]:
    """A random small task: data, batch sizes (not sorted), a samples budget, lr and a seed."""
    rng = seed.python_random(offset)
    n = rng.randint(37, 53)
    d = rng.randint(3, 6)
    dtype = _dtype(device)
    if task == "regression":
        X, y, _, _ = make_regression(n, d, seed=seed.generator(offset), dtype=dtype, device=device)
        y, out, loss = y.unsqueeze(1), 1, "mse_loss"
    else:
        k = rng.choice([c for c in (2, 3, 4, 5) if c != d])
        X, y = make_classification(
            n, d, k, separation=2.0, seed=seed.generator(offset), dtype=dtype, device=device
        )
        out, loss = k, "cross_entropy"
    small, mid, large = rng.randint(2, 6), rng.randint(9, 17), rng.randint(n + 3, n + 20)
    batch_sizes = [mid, small, large]
    samples = rng.randint(n + 10, 2 * n + 30)
    while samples % small == 0 or samples % mid == 0 or samples % n == 0:
        samples += 1
    return {
        "X": X,
        "y": y,
        "d": d,
        "out": out,
        "loss": loss,
        "batch_sizes": batch_sizes,
        "samples": samples,
        "lr": rng.choice([0.05, 0.1, 0.2]),
        "seed": rng.randint(1000, 10**6),
    }


def _call_text(cfg: dict[str, Any]) -> str:
    shown = {
        "batch_sizes": list(cfg["batch_sizes"]),
        "samples": cfg["samples"],
        "lr": cfg["lr"],
        "seed": cfg["seed"],
    }
    if cfg["loss"] is not None:
        shown["loss_fn"] = f"F.{cfg['loss']}"
    call = call_repr("run_batch_size_experiment", "make_model", cfg["X"], cfg["y"], **shown)
    return call.replace("'make_model'", "make_model").replace("'F.", "F.").replace("')", ")")


def _run(side: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """One side's harness run (each side on its own copy of the data), with the call's text."""
    call = _call_text(cfg)
    run = call_learner(side.run, experiment, cfg, call=call, hints=_ERROR_HINTS)
    if not (torch.equal(run["X_after"], cfg["X"]) and torch.equal(run["y_after"], cfg["y"])):
        raise fail(f"{call} changed X or y in place; leave the data as it was given")
    run["call"] = call
    return run


def _check_rows(rows: Any, cfg: dict[str, Any], call: str) -> list[dict[str, Any]]:
    """A list of dicts, one per batch size in the given order, with Python ints and floats."""
    sizes = cfg["batch_sizes"]
    if not isinstance(rows, list):
        raise fail(f"{call} returned {describe(rows)}; return a list of dicts, one per batch size")
    if len(rows) != len(sizes):
        raise fail(f"{call} returned {len(rows)} rows, expected {len(sizes)} (one per batch size)")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise fail(f"{call}: rows[{i}] is {describe(row)}; each row is a dict")
        if set(row) != set(_KEYS):
            raise fail(
                f"{call}: rows[{i}] has the keys {sorted(map(str, row))}, expected exactly "
                f"{list(_KEYS)}"
            )
        for key in ("batch_size", "steps"):
            if type(row[key]) is not int:
                raise fail(
                    f"{call}: rows[{i}][{key!r}] is {describe(row[key])}; it should be a Python int"
                )
        for key in ("wall_time_s", "final_loss"):
            assert_python_float(row[key], what=f"rows[{i}][{key!r}]", call=call)
    got = [row["batch_size"] for row in rows]
    if got != list(sizes):
        raise fail(
            f"{call}: the rows' batch sizes are {got}, expected {list(sizes)}: one row per "
            "batch size, in the order of batch_sizes (do not sort them)"
        )
    return rows


def _check_final_losses(
    rows: list[dict[str, Any]], ref_rows: list[dict[str, Any]], call: str, device: torch.device
) -> None:
    """Each row's final_loss equals the reference's on the same task (float64 tolerance)."""
    for row, want in zip(rows, ref_rows, strict=True):
        bs = row["batch_size"]
        got_loss, want_loss = row["final_loss"], want["final_loss"]
        if not abs(got_loss - want_loss) <= 1e-10 + _rtol(device) * abs(want_loss):
            raise fail(
                f"{call}: final_loss for batch_size={bs} is {got_loss:.8g}, a correct run "
                f"gives {want_loss:.8g} (same initial weights and batches); train with "
                "torch.optim.SGD(model.parameters(), lr=lr), the same lr for every batch "
                "size, and each step zero_grad(), loss_fn(model(X[idx]), y[idx]), "
                "backward(), step()"
            )


def _training_log(run: dict[str, Any], index: int) -> list[tuple[torch.Tensor, bool, bool]]:
    """The forward calls made with grad enabled (training steps) on model ``index``."""
    return [entry for entry in run["logs"][index] if entry[2]]


def _row_indices(X: torch.Tensor, rows: torch.Tensor) -> list[int]:
    """The index in X of each given row (-1 where a row is not one of X's)."""
    if rows.dim() != 2 or rows.shape[1] != X.shape[1]:
        return [-1] * (rows.shape[0] if rows.dim() else 1)
    same = (rows[:, None, :] == X[None, :, :]).all(dim=2)
    found = same.any(dim=1)
    return [int(i) if ok else -1 for i, ok in zip(same.float().argmax(dim=1), found, strict=True)]


def _check_one_model_per_batch_size(run: dict[str, Any], cfg: dict[str, Any], call: str) -> None:
    sizes, calls = cfg["batch_sizes"], len(run["inits"])
    if calls != len(sizes):
        raise fail(
            f"{call} called make_model() {calls} time(s) for {len(sizes)} batch sizes; "
            "build a fresh model with make_model() once per batch size, so no run continues "
            "from another run's trained weights"
        )


def _rows_for_table(seed: Any) -> list[dict[str, Any]]:
    rng = seed.python_random(70)
    return [
        {
            "batch_size": bs,
            "steps": rng.randint(3, 300),
            "wall_time_s": rng.uniform(0.001, 2.0),
            "final_loss": rng.uniform(0.01, 3.0),
        }
        for bs in rng.sample(range(2, 999), rng.randint(2, 5))
    ]


def _check_printed(text: str, rows: list[dict[str, Any]], call: str) -> None:
    """Each row's cells, formatted by the judge as documented, appear on one printed line."""
    lines = text.splitlines()
    for i, row in enumerate(rows):
        cells = (
            str(row["batch_size"]),
            str(row["steps"]),
            format(row["wall_time_s"], ".4f"),
            format(row["final_loss"], ".6g"),
        )
        if not any(all(cell in line for cell in cells) for line in lines):
            raise fail(
                f"{call}: no printed line shows row {i} as {cells} (batch size, steps, wall "
                f"time, final loss); what was printed:\n{text}"
            )
