"""Grader for 5.6: uvicorn in a thread, and a concurrent httpx client with timeouts.

Every scenario serves an app of the grader's own (built here, never the learner's
``make_demo_app``) with the learner's ``start_server`` on the loopback interface, talks to it,
and stops it. The app serves a small MLP whose weights the judge chose; its async endpoints
record what the server saw (requests in flight at once, the client ports of the connections,
whether the lifespan's startup and shutdown ran). The judge computes the softmax of each batch
itself and compares it with what ``predict_many`` returned. After each scenario no thread it
started may be alive and no port may still accept connections: the scenario looks, and stops
anything the learner's code left running in its ``finally``.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from torch import nn

from pytorch_path.checks import assert_close, describe, fail
from pytorch_path.scenario import LearnerError, scenario

HOST = "127.0.0.1"
#: Seconds the slow app's lifespan startup takes.
SLOW_STARTUP_S = 0.3


# ----------------------------------------------------------------------------- the server


def test_start_server_serves_on_a_free_port(learner, seed):
    """start_server(app) serves on a free port: url, port, a live daemon thread; stop() ends it."""
    spec = _spec(seed, 0)
    got = _run(learner, serve_and_stop, spec)
    call = "called start_server(app) (defaults: host='127.0.0.1', port=0)"
    port = _check_started(got, call)
    if got["healthz"] != {"status": 200, "body": {"status": "ok"}}:
        raise fail(
            f"{call}; GET {got['url']}/healthz answered {got['healthz']}, expected status 200 "
            "and {'status': 'ok'}: the server must serve the app it was given"
        )
    if not got["daemon"]:
        raise fail(
            f"{call}; handle.thread is not a daemon thread; start it with "
            "threading.Thread(target=server.run, daemon=True), so a forgotten server cannot "
            "keep the interpreter from exiting"
        )
    _check_stopped(got, port, "then handle.stop()")
    if got["second_stop"] is not None:
        raise fail(
            f"{call}, handle.stop(), then handle.stop() again: the second call raised "
            f"{got['second_stop']}; stop() must be idempotent"
        )


def test_start_server_uses_the_port_given(learner, seed):
    """start_server(app, port=P) listens on P: handle.port == P and url ends with :P."""
    spec = _spec(seed, 1)
    got = _run(learner, serve_on_given_port, spec)
    call = f"called start_server(app, host='127.0.0.1', port={got['asked']})"
    port = _check_started(got, call)
    if port != got["asked"]:
        raise fail(f"{call}; handle.port is {port}, expected {got['asked']}, the port asked for")
    if got["healthz"] != {"status": 200, "body": {"status": "ok"}}:
        raise fail(
            f"{call}; GET /healthz answered {got['healthz']}, expected 200 {{'status': 'ok'}}"
        )
    _check_stopped(got, port, "then handle.stop()")


def test_with_block_stops_the_server_even_when_it_raises(learner, seed):
    """`with start_server(app) as h:` gives the handle and stops the server, raise or not."""
    spec = _spec(seed, 2)
    got = _run(learner, serve_in_with_blocks, spec)
    for case, text in (("plain", "a with block that ends normally"),
                       ("raising", "a with block whose body raises")):  # fmt: skip
        result = got[case]
        call = f"called `with start_server(app) as handle:` on {text}"
        if result["entered"] is not None:
            raise fail(
                f"{call}; `as handle` gave {result['entered']}, expected the ServerHandle "
                "itself (__enter__ returns self)"
            )
        port = _check_started(result, call)
        _check_stopped(result, port, "after the with block")
    if not got["raising"]["propagated"]:
        raise fail(
            "called `with start_server(app) as handle:` on a with block that raises; the "
            "exception did not reach the caller: __exit__ must return None/False so that the "
            "exception propagates once the server is stopped"
        )


def test_port_in_use_is_an_error(learner, seed):
    """A port that is already in use makes start_server raise instead of hanging or pretending."""
    spec = _spec(seed, 3)
    got = _run(learner, serve_on_a_busy_port, spec)
    call = (
        f"called start_server(app, port={got['port']}, timeout=5.0) while another socket "
        "listens on that port"
    )
    if got["raised"] is None:
        raise fail(
            f"{call}; it returned a handle; expected RuntimeError: uvicorn cannot bind the port "
            "and ends its thread, so check thread.is_alive() while you wait for server.started"
        )
    if _is(got["raised"], "TimeoutError") or not _is(got["raised"], "RuntimeError", "OSError"):
        raise fail(
            f"{call}; it raised {got['raised']['name']} after {got['elapsed']:.1f} s, expected "
            "RuntimeError as soon as uvicorn gives up: while you wait for server.started, check "
            "thread.is_alive() (uvicorn ends its thread when it cannot bind the port)"
        )
    if got["elapsed"] > 4.0:
        raise fail(
            f"{call}; it took {got['elapsed']:.1f} s to give up: stop waiting as soon as the "
            "server's thread has ended"
        )
    _check_no_threads(got["left"], call)


def test_startup_timeout_and_lifespan(learner, seed):
    """The app's lifespan runs (lifespan='on'); a startup slower than timeout is a TimeoutError."""
    spec = _spec(seed, 4)
    got = _run(learner, slow_startup, spec, 0.1)
    call = f"called start_server(app, timeout=0.1) on an app whose startup takes {SLOW_STARTUP_S} s"
    late = got["late"]
    if late["raised"] is None:
        if late.get("startup_ran") is False:
            raise fail(
                f"{call}; it returned a handle without running the app's startup code: "
                "configure uvicorn with lifespan='on' so that the startup (loading a model) "
                "runs before the server is ready"
            )
        raise fail(f"{call}; it returned a handle; expected TimeoutError after 0.1 s")
    if not _is(late["raised"], "TimeoutError"):
        raise fail(f"{call}; it raised {late['raised']['name']}, expected TimeoutError")
    if late["elapsed"] > SLOW_STARTUP_S + 4.0:
        raise fail(f"{call}; it took {late['elapsed']:.1f} s to raise; expected about 0.1 s")
    _check_no_threads(
        late["left"],
        f"{call} (it raised TimeoutError); ask the server to exit and join its thread before "
        "raising",
    )
    call = (
        "called start_server(app) (default timeout) on an app whose startup takes "
        f"{SLOW_STARTUP_S} s"
    )
    ok = got["default"]
    port = _check_started(ok, call)
    if not ok["startup_ran"]:
        raise fail(f"{call}; the app's lifespan startup did not run: use lifespan='on'")
    if ok["elapsed"] < SLOW_STARTUP_S * 0.9:
        raise fail(
            f"{call}; it returned after {ok['elapsed']:.2f} s, before the startup had finished: "
            "wait until server.started is True"
        )
    _check_stopped(ok, port, "then handle.stop()")
    if not ok["shutdown_ran"]:
        raise fail(
            f"{call}, then handle.stop(); the app's lifespan shutdown did not run: stop by "
            "setting server.should_exit = True and joining the thread (uvicorn then runs the "
            "shutdown), not by abandoning the thread"
        )


# ----------------------------------------------------------------------------- the client


def test_predict_many_answers_every_batch_in_order(learner, seed):
    """predict_many returns the server's softmax for each batch, in the order of the batches."""
    spec = _spec(seed, 10)
    batches, delays = _batches(seed, spec, 11, count=7)
    (got,) = _run(learner, predict_batches, spec, [_call(batches, delays, workers=3)])
    call = (
        f"called predict_many(url, batches, workers=3) with {len(batches)} batches (tensors and "
        "lists of rows; the server answers the first ones last)"
    )
    _check_answers(got, spec, batches, call)
    _check_concurrency(got, 3, len(batches), call)


def test_predict_many_defaults_and_workers(learner, seed):
    """workers (default 4) bounds the requests in flight; workers=1 is sequential; 0 raises."""
    spec = _spec(seed, 20)
    many, many_delays = _batches(seed, spec, 21, count=8)
    few, few_delays = _batches(seed, spec, 22, count=4)
    calls = [
        _call(many, many_delays),
        _call(few, few_delays, workers=1),
        _call(few[:1], few_delays, workers=0),
    ]
    default, sequential, zero = _run(learner, predict_batches, spec, calls)
    call = f"called predict_many(url, batches) with {len(many)} batches (default workers=4)"
    _check_answers(default, spec, many, call)
    _check_concurrency(default, 4, len(many), call)

    call = f"called predict_many(url, batches, workers=1) with {len(few)} batches"
    _check_answers(sequential, spec, few, call)
    _check_concurrency(sequential, 1, len(few), call)

    if zero["raised"] is None or not _is(zero["raised"], "ValueError"):
        what = "returned normally" if zero["raised"] is None else f"raised {zero['raised']['name']}"
        raise fail(f"called predict_many(url, batches, workers=0); it {what}, expected ValueError")


def test_http_errors_raise(learner, seed):
    """A non-2xx answer (a 422 for a batch of the wrong width) raises httpx.HTTPStatusError."""
    spec = _spec(seed, 30)
    batches, delays = _batches(seed, spec, 31, count=3)
    wrong = torch.randn(2, spec["width"] + 1, generator=seed.generator(32)).tolist()
    batches.insert(1, wrong)
    (got,) = _run(learner, predict_batches, spec, [_call(batches, delays, workers=2)])
    call = (
        f"called predict_many(url, batches, workers=2) where batch 1 has rows of width "
        f"{spec['width'] + 1} (the server answers 422)"
    )
    if got["raised"] is None:
        raise fail(
            f"{call}; it returned {describe(got['answers'])}; expected httpx.HTTPStatusError: "
            "call response.raise_for_status() on every response"
        )
    if not _is(got["raised"], "HTTPStatusError"):
        raise fail(f"{call}; it raised {got['raised']['name']}, expected httpx.HTTPStatusError")
    if got["raised"].get("status") != 422:
        raise fail(
            f"{call}; the error's response has status {got['raised'].get('status')}, expected 422"
        )
    _check_no_threads(got["left_after_call"], call)


def test_slow_server_times_out(learner, seed):
    """A server slower than timeout raises httpx.ReadTimeout after about timeout seconds."""
    spec = _spec(seed, 40)
    batches, _ = _batches(seed, spec, 41, count=1)
    got = _run(learner, predict_too_slow, spec, batches, 0.3)
    call = "called predict_many(url, [batch], timeout=0.3) on a server that answers after 3 s"
    if got["raised"] is None:
        raise fail(
            f"{call}; it returned after {got['elapsed']:.2f} s; expected httpx.ReadTimeout: "
            "give the client httpx.Timeout(timeout)"
        )
    if not _is(got["raised"], "TimeoutException"):
        raise fail(f"{call}; it raised {got['raised']['name']}, expected httpx.ReadTimeout")
    if not 0.25 <= got["elapsed"] <= 2.5:
        raise fail(
            f"{call}; it raised {got['raised']['name']} after {got['elapsed']:.2f} s, expected "
            "about 0.3 s: the timeout applies to each wait for the server"
        )
    _check_no_threads(got["left_after_call"], call)


# ----------------------------------------------------------------------------- scenarios


@scenario
def serve_and_stop(mod: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """start_server(app) with the defaults, GET /healthz, stop() twice."""
    with _cleanup() as before:
        handle = mod.start_server(_app(spec))
        out = _describe_handle(handle)
        out["healthz"] = _get(out, "/healthz")
        out["daemon"] = bool(getattr(getattr(handle, "thread", None), "daemon", False))
        handle.stop()
        out.update(_after_stop(handle, out, before))
        try:
            handle.stop()
            out["second_stop"] = None
        except NotImplementedError:
            raise
        except Exception as exc:
            out["second_stop"] = type(exc).__name__
        return out


@scenario
def serve_on_given_port(mod: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """start_server(app, host=HOST, port=P) on a port P that was free a moment ago."""
    with _cleanup() as before:
        asked = _free_port()
        handle = mod.start_server(_app(spec), host=HOST, port=asked)
        out = _describe_handle(handle)
        out["asked"] = asked
        out["healthz"] = _get(out, "/healthz")
        handle.stop()
        out.update(_after_stop(handle, out, before))
        return out


@scenario
def serve_in_with_blocks(mod: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """`with start_server(app) as h:`, once ending normally and once raising inside."""
    out: dict[str, Any] = {}
    for case in ("plain", "raising"):
        with _cleanup() as before:
            handle = mod.start_server(_app(spec))
            result = _describe_handle(handle)
            result["propagated"] = False
            try:
                with handle as entered:
                    result["entered"] = None if entered is handle else describe(entered)
                    result["healthz"] = _get(result, "/healthz")
                    if case == "raising":
                        raise _BodyError("raised inside the with block")
            except _BodyError:
                result["propagated"] = True
            result.update(_after_stop(handle, result, before))
            out[case] = result
    return out


@scenario
def serve_on_a_busy_port(mod: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """start_server on a port another listening socket holds."""
    with _cleanup() as before:
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            blocker.bind((HOST, 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            start = time.perf_counter()
            raised = None
            try:
                handle = mod.start_server(_app(spec), port=port, timeout=5.0)
                with contextlib.suppress(Exception):
                    handle.stop()
            except NotImplementedError:
                raise
            except Exception as exc:
                raised = _error(exc)
            elapsed = time.perf_counter() - start
        finally:
            blocker.close()
        return {"port": port, "raised": raised, "elapsed": elapsed, "left": _new_threads(before)}


@scenario
def slow_startup(mod: Any, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """An app whose lifespan startup is slow: with a short timeout, then the default one."""
    out: dict[str, Any] = {}
    with _cleanup() as before:
        flags: dict[str, bool] = {}
        start = time.perf_counter()
        raised = None
        try:
            handle = mod.start_server(_app(spec, flags=flags, startup_s=SLOW_STARTUP_S),
                                      timeout=timeout)  # fmt: skip
            with contextlib.suppress(Exception):
                handle.stop()
        except NotImplementedError:
            raise
        except Exception as exc:
            raised = _error(exc)
        out["late"] = {
            "raised": raised,
            "elapsed": time.perf_counter() - start,
            "startup_ran": flags.get("startup", False),
            "left": _new_threads(before),
        }
    with _cleanup() as before:
        flags = {}
        start = time.perf_counter()
        handle = mod.start_server(_app(spec, flags=flags, startup_s=SLOW_STARTUP_S))
        result = _describe_handle(handle)
        result["elapsed"] = time.perf_counter() - start
        result["startup_ran"] = flags.get("startup", False)
        handle.stop()
        result.update(_after_stop(handle, result, before))
        result["shutdown_ran"] = flags.get("shutdown", False)
        out["default"] = result
    return out


@scenario
def predict_batches(mod: Any, spec: dict[str, Any], calls: list[dict[str, Any]]) -> list[Any]:
    """Serve the grader's app; for each call, predict_many(url, batches, **options); stop."""
    stats: dict[str, Any] = {}
    results = []
    with _cleanup():
        server = _GraderServer(_app(spec, stats=stats))
        try:
            for call in calls:
                stats.update(in_flight=0, max_in_flight=0, ports=set(), requests=0)
                stats["delays"] = call["delays"]
                threads = set(threading.enumerate())
                raised = None
                answers = None
                try:
                    answers = mod.predict_many(server.url, call["batches"], **call["options"])
                except NotImplementedError:
                    raise
                except Exception as exc:
                    raised = _error(exc)
                results.append(
                    {
                        "answers": answers,
                        "raised": raised,
                        "left_after_call": _new_threads(threads),
                        "max_in_flight": stats["max_in_flight"],
                        "connections": len(stats["ports"]),
                        "requests": stats["requests"],
                    }
                )
        finally:
            server.stop()
    return results


@scenario
def predict_too_slow(
    mod: Any, spec: dict[str, Any], batches: list[Any], timeout: float
) -> dict[str, Any]:
    """predict_many against a server that answers after 3 s, with a short timeout."""
    release = threading.Event()
    with _cleanup():
        server = _GraderServer(_app(spec, release=release))
        try:
            threads = set(threading.enumerate())
            start = time.perf_counter()
            raised = None
            try:
                mod.predict_many(server.url, batches, timeout=timeout)
            except NotImplementedError:
                raise
            except Exception as exc:
                raised = _error(exc)
            elapsed = time.perf_counter() - start
            release.set()
            left = _new_threads(threads)
        finally:
            release.set()
            server.stop()
    return {"raised": raised, "elapsed": elapsed, "left_after_call": left}


# ----------------------------------------------------------------------------- helpers: the app


class Net(nn.Module):
    """The model the grader's app serves."""

    def __init__(self, width: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _spec(seed: Any, offset: int) -> dict[str, Any]:
    """A model: sizes and a state dict, chosen by the judge."""
    rng = seed.python_random(offset)
    width, hidden, classes = rng.randint(3, 6), rng.randint(5, 9), rng.randint(3, 5)
    torch.manual_seed(seed.value + offset)
    net = Net(width, hidden, classes)
    return {
        "width": width,
        "hidden": hidden,
        "classes": classes,
        "state": {k: v.detach().clone() for k, v in net.state_dict().items()},
    }


def _model(spec: dict[str, Any]) -> Net:
    net = Net(spec["width"], spec["hidden"], spec["classes"])
    net.load_state_dict(spec["state"])
    return net.eval()


def _app(
    spec: dict[str, Any],
    *,
    stats: dict[str, Any] | None = None,
    flags: dict[str, bool] | None = None,
    startup_s: float = 0.0,
    release: threading.Event | None = None,
) -> FastAPI:
    """The grader's app: POST /predict (softmax, argmax), GET /healthz; async endpoints.

    ``stats`` records requests in flight and client ports; ``stats["delays"][k]`` is how long
    the batch with ``k + 1`` rows waits before its answer; ``flags`` records the lifespan;
    ``release``, when given, holds every answer until it is set (at most 3 s).
    """
    model = _model(spec)
    width = spec["width"]
    stats = stats if stats is not None else {}
    stats.update(in_flight=0, max_in_flight=0, ports=set(), requests=0)
    flags = flags if flags is not None else {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if startup_s:
            await asyncio.sleep(startup_s)
        flags["startup"] = True
        yield
        flags["shutdown"] = True

    app = FastAPI(lifespan=lifespan)

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        stats["requests"] += 1
        stats["in_flight"] += 1
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        if request.client is not None:
            stats["ports"].add(request.client.port)
        try:
            body = await request.json()
            rows = body.get("inputs") if isinstance(body, dict) else None
            if (
                not isinstance(rows, list)
                or not rows
                or any(not isinstance(r, list) or len(r) != width for r in rows)
            ):
                return JSONResponse({"detail": f"rows of {width} floats expected"}, 422)
            if release is not None:
                for _ in range(300):
                    if release.is_set():
                        break
                    await asyncio.sleep(0.01)
            elif stats.get("delays"):
                delays = stats["delays"]
                await asyncio.sleep(delays[min(len(rows), len(delays)) - 1])
            with torch.inference_mode():
                probs = torch.softmax(model(torch.tensor(rows, dtype=torch.float32)), dim=1)
            return {"probabilities": probs.tolist(), "classes": probs.argmax(dim=1).tolist()}
        finally:
            stats["in_flight"] -= 1

    @app.get("/healthz")
    async def healthz() -> Any:
        return {"status": "ok"}

    return app


class _GraderServer:
    """The grader's own uvicorn server in a thread (for the client tests)."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host=HOST, port=0, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20.0
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the grader's own server did not start")
            time.sleep(0.005)
        self.url = f"http://{HOST}:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10.0)


class _BodyError(Exception):
    """Raised by the grader inside a with block."""


def _call(batches: list[Any], delays: list[float], **options: Any) -> dict[str, Any]:
    return {"batches": batches, "delays": delays, "options": options}


def _batches(seed: Any, spec: dict[str, Any], offset: int, *, count: int):
    """``count`` batches of distinct sizes (1..count rows), tensors and lists mixed.

    ``delays[k]`` is how long the server waits before answering a batch of ``k + 1`` rows:
    the first batches sent get the longest waits, so they are answered last.
    """
    rng = seed.python_random(offset)
    sizes = list(range(1, count + 1))
    rng.shuffle(sizes)
    gen = seed.generator(offset)
    batches: list[Any] = []
    delays = [0.0] * count
    for index, size in enumerate(sizes):
        x = torch.randn(size, spec["width"], generator=gen)
        batches.append(x if index % 2 == 0 else x.tolist())
        delays[size - 1] = 0.02 * (count - index)
    return batches, delays


# ----------------------------------------------------------------------------- helpers: scenarios


@contextlib.contextmanager
def _cleanup() -> Iterator[set[threading.Thread]]:
    """Yield the threads alive now; afterwards stop every uvicorn server left running.

    Meanwhile a thread ending with SystemExit (uvicorn's way out when it cannot bind) is
    ignored, as Python's default ``threading.excepthook`` does, rather than reported.
    """
    before = set(threading.enumerate())
    previous = threading.excepthook

    def hook(args: Any) -> None:
        if args.exc_type is not SystemExit:
            previous(args)

    threading.excepthook = hook
    try:
        yield before
    finally:
        if _new_threads(before):
            import uvicorn

            for obj in gc.get_objects():
                if isinstance(obj, uvicorn.Server):
                    obj.should_exit = True
            _wait_threads(before, 10.0)
        threading.excepthook = previous


def _new_threads(before: set[threading.Thread]) -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t not in before and t.is_alive())


def _wait_threads(before: set[threading.Thread], seconds: float) -> list[str]:
    """The names of threads started since ``before`` still alive after waiting ``seconds``."""
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread not in before:
            thread.join(max(0.0, deadline - time.monotonic()))
    return _new_threads(before)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _describe_handle(handle: Any) -> dict[str, Any]:
    """The documented attributes of a handle, as data (first: does the port accept already?)."""
    port = getattr(handle, "port", None)
    accepting = _refuses(port) is False
    url = getattr(handle, "url", None)
    thread = getattr(handle, "thread", None)
    return {
        "handle": None if hasattr(handle, "stop") else describe(handle),
        "port": port if type(port) is int else describe(port),
        "url": url if isinstance(url, str) else describe(url),
        "thread": isinstance(thread, threading.Thread),
        "alive": isinstance(thread, threading.Thread) and thread.is_alive(),
        "accepting": accepting,
    }


def _get(info: dict[str, Any], path: str) -> dict[str, Any]:
    """GET ``http://HOST:port{path}`` with httpx (the grader's client)."""
    import httpx

    if type(info["port"]) is not int:
        return {"status": None, "body": None}
    try:
        response = httpx.get(f"http://{HOST}:{info['port']}{path}", timeout=5.0)
    except httpx.HTTPError as exc:
        return {"status": None, "body": f"{type(exc).__name__}: {exc}"}
    return {"status": response.status_code, "body": response.json()}


def _refuses(port: Any) -> bool | str:
    """Whether connecting to ``port`` on HOST is refused (True) or accepted (False)."""
    if type(port) is not int:
        return "no port"
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError as exc:
        return f"{type(exc).__name__}"


def _after_stop(handle: Any, info: dict[str, Any], before: set[threading.Thread]) -> dict[str, Any]:
    thread = getattr(handle, "thread", None)
    return {
        "alive_after": isinstance(thread, threading.Thread) and thread.is_alive(),
        "refused": _refuses(info["port"]),
        "left": _new_threads(before),
    }


def _error(exc: BaseException) -> dict[str, Any]:
    """An exception the contract expects, as data: its name, classes and response status."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) if response is not None else None
    return {
        "name": type(exc).__name__,
        "mro": [k.__name__ for k in type(exc).__mro__],
        "message": str(exc)[:300],
        "status": status if type(status) is int else None,
    }


# ----------------------------------------------------------------------------- helpers: verdicts


def _run(side: Any, fn: Any, *args: Any) -> Any:
    try:
        return side.run(fn, *args)
    except LearnerError as exc:
        if exc.is_a("NotImplementedError") or exc.kind != "raised":
            raise
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
        where = (
            f" (in {exc.last_frame.name}, line {exc.last_frame.lineno})" if exc.last_frame else ""
        )
        raise fail(
            f"{fn.__name__.replace('_', ' ')}: your code raised {exc.type_name}: {first}{where}"
        ) from None


def _is(raised: dict[str, Any], *names: str) -> bool:
    return any(name in raised["mro"] for name in names)


def _check_started(got: dict[str, Any], call: str) -> int:
    """The handle's port, once its attributes say a live server is listening there."""
    if got["handle"] is not None:
        raise fail(f"{call}; it returned {got['handle']}, expected a ServerHandle")
    port = got["port"]
    if type(port) is not int or not 0 < port < 65536:
        raise fail(
            f"{call}; handle.port is {port!r}, expected the port the server listens on (an int "
            "> 0): with port=0 read it from server.servers[0].sockets[0].getsockname()[1] once "
            "the server has started"
        )
    if got["url"] != f"http://{HOST}:{port}":
        raise fail(f"{call}; handle.url is {got['url']!r}, expected 'http://{HOST}:{port}'")
    if not got["thread"]:
        raise fail(f"{call}; handle.thread is not a threading.Thread")
    if not got["alive"]:
        raise fail(f"{call}; handle.thread is not alive after start_server returned")
    if not got["accepting"]:
        raise fail(
            f"{call}; right after it returned, port {port} refused a connection: return only "
            "once the server listens (poll until server.started is True)"
        )
    healthz = got.get("healthz")
    if healthz is not None and healthz["status"] is None:
        raise fail(
            f"{call}; GET {got['url']}/healthz failed ({healthz['body']}): start_server must "
            "return only once the server accepts connections (server.started is True)"
        )
    return port


def _check_stopped(got: dict[str, Any], port: int, when: str) -> None:
    if got["alive_after"]:
        raise fail(
            f"{when}, handle.thread is still alive; stop() sets server.should_exit = True and "
            "joins the thread"
        )
    if got["refused"] is not True:
        raise fail(
            f"{when}, port {port} still accepts connections; the server must be shut down, "
            "not just forgotten"
        )
    _check_no_threads(got["left"], when)


def _check_no_threads(left: list[str], call: str) -> None:
    if left:
        raise fail(
            f"{call}; threads started by your code are still alive afterwards: {left[:4]}. "
            "Join every thread you start (server threads after should_exit; a "
            "ThreadPoolExecutor in a with block)"
        )


def _check_answers(
    got: dict[str, Any], spec: dict[str, Any], batches: list[Any], call: str
) -> None:
    if got["raised"] is not None:
        raise fail(f"{call}; it raised {got['raised']['name']}: {got['raised']['message']}")
    answers = got["answers"]
    if not isinstance(answers, list) or len(answers) != len(batches):
        raise fail(
            f"{call}; it returned {describe(answers)}, expected a list of {len(batches)} dicts"
        )
    if got["requests"] != len(batches):
        raise fail(
            f"{call}; the server received {got['requests']} requests, expected {len(batches)}"
        )
    model = _model(spec)
    expected = []
    for batch in batches:
        x = batch if isinstance(batch, torch.Tensor) else torch.tensor(batch)
        with torch.inference_mode():
            expected.append(torch.softmax(model(x), dim=1))
    for index, (answer, want) in enumerate(zip(answers, expected, strict=True)):
        if not isinstance(answer, dict) or "probabilities" not in answer:
            raise fail(f"{call}; answer {index} is {describe(answer)}, expected response.json()")
        probs = answer["probabilities"]
        rows = len(probs) if isinstance(probs, list) else None
        if rows != want.shape[0]:
            sizes = [
                len(a.get("probabilities", [])) if isinstance(a, dict) else None for a in answers
            ]
            wanted = [int(e.shape[0]) for e in expected]
            raise fail(
                f"{call}; answer {index} holds {rows} rows, but batch {index} has "
                f"{want.shape[0]}: the answers are not in the order of the batches (rows per "
                f"answer: {sizes}, expected {wanted}). Keep the futures in submission order "
                "(pool.map, or [f.result() for f in futures]), not as_completed"
            )
        assert_close(
            torch.tensor(probs, dtype=torch.float32), want, what=f"answer {index}['probabilities']",
            call=call, rtol=1e-5, atol=1e-6,
        )  # fmt: skip
        if answer.get("classes") != want.argmax(dim=1).tolist():
            raise fail(f"{call}; answer {index}['classes'] is {answer.get('classes')}, expected "
                       f"{want.argmax(dim=1).tolist()}")  # fmt: skip
    _check_no_threads(got["left_after_call"], call)


def _check_concurrency(got: dict[str, Any], workers: int, count: int, call: str) -> None:
    peak = got["max_in_flight"]
    if peak > workers:
        raise fail(
            f"{call}; the server had {peak} requests in flight at once, more than workers="
            f"{workers}: run the requests in a ThreadPoolExecutor(max_workers=workers)"
        )
    if workers > 1 and peak < 2:
        raise fail(
            f"{call}; the server never had two requests in flight at once: the requests were "
            "sent one after another. Submit them all to a ThreadPoolExecutor before waiting "
            "for any answer"
        )
    if got["connections"] > workers:
        raise fail(
            f"{call}; the server saw {got['connections']} connections for {count} requests, "
            f"more than workers={workers}: send every request through ONE httpx.Client "
            "(thread-safe, it reuses its pooled connections) rather than a new client or "
            "httpx.post per request"
        )
