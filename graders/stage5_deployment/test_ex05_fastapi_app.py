"""Grader for 5.5: a FastAPI app factory with typed requests and health checks.

Each scenario builds a model from weights the judge chose (a small MLP with BatchNorm, whose
running statistics are random, and Dropout, so train and eval mode differ; or a broken
model: one whose forward raises, one that returns NaN, one that returns infinity), builds
the learner's app with ``create_app``, and talks to it in-process with FastAPI's
``TestClient``. What comes back is data: status codes and JSON bodies, the OpenAPI document,
and what a spy wrapped around the model saw (its mode, whether autograd was on). The judge
computes the softmax of every batch itself and compares.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from pytorch_path.checks import assert_close, describe, fail
from pytorch_path.scenario import LearnerError, learner_attr, scenario

# ----------------------------------------------------------------------------- /predict


def test_predict_returns_softmax_and_argmax(learner, seed):
    """POST /predict answers the eval-mode softmax per row (rows sum to 1) and argmax indices."""
    spec = _spec(seed, 0)
    batches = [_rows(seed, spec, n, 10 + n) for n in (1, 5, 3)]
    got = _run(learner, serve, spec, [_post(b) for b in batches], options={"version": "v1"})
    call = "called create_app(model, 'v1') (class_names not given), then POST /predict"
    for batch, answer in zip(batches, got["answers"], strict=True):
        _check_prediction(answer, spec, batch, None, f"{call} with {len(batch)} row(s)")


def test_class_names_name_the_argmax(learner, seed):
    """With class_names, classes holds class_names[argmax] for each row."""
    spec = _spec(seed, 1)
    rng = seed.python_random(1)
    names = rng.sample(["cat", "dog", "owl", "fox", "elk", "yak", "emu"], spec["classes"])
    batch = _rows(seed, spec, 6, 11)
    options = {"version": "v2", "class_names": names}
    got = _run(learner, serve, spec, [_post(batch)], options=options)
    call = f"called create_app(model, 'v2', class_names={names}), then POST /predict"
    _check_prediction(got["answers"][0], spec, batch, names, call)


def test_bad_requests_are_422(learner, seed):
    """Wrong row width, ragged rows, no rows, non-numbers, a missing field: each answers 422."""
    spec = _spec(seed, 2)
    width = spec["width"]
    good = _rows(seed, spec, 2, 12)
    cases = [
        ("rows of width - 1", {"inputs": [row[:-1] for row in good]}),
        ("rows of width + 1", {"inputs": [[*row, 0.5] for row in good]}),
        ("ragged rows (one of width + 1)", {"inputs": [good[0], [*good[1], 0.5]]}),
        ("no rows: inputs=[]", {"inputs": []}),
        ("a non-numeric value 'abc'", {"inputs": [["abc", *good[0][1:]]]}),
        ("a null value", {"inputs": [[None, *good[0][1:]]]}),
        ("a flat list instead of rows", {"inputs": good[0]}),
        ("a missing field (the body is {})", {}),
        ("a misspelt field 'input'", {"input": good}),
    ]
    requests = [_post(body) for _, body in cases] + [_post(good)]
    got = _run(learner, serve, spec, requests, options={"version": "v3"}, spy=True)
    for (what, _), answer in zip(cases, got["answers"], strict=False):
        call = f"called POST /predict with {what} (the model takes rows of {width} values)"
        if answer["status"] != 422:
            raise fail(f"{call}; it answered {_shown(answer)}, expected 422. {_why_422(what)}")
    calls = got["spy"]["calls"]
    if calls != 1:
        raise fail(
            f"the model was called {calls} times for {len(cases)} invalid requests and one "
            "valid one, expected once: check the row width before calling the model and "
            "answer HTTPException(status_code=422)"
        )
    call = f"called POST /predict with 2 rows of {width} values after the invalid requests"
    _check_prediction(got["answers"][-1], spec, good, None, call)


# ----------------------------------------------------------------------------- /healthz, /version


def test_healthz_ok_for_a_healthy_model(learner, seed):
    """GET /healthz answers 200 {"status": "ok"} for a healthy model handed over in train mode."""
    spec = _spec(seed, 3)
    got = _run(learner, serve, spec, [_get("/healthz")], options={"version": "v4"})
    answer = got["answers"][0]
    call = (
        "called create_app(model, 'v4') with a healthy model (BatchNorm, given in train mode), "
        "then GET /healthz"
    )
    if answer["status"] != 200 or answer["body"] != {"status": "ok"}:
        why = ""
        if "more than 1 value per channel" in str(answer.get("body")):
            why = (
                " The probe ran in train mode, where BatchNorm cannot normalise a batch of "
                "one row: put the model in eval mode"
            )
        raise fail(f"{call}; it answered {_shown(answer)}, expected 200 {{'status': 'ok'}}.{why}")


def test_healthz_503_when_the_model_is_broken(learner, seed):
    """GET /healthz answers 503 {"status": "error", "reason": ...} if the probe raises or is NaN."""
    spec = _spec(seed, 4)
    for kind, what in (
        ("raises", "a model whose forward raises RuntimeError"),
        ("raises_value", "a model whose forward raises ValueError (not a RuntimeError)"),
        ("nan", "a model whose forward returns NaN"),
        ("inf", "a model whose forward returns infinity"),
    ):
        got = _run(learner, serve, spec, [_get("/healthz")], options={"version": "v5"}, kind=kind)
        answer = got["answers"][0]
        call = f"called create_app(model, 'v5') with {what}, then GET /healthz"
        if answer["status"] != 503:
            extra = ""
            if kind == "inf" and answer["status"] == 200:
                extra = (
                    " NaN is not the only non-finite value: check torch.isfinite(out).all(), "
                    "which is False for NaN and for ±infinity"
                )
            elif answer["status"] == 500:
                extra = (
                    " Catch the probe's exception, whatever its class (except Exception), and "
                    "answer 503"
                )
            raise fail(f"{call}; it answered {_shown(answer)}, expected 503.{extra}")
        body = answer["body"]
        if not isinstance(body, dict) or body.get("status") != "error":
            raise fail(
                f"{call}; the body is {body!r}, expected {{'status': 'error', 'reason': ...}}"
            )
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise fail(f"{call}; body['reason'] is {reason!r}, expected a non-empty str")
        exc_name = {"raises": "RuntimeError", "raises_value": "ValueError"}.get(kind)
        if exc_name is not None and exc_name not in reason:
            raise fail(
                f"{call}; body['reason'] is {reason!r}; it should name the exception's class "
                "(e.g. f'{type(exc).__name__}: {exc}')"
            )


def test_version_answers_the_version(learner, seed):
    """GET /version answers {"version": version}."""
    spec = _spec(seed, 5)
    version = f"2026.{seed.value % 97}.{seed.value % 13}-rc{seed.value % 5}"
    got = _run(learner, serve, spec, [_get("/version")], options={"version": version})
    answer = got["answers"][0]
    if answer["status"] != 200 or answer["body"] != {"version": version}:
        raise fail(
            f"called create_app(model, {version!r}), then GET /version; it answered "
            f"{_shown(answer)}, expected 200 {{'version': {version!r}}}"
        )


# ----------------------------------------------------------------------------- the app as a whole


def test_openapi_lists_the_routes_and_models(learner, seed):
    """/openapi.json lists /predict (PredictRequest in, PredictResponse out), /healthz, /version."""
    spec = _spec(seed, 6)
    got = _run(learner, serve, spec, [_get("/openapi.json")], options={"version": "v6"})
    answer = got["answers"][0]
    call = "called create_app(model, 'v6'), then GET /openapi.json"
    if answer["status"] != 200 or not isinstance(answer["body"], dict):
        raise fail(f"{call}; it answered {_shown(answer)}, expected 200 and the OpenAPI document")
    doc = answer["body"]
    paths = doc.get("paths", {})
    for path, method in (("/predict", "post"), ("/healthz", "get"), ("/version", "get")):
        if method not in paths.get(path, {}):
            raise fail(
                f"{call}; the document has no {method.upper()} {path} (its paths: {sorted(paths)})"
            )
    post = paths["/predict"]["post"]
    body_ref = (
        post.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    )
    if (
        not isinstance(body_ref, dict)
        or body_ref.get("$ref") != "#/components/schemas/PredictRequest"
    ):
        raise fail(
            f"{call}; the request body of POST /predict is {body_ref!r}, expected a reference to "
            "PredictRequest: annotate the endpoint's parameter with the pydantic model"
        )
    ok = post.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    if ok.get("schema", {}).get("$ref") != "#/components/schemas/PredictResponse":
        raise fail(
            f"{call}; the 200 response of POST /predict is {ok.get('schema')!r}, expected a "
            "reference to PredictResponse: declare it (-> PredictResponse, or response_model=)"
        )
    schemas = doc.get("components", {}).get("schemas", {})
    for name, fields in (
        ("PredictRequest", {"inputs"}),
        ("PredictResponse", {"probabilities", "classes"}),
    ):
        props = set(schemas.get(name, {}).get("properties", {}))
        if props != fields:
            raise fail(
                f"{call}; components.schemas.{name} has fields {sorted(props)}, expected "
                f"{sorted(fields)}"
            )
    inputs = schemas["PredictRequest"]["properties"]["inputs"]
    if inputs.get("type") != "array" or inputs.get("items", {}).get("type") != "array":
        raise fail(f"{call}; PredictRequest.inputs is {inputs!r}, expected list[list[float]]")
    if schemas["PredictRequest"].get("required") != ["inputs"]:
        raise fail(f"{call}; PredictRequest.inputs must be required (no default value)")


def test_eval_mode_and_no_autograd(learner, seed):
    """The model runs in eval mode with autograd off (inference_mode) for /predict and /healthz."""
    spec = _spec(seed, 7)
    batch = _rows(seed, spec, 4, 13)
    got = _run(
        learner, serve, spec, [_post(batch), _get("/healthz")], options={"version": "v7"}, spy=True
    )
    call = (
        "called create_app(model, 'v7') with a model in train mode, then POST /predict and "
        "GET /healthz"
    )
    _check_prediction(got["answers"][0], spec, batch, None, call)
    spy = got["spy"]
    if spy["calls"] < 2:
        raise fail(
            f"{call}; the model was called {spy['calls']} time(s), expected once per request"
        )
    if any(spy["training"]):
        raise fail(f"{call}; the model ran in train mode: call model.eval() in create_app")
    if any(spy["grad"]):
        raise fail(
            f"{call}; the model ran with autograd on: wrap the forward in torch.inference_mode() "
            "so no graph is built"
        )
    if got["training_after"]:
        raise fail(
            f"{call}; afterwards model.training is True, expected the model left in eval mode"
        )


def test_two_apps_are_independent(learner, seed):
    """Two apps from create_app keep their own model, version and class names (no global app)."""
    spec_a, spec_b = _spec(seed, 8), _spec(seed, 9)
    batch_a, batch_b = _rows(seed, spec_a, 3, 14), _rows(seed, spec_b, 2, 15)
    names = [f"class-{i}" for i in range(spec_a["classes"])]
    got = _run(learner, two_apps, spec_a, spec_b, batch_a, batch_b, names)
    call_a = f"called app_a = create_app(model_a, 'a-1', class_names={names})"
    call_b = "then app_b = create_app(model_b, 'b-2')"
    if got["same"]:
        raise fail(
            f"{call_a}, {call_b}; both calls returned the same object: build a new FastAPI() "
            "each time (a module-level app is shared by every call, and its first routes win)"
        )
    for label, version in (("a", "a-1"), ("b", "b-2")):
        answer = got[f"version_{label}"]
        if answer["body"] != {"version": version}:
            raise fail(
                f"{call_a}, {call_b}; GET /version on app_{label} answered {_shown(answer)}, "
                f"expected {{'version': {version!r}}}: each app must keep its own state (no "
                "module-level app or variables)"
            )
    _check_prediction(
        got["predict_a"], spec_a, batch_a, names, f"{call_a}, {call_b}; app_a's POST /predict"
    )
    _check_prediction(
        got["predict_b"], spec_b, batch_b, None, f"{call_a}, {call_b}; app_b's POST /predict"
    )


def test_model_without_linear_is_a_value_error(learner):
    """create_app raises ValueError for a model without an nn.Linear (no input width to check)."""
    got = _run(learner, no_linear)
    if got is not None:
        raise fail(
            f"called create_app(nn.Sequential(nn.ReLU()), 'v0'); it returned {got}, expected "
            "ValueError (the input width is the in_features of the first nn.Linear)"
        )


# ----------------------------------------------------------------------------- scenarios


@scenario
def serve(
    mod: Any,
    spec: dict[str, Any],
    requests: list[dict[str, Any]],
    *,
    options: dict[str, Any],
    kind: str = "net",
    spy: bool = False,
) -> dict[str, Any]:
    """create_app(model, **options), then each request through a TestClient."""
    model = _model(spec, kind)
    watched = _Spy(model) if spy else model
    version = options["version"]
    extra = {k: v for k, v in options.items() if k != "version"}
    app = learner_attr(mod, "create_app")(watched, version, **extra)
    client = _client(app)
    answers = [_send(client, r) for r in requests]
    return {
        "answers": answers,
        "spy": watched.record() if isinstance(watched, _Spy) else None,
        "training_after": watched.training,
        "app": _app_kind(app),
    }


@scenario
def two_apps(
    mod: Any,
    spec_a: dict[str, Any],
    spec_b: dict[str, Any],
    batch_a: list[list[float]],
    batch_b: list[list[float]],
    names: list[str],
) -> dict[str, Any]:
    """Build two apps, then query the first, the second, and the first again."""
    create = learner_attr(mod, "create_app")
    app_a = create(_model(spec_a, "net"), "a-1", class_names=names)
    app_b = create(_model(spec_b, "net"), "b-2")
    client_a, client_b = _client(app_a), _client(app_b)
    return {
        "same": app_a is app_b,
        "app": _app_kind(app_a),
        "version_b": _send(client_b, _get("/version")),
        "version_a": _send(client_a, _get("/version")),
        "predict_b": _send(client_b, _post(batch_b)),
        "predict_a": _send(client_a, _post(batch_a)),
    }


@scenario
def no_linear(mod: Any) -> str | None:
    """create_app on a model without nn.Linear: None if it raised ValueError."""
    try:
        app = learner_attr(mod, "create_app")(nn.Sequential(nn.ReLU()), "v0")
    except ValueError:
        return None
    return f"an app ({describe(app)})"


# ----------------------------------------------------------------------------- helpers: models


class Net(nn.Module):
    """An MLP whose train and eval modes differ (BatchNorm with running statistics, Dropout)."""

    def __init__(self, width: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(width, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(0.4),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Broken(nn.Module):
    """A model whose forward raises, or returns NaN or infinity."""

    def __init__(self, width: int, classes: int, kind: str) -> None:
        super().__init__()
        self.fc = nn.Linear(width, classes)
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "raises":
            raise RuntimeError("the weights could not be read")
        if self.kind == "raises_value":
            raise ValueError("the probe's input was refused")
        out = self.fc(x)
        return out * float("nan") if self.kind == "nan" else out + float("inf")


class _Spy(nn.Module):
    """Wraps a model and records, at each forward, its mode and whether autograd was on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.training_seen: list[bool] = []
        self.grad_seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.training_seen.append(bool(self.training or self.inner.training))
        self.grad_seen.append(torch.is_grad_enabled())
        return self.inner(x)

    def record(self) -> dict[str, Any]:
        return {
            "calls": len(self.training_seen),
            "training": self.training_seen,
            "grad": self.grad_seen,
        }


def _spec(seed: Any, offset: int) -> dict[str, Any]:
    """Sizes and weights of a Net, with random BatchNorm statistics (chosen by the judge)."""
    rng = seed.python_random(100 + offset)
    width, hidden, classes = rng.randint(3, 7), rng.randint(6, 10), rng.randint(3, 6)
    gen = seed.generator(100 + offset)
    torch.manual_seed(seed.value + offset)
    net = Net(width, hidden, classes)
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    state["body.1.weight"] = 0.5 + torch.rand(hidden, generator=gen)
    state["body.1.bias"] = 0.3 * torch.randn(hidden, generator=gen)
    state["body.1.running_mean"] = 0.5 * torch.randn(hidden, generator=gen)
    state["body.1.running_var"] = 0.5 + torch.rand(hidden, generator=gen)
    return {"width": width, "hidden": hidden, "classes": classes, "state": state}


def _model(spec: dict[str, Any], kind: str) -> nn.Module:
    """A model from the spec, in train mode (as a freshly built module is)."""
    if kind != "net":
        torch.manual_seed(0)
        return Broken(spec["width"], spec["classes"], kind)
    net = Net(spec["width"], spec["hidden"], spec["classes"])
    net.load_state_dict(spec["state"])
    return net.train()


def _reference(spec: dict[str, Any], batch: list[list[float]]) -> torch.Tensor:
    """The judge's softmax of the eval-mode model on the batch."""
    net = _model(spec, "net").eval()
    with torch.inference_mode():
        return torch.softmax(net(torch.tensor(batch, dtype=torch.float32)), dim=1)


def _rows(seed: Any, spec: dict[str, Any], n: int, offset: int) -> list[list[float]]:
    return torch.randn(n, spec["width"], generator=seed.generator(offset)).tolist()


# ----------------------------------------------------------------------------- helpers: requests


def _post(batch: Any) -> dict[str, Any]:
    body = batch if isinstance(batch, dict) else {"inputs": batch}
    return {"method": "POST", "path": "/predict", "json": body}


def _get(path: str) -> dict[str, Any]:
    return {"method": "GET", "path": path, "json": None}


def _client(app: Any) -> Any:
    from fastapi import FastAPI

    if not isinstance(app, FastAPI):
        raise TypeError(f"create_app returned {describe(app)}, expected a fastapi.FastAPI")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note about httpx2
        from fastapi.testclient import TestClient

        return TestClient(app, raise_server_exceptions=True)


def _send(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One request; the status and JSON body, or the exception the app raised (a 500)."""
    try:
        if request["method"] == "POST":
            response = client.post(request["path"], json=request["json"])
        else:
            response = client.get(request["path"])
    except NotImplementedError:
        raise
    except Exception as exc:
        return {"status": 500, "body": None, "raised": f"{type(exc).__name__}: {exc}"[:300]}
    try:
        body = response.json()
    except ValueError:
        body = response.text[:300]
    return {"status": response.status_code, "body": body, "raised": None}


def _app_kind(app: Any) -> str:
    return type(app).__name__


# ----------------------------------------------------------------------------- helpers: verdicts


def _run(side: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return side.run(fn, *args, **kwargs)
    except LearnerError as exc:
        if exc.is_a("NotImplementedError") or exc.kind != "raised":
            raise
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
        where = (
            f" (in {exc.last_frame.name}, line {exc.last_frame.lineno})" if exc.last_frame else ""
        )
        raise fail(f"building the app raised {exc.type_name}: {first}{where}") from None


def _shown(answer: dict[str, Any]) -> str:
    if answer.get("raised"):
        return f"500: the endpoint raised {answer['raised']}"
    body = answer.get("body")
    text = repr(body)
    return f"{answer['status']} {text[:160]}"


def _why_422(what: str) -> str:
    if "width" in what or "ragged" in what:
        return (
            "Check that every row has the model's input width (the in_features of its first "
            "nn.Linear) and raise HTTPException(status_code=422, ...) otherwise"
        )
    if "no rows" in what:
        return "Declare inputs with Field(min_length=1)"
    return "Declare the body as a pydantic model with inputs: list[list[float]]"


def _check_prediction(
    answer: dict[str, Any],
    spec: dict[str, Any],
    batch: list[list[float]],
    names: list[str] | None,
    call: str,
) -> None:
    """A 200 answer whose probabilities and classes equal the judge's."""
    if answer["status"] != 200:
        hint = ""
        if "more than 1 value per channel" in str(answer.get("raised")):
            hint = " The model ran in train mode: call model.eval()"
        raise fail(f"{call}; it answered {_shown(answer)}, expected 200.{hint}")
    body = answer["body"]
    if not isinstance(body, dict) or set(body) != {"probabilities", "classes"}:
        raise fail(f"{call}; the body is {_shown(answer)}, expected keys probabilities and classes")
    want = _reference(spec, batch)
    probs = body["probabilities"]
    ok_shape = (
        isinstance(probs, list)
        and len(probs) == want.shape[0]
        and all(isinstance(r, list) and len(r) == want.shape[1] for r in probs)
    )
    if not ok_shape:
        raise fail(
            f"{call}; probabilities is {describe(probs)}, expected {want.shape[0]} rows of "
            f"{want.shape[1]} floats"
        )
    values = torch.tensor(probs, dtype=torch.float64)
    sums = values.sum(dim=1)
    if not bool(((sums - 1).abs() < 1e-4).all()):
        raise fail(
            f"{call}; the rows of probabilities sum to {[round(float(s), 4) for s in sums]}, "
            "expected 1: apply torch.softmax(logits, dim=1), across the classes of each row"
        )
    try:
        assert_close(values.float(), want, what="probabilities", call=call, rtol=1e-4, atol=1e-5)
    except AssertionError as exc:
        hint = (
            " The values are not those of the model in eval mode: call model.eval() (Dropout "
            "and BatchNorm behave differently in train mode)"
        )
        raise fail(f"{exc}.{hint}") from None
    index = want.argmax(dim=1).tolist()
    expected = [names[i] for i in index] if names is not None else index
    classes = body["classes"]
    if classes != expected or any(
        type(c) is not type(e) for c, e in zip(classes, expected, strict=False)
    ):
        kind = "the names class_names[i]" if names is not None else "ints (the class indices)"
        raise fail(
            f"{call}; classes is {classes!r}, expected {expected!r}: the argmax of each row, as "
            f"{kind}"
        )
