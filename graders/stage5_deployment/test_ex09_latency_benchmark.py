"""Grader for 5.9: a latency benchmark that measures what it claims.

No test compares a real time with a threshold. ``time_calls`` is driven by a fake clock:
each call of the scenario's ``fn`` advances a virtual time by a duration the judge chose,
and the clock returns that time, so the durations a correct benchmark sees are known
exactly. The scenario logs the order of events (``f`` a call of ``fn``, ``c`` a clock
reading, ``s`` a device synchronization, observed by patching ``torch.cuda.synchronize``
and ``torch.mps.synchronize``); the judge checks the protocol from the log and the
statistics from its own computation on the durations it chose. The one test on the real
clock uses only what must hold: each timed call sleeps 1 ms, so every duration is at
least 1 ms, and no duration can exceed the whole call's wall time.

``compare_runtimes`` gets a small MLP (BatchNorm with random running statistics and a
Dropout, so train mode gives other outputs) in train mode, and an ONNX file of the same
weights written inside the scenario with ``onnx.helper`` (milliseconds; no exporter
involved). While it runs, the module's ``time_calls`` is replaced by a fake that returns
statistics the judge chose (so the milliseconds can be checked), ``torch.export.export``
and ``torch.compile`` are spied on (a compile with the inductor backend is recorded and
run with ``backend="eager"`` instead, which keeps the grader fast), and a forward pre-hook
records the grad mode of the timed calls. The judge computes the eval-mode output itself
and compares every runtime's output with it.

``profile_table``'s string is parsed: the rows between the dashed rules, the column
``CPU total`` (sorted, the largest first), the label's row and the row count.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pytorch_path.checks import (
    assert_close,
    assert_equal,
    describe,
    expect_raises,
    fail,
    name_the_mistake,
)
from pytorch_path.scenario import learner_attr, scenario

KEYS = ("p50", "p95", "mean", "min", "iters")
RUNTIMES = ("eager", "export", "compile", "onnxruntime")

# ----------------------------------------------------------------------------- time_calls


def test_warmup_calls_are_not_timed(learner, seed):
    """fn runs warmup times before the first clock reading, then once between each pair."""
    rng = seed.python_random()
    for warmup, iters in ((rng.randint(1, 5), rng.randint(2, 7)), (0, rng.randint(2, 5))):
        durations = _durations(rng, warmup + iters)
        got = learner.run(timed_with_a_fake_clock, durations, "cpu", _opts(warmup, iters))
        call = _call_text(warmup, iters, "cpu")
        _check_protocol(got["events"], warmup, iters, call)
        _check_stats(got["stats"], durations, warmup, iters, call)


def test_statistics_are_those_of_the_timed_durations(learner, seed):
    """p50/p95 interpolate linearly, mean and min are exact, all in seconds, over timed calls."""
    rng = seed.python_random(1)
    for index in range(3):
        warmup, iters = rng.randint(1, 4), rng.randint(5, 23)
        durations = _durations(rng, warmup + iters, spread=index + 1)
        got = learner.run(timed_with_a_fake_clock, durations, "cpu", _opts(warmup, iters))
        call = _call_text(warmup, iters, "cpu")
        _check_stats(got["stats"], durations, warmup, iters, call)


def test_synchronizes_before_every_clock_reading_on_a_gpu(learner, device, seed):
    """On cuda (mps) the device is synchronized before every clock reading; on cpu, never."""
    rng = seed.python_random(2)
    for index, shown in enumerate((str(device), device)):  # a string, then a torch.device
        warmup, iters = rng.randint(1, 3) - index, rng.randint(3, 6)
        durations = _durations(rng, warmup + iters)
        got = learner.run(timed_with_a_fake_clock, durations, shown, _opts(warmup, iters))
        call = _call_text(warmup, iters, shown)
        _check_sync(got["events"], device, call)
        _check_protocol(got["events"], warmup, iters, call)
        _check_stats(got["stats"], durations, warmup, iters, call)


def test_defaults_time_twenty_calls_after_three_warmups(learner):
    """With only fn: 3 warm-up calls, 20 timed with time.perf_counter, results in seconds."""
    got = learner.run(timed_for_real, 0.001)
    call = "called time_calls(fn) with the defaults, where fn sleeps for 1 ms"
    if got["calls"] != 23:
        raise fail(
            f"{call}; fn ran {got['calls']} times, expected 23: warmup=3 untimed calls, then "
            "iters=20 timed ones"
        )
    stats = _stats_dict(got["stats"], call)
    assert_equal(stats["iters"], 20, what="result['iters']", call=call)
    values = {k: _number(stats[k], f"result[{k!r}]", call) for k in ("p50", "p95", "mean", "min")}
    wall = float(got["wall"])
    if values["min"] < 0.001:
        raise fail(
            f"{call}; result['min'] is {values['min']:.3g}, but every timed call sleeps for "
            "1 ms, so no duration is below 0.001 s. Read the clock just before and just after "
            "each call (end - start), in seconds"
        )
    if values["p95"] > wall or values["mean"] * 20 > wall * (1 + 1e-9):
        raise fail(
            f"{call}; result['p95'] is {values['p95']:.3g} s and result['mean'] "
            f"{values['mean']:.3g} s, but the whole call took {wall:.3g} s: the durations must "
            "be in seconds (time.perf_counter's unit), not milliseconds or nanoseconds"
        )
    if not values["min"] <= values["p50"] <= values["p95"] or values["mean"] < values["min"]:
        raise fail(
            f"{call}; expected min <= p50 <= p95 and min <= mean, got {values}: compute all "
            "four from the same list of durations"
        )


def test_time_calls_validates_warmup_and_iters(learner, seed):
    """warmup < 0 and iters < 1 raise ValueError before fn runs; warmup=0 and iters=1 work."""
    for options in ({"warmup": -1, "iters": 5}, {"warmup": 2, "iters": 0}):
        got = learner.run(rejected_calls, options)
        shown = ", ".join(f"{k}={v}" for k, v in options.items())
        call = f"called time_calls(fn, {shown})"
        if got["error"] != "ValueError":
            raise fail(f"{call}; expected ValueError, got {got['error']}")
        if got["calls"]:
            raise fail(
                f"{call}; fn ran {got['calls']} times before the ValueError: check warmup and "
                "iters first, before calling fn"
            )
    durations = _durations(seed.python_random(3), 1)
    got = learner.run(timed_with_a_fake_clock, durations, "cpu", _opts(0, 1))
    call = _call_text(0, 1, "cpu")
    _check_protocol(got["events"], 0, 1, call)
    _check_stats(got["stats"], durations, 0, 1, call)


# ----------------------------------------------------------------------------- compare_runtimes


def test_compare_runtimes_rows_agree_with_eager(learner, seed):
    """Rows eager, export, compile, onnxruntime: each output equals the eval-mode forward."""
    spec, state, example = _net(seed, 10)
    fake = _fake_stats(seed.python_random(11), 4)
    got = learner.run(runtimes, spec, state, example, {"iters": 1}, fake, True)
    call = f"called compare_runtimes(model, example: {describe(example)}, onnx_path=..., iters=1)"
    _check_runtimes(got, spec, state, example, RUNTIMES, fake, iters=1, call=call)


def test_compare_runtimes_defaults_report_milliseconds(learner, seed):
    """Without onnx_path: three rows; iters=10 by default; p50_ms/p95_ms are time_calls' x 1000."""
    spec, state, example = _net(seed, 20)
    fake = _fake_stats(seed.python_random(21), 3)
    got = learner.run(runtimes, spec, state, example, {}, fake, False)
    call = f"called compare_runtimes(model, example: {describe(example)})"
    _check_runtimes(got, spec, state, example, RUNTIMES[:3], fake, iters=10, call=call)


def test_compare_runtimes_validates_iters(learner, seed):
    """iters=0 raises ValueError before anything is exported or compiled."""
    spec, state, example = _net(seed, 30)
    got = learner.run(runtimes_rejected, spec, state, example)
    call = "called compare_runtimes(model, example, iters=0)"
    if got["error"] != "ValueError":
        raise fail(f"{call}; expected ValueError, got {got['error']}")
    if got["exported"] or got["compiled"]:
        raise fail(
            f"{call}; it exported or compiled the model before raising ValueError: check iters "
            "first"
        )


# ----------------------------------------------------------------------------- profile_table


def test_profile_table_has_the_label_and_is_sorted(learner, device, seed):
    """The table has row_limit rows sorted by CPU total, the label's row and aten operators."""
    rng = seed.python_random(40)
    spec, state, x = _net(seed, 40, device=device)
    label = f"fwd_{rng.randrange(10**6)}"
    row_limit = rng.randint(3, 6)
    table = learner.run(profiled, spec, state, x, {"label": label, "row_limit": row_limit})
    call = f"called profile_table(model, x: {describe(x)}, label={label!r}, row_limit={row_limit})"
    header, rows = _parse_table(table, call)
    _check_rows(header, rows, label, row_limit, call)
    if device.type == "cuda" and "CUDA total" not in header:
        raise fail(
            f"{call}; x is on cuda but the table has no CUDA columns (header: {header.strip()}): "
            "add ProfilerActivity.CUDA to the activities when x is on a CUDA device"
        )


def test_profile_table_defaults(learner, seed):
    """Without label and row_limit: the row is named 'inference' and there are 10 rows."""
    spec, state, x = _net(seed, 50)
    table = learner.run(profiled, spec, state, x, {})
    call = f"called profile_table(model, x: {describe(x)})"
    header, rows = _parse_table(table, call)
    expected = min(10, _judge_event_count(spec, state, x))
    _check_rows(header, rows, "inference", expected, call)


def test_profile_table_validates_its_options(learner, seed):
    """row_limit=0, label='' and a label that is no str raise ValueError; row_limit=1 works."""
    spec, state, x = _net(seed, 60)
    for options in ({"row_limit": 0}, {"label": ""}, {"label": None}):
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        expect_raises(
            learner.run, "ValueError", profiled, spec, state, x, options,
            what=f"called profile_table(model, x, {shown})",
        )  # fmt: skip
    label = f"one_{seed.python_random(61).randrange(10**6)}"
    table = learner.run(profiled, spec, state, x, {"label": label, "row_limit": 1})
    call = f"called profile_table(model, x, label={label!r}, row_limit=1)"
    header, rows = _parse_table(table, call)
    _check_rows(header, rows, label, 1, call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def timed_with_a_fake_clock(
    mod: Any, durations: list[float], device: Any, options: dict[str, Any]
) -> dict[str, Any]:
    """time_calls(fn, clock=fake, device=device, **options); fn advances the fake clock.

    The k-th call of fn (warm-up calls included) takes ``durations[k]`` of virtual time
    (1.0 s beyond the list). Returns the event log and the result.
    """
    events: list[str] = []
    now = [1000.0 + 0.125]
    calls = [0]
    dev = torch.device(device)
    work = torch.ones(8, device=dev) if dev.type != "cpu" else None

    def fn() -> None:
        k = calls[0]
        calls[0] += 1
        events.append("f")
        now[0] += durations[k] if k < len(durations) else 1.0
        if work is not None:
            work.mul_(1.0)  # real work queued on the device

    def clock() -> float:
        events.append("c")
        return now[0]

    with _SyncSpy(events):
        stats = learner_attr(mod, "time_calls")(fn, device=device, clock=clock, **options)
    return {"events": "".join(events), "stats": _as_data(stats)}


@scenario
def timed_for_real(mod: Any, sleep_s: float) -> dict[str, Any]:
    """time_calls(fn) with every default; fn sleeps ``sleep_s``. Also the wall time."""
    calls = [0]

    def fn() -> None:
        calls[0] += 1
        time.sleep(sleep_s)

    started = time.perf_counter()
    stats = learner_attr(mod, "time_calls")(fn)
    wall = time.perf_counter() - started
    return {"calls": calls[0], "stats": _as_data(stats), "wall": wall}


@scenario
def rejected_calls(mod: Any, options: dict[str, Any]) -> dict[str, Any]:
    """time_calls with invalid options: the exception's class name and how often fn ran."""
    calls = [0]

    def fn() -> None:
        calls[0] += 1

    time_calls = learner_attr(mod, "time_calls")
    try:
        time_calls(fn, clock=lambda: 0.0, **options)
    except Exception as exc:  # the learner's: reported as data
        if isinstance(exc, NotImplementedError):
            raise  # the stub: not started
        return {"error": type(exc).__name__, "calls": calls[0]}
    return {"error": "nothing (the call returned normally)", "calls": calls[0]}


@scenario
def runtimes(
    mod: Any,
    spec: dict[str, int],
    state: dict[str, torch.Tensor],
    example: torch.Tensor,
    options: dict[str, Any],
    fake: list[list[float]],
    with_onnx: bool,
) -> dict[str, Any]:
    """compare_runtimes on a model left in train mode, with a fake time_calls and spies."""
    model = _build(spec, state)
    model.train()
    record: dict[str, list[Any]] = {"time_calls": [], "export": [], "compile": [], "forward": []}
    timing = [False]

    def hook(module: nn.Module, args: Any) -> None:
        if timing[0]:
            record["forward"].append([torch.is_grad_enabled(), module.training])

    handle = model.register_forward_pre_hook(hook)

    def fake_time_calls(fn, *, warmup=3, iters=20, device="cpu", clock=time.perf_counter):
        k = len(record["time_calls"])
        record["time_calls"].append({"warmup": warmup, "iters": iters})
        timing[0] = True
        try:
            fn()
            fn()
        finally:
            timing[0] = False
        p50, p95 = fake[k % len(fake)]
        return {"p50": p50, "p95": p95, "mean": p50, "min": p50 / 2, "iters": iters}

    tmp = tempfile.mkdtemp(prefix="pp59-")
    original_tc = learner_attr(mod, "time_calls")
    original_export = torch.export.export
    original_compile = torch.compile

    def export_spy(m, args, *rest, **kwargs):
        record["export"].append({"training": bool(getattr(m, "training", False))})
        return original_export(m, args, *rest, **kwargs)

    def compile_spy(m=None, *rest, backend="inductor", mode=None, **kwargs):
        shown = backend if isinstance(backend, str) else describe(backend)
        record["compile"].append({"backend": shown, "mode": mode})
        if backend == "inductor" or mode is not None:  # minutes of C++: run it eagerly
            backend, mode = "eager", None
        return original_compile(m, *rest, backend=backend, mode=mode, **kwargs)

    try:
        if with_onnx:
            options = {**options, "onnx_path": _write_onnx(model, spec, Path(tmp) / "model.onnx")}
        mod.time_calls = fake_time_calls
        torch.export.export = export_spy
        torch.compile = compile_spy
        rows = mod.compare_runtimes(model, example, **options)
    finally:
        mod.time_calls = original_tc
        torch.export.export = original_export
        torch.compile = original_compile
        handle.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "rows": _rows_as_data(rows),
        "record": record,
        "training_after": model.training,
        "state_after": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }


@scenario
def runtimes_rejected(
    mod: Any, spec: dict[str, int], state: dict[str, torch.Tensor], example: torch.Tensor
) -> dict[str, Any]:
    """compare_runtimes(..., iters=0): the exception's name; whether export/compile ran."""
    model = _build(spec, state)
    seen = {"exported": False, "compiled": False}
    original_export = torch.export.export
    original_compile = torch.compile

    def export_spy(*args, **kwargs):
        seen["exported"] = True
        return original_export(*args, **kwargs)

    def compile_spy(*args, **kwargs):
        seen["compiled"] = True
        kwargs["backend"], kwargs["mode"] = "eager", None
        return original_compile(*args, **kwargs)

    error = "nothing (the call returned normally)"
    torch.export.export = export_spy
    torch.compile = compile_spy
    try:
        mod.compare_runtimes(model, example, iters=0)
    except Exception as exc:  # the learner's: reported as data
        if isinstance(exc, NotImplementedError):
            raise
        error = type(exc).__name__
    finally:
        torch.export.export = original_export
        torch.compile = original_compile
    return {"error": error, **seen}


@scenario
def profiled(
    mod: Any,
    spec: dict[str, int],
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    options: dict[str, Any],
) -> Any:
    """profile_table(model (eval mode, on x's device), x, **options): the string."""
    model = _build(spec, state).to(x.device).eval()
    return _as_data(mod.profile_table(model, x, **options))


# ----------------------------------------------------------------------------- helpers: the model


class Net(nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> Dropout(0.5) -> Linear -> Tanh -> Linear."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.bn(self.fc1(x))))
        return self.fc3(torch.tanh(self.fc2(h)))


def _build(spec: dict[str, int], state: dict[str, torch.Tensor]) -> Net:
    model = Net(spec["d_in"], spec["hidden"], spec["classes"])
    model.load_state_dict(state)
    return model


def _net(seed: Any, offset: int, device: Any = "cpu") -> tuple[dict[str, int], dict, torch.Tensor]:
    """A random spec, a state dict (random BatchNorm statistics) and an input batch."""
    rng = seed.python_random(offset)
    spec = {"d_in": rng.randint(4, 8), "hidden": rng.randint(9, 16), "classes": rng.randint(2, 5)}
    gen = seed.generator(offset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed.value + offset)
        model = Net(**spec)
    with torch.no_grad():
        model.bn.weight.uniform_(0.5, 1.5, generator=gen)
        model.bn.bias.normal_(0.0, 0.3, generator=gen)
        model.bn.running_mean.normal_(0.0, 0.5, generator=gen)
        model.bn.running_var.uniform_(0.5, 2.0, generator=gen)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x = torch.randn(rng.randint(3, 9), spec["d_in"], generator=gen).to(device)
    return spec, state, x


def _eval_output(spec: dict[str, int], state: dict, example: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return _build(spec, state).eval()(example)


def _write_onnx(model: Net, spec: dict[str, int], path: Path) -> Path:
    """The same network as an ONNX graph, written with onnx.helper (no exporter)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    names = [k for k in weights if k != "bn.num_batches_tracked"]
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h1"], transB=1),
        helper.make_node(
            "BatchNormalization",
            ["h1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
            ["h2"],
            epsilon=model.bn.eps,
        ),
        helper.make_node("Relu", ["h2"], ["h3"]),
        helper.make_node("Gemm", ["h3", "fc2.weight", "fc2.bias"], ["h4"], transB=1),
        helper.make_node("Tanh", ["h4"], ["h5"]),
        helper.make_node("Gemm", ["h5", "fc3.weight", "fc3.bias"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", spec["d_in"]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", spec["classes"]])],
        [numpy_helper.from_array(weights[k], k) for k in names],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.save(proto, str(path))
    return path


# ----------------------------------------------------------------------------- helpers: data


def _as_data(value: Any) -> Any:
    """Plain values pass; a tensor or another object arrives described (for the message)."""
    if isinstance(value, dict):
        return {str(k): _as_data(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str, np.floating, np.integer)):
        return value
    return {"__object__": describe(value)}


def _rows_as_data(rows: Any) -> Any:
    if not isinstance(rows, list):
        return {"__object__": describe(rows)}
    out = []
    for row in rows:
        if not isinstance(row, dict):
            out.append({"__object__": describe(row)})
            continue
        data: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, torch.Tensor):
                data[str(key)] = {
                    "tensor": value.detach().clone(),
                    "requires_grad": value.requires_grad,
                }
            else:
                data[str(key)] = _as_data(value)
        out.append(data)
    return out


# ----------------------------------------------------------------------------- helpers: time_calls


def _opts(warmup: int, iters: int) -> dict[str, int]:
    return {"warmup": warmup, "iters": iters}


def _call_text(warmup: int, iters: int, device: Any) -> str:
    shown = f"'{device}'" if isinstance(device, str) else f"torch.device('{device}')"
    return f"called time_calls(fn, warmup={warmup}, iters={iters}, device={shown}, clock=fake)"


def _durations(rng: Any, n: int, spread: int = 1) -> list[float]:
    """n distinct durations between 0.2 ms and 40 ms (a few much longer when spread > 1)."""
    values: list[float] = []
    while len(values) < n:
        value = round(rng.uniform(2e-4, 4e-2) * (10.0 if rng.random() < 0.15 * spread else 1.0), 7)
        if value not in values:
            values.append(value)
    return values


def _quantile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), 100 * q, method="linear"))


def _stats_dict(stats: Any, call: str) -> dict[str, Any]:
    if not isinstance(stats, dict) or "__object__" in stats:
        shown = stats["__object__"] if isinstance(stats, dict) else describe(stats)
        raise fail(f"{call}; returned {shown}, expected a dict with the keys {list(KEYS)}")
    if set(stats) != set(KEYS):
        raise fail(
            f"{call}; the result has the keys {sorted(stats)}, expected exactly {sorted(KEYS)}"
        )
    return stats


def _number(value: Any, what: str, call: str) -> float:
    if isinstance(value, dict) and "__object__" in value:
        raise fail(
            f"{call}; {what} is {value['__object__']}, expected a float; use .item() or float() "
            "on a tensor"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise fail(f"{call}; {what} is {describe(value)}, expected a float")
    return float(value)


def _check_protocol(events: str, warmup: int, iters: int, call: str) -> None:
    """The log (sync events aside) must read f * warmup + (c f c) * iters."""
    log = events.replace("s", "")
    total = log.count("f")
    first = log.find("c")
    if first < 0:
        raise fail(f"{call}; the clock was never read: time each call with clock()")
    before = log[:first].count("f")
    if before != warmup:
        if before == 0 and warmup > 0:
            raise fail(
                f"{call}; the clock was first read before any call of fn: the {warmup} warm-up "
                "calls were timed too. Run them first, without reading the clock"
            )
        raise fail(
            f"{call}; fn ran {before} times before the first clock reading, expected "
            f"warmup={warmup}: the warm-up calls come first and are never timed"
        )
    timed = log[first:]
    if timed == "cfc" * iters:
        return
    readings = timed.count("c")
    if readings == 2 and iters > 1:
        raise fail(
            f"{call}; the clock was read only twice, around the whole loop: read it just before "
            "and just after each timed call, so that each call has its own duration"
        )
    if total != warmup + iters:
        raise fail(
            f"{call}; fn ran {total} times, expected warmup + iters = {warmup + iters}: "
            "each timed call is one call of fn"
        )
    raise fail(
        f"{call}; the clock was read {readings} times in the timed part, expected {2 * iters}: "
        f"exactly once just before and once just after each of the {iters} timed calls, and "
        "nowhere else"
    )


def _check_sync(events: str, device: torch.device, call: str) -> None:
    kind = device.type
    if kind not in ("cuda", "mps"):
        if "s" in events:
            raise fail(
                f"{call}; it called torch.cuda.synchronize (or torch.mps.synchronize) although "
                "the device is the CPU: synchronize only when the device's type is cuda (mps)"
            )
        return
    name = "torch.cuda.synchronize(device)" if kind == "cuda" else "torch.mps.synchronize()"
    since_call = False  # a sync since the latest call of fn (or since the start)
    readings = 0
    for event in events:
        if event == "f":
            since_call = False
        elif event == "s":
            since_call = True
        elif event == "c":
            readings += 1
            if not since_call:
                which = "start" if readings % 2 else "end"
                raise fail(
                    f"{call}; clock reading {readings} (a {which}) came without {name} after the "
                    f"last call of fn: the GPU runs kernels asynchronously, so synchronize right "
                    "before every clock reading, the start and the end"
                )


def _check_stats(stats: Any, durations: list[float], warmup: int, iters: int, call: str) -> None:
    stats = _stats_dict(stats, call)
    assert_equal(stats["iters"], iters, what="result['iters']", call=call)
    timed = durations[warmup : warmup + iters]
    everything = durations[: warmup + iters]
    expected = {
        "p50": _quantile(timed, 0.5),
        "p95": _quantile(timed, 0.95),
        "mean": math.fsum(timed) / len(timed),
        "min": min(timed),
    }
    ordered = sorted(timed)
    n = len(ordered)
    for key, want in expected.items():
        value = _number(stats[key], f"result[{key!r}]", call)
        if abs(value - want) <= 1e-12 + 1e-6 * abs(want):
            continue
        q = 0.5 if key == "p50" else 0.95
        mistakes = [
            (want * 1000.0, "that is the value in milliseconds: return seconds"),
            (want * 1e9, "that is the value in nanoseconds: return seconds"),
            (
                _stat(everything, key),
                "that is computed over the warm-up calls too: only the timed calls count",
            ),
        ]
        if key in ("p50", "p95"):
            mistakes += [
                (ordered[min(n - 1, int(q * n))], "that is sorted[int(q * n)], a nearest-rank "
                 "percentile; interpolate linearly: h = (n - 1) * q, as numpy.percentile does"),
                (ordered[max(0, math.ceil(q * n) - 1)], "that is a nearest-rank percentile; "
                 "interpolate linearly between sorted[floor(h)] and the next, h = (n - 1) * q"),
                (ordered[min(n - 1, round(q * (n - 1)))], "that is the nearest order statistic; "
                 "interpolate linearly between sorted[floor(h)] and the next, h = (n - 1) * q"),
                (expected["mean"], "that is the mean of the durations, not the percentile"),
            ]  # fmt: skip
        advice = name_the_mistake(
            value, mistakes, lambda got, sim: abs(got - sim) <= 1e-12 + 1e-6 * abs(sim)
        )
        why = advice or (
            f"the {key} of the {iters} timed durations (end - start of each timed call), in seconds"
        )
        raise fail(f"{call}; result[{key!r}] is {value:.6g}, expected {want:.6g}: {why}")


def _stat(values: list[float], key: str) -> float:
    if key == "p50":
        return _quantile(values, 0.5)
    if key == "p95":
        return _quantile(values, 0.95)
    if key == "mean":
        return math.fsum(values) / len(values)
    return min(values)


class _SyncSpy:
    """Patches torch.cuda.synchronize and torch.mps.synchronize to log an ``s`` event.

    The real function still runs where its device is available (on a CPU-only machine a
    call is only logged, so a wrong call reads as a clear failure, not a crash).
    """

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> _SyncSpy:
        for owner, available in ((torch.cuda, torch.cuda.is_available),
                                 (torch.mps, torch.backends.mps.is_available)):  # fmt: skip
            original = owner.synchronize
            self.saved.append((owner, "synchronize", original))

            def spy(*args: Any, _original: Any = original, _ok: Any = available, **kw: Any) -> Any:
                self.events.append("s")
                return _original(*args, **kw) if _ok() else None

            owner.synchronize = spy
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, name, original in self.saved:
            setattr(owner, name, original)


# ----------------------------------------------------------------------------- helpers: runtimes


def _fake_stats(rng: Any, n: int) -> list[list[float]]:
    """Distinct (p50, p95) pairs in seconds that the fake time_calls returns, call by call."""
    pairs: list[list[float]] = []
    while len(pairs) < n:
        p50 = round(rng.uniform(1e-4, 9e-3), 6)
        pair = [p50, round(p50 * rng.uniform(1.2, 3.0), 6)]
        if all(abs(pair[0] - other[0]) > 1e-5 for other in pairs):
            pairs.append(pair)
    return pairs


def _check_runtimes(
    got: dict[str, Any],
    spec: dict[str, int],
    state: dict,
    example: torch.Tensor,
    names: tuple[str, ...],
    fake: list[list[float]],
    *,
    iters: int,
    call: str,
) -> None:
    record = got["record"]
    for entry in record["compile"]:
        if entry["backend"] != "eager" or entry["mode"] is not None:
            raise fail(
                f"{call}; torch.compile was called with backend={entry['backend']!r}, "
                f"mode={entry['mode']!r}: use torch.compile(model, backend='eager') here (the "
                "default inductor backend compiles C++ on its first call, minutes on a small CPU)"
            )
    for entry in record["export"]:
        if entry["training"]:
            raise fail(
                f"{call}; torch.export.export was given the model in train mode: call "
                "model.eval() first, so BatchNorm uses its running statistics and Dropout is off"
            )
    if got["training_after"]:
        raise fail(
            f"{call}; the model is still in train mode after the call: call model.eval() first "
            "(BatchNorm must use its running statistics, Dropout must be off)"
        )
    for key, value in state.items():
        if not torch.equal(got["state_after"][key], value):
            raise fail(
                f"{call}; the model's {key} changed during the call: benchmarking must not "
                "train or modify the model (eval mode, inference_mode, no optimizer)"
            )
    rows = got["rows"]
    if not isinstance(rows, list):
        raise fail(f"{call}; returned {rows['__object__']}, expected a list of dicts (rows)")
    shown = [row.get("runtime") if isinstance(row, dict) else row for row in rows]
    if shown != list(names):
        raise fail(f"{call}; the rows' runtimes are {shown}, expected {list(names)}, in that order")
    expected = _eval_output(spec, state, example)
    keys = {"runtime", "p50_ms", "p95_ms", "max_abs_diff", "output"}
    outputs: list[torch.Tensor] = []
    for row in rows:
        name = row["runtime"]
        if set(row) != keys:
            raise fail(
                f"{call}; the {name!r} row has the keys {sorted(row)}, expected {sorted(keys)}"
            )
        out = row["output"]
        if not isinstance(out, dict) or "tensor" not in out:
            raise fail(
                f"{call}; the {name!r} row's output is {describe(out)}, expected a torch.Tensor "
                "(convert onnxruntime's NumPy array with torch.from_numpy)"
            )
        if out["requires_grad"]:
            raise fail(
                f"{call}; the {name!r} row's output requires grad: run every forward under "
                "torch.inference_mode() (or torch.no_grad())"
            )
        tensor = out["tensor"]
        what = f"the {name!r} row's output"
        assert_close(tensor, expected, what=what, rtol=1e-5, atol=1e-5, call=call)
        outputs.append(tensor)
    for row, out in zip(rows, outputs, strict=True):
        diff = _number(row["max_abs_diff"], f"the {row['runtime']!r} row's max_abs_diff", call)
        want = float((out.double() - outputs[0].double()).abs().max())
        if abs(diff - want) > 1e-7 or diff > 1e-5:
            raise fail(
                f"{call}; the {row['runtime']!r} row's max_abs_diff is {diff:.3g}, but its output "
                f"differs from the eager row's by at most {want:.3g}: max_abs_diff is "
                "(output - eager_output).abs().max(), 0.0 for the eager row"
            )
    for entry in record["forward"]:
        grad_enabled, training = entry
        if training:
            raise fail(f"{call}; the model ran in train mode while timed: call model.eval() first")
        if grad_enabled:
            raise fail(
                f"{call}; the timed forward ran with autograd on: wrap it in "
                "torch.inference_mode() (or torch.no_grad()); building a graph is not inference"
            )
    _check_timings(rows, record["time_calls"], fake, iters=iters, call=call)


def _check_timings(
    rows: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    fake: list[list[float]],
    *,
    iters: int,
    call: str,
) -> None:
    if len(calls) != len(rows):
        raise fail(
            f"{call}; time_calls was called {len(calls)} times for {len(rows)} rows: time each "
            "runtime once with this module's time_calls(run, iters=iters), called by its name"
        )
    for entry in calls:
        if entry["iters"] != iters:
            raise fail(
                f"{call}; time_calls was called with iters={entry['iters']!r}, expected "
                f"iters={iters}: pass compare_runtimes' iters on"
            )
        if not isinstance(entry["warmup"], int) or entry["warmup"] < 1:
            raise fail(
                f"{call}; time_calls was called with warmup={entry['warmup']!r}: keep a warm-up "
                "(the default 3). The first calls of a compiled or exported module pay for "
                "tracing and compilation, which is not the latency you want to report"
            )
    pairs = [(p50 * 1000.0, p95 * 1000.0) for p50, p95 in fake[: len(calls)]]
    for row in rows:
        p50 = _number(row["p50_ms"], f"the {row['runtime']!r} row's p50_ms", call)
        p95 = _number(row["p95_ms"], f"the {row['runtime']!r} row's p95_ms", call)
        match = [
            pair
            for pair in pairs
            if abs(pair[0] - p50) <= 1e-6 * pair[0] and abs(pair[1] - p95) <= 1e-6 * pair[1]
        ]
        if match:
            pairs.remove(match[0])
            continue
        seconds = [pair for pair in pairs if abs(pair[0] / 1000.0 - p50) <= 1e-6 * p50]
        why = (
            "those are seconds: multiply time_calls' p50 and p95 by 1000"
            if seconds
            else "p50_ms and p95_ms are time_calls(run, iters=iters)['p50'] and ['p95'] times "
            "1000, from the call that timed this runtime"
        )
        raise fail(
            f"{call}; the {row['runtime']!r} row has p50_ms={p50:.6g}, p95_ms={p95:.6g}, which is "
            f"not what time_calls returned for any runtime ({_pairs_text(pairs)}): {why}"
        )


def _pairs_text(pairs: list[tuple[float, float]]) -> str:
    return ", ".join(f"p50 {p50:.6g} ms with p95 {p95:.6g} ms" for p50, p95 in pairs)


# ----------------------------------------------------------------------------- helpers: profiler


_RULE = re.compile(r"^-[- ]*$")


def _parse_table(table: Any, call: str) -> tuple[str, list[list[str]]]:
    """The header line and the data rows (split on runs of 2+ spaces) of a profiler table."""
    if not isinstance(table, str):
        shown = table["__object__"] if isinstance(table, dict) else describe(table)
        raise fail(
            f"{call}; returned {shown}, expected the string "
            "prof.key_averages().table(sort_by='cpu_time_total', row_limit=row_limit)"
        )
    lines = table.splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip() and _RULE.match(line.strip())]
    if len(rules) < 3:
        raise fail(
            f"{call}; the string is not a profiler table (expected dashed rules around a header "
            "and rows): return prof.key_averages().table(...)"
        )
    header = lines[rules[0] + 1]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[rules[1] + 1 : rules[2]]]
    return header, [row for row in rows if row and row[0]]


def _microseconds(text: str) -> float | None:
    found = re.fullmatch(r"([0-9.]+)\s*(us|ms|s)", text.strip())
    if not found:
        return None
    return float(found.group(1)) * {"us": 1.0, "ms": 1e3, "s": 1e6}[found.group(2)]


def _check_rows(header: str, rows: list[list[str]], label: str, count: int, call: str) -> None:
    names = [row[0] for row in rows]
    columns = re.split(r"\s{2,}", header.strip())
    if "CPU total" not in columns:
        raise fail(f"{call}; the table has no 'CPU total' column (header: {header.strip()})")
    where = columns.index("CPU total")
    totals = [_microseconds(row[where]) if len(row) > where else None for row in rows]
    if any(t is None for t in totals):
        raise fail(f"{call}; could not read the 'CPU total' column of the rows {rows[:3]}")
    if any(a < b for a, b in itertools.pairwise(totals)):  # type: ignore[operator]
        raise fail(
            f"{call}; the rows are not sorted by 'CPU total', largest first ({totals} us): use "
            ".table(sort_by='cpu_time_total', ...)"
        )
    if label not in names:
        raise fail(
            f"{call}; no row of the table is named {label!r} (rows: {names[:8]}): run the forward "
            "inside torch.profiler.record_function(label), itself inside the profile block"
        )
    if len(rows) != count:
        raise fail(
            f"{call}; the table has {len(rows)} rows, expected {count}: pass row_limit to "
            ".table(..., row_limit=row_limit)"
        )
    if count >= 3 and not any(name.startswith("aten::") for name in names):
        raise fail(
            f"{call}; no aten:: operator is in the table (rows: {names}): run model(x) inside "
            "the profiler, not before it"
        )


def _judge_event_count(spec: dict[str, int], state: dict, x: torch.Tensor) -> int:
    """How many distinct events the judge's own profile of the same forward has."""
    model = _build(spec, state).eval()
    with (
        torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof,
        torch.profiler.record_function("inference"),
        torch.inference_mode(),
    ):
        model(x)
    return len(prof.key_averages())
