"""Grader for 3.9: truncated backpropagation through time.

The learner's ``train_tbptt`` drives models defined here (RNN, GRU and LSTM regressors on
float features, and a copy of the exercise's ``CharRNN``), wrapped in a ``Spy`` module that
sees every chunk the learner feeds in: its shape and values, and the hidden state passed with
it (it must be the previous chunk's final state, detached). The optimizer is an SGD subclass
that counts ``step()`` calls and snapshots the gradient of the (leaf) inputs at each step, so
that a backward reaching an earlier chunk shows up. Those records are observations; every
training test also compares the losses with a twin run of the reference on the same model
and data, and the twin-run tests compare the final weights and input gradients too.
The learner's own ``CharRNN`` (given code, but in the learner's file) is checked as well:
each ``cell`` builds its documented layer (``"gru"`` by default), another cell is refused.

Tests first: scenarios (run where the learner's code runs) and helpers follow them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pytorch_path.checks import (
    assert_close,
    assert_python_float,
    assert_state_dict_close,
    call_learner,
    describe,
    expect_raises,
    fail,
)
from pytorch_path.scenario import LearnerError, scenario

_RNN_CLASSES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

_ERROR_HINTS = {
    "backward through the graph a second time": (
        "a backward pass reached the graph of an earlier chunk, which was already freed: "
        "detach the carried hidden state before each chunk (for an LSTM, both h and c)"
    ),
    "modified by an inplace operation": (
        "a backward pass reached an earlier chunk's graph, whose weights optimizer.step() has "
        "since changed in place: detach the carried hidden state before each chunk (for an "
        "LSTM, both h and c); retain_graph=True does not fix this, it only hides the first error"
    ),
    "Expected hidden size": (
        "the chunk and the carried hidden state disagree on the batch size: cut chunks along "
        "dim 1 (time), inputs[:, start : start + chunk], so every chunk keeps the whole batch"
    ),
    "Expected sequence length to be larger than 0": (
        "a chunk with no time steps reached the model: raise ValueError when chunk < 1, and "
        "stop at the end of the sequence"
    ),
}

_PER_CHUNK = (
    "per chunk: zero_grad, forward with the carried (detached) hidden state, "
    "loss_fn(out, y_chunk), backward, step, loss.item()"
)


# ----------------------------------------------------------------------------- detach_hidden


def test_detach_hidden_tensor_and_none(learner, device, seed):
    """detach_hidden(None) is None; a tensor comes back with its values and without a graph."""
    leaf = seed.randn(2, 3, 4, dtype=_dtype(device), device=device).requires_grad_(True)
    got = learner.run(detach_one, leaf)
    if not got["none_is_none"]:
        raise fail("called detach_hidden(None); expected None (nothing to detach)")
    hidden = leaf * 2
    call = f"called detach_hidden(h) with h: {describe(hidden)}"
    assert_close(got["out"], hidden.detach(), what="the result", call=call)
    if got["out_tracks"]:
        raise fail(f"{call}; the result still tracks gradients; return h.detach()")
    if not got["shares"]:
        raise fail(
            f"{call}; the result has h's values but in new memory: a copy (clone()). "
            "h.detach() shares h's memory and costs nothing; return that (no copy)"
        )
    if not got["arg_kept_graph"]:
        raise fail(
            f"{call}; afterwards h itself has no grad_fn: it was detached in place (detach_()); "
            "return a detached tensor and leave the argument alone"
        )


def test_detach_hidden_lstm_tuple(learner, device, seed):
    """detach_hidden((h, c)) returns a tuple in which both h and c are detached."""
    leaf = seed.randn(2, 3, 4, dtype=_dtype(device), device=device).requires_grad_(True)
    h, c = leaf.tanh(), leaf * 3
    call = f"called detach_hidden((h, c)) with h, c: {describe(h)}"
    got = learner.run(detach_pair, leaf)
    if not got["is_pair"]:
        raise fail(
            f"{call}; returned {got['described']}, expected a tuple (h, c) like the argument"
        )
    for i, (name, want) in enumerate((("h", h), ("c", c))):
        assert_close(got["out"][i], want.detach(), what=f"the returned {name}", call=call)
        if got["out_tracks"][i]:
            raise fail(
                f"{call}; the returned {name} still tracks gradients; detach both h and c "
                "(an LSTM's cell state carries the graph as much as h does)"
            )
        if not got["arg_kept_graph"][i]:
            raise fail(
                f"{call}; afterwards the argument {name} has no grad_fn: it was detached in place "
                "(detach_()); return new detached tensors and leave the argument alone"
            )


def test_char_rnn_builds_the_documented_cell(learner, seed):
    """CharRNN's cell picks nn.GRU (the default) or nn.LSTM; any other cell is a ValueError."""
    rng = seed.python_random(90)
    sizes = (rng.randint(5, 9), rng.randint(3, 5), rng.randint(6, 9))
    vocab = sizes[0]
    x = seed.randint(0, vocab, (2, rng.randint(8, 12)), offset=90)
    first, rest = x[:, :4], x[:, 4:]
    for cell, layers in ((None, None), ("gru", None), ("lstm", None), ("lstm", 2)):
        shown = ("" if cell is None else f", cell={cell!r}") + (
            "" if layers is None else f", num_layers={layers}"
        )
        what = f"CharRNN({', '.join(map(str, sizes))}{shown})"
        twin = _char_twin(sizes, cell or "gru", seed.value + 90, num_layers=layers or 1)
        state = twin.state_dict()
        with torch.no_grad():
            want_first, hidden = twin(first)
            want_rest, want_hidden = twin(rest, hidden)
        got = learner.run(char_rnn_run, sizes, cell, state, first, rest, num_layers=layers)
        if got["load_error"] is not None:
            kind = "nn.LSTM" if cell == "lstm" else "nn.GRU"
            depth = f"{layers}-layer" if layers else "one-layer"
            raise fail(
                f"{what} cannot load the weights of a CharRNN whose rnn is a {depth} {kind} "
                f"({got['load_error']}); its rnn is {got['rnn']}. cell='gru' (the default) "
                "builds nn.GRU and cell='lstm' builds nn.LSTM, with num_layers layers "
                "(1 by default)"
            )
        call = f"{what}, then model(x[:, :4]) and model(x[:, 4:], detach_hidden(hidden))"
        assert_close(got["first"], want_first, what="the logits of the first part", call=call)
        if cell == "lstm" and not (isinstance(got["hidden"], tuple) and len(got["hidden"]) == 2):
            raise fail(f"{call}: the LSTM's hidden is {describe(got['hidden'])}, expected (h, c)")
        assert_close(
            got["rest"], want_rest, what="the logits of the second part, continued from the "
            "first part's (detached) hidden state", call=call,
        )  # fmt: skip
        for (name, value), (_, want) in zip(_parts(got["final"]), _parts(want_hidden), strict=True):
            assert_close(value, want, what=f"the final {name}", call=call)
    sizes_text = ", ".join(map(str, sizes))
    expect_raises(
        learner.run, "ValueError", char_rnn_run, sizes, "rnn", state, first, rest,
        what=f"CharRNN({sizes_text}, cell='rnn') (only 'gru' and 'lstm' are cells)",
    )  # fmt: skip


# ----------------------------------------------------------------------------- train_tbptt


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_chunks_cover_the_sequence_in_order(learner, reference, device, seed, cell):
    """The model sees consecutive time chunks, the last one shorter; one loss per chunk."""
    runs = []
    for index, divides in enumerate((False, True)):
        runs.append(_setup(seed, 10 + index, device, cell, divides=divides))
    # chunk >= T: a single chunk, the whole sequence
    spec, inputs, targets, _ = _setup(seed, 12, device, cell)
    runs.append((spec, inputs, targets, inputs.shape[1] + 3))
    for spec, inputs, targets, chunk in runs:
        steps = inputs.shape[1]
        got, call = _train(learner, spec, inputs, targets, chunk, "mse", lr=0.05)
        _check_losses_shape(got["losses"], math.ceil(steps / chunk), steps, chunk, call)
        _check_chunks(got["calls"], inputs, chunk, call)
        want, _ = _train(reference, spec, inputs, targets, chunk, "mse", lr=0.05)
        _compare_losses(got, want, spec, inputs, targets, chunk, call=call, device=device)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_hidden_state_is_carried(learner, reference, device, seed, cell):
    """Each chunk starts from the previous chunk's final hidden state, not from zeros."""
    spec, inputs, targets, chunk = _setup(seed, 20, device, cell)
    got, call = _train(learner, spec, inputs, targets, chunk, "mse", lr=0.05)
    steps = inputs.shape[1]
    _check_losses_shape(got["losses"], math.ceil(steps / chunk), steps, chunk, call)
    _check_carried(got["calls"], call)
    want, _ = _train(reference, spec, inputs, targets, chunk, "mse", lr=0.05)
    _compare_losses(got, want, spec, inputs, targets, chunk, call=call, device=device)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_backward_stops_at_the_chunk_start(learner, reference, device, seed, cell):
    """The hidden state is detached between chunks: no backward reaches an earlier chunk."""
    spec, inputs, targets, chunk = _setup(seed, 30, device, cell)
    got, call = _train(learner, spec, inputs, targets, chunk, "mse", lr=0.05)
    steps = inputs.shape[1]
    _check_losses_shape(got["losses"], math.ceil(steps / chunk), steps, chunk, call)
    snaps = got["snapshots"]
    for k in range(1, len(snaps)):
        before, after = snaps[k - 1], snaps[k]
        if before is None or after is None:
            continue
        end = k * chunk
        if not torch.equal(before[:, :end], after[:, :end]):
            raise fail(
                f"{call}; the backward of chunk {k} changed the gradient of the inputs of steps "
                f"before {end}, which belong to earlier chunks: backpropagation crossed the chunk "
                "boundary. Detach the carried hidden state before each chunk"
            )
    want, _ = _train(reference, spec, inputs, targets, chunk, "mse", lr=0.05)
    _compare_losses(got, want, spec, inputs, targets, chunk, call=call, device=device)


def test_one_optimizer_step_per_chunk(learner, reference, device, seed):
    """optimizer.step() runs once after each chunk's backward, not once at the end."""
    spec, inputs, targets, chunk = _setup(seed, 40, device, "gru")
    n_chunks = math.ceil(inputs.shape[1] / chunk)
    got, call = _train(learner, spec, inputs, targets, chunk, "mse", lr=0.05)
    if got["steps"] != n_chunks:
        raise fail(
            f"{call}; optimizer.step() was called {got['steps']} time(s) for {n_chunks} chunks; "
            "step once per chunk, right after that chunk's backward (zero_grad before each chunk)"
        )
    _check_losses_shape(got["losses"], n_chunks, inputs.shape[1], chunk, call)
    want, _ = _train(reference, spec, inputs, targets, chunk, "mse", lr=0.05)
    _compare_losses(got, want, spec, inputs, targets, chunk, call=call, device=device)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_twin_run_matches_reference(learner, reference, device, seed, cell):
    """Losses, final weights and input gradients equal a correct run's on the same data."""
    spec, inputs, targets, chunk = _setup(seed, 50, device, cell)
    want, _ = _train(reference, spec, inputs, targets, chunk, "mse", lr=0.05)
    got, call = _train(learner, spec, inputs, targets, chunk, "mse", lr=0.05)
    n_chunks = math.ceil(inputs.shape[1] / chunk)
    _check_losses_shape(got["losses"], n_chunks, inputs.shape[1], chunk, call)
    _check_chunks(got["calls"], inputs, chunk, call)
    _check_carried(got["calls"], call)
    _compare_losses(got, want, spec, inputs, targets, chunk, call=call, device=device)
    tol = _tol(device)
    assert_state_dict_close(got["state"], want["state"], what="the trained model's state_dict",
                            call=call, **tol)  # fmt: skip
    if got["inputs_grad"] is not None or want["inputs_grad"] is not None:
        assert_close(
            got["inputs_grad"],
            want["inputs_grad"],
            what="inputs.grad (each chunk's loss differentiated w.r.t. its own inputs only)",
            call=call,
            **tol,
        )


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_trains_the_given_char_rnn(learner, reference, device, seed, cell):
    """train_tbptt drives the exercise's CharRNN on a token sequence, like the reference."""
    rng = seed.python_random(60)
    vocab = rng.randint(5, 9)
    spec = {
        "kind": "char",
        "vocab": vocab,
        "embedding_dim": rng.randint(3, 5),
        "hidden": rng.randint(6, 9),
        "cell": cell,
        "init_seed": seed.value + 60,
        "device": device,
    }
    text = seed.randint(0, vocab, (1, rng.randint(20, 30) + 1), device=device, offset=60)
    inputs, targets = text[:, :-1], text[:, 1:]
    chunk = rng.randint(4, 7)
    want, _ = _train(reference, spec, inputs, targets, chunk, "char", lr=0.3)
    got, call = _train(learner, spec, inputs, targets, chunk, "char", lr=0.3)
    losses = got["losses"]
    _check_losses_shape(losses, math.ceil(inputs.shape[1] / chunk), inputs.shape[1], chunk, call)
    _check_chunks(got["calls"], inputs, chunk, call)
    _check_carried(got["calls"], call)
    tol = _tol(device)
    if not _agree(losses, want["losses"], **tol):
        raise fail(
            f"{call}: the losses {[round(v, 5) for v in losses]} differ from a correct run's "
            f"{[round(v, 5) for v in want['losses']]}; {_PER_CHUNK}"
        )
    assert_state_dict_close(got["state"], want["state"], what="the trained model's state_dict",
                            call=call, **tol)  # fmt: skip
    if not (
        torch.equal(got["inputs_after"], inputs) and torch.equal(got["targets_after"], targets)
    ):
        raise fail(f"{call}; inputs or targets were changed in place; leave them as given")


def test_inputs_and_targets_not_modified(learner, reference, device, seed):
    """train_tbptt leaves inputs and targets as they were given."""
    spec, inputs, targets, chunk = _setup(seed, 70, device, "lstm")
    got, call = _train(learner, spec, inputs, targets, chunk, "mse", lr=0.05)
    for name, now, then in (
        ("inputs", got["inputs_after"], inputs.detach()),
        ("targets", got["targets_after"], targets),
    ):
        if not torch.equal(now, then):
            raise fail(f"{call}; {name} was changed in place; leave it as given")
    want, _ = _train(reference, spec, inputs, targets, chunk, "mse", lr=0.05)
    _compare_losses(got, want, spec, inputs, targets, chunk, call=call, device=device)


def test_chunk_below_one_raises(learner, reference, device, seed):
    """chunk < 1 raises ValueError (there would be no chunks, or an endless loop); 1 is fine."""
    spec, inputs, targets, _ = _setup(seed, 80, device, "gru")
    for chunk in (-2, 0):
        call = f"called train_tbptt(model, inputs, targets, chunk={chunk}, ...)"
        try:
            got = call_learner(
                learner.run, tbptt, spec, inputs, targets, chunk=chunk, lr=0.1, loss="mse",
                limit=4 * inputs.shape[1], call=call, hints=_ERROR_HINTS,
            )  # fmt: skip
        except LearnerError as exc:
            if exc.is_a("ValueError"):
                continue
            raise
        if got["stopped"] is not None:
            raise fail(got["stopped"])
        raise fail(f"{call}; expected ValueError (chunk must be at least 1), but it returned")
    # The smallest valid chunk: one step per chunk, like a correct run.
    got, call = _train(learner, spec, inputs, targets, 1, "mse", lr=0.05)
    steps = inputs.shape[1]
    _check_losses_shape(got["losses"], steps, steps, 1, call)
    want, _ = _train(reference, spec, inputs, targets, 1, "mse", lr=0.05)
    _compare_losses(got, want, spec, inputs, targets, 1, call=call, device=device)


# ----------------------------------------------------------------------------- scenarios


@scenario
def char_rnn_run(
    mod: Any,
    sizes: tuple[int, int, int],
    cell: str | None,
    state: dict[str, torch.Tensor],
    first: torch.Tensor,
    rest: torch.Tensor,
    *,
    num_layers: int | None = None,
) -> dict[str, Any]:
    """The exercise's CharRNN(*sizes, cell=cell, num_layers=...) with ``state`` loaded.

    ``None`` leaves that argument out. Runs ``first``, then ``rest`` from
    ``detach_hidden`` of the state ``first`` ended in.
    """
    options = {"cell": cell, "num_layers": num_layers}
    model = mod.CharRNN(*sizes, **{k: v for k, v in options.items() if v is not None})
    rnn = type(getattr(model, "rnn", None)).__name__
    model = model.double()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        return {"load_error": " ".join(str(exc).split())[:300], "rnn": rnn}
    with torch.no_grad():
        out_first, hidden = model(first)
        out_rest, final = model(rest, mod.detach_hidden(hidden))
    return {
        "load_error": None,
        "rnn": rnn,
        "first": out_first,
        "hidden": hidden,
        "rest": out_rest,
        "final": final,
    }


@scenario
def detach_one(mod: Any, leaf: torch.Tensor) -> dict[str, Any]:
    """detach_hidden(None), and detach_hidden(leaf * 2): its result and whether h kept its graph."""
    none_result = mod.detach_hidden(None)
    hidden = leaf * 2
    out = mod.detach_hidden(hidden)
    return {
        "none_is_none": none_result is None,
        "out": out,
        "out_tracks": _tracks(out),
        "arg_kept_graph": hidden.grad_fn is not None,
        "shares": isinstance(out, torch.Tensor)
        and out.untyped_storage().data_ptr() == hidden.untyped_storage().data_ptr(),
    }


@scenario
def detach_pair(mod: Any, leaf: torch.Tensor) -> dict[str, Any]:
    """detach_hidden((leaf.tanh(), leaf * 3)): the result and whether h and c kept their graph."""
    h, c = leaf.tanh(), leaf * 3
    out = mod.detach_hidden((h, c))
    is_pair = isinstance(out, tuple) and len(out) == 2
    return {
        "is_pair": is_pair,
        "described": describe(out),
        "out": tuple(out) if is_pair else None,
        "out_tracks": [_tracks(t) for t in out] if is_pair else None,
        "arg_kept_graph": [h.grad_fn is not None, c.grad_fn is not None],
    }


@scenario
def tbptt(
    mod: Any,
    spec: dict[str, Any],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    chunk: int,
    lr: float,
    loss: str,
    limit: int = 10_000,
) -> dict[str, Any]:
    """train_tbptt on a spied model with a counting SGD; what the spy and the optimizer saw."""
    model = _build(spec)
    spy = Spy(model, limit=limit, call=_describe(spec, inputs, chunk))
    watch = inputs if inputs.requires_grad else None
    optimizer = SpySGD(spy.parameters(), lr=lr, watch=watch)
    try:
        losses = mod.train_tbptt(
            spy, inputs, targets, chunk=chunk, optimizer=optimizer, loss_fn=_LOSSES[loss]
        )
    except _SpyStop as stop:
        return {"stopped": str(stop)}
    return {
        "stopped": None,
        "losses": losses,
        "described": describe(losses),
        "calls": spy.calls,
        "steps": optimizer.steps,
        "snapshots": optimizer.snapshots,
        "state": model.state_dict(),
        "inputs_grad": inputs.grad,
        "inputs_after": inputs.detach(),
        "targets_after": targets,
    }


# ----------------------------------------------------------------------------- helpers


def _dtype(device: torch.device) -> torch.dtype:
    """float64 for tight comparisons; float32 on mps, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _tol(device: torch.device) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-6} if device.type == "mps" else {"rtol": 1e-7, "atol": 1e-10}


def _tracks(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and (t.requires_grad or t.grad_fn is not None)


class Regressor(nn.Module):
    """An RNN, GRU or LSTM over float features with a linear read-out at every step."""

    def __init__(self, cell: str, n_in: int, hidden: int, n_out: int, layers: int) -> None:
        super().__init__()
        self.rnn = _RNN_CLASSES[cell](n_in, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        out, hidden = self.rnn(x, hidden)
        return self.head(out), hidden


class CharRNN(nn.Module):
    """The exercise's CharRNN (given code), copied here so both sides train the same model."""

    def __init__(
        self, vocab_size: int, embedding_dim: int, hidden_size: int, *, cell: str, num_layers=1
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = _RNN_CLASSES[cell](
            embedding_dim, hidden_size, num_layers=num_layers, batch_first=True
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        out, hidden = self.rnn(self.embedding(x), hidden)
        return self.head(out), hidden


def _char_twin(
    sizes: tuple[int, int, int], cell: str, init_seed: int, *, num_layers: int = 1
) -> CharRNN:
    """The judge's own CharRNN (float64), its weights from ``init_seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return CharRNN(*sizes, cell=cell, num_layers=num_layers).double()


def _build(spec: dict[str, Any]) -> nn.Module:
    """The model ``spec`` describes, with the weights ``torch.manual_seed(init_seed)`` gives."""
    torch.manual_seed(spec["init_seed"])
    if spec["kind"] == "char":
        model: nn.Module = CharRNN(
            spec["vocab"], spec["embedding_dim"], spec["hidden"], cell=spec["cell"]
        )
    else:
        model = Regressor(spec["cell"], spec["n_in"], spec["hidden"], spec["n_out"], spec["layers"])
    device = torch.device(spec["device"])
    return model.to(device, _dtype(device))


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


_LOSSES = {"mse": nn.MSELoss(), "char": _cross_entropy}


def _parts(hidden: Any) -> list[tuple[str, torch.Tensor]]:
    if hidden is None:
        return []
    if isinstance(hidden, torch.Tensor):
        return [("the hidden state", hidden)]
    names = ("h", "c") if len(hidden) == 2 else tuple(f"hidden[{i}]" for i in range(len(hidden)))
    return [(name, t) for name, t in zip(names, hidden, strict=True)]


def _snapshot(hidden: Any) -> Any:
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        return hidden.detach().clone()
    return tuple(h.detach().clone() for h in hidden)


class _SpyStop(Exception):
    """Raised by the spy to stop a run it found wrong; the scenario reports its message."""


class Spy(nn.Module):
    """Wraps a model; records each chunk and checks the hidden state passed in with it."""

    def __init__(self, inner: nn.Module, *, limit: int = 10_000, call: str = "") -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[dict[str, Any]] = []
        self.limit = limit
        self.call = call

    def forward(self, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        k = len(self.calls)
        if k >= self.limit:
            raise _SpyStop(
                f"{self.call}; the model was called {k} times for a sequence of far fewer steps "
                "(an endless loop?); check chunk first and raise ValueError when it is below 1"
            )
        if k and isinstance(hidden, list):
            raise _SpyStop(
                f"the hidden state passed with chunk {k} is a list; keep the LSTM's (h, c) a tuple "
                "(detach_hidden returns a tuple for a tuple)"
            )
        attached = [name for name, t in _parts(hidden) if t.requires_grad or t.grad_fn is not None]
        if attached:
            detached = [name for name, _ in _parts(hidden) if name not in attached]
            extra = ""
            if detached:
                extra = (
                    f" ({', '.join(detached)} was detached but {', '.join(attached)} was not: "
                    "for an LSTM, detach both h and c)"
                )
            raise _SpyStop(
                f"the hidden state passed with chunk {k} still carries the autograd graph of the "
                f"chunks before it ({' and '.join(attached)} "
                f"{'has' if len(attached) == 1 else 'have'} requires_grad=True){extra}; detach "
                "the carried hidden state before each chunk (detach_hidden), so that backward "
                "stops at the chunk's start"
            )
        out, new = self.inner(x, hidden)
        self.calls.append(
            {"x": x.detach().clone(), "hidden_in": _snapshot(hidden), "hidden_out": _snapshot(new)}
        )
        return out, new


class SpySGD(torch.optim.SGD):
    """SGD with momentum that counts its steps and snapshots a watched tensor's gradient."""

    def __init__(self, params: Any, *, lr: float, watch: torch.Tensor | None = None) -> None:
        super().__init__(params, lr=lr, momentum=0.5)
        self.watch = watch
        self.steps = 0
        self.snapshots: list[torch.Tensor | None] = []

    def step(self, closure: Any = None) -> Any:
        self.steps += 1
        grad = None if self.watch is None else self.watch.grad
        self.snapshots.append(None if grad is None else grad.detach().clone())
        return super().step(closure)


def _setup(seed: Any, offset: int, device: Any, cell: str, *, divides: bool = False):
    """A regressor's spec, float inputs (a leaf that requires grad), targets and a chunk size."""
    rng = seed.python_random(offset)
    batch, n_in, hidden, n_out = rng.randint(2, 3), rng.randint(2, 4), rng.randint(5, 8), 2
    chunk = rng.randint(3, 6)
    steps = chunk * rng.randint(3, 4) + (0 if divides else rng.randint(1, chunk - 1))
    spec = {
        "kind": "regressor",
        "cell": cell,
        "n_in": n_in,
        "hidden": hidden,
        "n_out": n_out,
        "layers": rng.randint(1, 2),
        "init_seed": seed.value + offset,
        "device": device,
    }
    gen = seed.generator(offset)
    dtype = _dtype(device)
    inputs = torch.randn(batch, steps, n_in, generator=gen, dtype=torch.float64)
    targets = inputs.cumsum(dim=1)[..., :n_out] * 0.3 + 0.1 * torch.randn(
        batch, steps, n_out, generator=gen, dtype=torch.float64
    )
    inputs = inputs.to(device, dtype).requires_grad_(True)
    return spec, inputs, targets.to(device, dtype), chunk


def _describe(spec: dict[str, Any], inputs: torch.Tensor, chunk: int) -> str:
    if spec["kind"] == "char":
        kind = f"CharRNN(cell={spec['cell']!r})"
    else:
        rnn = _RNN_CLASSES[spec["cell"]].__name__
        kind = f"{rnn}(num_layers={spec['layers']}) regressor"
    return (
        f"called train_tbptt(model, inputs, targets, chunk={chunk}, optimizer=SGD(momentum=0.5),"
        f" loss_fn=...) with a {kind} and inputs {describe(inputs)}"
    )


def _train(
    side: Any, spec: dict[str, Any], inputs, targets, chunk: int, loss: str, *, lr: float
) -> tuple[dict[str, Any], str]:
    """One side's run of ``train_tbptt`` on the spied model ``spec`` describes; (answer, call)."""
    call = _describe(spec, inputs, chunk)
    got = call_learner(
        side.run, tbptt, spec, inputs, targets, chunk=chunk, lr=lr, loss=loss, call=call,
        hints=_ERROR_HINTS,
    )  # fmt: skip
    if got["stopped"] is not None:
        raise fail(got["stopped"])
    return got, call


def _check_losses_shape(losses: Any, n_chunks: int, steps: int, chunk: int, call: str) -> None:
    if not isinstance(losses, list):
        raise fail(f"{call} returned {describe(losses)}; return a list of Python floats")
    if len(losses) != n_chunks:
        raise fail(
            f"{call} returned {len(losses)} losses for T={steps} steps and chunk={chunk}; "
            f"expected ceil(T / chunk) = {n_chunks}, one loss.item() per chunk (the last chunk "
            "is shorter when chunk does not divide T)"
        )
    for i, value in enumerate(losses):
        assert_python_float(value, what=f"losses[{i}]", call=call)


def _check_chunks(calls: list[dict[str, Any]], inputs: torch.Tensor, chunk: int, call: str) -> None:
    steps = inputs.shape[1]
    want = [min(chunk, steps - s) for s in range(0, steps, chunk)]
    got = [tuple(c["x"].shape) for c in calls]
    want_shapes = [(inputs.shape[0], n, *inputs.shape[2:]) for n in want]
    if got != want_shapes:
        raise fail(
            f"{call}; the model was called with inputs of shapes {got}, expected {want_shapes}: "
            f"consecutive chunks of {chunk} steps along dim 1 (time), the last one shorter when "
            "chunk does not divide T, each chunk fed to the model once"
        )
    for k, (call_k, start) in enumerate(zip(calls, range(0, steps, chunk), strict=True)):
        expected = inputs.detach()[:, start : start + chunk]
        if not torch.equal(call_k["x"], expected):
            raise fail(
                f"{call}; chunk {k} fed to the model is not inputs[:, {start}:{start + chunk}]; "
                "take the chunks in order along the time dim, without changing them"
            )


def _same(a: Any, b: Any) -> bool:
    pa, pb = _parts(a), _parts(b)
    return len(pa) == len(pb) and all(
        torch.equal(x, y) for (_, x), (_, y) in zip(pa, pb, strict=True)
    )


def _check_carried(calls: list[dict[str, Any]], call: str) -> None:
    for k in range(1, len(calls)):
        given = calls[k]["hidden_in"]
        previous = calls[k - 1]["hidden_out"]
        if given is None or not _same(given, previous):
            what = "None (a fresh zero state)" if given is None else "a different state"
            raise fail(
                f"{call}; chunk {k} started from {what}, not from the final hidden state of "
                f"chunk {k - 1}: the hidden state is reset at each chunk. Carry it over (pass the "
                "returned hidden into the next chunk, detached), so the model still sees the "
                "whole sequence"
            )


def _simulate_no_zero_grad(model, inputs, targets, chunk, loss_fn, lr):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    hidden, losses = None, []
    for start in range(0, inputs.shape[1], chunk):
        if hidden is not None:
            hidden = (
                tuple(h.detach() for h in hidden) if isinstance(hidden, tuple) else hidden.detach()
            )
        out, hidden = model(inputs[:, start : start + chunk], hidden)
        loss = loss_fn(out, targets[:, start : start + chunk])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _agree(got: list[float], want: list[float], rtol: float, atol: float) -> bool:
    return all(abs(g - e) <= atol + rtol * abs(e) for g, e in zip(got, want, strict=True))


def _compare_losses(
    got: dict[str, Any],
    want: dict[str, Any],
    spec: dict[str, Any],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    chunk: int,
    *,
    call: str,
    device: torch.device,
    lr: float = 0.05,
) -> None:
    """The losses equal the reference's on the same model and data; name a missing zero_grad."""
    losses, ref_losses = got["losses"], want["losses"]
    _check_losses_shape(losses, len(ref_losses), inputs.shape[1], chunk, call)
    tol = _tol(device)
    if _agree(losses, ref_losses, **tol):
        return
    sim = _simulate_no_zero_grad(
        _build(spec), inputs.detach(), targets, chunk, _LOSSES["mse"], lr=lr
    )
    if _agree(losses, sim, rtol=1e-6, atol=1e-9):
        raise fail(
            f"{call}: the losses follow a run in which the gradients are never cleared: "
            "call optimizer.zero_grad() before each chunk's backward"
        )
    first = next(i for i in range(len(losses)) if not _agree([losses[i]], [ref_losses[i]], **tol))
    raise fail(
        f"{call}: losses[{first}] is {losses[first]:.6g}, a correct run on the same model and "
        f"data gives {ref_losses[first]:.6g} (the earlier losses agree); {_PER_CHUNK}"
    )
