"""5.9 A latency benchmark that measures what it claims (reference solution)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def time_calls(
    fn: Callable[[], Any],
    *,
    warmup: int = 3,
    iters: int = 20,
    device: str | torch.device = "cpu",
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Time ``fn()``: ``warmup`` untimed calls, then ``iters`` calls timed one by one.

    The protocol, exactly:

    1. call ``fn()`` ``warmup`` times without reading the clock (first calls pay for
       lazy initialisation, compilation, caches and allocator growth: that is not the
       latency a user sees later);
    2. then, ``iters`` times: read ``start = clock()``, call ``fn()`` once, read
       ``end = clock()``; the duration of that call is ``end - start``.

    So ``fn`` runs exactly ``warmup + iters`` times and ``clock`` is read exactly twice
    per timed call (just before and just after it) and nowhere else. ``fn``'s return
    value is ignored.

    Devices: a GPU runs kernels asynchronously, so on ``device`` of type ``"cuda"`` call
    ``torch.cuda.synchronize(device)`` right before *every* clock reading (before the
    start, so earlier work is not billed to this call, and before the end, so this call's
    work has finished); on ``"mps"`` call ``torch.mps.synchronize()`` at the same points.
    On any other device (``"cpu"``) nothing is synchronized: never call
    ``torch.cuda.synchronize`` there. ``device`` may be a string or a ``torch.device``.

    Args:
        fn: a callable taking no arguments.
        warmup: untimed calls first, an int ``>= 0``.
        iters: timed calls, an int ``>= 1``.
        device: where ``fn``'s work runs (decides the synchronization above).
        clock: returns the time in seconds; ``time.perf_counter`` by default (monotonic,
            the highest resolution). The grader passes a fake one.

    Returns:
        ``{"p50": float, "p95": float, "mean": float, "min": float, "iters": int}``:
        the median, the 95th percentile, the mean and the minimum of the ``iters``
        durations, in **seconds**, and ``iters``. The percentiles interpolate linearly
        between order statistics, as ``numpy.percentile(d, q)`` and ``torch.quantile``
        do by default: with the durations sorted, ``s[0] <= ... <= s[n-1]``, the
        ``q``-quantile (``q`` = 0.5 or 0.95) is ``s[lo] + (h - lo) * (s[lo+1] - s[lo])``
        where ``h = (n - 1) * q`` and ``lo = floor(h)`` (just ``s[lo]`` when ``lo = n - 1``).
        With ``iters = 1`` all four are that one duration (note that
        ``statistics.quantiles`` refuses a single value before Python 3.13). Compared with
        ``rtol = 1e-6``.

    Raises:
        ValueError: ``warmup < 0`` or ``iters < 1``, before ``fn`` is called.
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    kind = torch.device(device).type

    def sync() -> None:
        if kind == "cuda":
            torch.cuda.synchronize(device)
        elif kind == "mps":
            torch.mps.synchronize()

    for _ in range(warmup):
        fn()
    durations = []
    for _ in range(iters):
        sync()
        start = clock()
        fn()
        sync()
        durations.append(clock() - start)
    return {
        "p50": _quantile(durations, 0.5),
        "p95": _quantile(durations, 0.95),
        "mean": math.fsum(durations) / iters,
        "min": min(durations),
        "iters": iters,
    }


def _quantile(values: list[float], q: float) -> float:
    """The linearly interpolated ``q``-quantile of ``values`` (numpy's default method)."""
    s = sorted(values)
    h = (len(s) - 1) * q
    lo = math.floor(h)
    if lo >= len(s) - 1:
        return float(s[-1])
    return float(s[lo] + (h - lo) * (s[lo + 1] - s[lo]))


def compare_runtimes(
    model: nn.Module,
    example: torch.Tensor,
    *,
    onnx_path: str | os.PathLike[str] | None = None,
    iters: int = 10,
) -> list[dict[str, Any]]:
    """Run one model through several runtimes on ``example``: latency and agreement.

    ``model`` and ``example`` are on the CPU; ``example`` is a float32 batch ``(N, ...)``.
    First ``model.eval()`` (the model is left in eval mode; its parameters are not
    changed). Then one row per runtime, in this order:

    - ``"eager"``: ``model`` itself;
    - ``"export"``: ``torch.export.export(model, (example,)).module()``;
    - ``"compile"``: ``torch.compile(model, backend="eager")``. Always pass
      ``backend="eager"`` here: the default backend (inductor) generates and compiles C++
      on its first call, which takes minutes on a small CPU;
    - ``"onnxruntime"``, only when ``onnx_path`` is given: an ONNX file of the same model
      with one input and one output (5.3 writes such files), run by
      ``onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])``
      on ``{its first input's name: example.numpy()}``; its first output is the result.

    Every forward runs without autograd: under ``torch.inference_mode()`` (or
    ``torch.no_grad()``). Each runtime is timed with this module's ``time_calls``, called
    by its name as ``time_calls(run, iters=iters)`` where ``run`` is a callable without
    arguments doing one forward of that runtime on ``example``: keep the default warm-up
    (any ``warmup >= 1``), which absorbs compilation and first-call costs. The grader may
    replace ``time_calls`` while it checks this function.

    Returns:
        a list of dicts, one per runtime in the order above, each with exactly these keys:

        - ``"runtime"``: ``"eager"``, ``"export"``, ``"compile"`` or ``"onnxruntime"``;
        - ``"p50_ms"``, ``"p95_ms"``: ``time_calls``'s ``p50`` and ``p95`` in
          **milliseconds** (seconds x 1000), floats;
        - ``"max_abs_diff"``: a float, ``max |output - eager output|`` over all elements
          (``0.0`` for the eager row); for these runtimes it is below ``1e-5``;
        - ``"output"``: that runtime's output on ``example``, a plain CPU float32
          ``torch.Tensor`` that does not require grad (the onnxruntime one converted with
          ``torch.from_numpy``).

    Raises:
        ValueError: ``iters < 1``, before anything is exported or compiled.
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    model.eval()
    runtimes: list[tuple[str, Callable[[], torch.Tensor]]] = []

    def torch_runtime(module: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], Any]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return module(example)

        return run

    runtimes.append(("eager", torch_runtime(model)))
    exported = torch.export.export(model, (example,)).module()
    runtimes.append(("export", torch_runtime(exported)))
    compiled = torch.compile(model, backend="eager")
    runtimes.append(("compile", torch_runtime(compiled)))
    if onnx_path is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: example.numpy()}

        def run_onnx() -> torch.Tensor:
            return torch.from_numpy(session.run(None, feed)[0])

        runtimes.append(("onnxruntime", run_onnx))

    rows: list[dict[str, Any]] = []
    reference: torch.Tensor | None = None
    for name, run in runtimes:
        stats = time_calls(run, iters=iters)
        output = run().clone()  # a normal tensor, not an inference-mode one
        if reference is None:
            reference = output
        rows.append(
            {
                "runtime": name,
                "p50_ms": float(stats["p50"]) * 1000.0,
                "p95_ms": float(stats["p95"]) * 1000.0,
                "max_abs_diff": float((output - reference).abs().max()),
                "output": output,
            }
        )
    return rows


def profile_table(
    model: nn.Module, x: torch.Tensor, *, label: str = "inference", row_limit: int = 10
) -> str:
    """Profile one forward of ``model`` on ``x`` and return the profiler's summary table.

    Inside ``torch.profiler.profile(activities=...)`` run ``model(x)`` once, under
    ``torch.inference_mode()`` and inside ``torch.profiler.record_function(label)``, so
    the table has a row named ``label`` that covers the whole forward. The activities are
    ``[torch.profiler.ProfilerActivity.CPU]``, plus ``ProfilerActivity.CUDA`` when ``x``
    is on a CUDA device (then the table also has CUDA time columns).

    Returns:
        ``prof.key_averages().table(sort_by="cpu_time_total", row_limit=row_limit)``, a
        string: rows sorted by total CPU time, the largest first (so the ``label`` row,
        which encloses every operator of the forward, is the first row), at most
        ``row_limit`` of them.

    Raises:
        ValueError: ``label`` is not a non-empty string, or ``row_limit < 1``.
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    if row_limit < 1:
        raise ValueError(f"row_limit must be >= 1, got {row_limit}")
    activities = [torch.profiler.ProfilerActivity.CPU]
    if x.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with (
        torch.profiler.profile(activities=activities) as prof,
        torch.profiler.record_function(label),
        torch.inference_mode(),
    ):
        model(x)
    return prof.key_averages().table(sort_by="cpu_time_total", row_limit=row_limit)
